// The control plane's entry: turns a checked Config into running services,
// and swaps configs at run time (hot reload). Every service of a config is
// built before any listener opens, and if one fails nothing changes: tcpvs
// never runs half a config, at start or on reload.
import type { Config } from '../config/model.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger, flushLogger, type Logger } from '../log/logger.ts';
import { ServiceRuntime } from '../proxy/service.ts';
import type { ControlPlane } from './control-plane.ts';

export interface RunningSwitch {
  /** The services of the current generation. */
  readonly services: readonly ServiceRuntime[];
  readonly log: Logger;
  /** Read and hot-swap the running config. */
  readonly control: ControlPlane;
  /** Graceful stop: stop accepting, let requests in flight finish (up to `timeoutMs`). Returns the connections left. */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface SwitchOptions {
  reusePort?: boolean; // worker processes: each binds its own socket to the shared address
}

export async function startSwitch(config: Config, log: Logger = createLogger(config.log), options: SwitchOptions = {}): Promise<RunningSwitch> {
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
  const services = config.services.map((spec) => new ServiceRuntime(spec, log));
  const started: ServiceRuntime[] = [];
  try {
    for (const s of services) {
      const addr = await s.listen(options.reusePort === true);
      started.push(s);
      log.info({ service: s.spec.name, address: addr.address, port: addr.port }, 'listening');
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  const control = new Switch(config, services, log, options.reusePort === true);
  return {
    get services() {
      return control.services();
    },
    log,
    control,
    drain: (timeoutMs) => control.drain(timeoutMs),
    close: () => control.close(),
  };
}

/** Services are matched across a reload by listen address (by name when the port is 0, "any"). */
function listenKey(s: ServiceRuntime): string {
  const l = s.spec.listen;
  return l.port === 0 ? `name:${s.spec.name}` : `${l.host}:${l.port}`;
}

class Switch implements ControlPlane {
  readonly log: Logger;
  private running: Config;
  private current: ServiceRuntime[];
  private readonly generations = new Set<ServiceRuntime>(); // every generation not yet closed
  private readonly appliedListeners: Array<(services: readonly ServiceRuntime[]) => void> = [];
  private queue: Promise<void> = Promise.resolve(); // applies run one at a time

  private readonly reusePort: boolean;

  constructor(config: Config, services: ServiceRuntime[], log: Logger, reusePort: boolean) {
    this.reusePort = reusePort;
    this.running = config;
    this.current = services;
    this.log = log;
    for (const s of services) this.generations.add(s);
  }

  services(): readonly ServiceRuntime[] {
    return this.current;
  }

  config(): Config {
    return this.running;
  }

  onApplied(listener: (services: readonly ServiceRuntime[]) => void): void {
    this.appliedListeners.push(listener);
  }

  apply(next: Config, reason: string): Promise<void> {
    const run = this.queue.then(() => this.swap(next, reason));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async reload(path?: string): Promise<void> {
    const file = path ?? this.running.file;
    let next: Config;
    try {
      next = loadConfig(file);
    } catch (err) {
      this.log.error({ file, err: (err as Error).message }, 'reload refused: the config has errors; the running one stays');
      throw err;
    }
    await this.apply(next, `reload of ${file}`);
  }

  private async swap(next: Config, reason: string): Promise<void> {
    // Build everything first: a scheduler or router that cannot be built
    // throws here, before anything running is touched.
    const created = next.services.map((spec) => new ServiceRuntime(spec, this.log));
    const old = new Map(this.current.map((s) => [listenKey(s), s] as const));
    const bound: ServiceRuntime[] = [];
    try {
      for (const s of created) {
        if (old.has(listenKey(s))) continue;
        await s.listen(this.reusePort);
        bound.push(s);
      }
    } catch (err) {
      await Promise.all(bound.map((s) => s.close()));
      for (const s of created) if (!bound.includes(s)) s.discard();
      this.log.error({ reason, err: (err as Error).message }, 'reload refused: a listener could not be opened; the running config stays');
      throw err;
    }
    // Swap: same address, hand the listener over; gone, retire; new, already listening.
    for (const s of created) {
      const previous = old.get(listenKey(s));
      if (previous !== undefined) {
        previous.handOver(s);
        old.delete(listenKey(s));
      }
      this.generations.add(s);
    }
    for (const gone of old.values()) gone.retire();
    this.current = created;
    this.running = next;
    for (const w of next.warnings) this.log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
    this.log.info({ reason, services: created.map((s) => s.spec.name) }, 'config applied');
    for (const listener of this.appliedListeners) listener(created);
  }

  async drain(timeoutMs: number): Promise<number> {
    await this.queue;
    const all = [...this.generations];
    for (const s of all) {
      s.stopAccepting();
      s.drainConnections();
    }
    const left = () => all.reduce((n, s) => n + s.connections, 0);
    const deadline = Date.now() + timeoutMs;
    while (left() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const remaining = left();
    this.log.info({ connectionsLeft: remaining }, 'drained');
    return remaining;
  }

  async close(): Promise<void> {
    await this.queue;
    await Promise.all([...this.generations].map((s) => s.close()));
    flushLogger(this.log);
  }
}

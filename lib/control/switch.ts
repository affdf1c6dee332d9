// The control plane's entry for one process: the model of what runs
// (registry.ts), the data path it drives in this thread, and the health
// checks. A config, at start or on a reload, is applied as a change: the
// registry works out the plan, the data path opens what must open and then
// takes it, health checks follow. If anything cannot be done nothing
// changes: tcpvs never runs half a config.
import type { Config } from '../config/model.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger, flushLogger, type Logger } from '../log/logger.ts';
import type { ServiceRuntime } from '../proxy/service.ts';
import { DataPath } from '../proxy/data-path.ts';
import { HealthChecks } from '../health/index.ts';
import { registryStats, type Stats } from '../stats/collector.ts';
import { Registry, type ServiceState } from './registry.ts';
import type { ControlPlane, GroupView, ServerView, ServiceView } from './control-plane.ts';

export interface RunningSwitch {
  /** This thread's data path services (for tests and the stats collector). */
  readonly services: readonly ServiceRuntime[];
  readonly log: Logger;
  /** Read and change the running config. */
  readonly control: ControlPlane;
  readonly health: HealthChecks;
  readonly registry: Registry;
  /** Statistics of everything this switch runs. */
  readonly stats: Stats;
  /** Graceful stop: stop accepting, let requests in flight finish (up to `timeoutMs`). Returns the connections left. */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface SwitchOptions {
  reusePort?: boolean; // worker processes: each binds its own socket to the shared address
}

export async function startSwitch(config: Config, log: Logger = createLogger(config.log), options: SwitchOptions = {}): Promise<RunningSwitch> {
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
  const control = new Switch(config, log, options.reusePort === true);
  try {
    await control.start();
  } catch (err) {
    await control.close();
    throw err;
  }
  return {
    get services() {
      return control.dataPath.services();
    },
    log,
    control,
    health: control.health,
    registry: control.registry,
    stats: registryStats(control.registry),
    drain: (timeoutMs) => control.drain(timeoutMs),
    close: () => control.close(),
  };
}

class Switch implements ControlPlane {
  readonly log: Logger;
  readonly registry = new Registry(1);
  readonly health: HealthChecks;
  readonly dataPath: DataPath;
  private running: Config;
  private readonly appliedListeners: Array<() => void> = [];
  private queue: Promise<void> = Promise.resolve(); // applies run one at a time

  constructor(config: Config, log: Logger, reusePort: boolean) {
    this.running = config;
    this.log = log;
    this.health = new HealthChecks(log);
    this.dataPath = new DataPath({
      log,
      stripe: 0,
      listen: { reusePort },
      events: { serverEjected: (uid, reason) => this.health.serverEjected(this.registry, uid, reason) },
    });
  }

  async start(): Promise<void> {
    await this.change(this.running);
    for (const s of this.dataPath.services()) {
      const a = s.address!;
      this.log.info({ service: s.spec.name, address: a.address, port: a.port }, 'listening');
    }
  }

  services(): readonly ServiceView[] {
    const byName = new Map(this.dataPath.services().map((s) => [s.spec.name, s] as const));
    return this.registry.services().map((state) => serviceView(state, byName.get(state.name) ?? null));
  }

  config(): Config {
    return this.running;
  }

  onApplied(listener: () => void): void {
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

  /** The plan for `next`, opened by the data path, then committed everywhere. */
  private async change(next: Config): Promise<void> {
    const pending = this.registry.prepare(next);
    await this.dataPath.prepare(pending.plan);
    pending.commit();
    this.dataPath.commit();
    for (const runtime of this.dataPath.services()) {
      const a = runtime.address;
      const state = this.registry.service(runtime.spec.name);
      if (state !== undefined && a !== null) state.bound = { address: a.address, port: a.port, family: a.family };
    }
    this.health.sync(this.registry);
  }

  private async swap(next: Config, reason: string): Promise<void> {
    try {
      await this.change(next);
    } catch (err) {
      this.log.error({ reason, err: (err as Error).message }, 'reload refused: a listener could not be opened; the running config stays');
      throw err;
    }
    this.running = next;
    for (const w of next.warnings) this.log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
    this.log.info({ reason, services: next.services.map((s) => s.name) }, 'config applied');
    for (const listener of this.appliedListeners) listener();
  }

  async drain(timeoutMs: number): Promise<number> {
    await this.queue;
    const remaining = await this.dataPath.drain(timeoutMs);
    this.log.info({ connectionsLeft: remaining }, 'drained');
    return remaining;
  }

  async close(): Promise<void> {
    await this.queue;
    this.health.stop();
    await this.dataPath.close();
    flushLogger(this.log);
  }
}

function serverView(s: ServiceState['groups'][number]['servers'][number]): ServerView {
  return s;
}

function groupView(g: ServiceState['groups'][number]): GroupView {
  return { name: g.name, scheduler: g.spec.scheduler, servers: g.servers.map(serverView) };
}

/** The control plane's view of a service run by this thread's data path. */
function serviceView(state: ServiceState, runtime: ServiceRuntime | null): ServiceView {
  return {
    spec: state.spec,
    get address() {
      const a = runtime?.address ?? null;
      return a === null ? null : { address: a.address, port: a.port, family: a.family };
    },
    get connections() {
      return runtime?.connections ?? 0;
    },
    groups: state.groups.map(groupView),
    drainConnections: () => runtime?.drainConnections(),
  };
}

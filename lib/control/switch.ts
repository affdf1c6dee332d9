// The control plane of a running tcpvs: the model of what runs
// (registry.ts), the data paths it drives, the health checks, statistics and
// the listen locks. With one worker the data path runs in this thread; with
// --workers N it runs in N worker threads (workers.ts), each on its own
// listeners (SO_REUSEPORT), all over the same shared records: N workers are
// one balancer, and this thread is the only one that checks health, applies
// changes or answers the admin side.
//
// A config, at start or on a reload, is applied as a change: the registry
// works out the plan, every data path opens what must open, then all commit
// it (or all abort it); health checks follow. If anything cannot be done
// nothing changes: tcpvs never runs half a config.
//
// A worker thread that dies is replaced: the control plane takes back the
// requests in flight and connections it held (its stripes of the shared
// records), frees any table lock it held, and starts another worker on the
// same stripe with the running plan.
import type { Config } from '../config/model.ts';
import { loadConfig, parseConfigText } from '../config/load.ts';
import { createLogger, flushLogger, type Logger } from '../log/logger.ts';
import type { ServiceRuntime } from '../proxy/service.ts';
import { DataPath } from '../proxy/data-path.ts';
import { HealthChecks } from '../health/index.ts';
import type { Stats } from '../stats/collector.ts';
import { registryStats } from '../stats/registry-stats.ts';
import { SharedLruTable } from '../state/lru-table.ts';
import { W_ACTIVE, stripeWord } from '../state/server-share.ts';
import { Registry, type Plan, type ServiceState } from './registry.ts';
import type { ControlPlane, GroupView, ServiceView } from './control-plane.ts';
import { LocalDataPath, type BoundAddresses, type DataPathHandle } from './data-path-handle.ts';
import { WorkerDataPath } from './workers.ts';
import { probeExclusive, takeListenLock, type ListenLock } from './listen-lock.ts';

export interface RunningSwitch {
  /** This thread's data path services (one worker only: for tests; [] with worker threads). */
  readonly services: readonly ServiceRuntime[];
  readonly log: Logger;
  /** Read and change the running config. */
  readonly control: ControlPlane;
  readonly health: HealthChecks;
  readonly registry: Registry;
  /** Statistics of everything this switch runs, every worker's. */
  readonly stats: Stats;
  /** How many data paths run (1: in this thread; more: worker threads). */
  readonly workers: number;
  /** Graceful stop: stop accepting, let requests in flight finish (up to `timeoutMs`). Returns the connections left. */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface SwitchOptions {
  /** Data paths: 1 runs it in this thread, more in that many worker threads. Default 1. */
  workers?: number;
}

const RESTART_DELAY_MS = 500;

export async function startSwitch(
  config: Config,
  log: Logger = createLogger(config.log),
  options: SwitchOptions = {},
): Promise<RunningSwitch> {
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
  const control = new Switch(config, log, options.workers ?? 1);
  try {
    await control.start();
  } catch (err) {
    await control.close();
    throw err;
  }
  return {
    get services() {
      return control.local?.services() ?? [];
    },
    log,
    control,
    health: control.health,
    registry: control.registry,
    stats: registryStats(control.registry),
    workers: control.workers,
    drain: (timeoutMs) => control.drain(timeoutMs),
    close: () => control.close(),
  };
}

class Switch implements ControlPlane {
  readonly log: Logger;
  readonly workers: number;
  readonly registry: Registry;
  readonly health: HealthChecks;
  /** The data path in this thread (one worker), else null. */
  local: DataPath | null = null;
  private handles: DataPathHandle[] = [];
  private running: Config;
  /** The plan every data path runs (with the ports pinned for port-0 services). */
  private plan: Plan | null = null;
  private readonly locks = new Map<string, ListenLock>();
  private readonly appliedListeners: Array<() => void> = [];
  private queue: Promise<void> = Promise.resolve(); // changes run one at a time
  private closed = false;

  constructor(config: Config, log: Logger, workers: number) {
    this.running = config;
    this.log = log;
    this.workers = workers;
    this.registry = new Registry(workers);
    this.health = new HealthChecks(log);
  }

  private readonly serverEjected = (uid: number, reason: string): void => this.health.serverEjected(this.registry, uid, reason);

  async start(): Promise<void> {
    if (this.workers === 1) {
      this.local = new DataPath({ log: this.log, stripe: 0, listen: { reusePort: false }, events: { serverEjected: this.serverEjected } });
      this.handles = [new LocalDataPath(this.local)];
    } else {
      const started = await Promise.allSettled(Array.from({ length: this.workers }, (_, stripe) => this.startWorker(stripe)));
      this.handles = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    await this.change(this.running);
    for (const s of this.registry.services()) {
      const a = s.bound;
      if (a !== null) this.log.info({ service: s.name, address: a.address, port: a.port, workers: this.workers }, 'listening');
    }
  }

  private startWorker(stripe: number): Promise<WorkerDataPath> {
    return WorkerDataPath.start(stripe, this.running.log, {
      serverEjected: this.serverEjected,
      died: (worker, reason) => this.workerDied(worker, reason),
    });
  }

  services(): readonly ServiceView[] {
    return this.registry.services().map((state) => this.serviceView(state));
  }

  config(): Config {
    return this.running;
  }

  onApplied(listener: () => void): void {
    this.appliedListeners.push(listener);
  }

  apply(next: Config, reason: string): Promise<void> {
    return this.serialize(() => this.swap(next, reason));
  }

  private serialize(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async reload(path?: string, text?: string): Promise<void> {
    const file = path ?? this.running.file;
    let next: Config;
    try {
      next = text === undefined ? loadConfig(file) : parseConfigText(text, file);
    } catch (err) {
      this.log.error({ file, err: (err as Error).message }, 'reload refused: the config has errors; the running one stays');
      throw err;
    }
    await this.apply(next, `reload of ${file}`);
  }

  /**
   * Worker threads all bind one port: a service that asks for port 0 gets a
   * free port picked here, and keeps it across changes.
   */
  private async pinPorts(config: Config): Promise<Config> {
    if (this.workers === 1 || config.services.every((s) => s.listen.port !== 0)) return config;
    const services = [];
    for (const spec of config.services) {
      if (spec.listen.port !== 0) {
        services.push(spec);
        continue;
      }
      const before = this.plan?.services.find((p) => p.spec.name === spec.name && p.spec.listen.host === spec.listen.host);
      const port = before !== undefined ? before.spec.listen.port : await probeExclusive(spec.listen.host, 0);
      services.push({ ...spec, listen: { host: spec.listen.host, port } });
    }
    return { ...config, services };
  }

  /** Takes the listen locks a config needs that this tcpvs does not hold yet; all or none. */
  private async lockAddresses(config: Config): Promise<ListenLock[]> {
    const taken: ListenLock[] = [];
    const who = `pid ${process.pid}, config ${this.running.file}`;
    try {
      for (const { listen } of config.services) {
        if (listen.port === 0 || this.locks.has(`${listen.host} ${listen.port}`)) continue;
        const lock = await takeListenLock(listen.host, listen.port, who);
        taken.push(lock);
        // Workers bind with SO_REUSEPORT, which would share the port with
        // another program's: make sure nothing else listens there first.
        if (this.workers > 1) await probeExclusive(listen.host, listen.port);
      }
    } catch (err) {
      await Promise.all(taken.map((l) => l.release()));
      throw err;
    }
    return taken;
  }

  /** The plan for `next`, opened by every data path, then committed by all. */
  private async change(next: Config): Promise<void> {
    const pinned = await this.pinPorts(next);
    const newLocks = await this.lockAddresses(pinned);
    const pending = this.registry.prepare(pinned);
    let bound: BoundAddresses;
    try {
      const prepared = await Promise.allSettled(this.handles.map((h) => h.prepare(pending.plan)));
      const failed = prepared.find((r) => r.status === 'rejected');
      if (failed !== undefined) {
        await Promise.allSettled(this.handles.map((h) => h.abort()));
        throw (failed as PromiseRejectedResult).reason;
      }
      bound = (prepared[0] as PromiseFulfilledResult<BoundAddresses>).value;
    } catch (err) {
      await Promise.all(newLocks.map((l) => l.release()));
      throw err;
    }
    pending.commit();
    this.plan = pending.plan;
    await Promise.all(this.handles.map((h) => h.commit()));
    for (const lock of newLocks) this.locks.set(lock.key, lock);
    const inUse = new Set(pinned.services.map((s) => `${s.listen.host} ${s.listen.port}`));
    for (const [key, lock] of this.locks) {
      if (inUse.has(key)) continue;
      this.locks.delete(key);
      void lock.release();
    }
    for (const state of this.registry.services()) state.bound = bound[state.name] ?? state.bound;
    this.health.sync(this.registry);
  }

  private async swap(next: Config, reason: string): Promise<void> {
    try {
      await this.change(next);
    } catch (err) {
      this.log.error({ reason, err: (err as Error).message }, 'change refused: the running config stays');
      throw err;
    }
    this.running = next;
    for (const w of next.warnings) this.log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
    this.log.info({ reason, services: next.services.map((s) => s.name) }, 'config applied');
    for (const listener of this.appliedListeners) listener();
  }

  private workerDied(worker: WorkerDataPath, reason: string): void {
    if (this.closed) return;
    this.log.error({ worker: worker.stripe, reason }, 'worker thread died; taking back what it held and starting another');
    this.recoverStripe(worker.stripe);
    const restart = async (): Promise<void> => {
      if (this.closed) return;
      const at = this.handles.indexOf(worker);
      if (at === -1) return;
      let replacement: WorkerDataPath | null = null;
      try {
        replacement = await this.startWorker(worker.stripe);
        if (this.plan !== null) {
          await replacement.prepare(this.plan);
          await replacement.commit();
        }
        this.handles[at] = replacement;
        this.log.info({ worker: worker.stripe }, 'worker thread restarted');
      } catch (err) {
        await replacement?.terminate();
        this.log.error({ worker: worker.stripe, err: (err as Error).message }, 'could not restart a worker thread; trying again');
        setTimeout(() => void this.serialize(restart), RESTART_DELAY_MS).unref();
      }
    };
    setTimeout(() => void this.serialize(restart), RESTART_DELAY_MS).unref();
  }

  /** What a dead worker held: its requests in flight, its open connections, any table lock. */
  private recoverStripe(stripe: number): void {
    const word = stripeWord(stripe);
    for (const service of this.registry.services()) {
      service.connections.closeAllOf(stripe);
      for (const group of service.groups) {
        for (const server of group.servers) {
          const held = server.words[word];
          if (held !== 0) Atomics.sub(server.words, W_ACTIVE, held);
          server.words[word] = 0;
        }
        for (const slot of [group.affinityTable, group.keyTable]) {
          if (slot === null) continue;
          const table = SharedLruTable.attach(slot.buffer);
          if (!table.breakLock(stripe + 1)) continue;
          // It may have died inside an update: check the table, empty it if broken.
          table.lock(this.workers + 1);
          try {
            table.check();
          } catch (err) {
            this.log.warn({ group: group.name, err: (err as Error).message }, 'a dead worker left a table broken; emptied it');
            table.clear();
          } finally {
            table.unlock();
          }
        }
      }
    }
  }

  private serviceView(state: ServiceState): ServiceView {
    const registry = this.registry;
    return {
      spec: state.spec,
      get address() {
        return state.bound;
      },
      get connections() {
        return state.connections.read(Date.now(), registry.startedAt).active;
      },
      groups: state.groups.map(groupView),
      drainConnections: () => {
        for (const h of this.handles) h.drainService(state.name);
      },
    };
  }

  async drain(timeoutMs: number): Promise<number> {
    await this.queue;
    const left = await Promise.all(this.handles.map((h) => h.drain(timeoutMs).catch(() => 0)));
    const remaining = left.reduce((a, b) => a + b, 0);
    this.log.info({ connectionsLeft: remaining }, 'drained');
    return remaining;
  }

  async close(): Promise<void> {
    await this.queue;
    this.closed = true;
    this.health.stop();
    await Promise.all(this.handles.map((h) => h.close()));
    await Promise.all([...this.locks.values()].map((l) => l.release()));
    this.locks.clear();
    flushLogger(this.log);
  }
}

/** A registry group as the admin side sees it; its ServerStates are ServerViews already. */
function groupView(g: ServiceState['groups'][number]): GroupView {
  return { name: g.name, scheduler: g.spec.scheduler, servers: g.servers };
}

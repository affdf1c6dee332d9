// All cores: the primary process forks N workers; each worker runs the whole
// switch and binds its own socket to every listen address (SO_REUSEPORT), so
// the kernel spreads connections over them with no hop through the primary.
// The primary keeps the control plane: it validates configs, tells workers to
// apply them (hot reload), restarts a worker that dies, and on a graceful stop
// tells them to stop accepting and finish what they have.
//
// Per-worker state: the stateless hashes (dh, sh, mh, hhttp, chbl at equal
// load) map keys the same in every worker. Tables that learn (source and
// header persistence, lblc/lblcr, lc/wlc's in-flight counts, health state)
// are per worker and are not shared: a client pinned by source persistence in
// one worker may be scheduled afresh by another. Cookie affinity carries its
// pin in the cookie and holds across workers.
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { DEFAULT_DRAIN_TIMEOUT_MS, type Config } from '../config/model.ts';
import { loadConfig } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';
import { createLogger } from '../log/logger.ts';
import { startSwitch, type RunningSwitch } from './switch.ts';
import type { ControlPlane } from './control-plane.ts';

type ToWorker =
  | { type: 'start'; config: Config }
  | { type: 'apply'; id: number; config: Config; reason: string }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'query'; id: number; what: string };

type FromWorker =
  | { type: 'ready'; services: ListeningService[] }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; ok: boolean; error?: string; value?: unknown }
  | { type: 'drained'; connectionsLeft: number };

export interface ListeningService {
  name: string;
  address: string;
  port: number;
}

/** What the primary knows of a service: enough for the L4 control and the listening lines. */
export interface ClusterService {
  readonly spec: { name: string };
  readonly address: { address: string; port: number; family: string } | null;
  readonly connections: number; // workers still running (a draining worker exits when done)
  drainConnections(): void;
}

export interface ClusterHandle {
  readonly control: ControlPlane;
  /** Asks every live worker the same question; rejects if one cannot answer within timeoutMs. */
  queryWorkers(what: string, timeoutMs: number): Promise<unknown[]>;
  readonly services: ClusterService[];
  readonly workers: number;
  /** Graceful stop: every worker stops accepting, finishes what it has (up to timeoutMs) and exits. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Worker-side hooks the CLI adds (health checks, statistics) to each worker's switch. */
export type WorkerSetup = (running: RunningSwitch) => { stats?: { snapshot(options: { histograms: boolean }): unknown } };

// ---- worker ---------------------------------------------------------------

export function runWorker(setup: WorkerSetup = () => ({})): void {
  let running: RunningSwitch | null = null;
  let extras: ReturnType<WorkerSetup> = {};
  // The primary coordinates stops and reloads; a terminal's Ctrl-C reaches
  // the whole process group, so workers ignore signals.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
  const send = (m: FromWorker) => process.send?.(m);
  process.on('message', (raw: unknown) => {
    const msg = raw as ToWorker;
    switch (msg.type) {
      case 'start':
        startSwitch(msg.config, createLogger(msg.config.log), { reusePort: true }).then(
          (r) => {
            running = r;
            extras = setup(r);
            send({ type: 'ready', services: r.services.map((s) => ({ name: s.spec.name, address: s.address!.address, port: s.address!.port })) });
          },
          (err: unknown) => {
            send({ type: 'failed', error: (err as Error).message });
            process.exit(1);
          },
        );
        return;
      case 'apply':
        if (running === null) return send({ type: 'result', id: msg.id, ok: false, error: 'not started' });
        running.control.apply(msg.config, msg.reason).then(
          () => send({ type: 'result', id: msg.id, ok: true }),
          (err: unknown) => send({ type: 'result', id: msg.id, ok: false, error: (err as Error).message }),
        );
        return;
      case 'query':
        if (running === null) return send({ type: 'result', id: msg.id, ok: false, error: 'not started' });
        if (msg.what === 'stats') {
          if (extras.stats === undefined) return send({ type: 'result', id: msg.id, ok: false, error: 'no statistics in this worker' });
          return send({ type: 'result', id: msg.id, ok: true, value: extras.stats.snapshot({ histograms: true }) });
        }
        send({ type: 'result', id: msg.id, ok: true, value: running.services.reduce((n, s) => n + s.connections, 0) });
        return;
      case 'drain': {
        const r = running;
        if (r === null) process.exit(0);
        r.drain(msg.timeoutMs).then(async (left) => {
          send({ type: 'drained', connectionsLeft: left });
          await r.close();
          process.exit(0);
        });
        return;
      }
    }
  });
}

// ---- primary --------------------------------------------------------------

export interface ClusterOptions {
  config: Config;
  workers: number;
  log: Logger;
  startTimeoutMs?: number;
}

/** Gives every listen address with port 0 a real port, so all workers bind the same one. */
async function pinPorts(config: Config, previous: Config | null): Promise<Config> {
  const next = structuredClone(config);
  for (const s of next.services) {
    if (s.listen.port !== 0) continue;
    const before = previous?.services.find((p) => p.name === s.name && p.listen.host === s.listen.host);
    s.listen.port = before !== undefined ? before.listen.port : await freePort(s.listen.host);
  }
  return next;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0, reusePort: true }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function startCluster(options: ClusterOptions): Promise<ClusterHandle> {
  const { log } = options;
  cluster.setupPrimary({ serialization: 'advanced' }); // Config carries RegExps
  let current = await pinPorts(options.config, null);
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, (m: Extract<FromWorker, { type: 'result' }>) => void>();
  const live = new Set<Worker>();
  let listening: ListeningService[] = [];
  const appliedListeners: Array<() => void> = [];

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ TCPVS_WORKER: '1' });
      const timer = setTimeout(() => {
        worker.kill('SIGKILL');
        reject(new Error('a worker did not start in time'));
      }, options.startTimeoutMs ?? 20_000);
      worker.on('message', (raw: unknown) => {
        const msg = raw as FromWorker;
        if (msg.type === 'ready') {
          clearTimeout(timer);
          live.add(worker);
          listening = msg.services;
          resolve(worker);
        } else if (msg.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(msg.error));
        } else if (msg.type === 'result') pending.get(msg.id)?.(msg);
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        const wasLive = live.delete(worker);
        if (wasLive && !stopping) {
          log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
          setTimeout(() => {
            if (!stopping) fork().catch((err: unknown) => log.error({ err }, 'could not restart a worker'));
          }, 500).unref();
        }
      });
      worker.send({ type: 'start', config: current } satisfies ToWorker);
    });

  try {
    for (let i = 0; i < options.workers; i++) await fork();
  } catch (err) {
    stopping = true;
    for (const w of live) w.kill('SIGKILL');
    throw err;
  }

  const ask = (worker: Worker, msg: ToWorker & { id: number }, timeoutMs = 30_000): Promise<Extract<FromWorker, { type: 'result' }>> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(msg.id);
        resolve({ type: 'result', id: msg.id, ok: false, error: 'worker did not answer' });
      }, timeoutMs);
      pending.set(msg.id, (m) => {
        clearTimeout(timer);
        pending.delete(msg.id);
        resolve(m);
      });
      worker.send(msg);
    });

  let queue: Promise<void> = Promise.resolve();
  const applyAll = async (config: Config, reason: string): Promise<void> => {
    const next = await pinPorts(config, current);
    const workers = [...live];
    const results = await Promise.all(workers.map((w) => ask(w, { type: 'apply', id: nextId++, config: next, reason })));
    const failed = results.find((r) => !r.ok);
    if (failed !== undefined) {
      // Put the workers that took it back on the running config: all or none.
      await Promise.all(workers.filter((_, i) => results[i].ok).map((w) => ask(w, { type: 'apply', id: nextId++, config: current, reason: 'rollback' })));
      throw new Error(failed.error);
    }
    current = next;
    log.info({ reason, workers: workers.length }, 'config applied in every worker');
    for (const l of appliedListeners) l();
  };

  const control: ControlPlane = {
    config: () => current,
    apply(next, reason) {
      const run = queue.then(() => applyAll(next, reason));
      queue = run.catch(() => undefined);
      return run;
    },
    async reload(path) {
      // Parse in the primary: a bad file is refused before any worker sees it.
      const next = loadConfig(path ?? current.file);
      await control.apply(next, `reload of ${path ?? current.file}`);
    },
    services: () => [],
    onApplied(listener) {
      appliedListeners.push(listener);
    },
  };

  let drainStarted: Promise<void> | null = null;
  const drain = (timeoutMs: number): Promise<void> => {
    drainStarted ??= (async () => {
      stopping = true;
      const exits = [...live].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
      for (const w of live) w.send({ type: 'drain', timeoutMs } satisfies ToWorker);
      const hardStop = setTimeout(() => {
        for (const w of live) w.kill('SIGKILL');
      }, timeoutMs + 5000);
      await Promise.all(exits);
      clearTimeout(hardStop);
    })();
    return drainStarted;
  };

  const services: ClusterService[] = current.services.map((spec) => ({
    spec: { name: spec.name },
    get address() {
      const l = listening.find((s) => s.name === spec.name);
      return l === undefined ? null : { address: l.address, port: l.port, family: l.address.includes(':') ? 'IPv6' : 'IPv4' };
    },
    get connections() {
      return live.size;
    },
    drainConnections() {
      void drain(options.config.l4?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    },
  }));

  const queryWorkers = async (what: string, timeoutMs: number): Promise<unknown[]> => {
    const results = await Promise.all([...live].map((w) => ask(w, { type: 'query', id: nextId++, what }, timeoutMs)));
    const failed = results.find((r) => !r.ok);
    if (failed !== undefined) throw new Error(failed.error);
    return results.map((r) => r.value);
  };

  return {
    control,
    queryWorkers,
    services,
    workers: options.workers,
    drain,
    async close() {
      await drain(0);
    },
  };
}

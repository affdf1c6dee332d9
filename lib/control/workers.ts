// The data path of a worker thread, as the control plane drives it: each
// call is a message to worker-main.ts and its answer. A worker that dies is
// reported (died()), so the control plane can take back what it held and
// start another in its place.
import { Worker } from 'node:worker_threads';
import type { LogSpec } from '../config/model.ts';
import type { BoundAddresses, DataPathHandle } from './data-path-handle.ts';
import type { Plan } from './registry.ts';

export interface WorkerData {
  stripe: number;
  log: LogSpec;
}

type Call =
  | { type: 'prepare'; plan: Plan }
  | { type: 'commit' }
  | { type: 'abort' }
  | { type: 'drainService'; name: string }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'close' };

export type ToWorker = Call & { id: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; id: number; ok: boolean; value?: unknown; error?: string; code?: string }
  | { type: 'ejected'; uid: number; reason: string };

export interface WorkerEvents {
  serverEjected(uid: number, reason: string): void;
  /** The worker thread ended without being told to. */
  died(worker: WorkerDataPath, reason: string): void;
}

const START_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 5_000;

/** An error a worker answered with; `code` is the system error's (EADDRINUSE...). */
export class WorkerError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

// The worker's entry file beside this one: worker-main.ts when run from source,
// worker-main.js in the built package (dist/), whose imports were rewritten.
const WORKER_MAIN = new URL(import.meta.url.endsWith('.ts') ? './worker-main.ts' : './worker-main.js', import.meta.url);

export class WorkerDataPath implements DataPathHandle {
  readonly stripe: number;
  private readonly worker: Worker;
  private readonly events: WorkerEvents;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closing = false;
  private exited = false;
  private readonly exitedPromise: Promise<void>;

  private constructor(stripe: number, log: LogSpec, events: WorkerEvents) {
    this.stripe = stripe;
    this.events = events;
    const data: WorkerData = { stripe, log };
    this.worker = new Worker(WORKER_MAIN, { workerData: data });
    this.exitedPromise = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.exited = true;
        const reason = `worker ${stripe} exited with code ${code}`;
        for (const p of this.pending.values()) p.reject(new Error(reason));
        this.pending.clear();
        if (!this.closing) this.events.died(this, reason);
        resolve();
      });
    });
    this.worker.on('error', (err: Error) => {
      if (!this.closing) this.events.died(this, `worker ${stripe} failed: ${err.stack ?? err.message}`);
    });
    this.worker.on('message', (message: FromWorker) => {
      if (message.type === 'ejected') this.events.serverEjected(message.uid, message.reason);
      else if (message.type === 'done') {
        const p = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ok) p?.resolve(message.value);
        else p?.reject(new WorkerError(message.error ?? 'failed', message.code));
      }
    });
  }

  /** Starts a worker thread with data path stripe `stripe`; resolves once it is ready for plans. */
  static start(stripe: number, log: LogSpec, events: WorkerEvents): Promise<WorkerDataPath> {
    const handle = new WorkerDataPath(stripe, log, events);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        void handle.worker.terminate();
        reject(new Error(`worker ${stripe} did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const onMessage = (message: FromWorker) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        handle.worker.off('message', onMessage);
        resolve(handle);
      };
      handle.worker.on('message', onMessage);
      void handle.exitedPromise.then(() => {
        clearTimeout(timer);
        reject(new Error(`worker ${stripe} exited before it was ready`));
      });
    });
  }

  private call(call: Call): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.stripe} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...call, id } satisfies ToWorker);
    });
  }

  async prepare(plan: Plan): Promise<BoundAddresses> {
    return (await this.call({ type: 'prepare', plan })) as BoundAddresses;
  }

  async commit(): Promise<void> {
    await this.call({ type: 'commit' });
  }

  async abort(): Promise<void> {
    await this.call({ type: 'abort' });
  }

  drainService(name: string): void {
    this.call({ type: 'drainService', name }).catch(() => {});
  }

  async drain(timeoutMs: number): Promise<number> {
    return (await this.call({ type: 'drain', timeoutMs })) as number;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    await this.call({ type: 'close' }).catch(() => {});
    const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  /** Ends the thread now, whatever it is doing. */
  async terminate(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

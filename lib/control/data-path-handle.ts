// How the control plane drives a data path: the one in its own thread, or
// one in a worker thread through messages. Either way a change is prepared
// by every data path, then committed by all of them or aborted by all.
import type { Plan } from './registry.ts';
import type { DataPath } from '../proxy/data-path.ts';

/** Where a data path's services listen, by service name. */
export type BoundAddresses = Record<string, { address: string; port: number; family: string }>;

export interface DataPathHandle {
  /** Opens what the plan needs (listeners); resolves with where every service listens. */
  prepare(plan: Plan): Promise<BoundAddresses>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** Idle connections of a service close now, busy ones after their response. */
  drainService(name: string): void;
  /** Graceful stop: stop accepting, let requests in flight finish; resolves with the connections left. */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/** The data path running in this thread. */
export class LocalDataPath implements DataPathHandle {
  readonly dataPath: DataPath;

  constructor(dataPath: DataPath) {
    this.dataPath = dataPath;
  }

  async prepare(plan: Plan): Promise<BoundAddresses> {
    await this.dataPath.prepare(plan);
    return this.dataPath.preparedAddresses();
  }

  async commit(): Promise<void> {
    this.dataPath.commit();
  }

  abort(): Promise<void> {
    return this.dataPath.abort();
  }

  drainService(name: string): void {
    this.dataPath.service(name)?.drainConnections();
  }

  drain(timeoutMs: number): Promise<number> {
    return this.dataPath.drain(timeoutMs);
  }

  close(): Promise<void> {
    return this.dataPath.close();
  }
}

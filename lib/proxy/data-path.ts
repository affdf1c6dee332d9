// One thread's data path: the services it runs, built from the control
// plane's plans (lib/control/registry.ts) and updated in place on every
// change. In one process there is one data path beside the control plane; with
// --workers N every worker thread runs one, each on its own listeners
// (SO_REUSEPORT), all over the same shared records.
//
// A change comes in two steps so that N data paths take it all or none:
// prepare() opens what must open (new listeners, changed addresses) and
// builds new services, touching nothing that runs; commit() then applies the
// plan, abort() undoes prepare().
import type { Plan } from '../control/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { DataPathEvents } from './passive.ts';
import { ServiceRuntime, type ListenOptions } from './service.ts';

export interface DataPathOptions {
  log: Logger;
  /** This data path's stripe in the shared records (its worker number, 0 in one process). */
  stripe: number;
  listen: ListenOptions;
  events: DataPathEvents;
}

interface Prepared {
  plan: Plan;
  created: ServiceRuntime[]; // new services, listening
  updated: ServiceRuntime[]; // existing services with a listener prepared
}

export class DataPath {
  private readonly options: DataPathOptions;
  private current = new Map<string, ServiceRuntime>();
  /** Services that left the config and still finish their connections. */
  private readonly retired = new Set<ServiceRuntime>();
  private prepared: Prepared | null = null;

  constructor(options: DataPathOptions) {
    this.options = options;
  }

  services(): ServiceRuntime[] {
    return [...this.current.values()];
  }

  service(name: string): ServiceRuntime | undefined {
    return this.current.get(name);
  }

  /** Where every service of the prepared plan listens (a changed address: the new one). */
  preparedAddresses(): Record<string, { address: string; port: number; family: string }> {
    const prepared = this.prepared;
    if (prepared === null) throw new Error('nothing prepared');
    const out: Record<string, { address: string; port: number; family: string }> = {};
    for (const s of [...prepared.created, ...prepared.updated]) {
      const a = s.preparedAddress;
      if (a !== null) out[s.spec.name] = { address: a.address, port: a.port, family: a.family };
    }
    return out;
  }

  async prepare(plan: Plan): Promise<void> {
    if (this.prepared !== null) throw new Error('a change is already being applied');
    const prepared: Prepared = { plan, created: [], updated: [] };
    try {
      for (const service of plan.services) {
        const existing = this.current.get(service.spec.name);
        if (existing !== undefined) {
          await existing.prepareUpdate(service, this.options.listen);
          prepared.updated.push(existing);
          continue;
        }
        const created = new ServiceRuntime(service, this.options.log, this.options.stripe, this.options.events);
        prepared.created.push(created);
        await created.listen(this.options.listen);
      }
    } catch (err) {
      await undo(prepared);
      throw err;
    }
    this.prepared = prepared;
  }

  async abort(): Promise<void> {
    const prepared = this.prepared;
    this.prepared = null;
    if (prepared !== null) await undo(prepared);
  }

  commit(): void {
    const prepared = this.prepared;
    if (prepared === null) throw new Error('nothing prepared');
    this.prepared = null;
    const next = new Map<string, ServiceRuntime>();
    const created = new Map(prepared.created.map((s) => [s.spec.name, s] as const));
    for (const service of prepared.plan.services) {
      const name = service.spec.name;
      const existing = this.current.get(name);
      if (existing !== undefined) {
        existing.commitUpdate(service);
        next.set(name, existing);
      } else next.set(name, created.get(name)!);
    }
    for (const s of this.retired) if (s.connections === 0) this.retired.delete(s);
    for (const [name, gone] of this.current) {
      if (next.has(name)) continue;
      gone.retire();
      this.retired.add(gone);
    }
    this.current = next;
  }

  /** Connections open now, in every service (retired ones still finishing included). */
  get connections(): number {
    let n = 0;
    for (const s of this.current.values()) n += s.connections;
    for (const s of this.retired) n += s.connections;
    return n;
  }

  /** Graceful stop: stop accepting, close idle connections, let busy ones finish; resolves with the connections left. */
  async drain(timeoutMs: number): Promise<number> {
    const all = [...this.current.values(), ...this.retired];
    for (const s of all) {
      s.stopAccepting();
      s.drainConnections();
    }
    const deadline = Date.now() + timeoutMs;
    while (this.connections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return this.connections;
  }

  async close(): Promise<void> {
    await this.abort();
    await Promise.all([...this.current.values(), ...this.retired].map((s) => s.close()));
  }
}

async function undo(prepared: Prepared): Promise<void> {
  await Promise.all(prepared.created.map((s) => s.discard()));
  await Promise.all(prepared.updated.map((s) => s.abortUpdate()));
}

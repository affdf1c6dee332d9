// A server group at run time: its real servers, its scheduler and one
// upstream pool per real server.
import type { GroupSpec, ServiceSpec } from '../config/model.ts';
import type { RealServer, Scheduler } from '../sched/scheduler.ts';
import { createScheduler, makeRealServers } from '../sched/index.ts';
import { ServerPool } from '../upstream/pool.ts';
import { compileKey, type KeyReader } from '../route/hash-key.ts';
import { createAffinity, type Affinity } from '../affinity/index.ts';

export class GroupRuntime {
  readonly name: string;
  readonly servers: RealServer[];
  readonly scheduler: Scheduler;
  readonly pools: ServerPool[]; // indexed by RealServer.id
  /** Reads the request key the scheduler hashes or remembers. */
  readonly keyOf: KeyReader;
  /** Session persistence; null when the group has none (then it costs nothing). */
  readonly affinity: Affinity | null;

  constructor(spec: GroupSpec, service: ServiceSpec) {
    this.name = spec.name;
    this.servers = makeRealServers(spec.servers);
    this.scheduler = createScheduler(spec.scheduler, this.servers, { ...spec.tuning, hashSubmatch: spec.hashSubmatch });
    this.keyOf = compileKey(spec.key, spec.hashSubmatch);
    this.affinity = spec.affinity === undefined ? null : createAffinity(spec.affinity, this.servers, { groupName: spec.name });
    this.pools = this.servers.map(
      (s) =>
        new ServerPool({
          host: s.host,
          port: s.port,
          maxIdle: service.limits.poolMaxIdlePerServer,
          idleTimeoutMs: service.timeouts.upstreamIdleMs,
          maxHeaderBytes: service.limits.maxHeaderBytes,
        }),
    );
  }

  sweep(now: number): void {
    for (const p of this.pools) p.sweep(now);
  }

  close(): void {
    for (const p of this.pools) p.closeAll();
  }
}

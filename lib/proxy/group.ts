// A server group at run time: its real servers, its scheduler, one upstream
// pool per real server, affinity and passive checks.
//
// A config change updates a group in place (update()): a real server that
// stays (the same uid) keeps its RealServer object, its pool and its
// connections; the scheduler is kept while the group schedules alike and
// lists the same servers, and only rebuilt when that changes. Status and
// weights are not config: the control plane writes them to the servers'
// shared records and bumps the group's version, and sync() copies them here
// at the next request, telling the scheduler of each change (serverUp,
// serverDown, weightChanged) so it updates only what that change touches.
import { isDeepStrictEqual } from 'node:util';
import type { GroupSpec, ServerSpec, ServiceSpec } from '../config/model.ts';
import type { GroupPlan } from '../control/registry.ts';
import { RealServer, setServerState, type Scheduler } from '../sched/scheduler.ts';
import { createScheduler } from '../sched/index.ts';
import { ServerPool, type PoolOptions } from '../upstream/pool.ts';
import { compileKey, type KeyReader } from '../route/hash-key.ts';
import { createAffinity, type Affinity } from '../affinity/index.ts';
import { G_VERSION } from '../state/group-share.ts';
import { W_STATUS, W_WEIGHT, statusUp } from '../state/server-share.ts';
import { PassiveEjection, type DataPathEvents } from './passive.ts';
import { ejectionOf } from '../health/spec.ts';
import { SharedLruTable } from '../state/lru-table.ts';
import { RequestCounterBlock, type RequestCounterWriter } from '../stats/shared-counters.ts';

/** Whether two group specs schedule alike (same scheduler, knobs and key), so a scheduler can be kept. */
export function sameScheduling(a: GroupSpec, b: GroupSpec): boolean {
  return (
    a.scheduler === b.scheduler &&
    a.hashSubmatch === b.hashSubmatch &&
    isDeepStrictEqual(a.key, b.key) &&
    isDeepStrictEqual(a.tuning, b.tuning)
  );
}

function poolOptions(server: ServerSpec, service: ServiceSpec): PoolOptions {
  return {
    host: server.host,
    port: server.port,
    maxIdle: service.limits.poolMaxIdlePerServer,
    idleTimeoutMs: service.timeouts.upstreamIdleMs,
    maxHeaderBytes: service.limits.maxHeaderBytes,
    sendProxy: server.sendProxy ?? 0,
    tls: server.tls,
  };
}

export class GroupRuntime {
  readonly name: string;
  servers: RealServer[] = [];
  scheduler!: Scheduler;
  pools: ServerPool[] = []; // indexed by RealServer.id
  /** Reads the request key the scheduler hashes or remembers. */
  keyOf!: KeyReader;
  /** Session persistence; null when the group has none (then it costs nothing). */
  affinity: Affinity | null = null;
  /** Passive ejection: the group's `eject`, or the default on connect failures. */
  passive: PassiveEjection | null = null;
  // This thread's stripes of the group's counters and of each server's, by RealServer.id.
  readonly requestStats: RequestCounterWriter;
  readonly noServerStats: RequestCounterWriter;
  serverStats: RequestCounterWriter[] = [];
  private spec!: GroupSpec;
  private readonly stripe: number;
  private readonly events: DataPathEvents;
  private readonly groupWords: Int32Array;
  private seenVersion = -1;
  private keyTable: SharedLruTable | null = null;
  private affinityTable: SharedLruTable | null = null;

  constructor(spec: GroupSpec, service: ServiceSpec, plan: GroupPlan, stripe: number, events: DataPathEvents) {
    this.name = spec.name;
    this.stripe = stripe;
    this.events = events;
    this.groupWords = new Int32Array(plan.share);
    this.requestStats = RequestCounterBlock.attach(plan.requests).writer(stripe);
    this.noServerStats = RequestCounterBlock.attach(plan.noServer).writer(stripe);
    this.update(spec, service, plan);
  }

  /** Takes the group's new spec and server list; see the file comment for what is kept. */
  update(spec: GroupSpec, service: ServiceSpec, plan: GroupPlan): void {
    const previous = this.spec as GroupSpec | undefined;
    const byUid = new Map<number, number>();
    for (let i = 0; i < this.servers.length; i++) byUid.set(this.servers[i].uid, i);
    const servers: RealServer[] = [];
    const pools: ServerPool[] = [];
    const serverStats: RequestCounterWriter[] = [];
    plan.servers.forEach((p, id) => {
      const at = byUid.get(p.uid);
      if (at !== undefined) {
        const server = this.servers[at];
        server.id = id;
        servers.push(server);
        pools.push(this.pools[at]);
        serverStats.push(this.serverStats[at]);
        this.pools[at].configure(poolOptions(spec.servers[id], service));
        byUid.delete(p.uid);
        return;
      }
      const s = spec.servers[id];
      const words = new Int32Array(p.share);
      servers.push(new RealServer(id, p.uid, s.host, s.port, words[W_WEIGHT], words, this.stripe));
      pools.push(new ServerPool(poolOptions(s, service)));
      serverStats.push(RequestCounterBlock.attach(p.requests).writer(this.stripe));
    });
    // Servers that left: their pools close once their requests in flight are done.
    for (const at of byUid.values()) this.pools[at].retire();
    const sameServers = servers.length === this.servers.length && servers.every((s, i) => s === this.servers[i]);
    this.servers = servers;
    this.pools = pools;
    this.serverStats = serverStats;
    this.spec = spec;
    // The version first: a change made while copying is seen at the next sync().
    this.seenVersion = Atomics.load(this.groupWords, G_VERSION);
    const owner = this.stripe + 1;
    const keyTable = plan.keyTable === null ? null : this.attach(plan.keyTable);
    if (previous === undefined || !sameServers || !sameScheduling(previous, spec) || keyTable !== this.keyTable) {
      // A new scheduler reads the servers' state as it is built.
      for (const server of servers) this.copyState(server);
      // Learned state lives outside the scheduler (key tables, shared
      // counters), so a new scheduler over the same tables forgets nothing.
      const options = {
        ...spec.tuning,
        keyTable: keyTable ?? undefined,
        groupWords: this.groupWords,
        lockOwner: owner,
      };
      this.scheduler = createScheduler(spec.scheduler, servers, options);
    } else for (const server of servers) setServerState(this.scheduler, server, this.sharedUp(server), this.sharedWeight(server));
    this.keyTable = keyTable;
    this.keyOf = compileKey(spec.key, spec.hashSubmatch);
    const affinityTable = plan.affinityTable === null ? null : this.attach(plan.affinityTable);
    if (spec.affinity === undefined) this.affinity = null;
    else if (
      this.affinity === null ||
      previous === undefined ||
      !isDeepStrictEqual(previous.affinity, spec.affinity) ||
      affinityTable !== this.affinityTable
    )
      this.affinity = createAffinity(spec.affinity, servers, { groupName: spec.name, table: affinityTable ?? undefined, lockOwner: owner });
    else if (!sameServers) this.affinity.updateServers(servers);
    this.affinityTable = affinityTable;
    const eject = ejectionOf(spec.health);
    // As nginx: the default ejection never takes out a group's only server (there is nowhere else to go).
    this.passive =
      eject.connectOnly && servers.length === 1
        ? null
        : new PassiveEjection(eject.spec.failures, eject.connectOnly, this.groupWords, this.events);
  }

  /** This thread's view of a shared table: the one it has when the buffer is the same. */
  private attach(buffer: SharedArrayBuffer): SharedLruTable {
    if (this.keyTable?.buffer === buffer) return this.keyTable;
    if (this.affinityTable?.buffer === buffer) return this.affinityTable;
    return SharedLruTable.attach(buffer);
  }

  /**
   * Brings this thread's copy of the servers' status and weights up to date
   * when the control plane changed them; once per request, before affinity
   * and scheduling read them.
   */
  sync(): void {
    const version = Atomics.load(this.groupWords, G_VERSION);
    if (version === this.seenVersion) return;
    this.seenVersion = version;
    const scheduler = this.scheduler;
    for (const server of this.servers) setServerState(scheduler, server, this.sharedUp(server), this.sharedWeight(server));
  }

  private sharedUp(server: RealServer): boolean {
    return statusUp(Atomics.load(server.share, W_STATUS));
  }

  private sharedWeight(server: RealServer): number {
    return Atomics.load(server.share, W_WEIGHT);
  }

  /** The control plane's status and weight, for a scheduler about to be built. */
  private copyState(server: RealServer): void {
    server.up = this.sharedUp(server);
    server.weight = this.sharedWeight(server);
  }

  /** A server's counters in this thread's stripe; null once it left the group. */
  statsOf(server: RealServer): RequestCounterWriter | null {
    if (this.servers[server.id] === server) return this.serverStats[server.id];
    const at = this.servers.indexOf(server); // a change since its request started renumbered it
    return at === -1 ? null : this.serverStats[at];
  }

  sweep(now: number): void {
    for (const p of this.pools) p.sweep(now);
  }

  /** The group left the config: pools close once their requests in flight are done. */
  retire(): void {
    for (const p of this.pools) p.retire();
  }

  close(): void {
    for (const p of this.pools) p.closeAll();
  }
}

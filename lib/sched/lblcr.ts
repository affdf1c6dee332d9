// Locality-based least connection with replication, as IPVS's ip_vs_lblcr,
// with the request key (ctx.key) in place of IPVS's destination address. Like
// lblc, but a key maps to a set of servers, so one hot key can outgrow a
// single server and still be served only by servers that have its data.
//
// The rules, as ip_vs_lblcr.c has them:
// - a key not in the table goes to the weighted-least-connection server (wlc)
//   of the group and is entered with the set {that server};
// - a key in the table goes to the least active/weight usable (up, weight > 0)
//   member of its set, ties rotating;
// - the set grows when that member is overloaded (active > weight while some
//   up server has active * 2 < weight) or no member is usable: wlc over the
//   whole group chooses, and its choice joins the set;
// - the set shrinks when it has more than one member and has not changed for
//   `setExpireMs` (default 24 h, IPVS's lblcr_expiration): at the key's next
//   request its most loaded member (highest active/weight among weight > 0)
//   leaves. One member per request, each removal counting as a change;
// - every use refreshes the entry; an entry unused for `expireMs` (default
//   24 h) is dropped, set and all.
// IPVS bounds the table with a periodic garbage collector; here it is an LRU
// of at most `maxEntries` keys (default 16384). Keyless requests go to wlc.

import type { LRUCache } from 'lru-cache';
import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
import { TieBreaker, isOverloaded, leastWeightedIndex } from './least-load.ts';
import { createKeyTable } from './lblc.ts';

export const DEFAULT_SET_EXPIRE_MS = 24 * 60 * 60 * 1000;

interface ServerSet {
  members: number[]; // server indexes
  lastModified: number; // clock time the members last changed
  lastPicked: number; // position in members of the last pick, for tie rotation
}

export class LocalityReplicatedScheduler implements Scheduler {
  readonly name = 'lblcr';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  private readonly table: LRUCache<string, ServerSet>;
  private readonly clock: () => number;
  private readonly setExpireMs: number;
  private readonly ties = new TieBreaker(); // wlc's

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    this.servers = servers;
    this.table = createKeyTable<ServerSet>(options);
    this.clock = options.clock ?? Date.now;
    this.setExpireMs = options.setExpireMs ?? DEFAULT_SET_EXPIRE_MS;
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    const servers = this.servers;
    if (key === undefined) return this.pickLeastWeighted();
    const set = this.table.get(key);
    if (set === undefined) {
      const best = this.leastWeightedIndex();
      if (best === -1) return null;
      this.table.set(key, { members: [best], lastModified: this.clock(), lastPicked: 0 });
      return servers[best];
    }
    const least = this.leastLoadedMember(set);
    if (set.members.length > 1) {
      const now = this.clock();
      if (now - set.lastModified > this.setExpireMs) this.removeMostLoadedMember(set, now);
    }
    if (least !== null && !isOverloaded(least, servers)) return least;
    const best = this.leastWeightedIndex();
    if (best === -1) return null;
    if (!set.members.includes(best)) {
      set.members.push(best);
      set.lastModified = this.clock();
    }
    return servers[best];
  }

  private leastWeightedIndex(): number {
    return leastWeightedIndex(this.servers, this.ties);
  }

  private pickLeastWeighted(): RealServer | null {
    const best = this.leastWeightedIndex();
    return best === -1 ? null : this.servers[best];
  }

  /** IPVS's ip_vs_dest_set_min: the usable member with the least active/weight. */
  private leastLoadedMember(set: ServerSet): RealServer | null {
    const members = set.members;
    const count = members.length;
    let best: RealServer | null = null;
    let bestAt = 0;
    let at = set.lastPicked;
    for (let step = 0; step < count; step++) {
      at = at + 1 >= count ? 0 : at + 1;
      const server = this.servers[members[at]];
      if (!available(server)) continue;
      if (best === null || server.active * best.weight < best.active * server.weight) {
        best = server;
        bestAt = at;
      }
    }
    if (best !== null) set.lastPicked = bestAt;
    return best;
  }

  /** IPVS's ip_vs_dest_set_max and erase: drop the member with the most active/weight (weight > 0, up or not). */
  private removeMostLoadedMember(set: ServerSet, now: number): void {
    const members = set.members;
    let most: RealServer | null = null;
    let mostAt = -1;
    for (let at = 0; at < members.length; at++) {
      const server = this.servers[members[at]];
      if (server.weight <= 0) continue;
      if (most === null || most.active * server.weight < server.active * most.weight) {
        most = server;
        mostAt = at;
      }
    }
    if (mostAt === -1) return;
    members.splice(mostAt, 1);
    set.lastModified = now;
  }

  /** The set `key` maps to, without touching its age; for tests and status. */
  members(key: string): readonly number[] | undefined {
    return this.table.peek(key)?.members;
  }

  /** Keys in the table (expired ones may count until touched). */
  get entries(): number {
    return this.table.size;
  }

  refresh(): void {
    // Nothing precomputed: sets name servers by index, and `active`, weights
    // and up/down are read live at each pick.
  }
}

export const createLocalityReplicated: SchedulerFactory = (servers, options) => new LocalityReplicatedScheduler(servers, options);

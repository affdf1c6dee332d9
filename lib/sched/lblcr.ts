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
//
// The table lives in shared memory, as lblc's (lblc.ts says how), with each
// key's set inline: at most MAX_SET_MEMBERS servers, by uid. A set that is
// full when it must grow first drops its most loaded member. Members that
// left the group are dropped from a set at its key's next request.

import { LiveScheduler, available } from './scheduler.ts';
import type { PickContext, RealServer, SchedulerDescriptor, SchedulerOptions } from './scheduler.ts';
import { LeastWeightedFallback, isOverloaded } from './least-load.ts';
import { DEFAULT_EXPIRE_MS, durationKnob, expireKnob, keyTable, serversByUid, tableMaxKnob } from './lblc.ts';
import { fingerprintString, newFingerprint, type Fingerprint, type SharedLruTable } from '../state/lru-table.ts';

export const DEFAULT_SET_EXPIRE_MS = 24 * 60 * 60 * 1000;
/** The most servers one key's set holds. */
export const MAX_SET_MEMBERS = 16;
// An entry's Int32 words: member count, position of the last pick (for tie
// rotation), then the members' uids. Its one time word: when the set last changed.
const V_COUNT = 0;
const V_LAST_PICKED = 1;
const V_MEMBERS = 2;
export const LBLCR_WORDS = V_MEMBERS + MAX_SET_MEMBERS;
/** Where an entry's member uids are, for state sync (director-sync.ts): ints[v + first .. v + first + ints[v + count]). */
export const LBLCR_MEMBER_WORDS = { count: V_COUNT, first: V_MEMBERS } as const;
const T_MODIFIED = 0;

// Nothing precomputed, so the change callbacks do nothing: sets name servers
// by uid, and `active`, weights and up/down are read live at each pick.
export class LocalityReplicatedScheduler extends LiveScheduler {
  readonly name = 'lblcr';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  private readonly byUid: Map<number, RealServer>;
  readonly table: SharedLruTable;
  private readonly owner: number;
  private readonly clock: () => number;
  private readonly expireMs: number;
  private readonly setExpireMs: number;
  private readonly fp: Fingerprint = newFingerprint();
  private readonly fallback: LeastWeightedFallback;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    super();
    this.servers = servers;
    this.fallback = new LeastWeightedFallback(servers);
    this.byUid = serversByUid(servers);
    this.table = keyTable(options, LBLCR_WORDS, 1);
    this.owner = options.lockOwner ?? 1;
    this.clock = options.clock ?? Date.now;
    this.expireMs = options.expireMs ?? DEFAULT_EXPIRE_MS;
    this.setExpireMs = options.setExpireMs ?? DEFAULT_SET_EXPIRE_MS;
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    const servers = this.servers;
    if (key === undefined) return this.fallback.pick();
    const table = this.table;
    fingerprintString(key, table.seed, this.fp);
    // The set is read and changed in one go: another worker's request for the
    // same key sees it before or after, never half changed.
    table.lock(this.owner);
    try {
      const now = this.clock();
      let e = table.find(this.fp.hi, this.fp.lo, now, this.expireMs);
      if (e === -1) {
        const best = this.fallback.index();
        if (best === -1) return null;
        e = table.insert(this.fp.hi, this.fp.lo, now);
        const v = table.valueBase(e);
        table.ints[v + V_COUNT] = 1;
        table.ints[v + V_LAST_PICKED] = 0;
        table.ints[v + V_MEMBERS] = servers[best].uid;
        table.times[table.timeBase(e) + T_MODIFIED] = now;
        return servers[best];
      }
      this.dropDeparted(e);
      const least = this.leastLoadedMember(e);
      if (table.ints[table.valueBase(e) + V_COUNT] > 1 && now - table.times[table.timeBase(e) + T_MODIFIED] > this.setExpireMs) {
        this.removeMostLoadedMember(e, now);
      }
      if (least !== null && !isOverloaded(least, servers)) return least;
      const best = this.fallback.index();
      if (best === -1) return null;
      this.addMember(e, servers[best], now);
      return servers[best];
    } finally {
      table.unlock();
    }
  }

  /** Members whose server left the group leave the set. */
  private dropDeparted(e: number): void {
    const ints = this.table.ints;
    const v = this.table.valueBase(e);
    const count = ints[v + V_COUNT];
    let kept = 0;
    for (let at = 0; at < count; at++) {
      const uid = ints[v + V_MEMBERS + at];
      if (this.byUid.has(uid)) ints[v + V_MEMBERS + kept++] = uid;
    }
    if (kept === count) return;
    ints[v + V_COUNT] = kept;
    if (ints[v + V_LAST_PICKED] >= kept) ints[v + V_LAST_PICKED] = 0;
  }

  private addMember(e: number, server: RealServer, now: number): void {
    const ints = this.table.ints;
    const v = this.table.valueBase(e);
    const count = ints[v + V_COUNT];
    for (let at = 0; at < count; at++) if (ints[v + V_MEMBERS + at] === server.uid) return;
    if (count >= MAX_SET_MEMBERS) this.removeMostLoadedMember(e, now);
    ints[v + V_MEMBERS + ints[v + V_COUNT]++] = server.uid;
    this.table.times[this.table.timeBase(e) + T_MODIFIED] = now;
  }

  /** IPVS's ip_vs_dest_set_min: the usable member with the least active/weight, ties rotating. */
  private leastLoadedMember(e: number): RealServer | null {
    const ints = this.table.ints;
    const v = this.table.valueBase(e);
    const count = ints[v + V_COUNT];
    let best: RealServer | null = null;
    let bestAt = 0;
    let at = ints[v + V_LAST_PICKED];
    for (let step = 0; step < count; step++) {
      at = at + 1 >= count ? 0 : at + 1;
      const server = this.byUid.get(ints[v + V_MEMBERS + at]);
      if (server === undefined || !available(server)) continue;
      if (best === null || server.active * best.weight < best.active * server.weight) {
        best = server;
        bestAt = at;
      }
    }
    if (best !== null) ints[v + V_LAST_PICKED] = bestAt;
    return best;
  }

  /** IPVS's ip_vs_dest_set_max and erase: drop the member with the most active/weight (weight > 0, up or not). */
  private removeMostLoadedMember(e: number, now: number): void {
    const ints = this.table.ints;
    const v = this.table.valueBase(e);
    const count = ints[v + V_COUNT];
    let most: RealServer | null = null;
    let mostAt = -1;
    for (let at = 0; at < count; at++) {
      const server = this.byUid.get(ints[v + V_MEMBERS + at]);
      if (server === undefined || server.weight <= 0) continue;
      if (most === null || most.active * server.weight < server.active * most.weight) {
        most = server;
        mostAt = at;
      }
    }
    if (mostAt === -1) return;
    for (let at = mostAt; at < count - 1; at++) ints[v + V_MEMBERS + at] = ints[v + V_MEMBERS + at + 1];
    ints[v + V_COUNT] = count - 1;
    if (ints[v + V_LAST_PICKED] >= count - 1) ints[v + V_LAST_PICKED] = 0;
    this.table.times[this.table.timeBase(e) + T_MODIFIED] = now;
  }

  /** The server ids in the set `key` maps to, without touching its age; for tests and status. */
  members(key: string): readonly number[] | undefined {
    const table = this.table;
    fingerprintString(key, table.seed, this.fp);
    table.lock(this.owner);
    try {
      const e = table.peek(this.fp.hi, this.fp.lo, this.clock(), this.expireMs);
      if (e === -1) return undefined;
      const v = table.valueBase(e);
      const ids: number[] = [];
      for (let at = 0; at < table.ints[v + V_COUNT]; at++) {
        const server = this.byUid.get(table.ints[v + V_MEMBERS + at]);
        if (server !== undefined) ids.push(server.id);
      }
      return ids;
    } finally {
      table.unlock();
    }
  }

  /** Keys in the table (expired ones may count until touched). */
  get entries(): number {
    return this.table.sizeNow();
  }
}

/** `set-expire DURATION`: a set unchanged this long sheds its busiest member. */
const setExpireKnob = durationKnob('set-expire', 'setExpireMs');

export const lblcr: SchedulerDescriptor = {
  name: 'lblcr',
  usesKey: true,
  knobs: [tableMaxKnob, expireKnob, setExpireKnob],
  create: (servers, options) => new LocalityReplicatedScheduler(servers, options),
};

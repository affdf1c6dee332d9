// Destination hashing, as IPVS's ip_vs_dh: the request key (ctx.key, chosen
// by the group's `key` setting; IPVS hashes the destination address) is
// hashed into a fixed table of buckets, each naming a server. The same key
// always lands in the same bucket, so it reaches the same server while the
// table stays the same.
//
// The table (BucketTable, shared with sh) differs from IPVS in three ways:
// - 4096 buckets rather than 256 (more for groups over 256 servers), filled in
//   proportion to weight by largest remainder, so weights are honoured to
//   within one bucket (IPVS dh ignores weights; IPVS sh repeats each server
//   `weight` times, which goes wrong once the weights add up past 256);
// - servers are walked in name order, not config order, so a reordered config
//   and every other tcpvs process build the same table;
// - a bucket whose server is down or quiescent is not a dead end: IPVS dh
//   then returns no server, tcpvs rehashes the key to other buckets, as IPVS
//   sh does with its sh-fallback flag. Only that server's keys move, each to
//   a pseudo-random other bucket, so they spread over the rest by weight, and
//   they return when it comes back.
// Down servers keep their buckets (that is what lets their keys come back);
// a weight change, including to 0, rebuilds the table on refresh() and, as in
// IPVS, remaps keys across all servers. hhttp and mh move only the keys they must.
//
// Requests without a key fall back to wlc, as hhttp does.

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';
import { TieBreaker, leastWeightedIndex } from './least-load.ts';
import { fnv1a32, mix32 } from './hash.ts';

const MIN_TABLE_SIZE = 4096;
const MIN_BUCKETS_PER_SERVER = 16;
// Rehashes tried before scanning the table in order; each hits a usable
// bucket with the usable servers' share of the table as probability.
const REHASH_PROBES = 64;
const GOLDEN_RATIO_32 = 0x9e3779b9;

function compareByName(a: RealServer, b: RealServer): number {
  if (a.name < b.name) return -1;
  if (a.name > b.name) return 1;
  return a.id - b.id; // duplicate names: config order, the same in every process
}

/** A fixed hash table of buckets naming servers, for the table-based hashing schedulers. */
export class BucketTable {
  private readonly servers: readonly RealServer[];
  private readonly buckets: Int32Array; // server index per bucket, -1 for none
  private readonly bucketCounts: Int32Array; // buckets held, per server index
  private readonly mask: number;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    let size = MIN_TABLE_SIZE;
    while (size < servers.length * MIN_BUCKETS_PER_SERVER) size *= 2;
    this.buckets = new Int32Array(size);
    this.bucketCounts = new Int32Array(servers.length);
    this.mask = size - 1;
    this.rebuild();
  }

  get size(): number {
    return this.buckets.length;
  }

  /** How many buckets server `index` holds. */
  bucketsOf(index: number): number {
    return this.bucketCounts[index];
  }

  /**
   * Refill the table from the current weights. Every server with weight > 0
   * gets one bucket, and the rest are shared by weight (largest remainder);
   * servers are laid out in name order, as IPVS walks its list.
   */
  rebuild(): void {
    const servers = this.servers;
    const buckets = this.buckets;
    const counts = this.bucketCounts;
    counts.fill(0);
    const weighted: number[] = [];
    let totalWeight = 0;
    for (let i = 0; i < servers.length; i++) {
      if (servers[i].weight > 0) {
        weighted.push(i);
        totalWeight += servers[i].weight;
      }
    }
    if (weighted.length === 0) {
      buckets.fill(-1);
      return;
    }
    weighted.sort((a, b) => compareByName(servers[a], servers[b]));
    const size = buckets.length;
    const spare = size - weighted.length;
    const remainders: number[] = [];
    let assigned = 0;
    for (const i of weighted) {
      const share = spare * servers[i].weight;
      const whole = Math.floor(share / totalWeight);
      counts[i] = 1 + whole;
      assigned += counts[i];
      remainders.push(share - whole * totalWeight);
    }
    // Fewer than one bucket per server is left over: the largest remainders
    // take them, ties in name order.
    const byRemainder = remainders.map((_, k) => k).sort((a, b) => remainders[b] - remainders[a] || a - b);
    for (let k = 0; assigned < size && k < byRemainder.length; k++) {
      counts[weighted[byRemainder[k]]]++;
      assigned++;
    }
    let at = 0;
    for (const i of weighted) {
      buckets.fill(i, at, at + counts[i]);
      at += counts[i];
    }
    buckets.fill(-1, at); // only if rounding left some over; never in practice
  }

  /**
   * The usable server for a 32-bit key hash, or -1 when no server in the
   * table is usable. Availability is read live, so a server marked down or
   * quiescent is skipped before refresh() rebuilds anything.
   */
  lookup(keyHash: number): number {
    const servers = this.servers;
    const buckets = this.buckets;
    const mask = this.mask;
    const home = mix32(keyHash) & mask;
    let owner = buckets[home];
    if (owner >= 0 && available(servers[owner])) return owner;
    if (!this.anyUsable()) return -1;
    // IPVS sh-fallback: rehash the key with a probe number, so the keys of
    // one unusable server scatter over all the others instead of piling onto
    // its neighbour in the table.
    for (let probe = 1; probe <= REHASH_PROBES; probe++) {
      owner = buckets[mix32((keyHash + Math.imul(probe, GOLDEN_RATIO_32)) >>> 0) & mask];
      if (owner >= 0 && available(servers[owner])) return owner;
    }
    // Only servers with a tiny share are usable: walk the table from home.
    for (let step = 1; step <= mask; step++) {
      owner = buckets[(home + step) & mask];
      if (owner >= 0 && available(servers[owner])) return owner;
    }
    return -1;
  }

  private anyUsable(): boolean {
    const servers = this.servers;
    for (let i = 0; i < servers.length; i++) {
      if (this.bucketCounts[i] > 0 && available(servers[i])) return true;
    }
    return false;
  }
}

export class DestinationHashScheduler implements Scheduler {
  readonly name = 'dh';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  private readonly table: BucketTable;
  private readonly fallbackTies = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    this.table = new BucketTable(servers);
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (key !== undefined) {
      const owner = this.table.lookup(fnv1a32(key));
      if (owner !== -1) return this.servers[owner];
    }
    // No key, or only servers outside the table are usable (a weight raised
    // from 0 before refresh()): better a least-loaded server than a 503.
    const best = leastWeightedIndex(this.servers, this.fallbackTies);
    if (best === -1) return null;
    return this.servers[best];
  }

  refresh(): void {
    this.table.rebuild();
  }
}

export const createDestinationHash: SchedulerFactory = (servers) => new DestinationHashScheduler(servers);

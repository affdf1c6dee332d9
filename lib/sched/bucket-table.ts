// The bucket table dh and sh hash into, IPVS-style: a fixed power-of-two
// table of buckets, each naming a server, filled in proportion to weight;
// and what the two schedulers share around it. How it differs from IPVS's is
// told in dh.ts.

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler } from './scheduler.ts';
import { LeastWeightedFallback } from './least-load.ts';
import { mix32 } from './hash.ts';

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
  // Set by a weight change; the next lookup rebuilds, so several changes at
  // once (a group-wide reweight) cost one rebuild.
  private stale = false;
  /** How many times the table was built (for tests: up/down must not rebuild it). */
  builds = 0;

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
    if (this.stale) this.rebuild();
    return this.bucketCounts[index];
  }

  /** A weight changed: the shares of the table change with it, at the next lookup. */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * Refill the table from the current weights. Every server with weight > 0
   * gets one bucket, and the rest are shared by weight (largest remainder);
   * servers are laid out in name order, as IPVS walks its list.
   */
  rebuild(): void {
    this.stale = false;
    this.builds++;
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
   * quiescent is skipped; down servers keep their buckets, so their keys
   * come back with them.
   */
  lookup(keyHash: number): number {
    if (this.stale) this.rebuild();
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

/**
 * dh and sh around their table: they differ only in what they hash. Down
 * servers keep their buckets (that is what brings their keys back), so
 * up/down changes nothing; a weight change rebuilds the table at the next
 * pick. When no server in the table is usable (or there is nothing to
 * hash), a least-loaded server is better than a 503.
 */
export abstract class BucketHashScheduler implements Scheduler {
  abstract readonly name: string;
  abstract readonly usesKey: boolean;
  protected readonly servers: readonly RealServer[];
  private readonly table: BucketTable;
  protected readonly fallback: LeastWeightedFallback;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    this.table = new BucketTable(servers);
    this.fallback = new LeastWeightedFallback(servers);
  }

  abstract pick(ctx: PickContext): RealServer | null;

  /** The usable server in the bucket of a 32-bit hash (or a rehash of it), else the fallback's. */
  protected pickByHash(hash: number): RealServer | null {
    const owner = this.table.lookup(hash);
    return owner === -1 ? this.fallback.pick() : this.servers[owner];
  }

  /** Buckets a server holds (for tests and diagnostics). */
  bucketsOf(server: RealServer): number {
    return this.table.bucketsOf(server.id);
  }

  /** How many times the table was built. */
  get builds(): number {
    return this.table.builds;
  }

  serverUp(): void {}

  serverDown(): void {}

  weightChanged(): void {
    this.table.invalidate();
  }
}

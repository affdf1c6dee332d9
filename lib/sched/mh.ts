// Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016), as IPVS's ip_vs_mh: a lookup table of
// prime size M maps hash(key) mod M to a server. O(1) per pick whatever the
// group size, near-equal shares, and adding or removing one of N servers
// moves about 1/N of the keys.
//
// Each server draws from its NAME an offset in [0, M) and a skip in [1, M);
// since M is prime, offset, offset+skip, offset+2·skip, ... (mod M) visits
// every slot once: the server's preference list. Servers take turns claiming
// their next preferred slot that is still empty until the table is full.
//
// Weights: each turn every server earns its weight in credit, and claims one
// slot whenever its credit reaches the largest weight (paying that back). A
// server of the largest weight claims every turn, one of half that weight
// every other turn, so slot counts follow the weights to within a slot or so.
// This keeps the paper's one-claim-per-turn structure, which is what spreads
// each server's slots evenly over the table (and so over the key space),
// whereas repeating a heavy server's claims within one turn would bunch them.
//
// Turns go in name order, not config order, so the table is the same in
// every process and for any listing of the servers. Only usable servers are
// in the table; refresh() rebuilds it. Between a change and the refresh, a
// slot whose server became unusable probes the following slots, so its keys
// spread over the others and no other key moves. Requests without a key fall
// back to wlc.

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
import { TieBreaker, leastWeightedIndex } from './least-load.ts';
import { fnv1a32, mix32 } from './hash.ts';
import { keyHash, nameOrder } from './hash-ring.ts';

export const DEFAULT_TABLE_SIZE = 65537;
/** The table takes 4 bytes a slot; 16 Mi slots is 64 MiB, plenty for any group. */
export const MAX_TABLE_SIZE = 1 << 24;
/** Slots to probe past one whose server became unusable before the next refresh. */
const PROBE_LIMIT = 64;

// The skip hash continues the name's FNV over one more 32-bit unit, this salt,
// before mixing: offset and skip are two differently mixed hashes of the
// name, not one value reused.
const SKIP_SALT = 0x5bd1e995;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The table size from the options, or an Error naming tableSize saying what is wrong. */
export function checkTableSize(tableSize: number | undefined, serverCount: number): number {
  const size = tableSize ?? DEFAULT_TABLE_SIZE;
  const minimum = 100 * serverCount;
  if (!Number.isInteger(size) || size < 2 || size > MAX_TABLE_SIZE) {
    throw new Error(`mh: tableSize ${size} must be a prime between ${Math.max(2, minimum)} and ${MAX_TABLE_SIZE}`);
  }
  if (!isPrime(size)) throw new Error(`mh: tableSize ${size} is not a prime (try 65537, 131071 or 262139)`);
  if (size < minimum) {
    throw new Error(`mh: tableSize ${size} is too small for ${serverCount} servers: it must be at least 100 × servers = ${minimum}`);
  }
  return size;
}

export class MaglevScheduler implements Scheduler {
  readonly name = 'mh';
  readonly usesKey = true;
  readonly tableSize: number;
  private readonly servers: readonly RealServer[];
  private readonly order: Int32Array; // server indexes by name: the turn order
  private readonly offsets: Uint32Array;
  private readonly skips: Uint32Array;
  // table[slot] = server index, or -1 while no server is usable.
  private readonly table: Int32Array;
  // Scratch for refresh(), kept to avoid reallocating per rebuild.
  private readonly nextSlot: Float64Array;
  private readonly credit: Float64Array;
  private readonly fallbackTies = new TieBreaker();

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    const size = checkTableSize(options.tableSize, servers.length);
    this.tableSize = size;
    this.servers = servers;
    this.order = nameOrder(servers);
    this.offsets = new Uint32Array(servers.length);
    this.skips = new Uint32Array(servers.length);
    for (let i = 0; i < servers.length; i++) {
      const nameFnv = fnv1a32(servers[i].name);
      this.offsets[i] = mix32(nameFnv) % size;
      this.skips[i] = (mix32(Math.imul(nameFnv ^ SKIP_SALT, 0x01000193) >>> 0) % (size - 1)) + 1;
    }
    this.table = new Int32Array(size);
    this.nextSlot = new Float64Array(servers.length);
    this.credit = new Float64Array(servers.length);
    this.refresh();
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (key === undefined) return this.pickLeastWeighted();
    const servers = this.servers;
    const table = this.table;
    const size = this.tableSize;
    const hash = keyHash(key);
    let slot = hash % size;
    const owner = table[slot];
    if (owner === -1) return this.pickByName(hash); // nothing was usable at the last refresh
    if (available(servers[owner])) return servers[owner];
    // The owner became unusable since the last refresh: the next slots' owners,
    // which are spread like the table itself, take its keys.
    for (let probe = 0; probe < PROBE_LIMIT; probe++) {
      slot = slot + 1 === size ? 0 : slot + 1;
      const candidate = servers[table[slot]];
      if (available(candidate)) return candidate;
    }
    return this.pickByName(hash);
  }

  /**
   * Last resort when the table's servers are mostly gone before a refresh:
   * the first usable server in name order from a hash-chosen start. Still a
   * pure function of the key and the server states.
   */
  private pickByName(hash: number): RealServer | null {
    const servers = this.servers;
    const order = this.order;
    const count = order.length;
    if (count === 0) return null;
    const start = hash % count;
    for (let step = 0; step < count; step++) {
      const server = servers[order[(start + step) % count]];
      if (available(server)) return server;
    }
    return null;
  }

  private pickLeastWeighted(): RealServer | null {
    const best = leastWeightedIndex(this.servers, this.fallbackTies);
    if (best === -1) return null;
    return this.servers[best];
  }

  /** The server owning a table slot, or null while nothing is usable (for tests and diagnostics). */
  slotOwner(slot: number): RealServer | null {
    const owner = this.table[slot];
    return owner === -1 ? null : this.servers[owner];
  }

  /** How many times the table was built (for tests: a change that keeps its inputs must not rebuild it). */
  builds = 0;

  refresh(): void {
    this.builds++;
    const servers = this.servers;
    const order = this.order;
    const table = this.table;
    const size = this.tableSize;
    const nextSlot = this.nextSlot;
    const credit = this.credit;
    table.fill(-1);
    let maxWeight = 0;
    for (let i = 0; i < servers.length; i++) {
      nextSlot[i] = this.offsets[i];
      credit[i] = 0;
      if (available(servers[i]) && servers[i].weight > maxWeight) maxWeight = servers[i].weight;
    }
    if (maxWeight === 0) return;
    let filled = 0;
    while (filled < size) {
      for (let rank = 0; rank < order.length && filled < size; rank++) {
        const index = order[rank];
        const server = servers[index];
        if (!available(server)) continue;
        credit[index] += server.weight;
        if (credit[index] < maxWeight) continue;
        credit[index] -= maxWeight;
        // Walk this server's preference list to its first empty slot. Every
        // slot is on the list (M prime), so this ends while the table has room.
        let slot = nextSlot[index];
        const skip = this.skips[index];
        while (table[slot] !== -1) {
          slot += skip;
          if (slot >= size) slot -= size;
        }
        table[slot] = index;
        slot += skip;
        nextSlot[index] = slot >= size ? slot - size : slot;
        filled++;
      }
    }
  }
}

export const createMaglev: SchedulerFactory = (servers, options) => new MaglevScheduler(servers, options);

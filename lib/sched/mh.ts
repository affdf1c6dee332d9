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
// in the table. Requests without a key fall back to wlc.
//
// Changes. The table is a function of the set of usable servers and their
// weights, and Maglev has no local update: where a server's claims land
// depends on which slots every other server claimed before it in the same
// turns, so one server joining, leaving or changing weight shifts claims
// all over the table. Only a full repopulation (O(M)) gives the table every
// process computes; that ~1/N of keys move is a property of the result, not
// of the work. So a server going down or up, or the weight of a usable
// server changing, rebuilds the table (at the next pick, so several changes
// at once cost one build); a change that leaves the usable set and its
// weights as they were (a weight change while down, up/down of a quiescent
// server) does not. Between the change and that build nothing is stale
// for long, but a slot whose server is unusable still probes the following
// slots, so a server marked down without the callback loses only its keys.
//
// Bounded load (`balance-factor`, `balance-on`; bounded-load.ts), off unless
// set: a key walks from its slot to the following slots' servers until one
// is within its bound, as chbl walks its ring; Envoy offers the same
// hash_balance_factor on Maglev.

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerDescriptor, SchedulerKnob, SchedulerOptions } from './scheduler.ts';
import type { GroupSpec } from '../config/model.ts';
import { LeastWeightedFallback } from './least-load.ts';
import { fnv1a32, mix32 } from './hash.ts';
import { keyHash, nameOrder } from './hash-ring.ts';
import { BoundedLoad, balanceFactorKnob, balanceOnKnob } from './bounded-load.ts';
import { parseInteger, type Parsed } from '../config/tokenize.ts';

export const DEFAULT_TABLE_SIZE = 65537;
/** The table takes 4 bytes a slot; 16 Mi slots is 64 MiB, plenty for any group. */
export const MAX_TABLE_SIZE = 1 << 24;
/** Slots to probe past one whose server is unusable. */
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

/** The smallest prime >= n, for suggestions (prime gaps near 2^24 are < 200). */
export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  while (!isPrime(p)) p++;
  return p;
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
  // Scratch for build(), kept to avoid reallocating per rebuild.
  private readonly nextSlot: Float64Array;
  private readonly credit: Float64Array;
  private readonly fallback: LeastWeightedFallback;
  /** Bounded load, when the group sets balance-factor or balance-on; null: plain Maglev. */
  readonly bounded: BoundedLoad | null;
  // The usable set or its weights changed: the table is rebuilt at the next pick.
  private stale = false;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    const size = checkTableSize(options.tableSize, servers.length);
    this.tableSize = size;
    this.servers = servers;
    this.order = nameOrder(servers);
    this.fallback = new LeastWeightedFallback(servers);
    this.bounded =
      options.balanceFactor === undefined && options.balanceOn === undefined ? null : new BoundedLoad(servers, this.order, options, 'mh');
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
    this.build();
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (this.bounded !== null) return this.pickBounded(key, this.bounded);
    if (key === undefined) return this.fallback.pick();
    if (this.stale) this.build();
    const servers = this.servers;
    const table = this.table;
    const size = this.tableSize;
    const hash = keyHash(key);
    let slot = hash % size;
    const owner = table[slot];
    if (owner === -1) return this.pickByName(hash); // nothing was usable at the last build
    if (available(servers[owner])) return servers[owner];
    // The owner is unusable and the table does not know yet: the next
    // slots' owners, which are spread like the table itself, take its keys.
    for (let probe = 0; probe < PROBE_LIMIT; probe++) {
      slot = slot + 1 === size ? 0 : slot + 1;
      const candidate = servers[table[slot]];
      if (available(candidate)) return candidate;
    }
    return this.pickByName(hash);
  }

  /**
   * With bounded load: from the key's slot on, the first server within its
   * bound. Every usable server is in the table, and its slots are spread
   * over it, so the walk meets each of them well before it wraps.
   */
  private pickBounded(key: string | undefined, bounded: BoundedLoad): RealServer | null {
    if (key === undefined) return bounded.fallback();
    if (this.stale) this.build();
    if (!bounded.start()) return null;
    const table = this.table;
    const size = this.tableSize;
    let slot = keyHash(key) % size;
    if (table[slot] !== -1) {
      for (let step = 0; step < size && !bounded.allSeen(); step++) {
        if (bounded.fits(table[slot])) return bounded.chosen(table[slot]);
        slot = slot + 1 === size ? 0 : slot + 1;
      }
    }
    return bounded.fallback();
  }

  /**
   * Last resort when the table's servers are mostly gone before a rebuild:
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

  /** The server owning a table slot, or null while nothing is usable (for tests and diagnostics). */
  slotOwner(slot: number): RealServer | null {
    if (this.stale) this.build();
    const owner = this.table[slot];
    return owner === -1 ? null : this.servers[owner];
  }

  /** How many times the table was built (for tests: a change that keeps its inputs must not rebuild it). */
  builds = 0;

  // Only servers with weight > 0 are ever in the table, so a quiescent
  // server's up/down changes nothing.
  serverUp(server: RealServer): void {
    if (server.weight > 0) this.stale = true;
  }

  serverDown(server: RealServer): void {
    if (server.weight > 0) this.stale = true;
  }

  // A down server is not in the table, and its weight is read when it comes up.
  weightChanged(server: RealServer): void {
    if (server.up) this.stale = true;
  }

  private build(): void {
    this.stale = false;
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

/** `table-size PRIME`: the lookup table's size, at least 100 slots a server. */
const tableSizeKnob: SchedulerKnob = {
  statement: 'table-size',
  field: 'tableSize',
  usage: 'table-size PRIME',
  parse(text: string): Parsed<number> {
    const n = parseInteger(text, 2, MAX_TABLE_SIZE);
    if (n === null) return { ok: false, message: `bad table size '${text}': must be a prime number 2..${MAX_TABLE_SIZE}` };
    if (!isPrime(n)) {
      const next = nextPrime(n);
      return { ok: false, message: `table size ${n} is not prime${next <= MAX_TABLE_SIZE ? ` (the next prime is ${next})` : ''}` };
    }
    return { ok: true, value: n };
  },
  print: String,
  // Each server gets ~table/servers slots; fewer than 100 each make the
  // shares uneven, so mh refuses such a table.
  check(value: number | string | undefined, group: GroupSpec): string | null {
    const servers = group.servers.length;
    const least = 100 * servers;
    if (value === undefined) {
      if (DEFAULT_TABLE_SIZE >= least) return null;
      return (
        `mh's default table size ${DEFAULT_TABLE_SIZE} is too small for ${servers} servers: ` +
        `add 'table-size P' with a prime P of at least 100 × servers = ${least} (e.g. ${nextPrime(least)})`
      );
    }
    if (typeof value !== 'number' || value >= least) return null;
    return `table size ${value} is too small for ${servers} servers: must be at least 100 × servers = ${least} (the next prime is ${nextPrime(least)})`;
  },
};

export const mh: SchedulerDescriptor = {
  name: 'mh',
  usesKey: true,
  knobs: [tableSizeKnob, balanceFactorKnob, balanceOnKnob],
  create: (servers, options) => new MaglevScheduler(servers, options),
};

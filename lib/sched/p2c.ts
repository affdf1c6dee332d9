// Power of two random choices (Mitzenmacher): draw two distinct usable
// servers at random and send the request to the one with fewer requests in
// flight per unit of weight. Not an IPVS scheduler. A second random choice
// buys most of least-connection's balance (balls into n bins: the fullest
// bin's excess over the mean drops from ~log n / log log n with one random
// choice to ~log log n with two) while looking at two servers, not all; and
// the randomness keeps several tcpvs processes, each seeing only its own
// `active` counts, from all herding onto the same "least loaded" server.
//
// The draw is uniform over usable servers; weight only enters the comparison.
// Ties go to the first drawn. The PRNG is seeded from crypto at construction,
// or from the `seed` option for repeatable runs.
//
// The usable servers are listed on every up/down or weight change (O(n)), so
// a pick is O(1); when a drawn server has gone down or quiescent without the
// callback yet, that pick scans the group instead.

import { randomInt } from 'node:crypto';
import { available } from './scheduler.ts';
import type { RealServer, Scheduler, SchedulerDescriptor, SchedulerKnob } from './scheduler.ts';
import { parseInteger, type Parsed } from '../config/tokenize.ts';

const TWO_POW_32 = 4294967296;

export class PowerOfTwoChoicesScheduler implements Scheduler {
  readonly name = 'p2c';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly usable: Int32Array; // indexes of the servers usable at the last change
  private usableCount = 0;
  private state: number; // mulberry32 state

  constructor(servers: readonly RealServer[], seed: number) {
    this.servers = servers;
    this.usable = new Int32Array(servers.length);
    this.state = seed >>> 0;
    this.listUsable();
  }

  /** mulberry32: a uint32 per call, full period 2^32, plenty for picking servers. */
  private next(): number {
    const state = (this.state + 0x6d2b79f5) >>> 0;
    this.state = state;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return (x ^ (x >>> 14)) >>> 0;
  }

  /** Uniform in [0, n) for n well below 2^32. */
  private below(n: number): number {
    return Math.floor((this.next() / TWO_POW_32) * n);
  }

  pick(): RealServer | null {
    const count = this.usableCount;
    if (count >= 2) {
      const firstAt = this.below(count);
      let secondAt = this.below(count - 1);
      if (secondAt >= firstAt) secondAt++;
      const first = this.servers[this.usable[firstAt]];
      const second = this.servers[this.usable[secondAt]];
      if (available(first) && available(second)) return lessLoaded(first, second);
    } else if (count === 1) {
      const only = this.servers[this.usable[0]];
      if (available(only)) return only;
    }
    return this.pickByScan();
  }

  /** The same draw over the servers usable right now, for when the list is stale. */
  private pickByScan(): RealServer | null {
    const servers = this.servers;
    let count = 0;
    for (let i = 0; i < servers.length; i++) if (available(servers[i])) count++;
    if (count === 0) return null;
    const firstRank = count === 1 ? 0 : this.below(count);
    let secondRank = count === 1 ? 0 : this.below(count - 1);
    if (count > 1 && secondRank >= firstRank) secondRank++;
    let first: RealServer | null = null;
    let second: RealServer | null = null;
    let rank = 0;
    for (let i = 0; i < servers.length; i++) {
      if (!available(servers[i])) continue;
      if (rank === firstRank) first = servers[i];
      if (rank === secondRank) second = servers[i];
      rank++;
    }
    return lessLoaded(first!, second!);
  }

  serverUp(): void {
    this.listUsable();
  }

  serverDown(): void {
    this.listUsable();
  }

  weightChanged(): void {
    this.listUsable();
  }

  private listUsable(): void {
    const servers = this.servers;
    let count = 0;
    for (let i = 0; i < servers.length; i++) if (available(servers[i])) this.usable[count++] = i;
    this.usableCount = count;
  }
}

/** The server with the smaller active/weight, by cross-multiplying; ties to `first`. */
function lessLoaded(first: RealServer, second: RealServer): RealServer {
  return second.active * first.weight < first.active * second.weight ? second : first;
}

const MAX_SEED = 0xffff_ffff;

/** `seed N`: a fixed random seed, for repeatable runs. */
const seedKnob: SchedulerKnob = {
  statement: 'seed',
  field: 'seed',
  usage: 'seed N',
  parse(text: string): Parsed<number> {
    const n = parseInteger(text, 0, MAX_SEED);
    if (n === null) return { ok: false, message: `bad seed '${text}': must be an integer 0..${MAX_SEED}` };
    return { ok: true, value: n };
  },
  print: String,
};

export const p2c: SchedulerDescriptor = {
  name: 'p2c',
  usesKey: false,
  knobs: [seedKnob],
  create: (servers, options) => new PowerOfTwoChoicesScheduler(servers, options.seed ?? randomInt(TWO_POW_32)),
};

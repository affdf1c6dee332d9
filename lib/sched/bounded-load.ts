// Bounded load (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
// Bounded Loads", SODA 2018), as one piece both hashing schedulers wrap
// around their own candidate order: chbl walks its ring clockwise, mh its
// table slot by slot. Envoy's hash_balance_factor likewise applies to ring
// hash and Maglev alike, and HAProxy's hash-balance-factor to its chash.
//
// A candidate server takes the request only if its load afterwards stays
// within
//   load + 1 <= ceil(c × (totalLoad + 1) × weight / totalWeight)
// (c = balance factor > 1, totals over usable servers); otherwise the walk
// goes on to the next distinct usable server. Since sum(bound) >=
// c × (totalLoad + 1) > totalLoad + 1 and loads are integers, some usable
// server always fits, so a walk that visits every usable server ends in one.
//
// The load (balance-on) is by default the number of requests each server was
// sent recently: a counter per server, +1 per pick, all halved every time
// `decayWindow` picks have been made since the last halving. A cache node
// answers hits at once, so its in-flight count stays near zero however many
// requests its hot keys bring; counting requests is what holds those back.
// The counters depend on nothing but the sequence of picks (keys, weights,
// up/down), so processes that see the same requests make the same choices;
// requests without a key go to the fewest recent requests per weight (ties by
// name), which keeps that true. balance-on active bounds the requests in
// flight instead, with wlc for keyless requests. Either way, at equal load (a
// fresh scheduler, say) the first candidate wins, so the mapping is then the
// plain, stateless one every process agrees on.

import { available } from './scheduler.ts';
import type { RealServer, SchedulerKnob, SchedulerOptions } from './scheduler.ts';
import type { SchedulerTuning } from '../config/model.ts';
import { LeastWeightedFallback } from './least-load.ts';
import { G_PICKS, createGroupShare } from '../state/group-share.ts';
import { W_RECENT } from '../state/server-share.ts';
import type { Parsed } from '../config/tokenize.ts';

export type BalanceOn = NonNullable<SchedulerTuning['balanceOn']>;

export const DEFAULT_BALANCE_FACTOR = 1.25;
export const DEFAULT_BALANCE_ON: BalanceOn = 'requests';
const MAX_BALANCE_FACTOR = 100;
/**
 * Picks between two halvings of the request counters: max(MIN_DECAY_WINDOW,
 * DECAY_WINDOW_PER_SERVER × servers). Long enough that a server's count is
 * some 64..128 requests at the least, so the ceil() in the bound and the
 * chance ups and downs of a uniform key stream stay small against the 25% of
 * headroom; short enough to follow a change of hot keys within a few thousand
 * requests.
 */
export const MIN_DECAY_WINDOW = 1024;
export const DECAY_WINDOW_PER_SERVER = 64;

export function checkBalanceFactor(balanceFactor: number | undefined, scheduler: string): number {
  const factor = balanceFactor ?? DEFAULT_BALANCE_FACTOR;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1) {
    throw new Error(
      `${scheduler}: balanceFactor ${String(factor)} must be a number greater than 1 (e.g. 1.25: at most 25% above the mean load)`,
    );
  }
  return factor;
}

export function checkBalanceOn(balanceOn: string | undefined, scheduler: string): BalanceOn {
  const measure = balanceOn ?? DEFAULT_BALANCE_ON;
  if (measure !== 'requests' && measure !== 'active') {
    throw new Error(
      `${scheduler}: balanceOn '${String(measure)}' must be 'requests' (recent requests sent) or 'active' (requests in flight)`,
    );
  }
  return measure;
}

/** `balance-factor DECIMAL`: c in the bound above. */
export const balanceFactorKnob: SchedulerKnob = {
  statement: 'balance-factor',
  field: 'balanceFactor',
  usage: 'balance-factor DECIMAL (above 1, e.g. 1.25)',
  parse(text: string): Parsed<number> {
    const n = /^\d{1,4}(?:\.\d{1,6})?$/.test(text) ? Number(text) : Number.NaN;
    if (!(n > 1 && n <= MAX_BALANCE_FACTOR)) {
      return { ok: false, message: `bad balance factor '${text}': a decimal number above 1 and at most ${MAX_BALANCE_FACTOR}, e.g. 1.25` };
    }
    return { ok: true, value: n };
  },
  print: String,
};

/** `balance-on requests|active`: what load is bounded. */
export const balanceOnKnob: SchedulerKnob = {
  statement: 'balance-on',
  field: 'balanceOn',
  usage: 'balance-on requests|active',
  parse(text: string): Parsed<BalanceOn> {
    if (text === 'requests' || text === 'active') return { ok: true, value: text };
    return {
      ok: false,
      message: `bad balance-on '${text}': requests (recent requests sent to each server) or active (requests in flight)`,
    };
  },
  print: String,
};

/**
 * The bound and the load counters of one group. A scheduler calls start()
 * once per keyed pick, then fits() for each candidate in its own order until
 * one fits (then chosen()) or allSeen(); fallback() for keyless requests.
 */
export class BoundedLoad {
  readonly balanceFactor: number;
  readonly balanceOn: BalanceOn;
  readonly decayWindow: number;
  private readonly countRequests: boolean;
  private readonly servers: readonly RealServer[];
  private readonly order: Int32Array; // servers by name, for keyless ties
  private readonly fallbackWlc: LeastWeightedFallback;
  // balance-on requests: the decayed count of requests sent to each server
  // is a word of its shared record, and the picks since the last halving a
  // word of the group's, so every worker thread counts into the same numbers
  // and a config change that keeps a server keeps its count. Whole numbers
  // (halving rounds down), which the "some server fits" argument needs.
  private readonly groupWords: Int32Array;
  // visitedAt[i] === visitStamp: server i was already considered in this pick.
  private readonly visitedAt: Uint32Array;
  private visitStamp = 0;
  // Of the pick under way (start()): no allocation per pick.
  private allowedTotal = 0;
  private totalWeight = 0;
  private usableCount = 0;
  private seen = 0;

  constructor(servers: readonly RealServer[], order: Int32Array, options: SchedulerOptions, scheduler: string) {
    this.balanceFactor = checkBalanceFactor(options.balanceFactor, scheduler);
    this.balanceOn = checkBalanceOn(options.balanceOn, scheduler);
    this.countRequests = this.balanceOn === 'requests';
    this.decayWindow = Math.max(MIN_DECAY_WINDOW, DECAY_WINDOW_PER_SERVER * servers.length);
    this.servers = servers;
    this.order = order;
    this.fallbackWlc = new LeastWeightedFallback(servers);
    this.groupWords = options.groupWords ?? new Int32Array(createGroupShare());
    this.visitedAt = new Uint32Array(servers.length);
  }

  /** Begins a keyed pick: totals over the usable servers. False when none is usable. */
  start(): boolean {
    const servers = this.servers;
    const countRequests = this.countRequests;
    let totalLoad = 0;
    let totalWeight = 0;
    let usableCount = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!available(server)) continue;
      totalLoad += countRequests ? server.share[W_RECENT] : server.active;
      totalWeight += server.weight;
      usableCount++;
    }
    // c × (totalLoad + 1): multiplied by weight before dividing by the
    // total, so a bound that is a whole number is computed exactly.
    this.allowedTotal = this.balanceFactor * (totalLoad + 1);
    this.totalWeight = totalWeight;
    this.usableCount = usableCount;
    this.seen = 0;
    let stamp = this.visitStamp + 1;
    if (stamp > 0xffffffff) {
      this.visitedAt.fill(0);
      stamp = 1;
    }
    this.visitStamp = stamp;
    return usableCount > 0;
  }

  /** Whether every usable server has been considered in this pick. */
  allSeen(): boolean {
    return this.seen >= this.usableCount;
  }

  /** Whether server `index`, not yet considered in this pick, is usable and within its bound. */
  fits(index: number): boolean {
    const visitedAt = this.visitedAt;
    if (visitedAt[index] === this.visitStamp) return false;
    visitedAt[index] = this.visitStamp;
    const server = this.servers[index];
    if (!available(server)) return false;
    this.seen++;
    const load = this.countRequests ? server.share[W_RECENT] : server.active;
    return load + 1 <= Math.ceil((this.allowedTotal * server.weight) / this.totalWeight);
  }

  /** Requests without a key, and usable servers the candidates missed: the least loaded by the same measure. */
  fallback(): RealServer | null {
    if (!this.countRequests) return this.fallbackWlc.pick();
    // Fewest (recent requests + 1) per weight, ties to the first by name: a
    // function of the counters alone, unlike wlc's rotation and in-flight
    // counts, so it keeps the processes in step.
    const servers = this.servers;
    const order = this.order;
    let best = -1;
    let bestLoad = 0;
    let bestWeight = 0;
    for (let rank = 0; rank < order.length; rank++) {
      const index = order[rank];
      const server = servers[index];
      if (!available(server)) continue;
      const load = server.share[W_RECENT] + 1;
      if (best === -1 || load * bestWeight < bestLoad * server.weight) {
        best = index;
        bestLoad = load;
        bestWeight = server.weight;
      }
    }
    return best === -1 ? null : this.chosen(best);
  }

  /** Counts the pick (balance-on requests) and returns the server. */
  chosen(index: number): RealServer {
    const server = this.servers[index];
    if (this.countRequests) {
      Atomics.add(server.share, W_RECENT, 1);
      // One pick past the window's end, in whichever worker, restarts the
      // count and halves (past, not at: a smaller group has a smaller window).
      const picks = Atomics.add(this.groupWords, G_PICKS, 1) + 1;
      if (picks >= this.decayWindow && Atomics.compareExchange(this.groupWords, G_PICKS, picks, 0) === picks) {
        for (const s of this.servers) halve(s.share);
      }
    }
    return server;
  }

  /** The decayed count of requests recently sent to a server (0 under balance-on active). */
  recentRequestsOf(server: RealServer): number {
    return this.countRequests ? Atomics.load(server.share, W_RECENT) : 0;
  }
}

/** Halves a server's recent-request count, while other workers may be adding to it. */
function halve(words: Int32Array): void {
  for (;;) {
    const count = Atomics.load(words, W_RECENT);
    if (Atomics.compareExchange(words, W_RECENT, count, count >>> 1) === count) return;
  }
}

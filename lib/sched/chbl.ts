// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018; HAProxy's
// hash-balance-factor and Envoy's hash_balance_factor are the same idea).
//
// Plain consistent hashing sends a key to the first server clockwise from the
// key's point on a ring of virtual nodes, so one hot key overloads its server.
// Here a server takes the request only if its load afterwards stays within
//   load + 1 <= ceil(c × (totalLoad + 1) × weight / totalWeight)
// (c = balanceFactor > 1, totals over usable servers); otherwise the walk goes
// on clockwise to the next distinct usable server. Since sum(bound) >=
// c × (totalLoad + 1) > totalLoad + 1 and loads are integers, some server on
// the ring always fits.
//
// The load (balanceOn) is by default the number of requests each server was
// sent recently: a counter per server, +1 per pick, all halved every time
// `decayWindow` picks have been made since the last halving. A cache node
// answers hits at once, so its in-flight count stays near zero however many
// requests its hot keys bring; counting requests is what holds those back.
// The counters depend on nothing but the sequence of picks (keys, weights,
// up/down), so processes that see the same requests make the same choices;
// requests without a key go to the fewest recent requests per weight (ties by
// name), which keeps that true. balanceOn 'active' bounds the requests in
// flight instead (the older behaviour), with wlc for keyless requests.
// Either way, at equal load (a fresh scheduler, say) the first server wins,
// so the mapping is then the plain, stateless one every process agrees on.
//
// Virtual nodes: POINTS_PER_UNIT per unit of weight, the unit being the gcd
// of the weights the group started with (so "all weight 1" and "all weight
// 100" give the same 512 points a server), scaled down only when the ring would
// exceed MAX_RING_POINTS. A server's points depend on its name and its own
// weight alone, so a weight change or a server leaving moves only the keys it
// gains or loses. Servers that are down stay on the ring and are skipped, so
// up/down needs no rebuild; weight changes do (refresh()).

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
import type { SchedulerTuning } from '../config/model.ts';
import { TieBreaker, leastWeightedIndex } from './least-load.ts';
import { HashRing, keyHash, nameOrder } from './hash-ring.ts';
import { G_PICKS, createGroupShare } from '../state/group-share.ts';
import { W_RECENT } from '../state/server-share.ts';

export type BalanceOn = NonNullable<SchedulerTuning['balanceOn']>;

export const DEFAULT_BALANCE_FACTOR = 1.25;
export const DEFAULT_BALANCE_ON: BalanceOn = 'requests';
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
/**
 * Virtual nodes per unit of weight. A server's share of the key space strays
 * from its fair share by about share/sqrt(points). Over 400 sample groups of
 * 5 and 8 servers, the worst excess share was 4% at 160 points, 3.5% at 256
 * and 2.3% at 512: 512 keeps "removing one of N servers moves at most
 * 1/N + 3% of the keys" for any names, at 4 KiB a server.
 */
export const POINTS_PER_UNIT = 512;
/** Ring size cap (4 MiB of typed arrays, 1024 servers at full density); bigger rings are scaled down. */
export const MAX_RING_POINTS = 1 << 19;

export function checkBalanceFactor(balanceFactor: number | undefined): number {
  const factor = balanceFactor ?? DEFAULT_BALANCE_FACTOR;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1) {
    throw new Error(`chbl: balanceFactor ${String(factor)} must be a number greater than 1 (e.g. 1.25: at most 25% above the mean load)`);
  }
  return factor;
}

export function checkBalanceOn(balanceOn: string | undefined): BalanceOn {
  const measure = balanceOn ?? DEFAULT_BALANCE_ON;
  if (measure !== 'requests' && measure !== 'active') {
    throw new Error(`chbl: balanceOn '${String(measure)}' must be 'requests' (recent requests sent) or 'active' (requests in flight)`);
  }
  return measure;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

export class BoundedLoadHashScheduler implements Scheduler {
  readonly name = 'chbl';
  readonly usesKey = true;
  readonly balanceFactor: number;
  readonly balanceOn: BalanceOn;
  readonly decayWindow: number;
  private readonly countRequests: boolean;
  private readonly servers: readonly RealServer[];
  private readonly order: Int32Array;
  private readonly ring = new HashRing();
  private readonly pointCounts: Int32Array;
  // Points per weight, fixed from the starting weights so that later weight
  // changes resize only the changed server's share of the ring.
  private readonly pointsPerWeight: number;
  // visitedAt[i] === visitStamp: server i was already considered in this pick.
  private readonly visitedAt: Uint32Array;
  private visitStamp = 0;
  private readonly fallbackTies = new TieBreaker();
  // balanceOn 'requests': the decayed count of requests sent to each server
  // is a word of its shared record, and the picks since the last halving a
  // word of the group's, so every worker thread counts into the same numbers
  // and a config change that keeps a server keeps its count. Whole numbers
  // (halving rounds down), which the "some server fits" argument needs.
  private readonly groupWords: Int32Array;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    this.balanceFactor = checkBalanceFactor(options.balanceFactor);
    this.balanceOn = checkBalanceOn(options.balanceOn);
    this.countRequests = this.balanceOn === 'requests';
    this.decayWindow = Math.max(MIN_DECAY_WINDOW, DECAY_WINDOW_PER_SERVER * servers.length);
    this.servers = servers;
    this.order = nameOrder(servers);
    this.pointCounts = new Int32Array(servers.length);
    this.visitedAt = new Uint32Array(servers.length);
    this.groupWords = options.groupWords ?? new Int32Array(createGroupShare());
    let unit = 0;
    let totalWeight = 0;
    for (const server of servers) {
      if (server.weight > 0 && Number.isInteger(server.weight)) unit = gcd(server.weight, unit);
      if (server.weight > 0) totalWeight += server.weight;
    }
    if (unit === 0) unit = 1;
    this.pointsPerWeight = Math.min(POINTS_PER_UNIT / unit, totalWeight > 0 ? MAX_RING_POINTS / totalWeight : Infinity);
    this.refresh();
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (key === undefined) return this.pickFallback();
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
    if (usableCount === 0) return null;
    const owners = this.ring.owners;
    const length = owners.length;
    let point = this.ring.firstAtOrAfter(keyHash(key));
    if (point !== -1) {
      // c × (totalLoad + 1): multiplied by weight before dividing by the
      // total, so a bound that is a whole number is computed exactly.
      const allowedTotal = this.balanceFactor * (totalLoad + 1);
      const visitedAt = this.visitedAt;
      let stamp = this.visitStamp + 1;
      if (stamp > 0xffffffff) {
        visitedAt.fill(0);
        stamp = 1;
      }
      this.visitStamp = stamp;
      let seen = 0;
      for (let step = 0; step < length && seen < usableCount; step++) {
        const index = owners[point];
        point = point + 1 === length ? 0 : point + 1;
        if (visitedAt[index] === stamp) continue;
        visitedAt[index] = stamp;
        const server = servers[index];
        if (!available(server)) continue;
        seen++;
        const load = countRequests ? server.share[W_RECENT] : server.active;
        if (load + 1 <= Math.ceil((allowedTotal * server.weight) / totalWeight)) return this.chosen(index);
      }
    }
    // Only reached when usable servers are missing from the ring (a weight
    // raised from 0 before refresh()): the least loaded is as fair as it gets.
    return this.pickFallback();
  }

  /** Requests without a key, and usable servers off the ring: the least loaded by the same measure. */
  private pickFallback(): RealServer | null {
    if (!this.countRequests) {
      const best = leastWeightedIndex(this.servers, this.fallbackTies);
      if (best === -1) return null;
      return this.servers[best];
    }
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

  /** Counts the pick (balanceOn 'requests') and returns the server. */
  private chosen(index: number): RealServer {
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

  /** Virtual nodes server i holds on the ring now (for tests and diagnostics). */
  pointsOf(server: RealServer): number {
    return this.pointCounts[server.id];
  }

  /** The decayed count of requests recently sent to a server (0 under balanceOn 'active'). */
  recentRequestsOf(server: RealServer): number {
    return this.countRequests ? Atomics.load(server.share, W_RECENT) : 0;
  }

  refresh(): void {
    // The request counters stay: they are history, and a reweighted server is
    // held to its new share from the next pick on.
    const servers = this.servers;
    const pointCounts = this.pointCounts;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const weight = servers[i].weight;
      total += weight > 0 ? weight * this.pointsPerWeight : 0;
    }
    // Weights raised since the start could outgrow the cap: scale everyone.
    const scale = total > MAX_RING_POINTS ? MAX_RING_POINTS / total : 1;
    for (let i = 0; i < servers.length; i++) {
      const weight = servers[i].weight;
      pointCounts[i] = weight > 0 ? Math.max(1, Math.round(weight * this.pointsPerWeight * scale)) : 0;
    }
    this.ring.build(servers, this.order, pointCounts);
  }
}

/** Halves a server's recent-request count, while other workers may be adding to it. */
function halve(words: Int32Array): void {
  for (;;) {
    const count = Atomics.load(words, W_RECENT);
    if (Atomics.compareExchange(words, W_RECENT, count, count >>> 1) === count) return;
  }
}

export const createBoundedLoadHash: SchedulerFactory = (servers, options) => new BoundedLoadHashScheduler(servers, options);

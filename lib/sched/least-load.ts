// Load comparisons shared by the IPVS-style least-load schedulers (lc, wlc,
// sed, nq) and by the hashing and locality schedulers that fall back to wlc:
// the least loaded usable server, with ties broken by weight; and lblc and
// lblcr's overload test. "Load" is `active`, the requests in flight, as
// everywhere in tcpvs.
//
// Ties. IPVS takes the first least-loaded server in its list; at L4 the
// inactive-connection term spreads the load a little. At L7 requests are
// short and `active` is often 0 everywhere under light load, so "first wins"
// would send nearly everything to one server, and plain rotation (what tcpvs
// did before) gives 3:1 weights a 1:1 share. Instead, as nginx's least_conn,
// the servers tied for the least load take turns by smooth weighted round
// robin (wrr.ts): each tied server earns its weight in credit, the highest
// credit wins and pays back the tied servers' total weight. So 3:1 weights
// give 3:1 shares at any concurrency, and equal weights rotate.
//
// Ratios are compared by cross-multiplying (a.active * b.weight <
// b.active * a.weight): no division, no rounding, exact for integer weights.

import { available } from './scheduler.ts';
import type { RealServer } from './scheduler.ts';

/** The credits of one scheduler's tie-breaking, one per server index. */
export class TieBreaker {
  // Sized to the group at the first tie; a group never changes length under
  // one scheduler (a new server list gets a new scheduler).
  private credit = new Float64Array(0);

  /**
   * Among the usable servers tied with the least load (`bestLoad` /
   * `bestWeight` by `measure`), the one whose turn it is by weight.
   */
  choose(servers: readonly RealServer[], measure: number, bestLoad: number, bestWeight: number): number {
    if (this.credit.length !== servers.length) this.credit = new Float64Array(servers.length);
    const credit = this.credit;
    let total = 0;
    let winner = -1;
    let winnerCredit = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!available(server) || !tiedWith(server, measure, bestLoad, bestWeight)) continue;
      const c = credit[i] + server.weight;
      credit[i] = c;
      total += server.weight;
      if (winner === -1 || c > winnerCredit) {
        winner = i;
        winnerCredit = c;
      }
    }
    if (winner !== -1) credit[winner] = winnerCredit - total;
    return winner;
  }
}

// How a tie is recognised, per measure of load.
const BY_ACTIVE = 0; // lc: active
const BY_ACTIVE_PER_WEIGHT = 1; // wlc: active / weight
const BY_DELAY = 2; // sed: (active + 1) / weight

function tiedWith(s: RealServer, measure: number, bestLoad: number, bestWeight: number): boolean {
  switch (measure) {
    case BY_ACTIVE:
      return s.active === bestLoad;
    case BY_ACTIVE_PER_WEIGHT:
      return s.active * bestWeight === bestLoad * s.weight;
    default:
      return (s.active + 1) * bestWeight === bestLoad * s.weight;
  }
}

/** lc: the usable server with the fewest requests in flight, ties by weight; -1 when none is usable. */
export function leastActiveIndex(servers: readonly RealServer[], ties: TieBreaker): number {
  let best = -1;
  let bestActive = 0;
  let tied = 0;
  for (let i = 0; i < servers.length; i++) {
    const server = servers[i];
    if (!available(server)) continue;
    if (best === -1 || server.active < bestActive) {
      best = i;
      bestActive = server.active;
      tied = 1;
    } else if (server.active === bestActive) tied++;
  }
  if (tied <= 1) return best;
  return ties.choose(servers, BY_ACTIVE, bestActive, 1);
}

/** wlc: the usable server with the least active/weight, ties by weight; -1 when none is usable. */
export function leastWeightedIndex(servers: readonly RealServer[], ties: TieBreaker): number {
  let best = -1;
  let bestActive = 0;
  let bestWeight = 0;
  let tied = 0;
  for (let i = 0; i < servers.length; i++) {
    const server = servers[i];
    if (!available(server)) continue;
    const lhs = server.active * bestWeight;
    const rhs = bestActive * server.weight;
    if (best === -1 || lhs < rhs) {
      best = i;
      bestActive = server.active;
      bestWeight = server.weight;
      tied = 1;
    } else if (lhs === rhs) tied++;
  }
  if (tied <= 1) return best;
  return ties.choose(servers, BY_ACTIVE_PER_WEIGHT, bestActive, bestWeight);
}

/**
 * The usable server with the shortest expected delay, (active + 1) / weight,
 * as IPVS's ip_vs_sed; with `idleFirst` (IPVS's ip_vs_nq) an idle server
 * (active 0) is taken before any busy one, idle servers taking turns by
 * weight. Ties by weight. -1 when none is usable.
 */
export function shortestExpectedDelayIndex(servers: readonly RealServer[], ties: TieBreaker, idleFirst: boolean): number {
  let best = -1;
  let bestDelay = 0; // active + 1 of the best so far
  let bestWeight = 0;
  let tied = 0;
  let idle = 0;
  let lastIdle = -1;
  for (let i = 0; i < servers.length; i++) {
    const server = servers[i];
    if (!available(server)) continue;
    const delay = server.active + 1;
    if (delay <= 1) {
      idle++;
      lastIdle = i;
    }
    const lhs = delay * bestWeight;
    const rhs = bestDelay * server.weight;
    if (best === -1 || lhs < rhs) {
      best = i;
      bestDelay = delay;
      bestWeight = server.weight;
      tied = 1;
    } else if (lhs === rhs) tied++;
  }
  if (idleFirst && idle > 0) {
    if (idle === 1) return lastIdle;
    return ties.choose(servers, BY_ACTIVE, 0, 1);
  }
  if (tied <= 1) return best;
  return ties.choose(servers, BY_DELAY, bestDelay, bestWeight);
}

/**
 * IPVS lblc/lblcr's is_overloaded(): the server has more requests in flight
 * than its weight, and some other server is below half its weight, so moving
 * the key there is worth the lost locality. While every server is past half
 * its weight a key stays on its overloaded server: locality beats balance
 * when there is nowhere much better to go.
 *
 * IPVS looks at every destination; a server marked down here is not counted
 * as spare capacity (IPVS has no "down" apart from weight 0, which can never
 * pass active * 2 < weight), since a key cannot move to it.
 */
export function isOverloaded(server: RealServer, servers: readonly RealServer[]): boolean {
  if (server.active <= server.weight) return false;
  for (let i = 0; i < servers.length; i++) {
    const other = servers[i];
    if (other.up && other.active * 2 < other.weight) return true;
  }
  return false;
}

/**
 * The wlc fallback the hashing and locality schedulers share for requests
 * without a key (and for usable servers their table does not hold yet).
 */
export class LeastWeightedFallback {
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  /** The index of the usable server with the least active/weight, ties by weight; -1 when none. */
  index(): number {
    return leastWeightedIndex(this.servers, this.ties);
  }

  pick(): RealServer | null {
    const best = leastWeightedIndex(this.servers, this.ties);
    return best === -1 ? null : this.servers[best];
  }
}

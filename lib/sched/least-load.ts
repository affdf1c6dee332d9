// Load comparisons shared by the IPVS-style schedulers beyond plain wlc
// (which lives in wlc.ts as leastWeightedIndex): sed and nq's expected delay,
// and lblc and lblcr's overload test. "Load" is `active`, the requests in
// flight, as everywhere in tcpvs.

import { available } from './scheduler.ts';
import type { RealServer } from './scheduler.ts';

/**
 * The usable server with the shortest expected delay, (active + 1) / weight,
 * as IPVS's ip_vs_sed; with `idleFirst` (IPVS's ip_vs_nq) an idle server
 * (active 0) is taken at once, whatever its weight. Ratios are compared by
 * cross-multiplying, so nothing is rounded. The scan starts just after
 * `lastPicked` so ties, and idle servers under nq, rotate instead of always
 * going to the first in the group. -1 when none is usable.
 */
export function shortestExpectedDelayIndex(servers: readonly RealServer[], lastPicked: number, idleFirst: boolean): number {
  const count = servers.length;
  let best = -1;
  let bestDelay = 0; // active + 1 of the best so far
  let bestWeight = 0;
  let i = lastPicked;
  for (let step = 0; step < count; step++) {
    i = i + 1 >= count ? 0 : i + 1;
    const server = servers[i];
    if (!available(server)) continue;
    const delay = server.active + 1;
    if (idleFirst && delay <= 1) return i;
    if (best === -1 || delay * bestWeight < bestDelay * server.weight) {
      best = i;
      bestDelay = delay;
      bestWeight = server.weight;
    }
  }
  return best;
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

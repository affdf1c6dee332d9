// Weighted least connection, as IPVS's ip_vs_wlc: the server with the least
// active/weight. IPVS's overhead is active*256 + inactive; an L7 proxy has no
// inactive (TIME_WAIT) connections, so the overhead is `active` alone.
//
// Ratios are compared by cross-multiplying (a.active * b.weight <
// b.active * a.weight): no division, no rounding, exact for integer weights.
// Ties rotate from just after the last pick, for the reason given in lc.ts.

import { available } from './scheduler.ts';
import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';

/**
 * The usable server with the least active/weight, scanning from just after
 * `lastPicked` so ties rotate; -1 when none is usable. Shared with the hashing
 * schedulers that fall back to wlc.
 */
export function leastWeightedIndex(servers: readonly RealServer[], lastPicked: number): number {
  const count = servers.length;
  let best = -1;
  let bestActive = 0;
  let bestWeight = 0;
  let i = lastPicked;
  for (let step = 0; step < count; step++) {
    i = i + 1 >= count ? 0 : i + 1;
    const server = servers[i];
    if (!available(server)) continue;
    if (best === -1 || server.active * bestWeight < bestActive * server.weight) {
      best = i;
      bestActive = server.active;
      bestWeight = server.weight;
      if (bestActive <= 0) break; // ratio 0 cannot be beaten, only tied
    }
  }
  return best;
}

export class WeightedLeastConnectionScheduler implements Scheduler {
  readonly name = 'wlc';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private lastPicked = -1;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = leastWeightedIndex(this.servers, this.lastPicked);
    if (best === -1) return null;
    this.lastPicked = best;
    return this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createWeightedLeastConnection: SchedulerFactory = (servers) =>
  new WeightedLeastConnectionScheduler(servers);

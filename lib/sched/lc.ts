// Least connection, as IPVS's ip_vs_lc, counting requests in flight (`active`)
// because an L7 proxy has no TIME_WAIT "inactive" connections to weigh in.
//
// Ties are broken by rotating the scan start to just after the last pick.
// IPVS takes the first least-loaded server, which in L4 is softened by the
// inactive-connection term. In L7 requests are short and `active` is often 0
// everywhere under light load, so "first wins" would send nearly everything to
// the first server; rotating shares equal servers round-robin and keeps their
// connection pools and caches equally warm.

import { available } from './scheduler.ts';
import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';

export class LeastConnectionScheduler implements Scheduler {
  readonly name = 'lc';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private lastPicked = -1;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const servers = this.servers;
    const count = servers.length;
    let best = -1;
    let bestActive = 0;
    let i = this.lastPicked;
    for (let step = 0; step < count; step++) {
      i = i + 1 === count ? 0 : i + 1;
      const server = servers[i];
      if (!available(server)) continue;
      if (best === -1 || server.active < bestActive) {
        best = i;
        bestActive = server.active;
        if (bestActive <= 0) break; // nothing can beat an idle server
      }
    }
    if (best === -1) return null;
    this.lastPicked = best;
    return servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createLeastConnection: SchedulerFactory = (servers) => new LeastConnectionScheduler(servers);

// Never queue, as IPVS's ip_vs_nq: an idle usable server (no request in
// flight) takes the request at once, whatever its weight; only when every
// server is busy does the shortest expected delay (sed) decide. A request is
// thus never queued behind another while some server sits idle, even a light
// one that sed would pass over.
//
// The idle server taken is the first after the last pick, so idle servers
// share requests round-robin (IPVS takes the first idle one in its list,
// which under light L7 load would send nearly everything to one server).

import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';
import { shortestExpectedDelayIndex } from './least-load.ts';

export class NeverQueueScheduler implements Scheduler {
  readonly name = 'nq';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private lastPicked = -1;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = shortestExpectedDelayIndex(this.servers, this.lastPicked, true);
    if (best === -1) return null;
    this.lastPicked = best;
    return this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createNeverQueue: SchedulerFactory = (servers) => new NeverQueueScheduler(servers);

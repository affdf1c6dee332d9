// Never queue, as IPVS's ip_vs_nq: an idle usable server (no request in
// flight) takes the request at once, whatever its weight; only when every
// server is busy does the shortest expected delay (sed) decide. A request is
// thus never queued behind another while some server sits idle, even a light
// one that sed would pass over.
//
// Idle servers take turns by weight (least-load.ts): IPVS takes the first
// idle one in its list, which under light L7 load would send nearly
// everything to one server.

import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';
import { TieBreaker, shortestExpectedDelayIndex } from './least-load.ts';

export class NeverQueueScheduler implements Scheduler {
  readonly name = 'nq';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = shortestExpectedDelayIndex(this.servers, this.ties, true);
    return best === -1 ? null : this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createNeverQueue: SchedulerFactory = (servers) => new NeverQueueScheduler(servers);

// Shortest expected delay, as IPVS's ip_vs_sed: the usable server with the
// least (active + 1) / weight, i.e. the one that would finish this request
// soonest if every server worked through its queue at a speed proportional
// to its weight. Unlike wlc it counts the request being placed, so an idle
// heavy server beats an idle light one instead of tying with it. Ties take
// turns by weight (least-load.ts).

import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';
import { TieBreaker, shortestExpectedDelayIndex } from './least-load.ts';

export class ShortestExpectedDelayScheduler implements Scheduler {
  readonly name = 'sed';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = shortestExpectedDelayIndex(this.servers, this.ties, false);
    return best === -1 ? null : this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createShortestExpectedDelay: SchedulerFactory = (servers) => new ShortestExpectedDelayScheduler(servers);

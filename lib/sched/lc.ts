// Least connection, as IPVS's ip_vs_lc, counting requests in flight (`active`)
// because an L7 proxy has no TIME_WAIT "inactive" connections to weigh in.
// Weights only break ties (least-load.ts): servers tied for the fewest
// requests in flight take turns in proportion to their weights.

import { TieBreaker, leastActiveIndex } from './least-load.ts';
import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';

export class LeastConnectionScheduler implements Scheduler {
  readonly name = 'lc';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = leastActiveIndex(this.servers, this.ties);
    return best === -1 ? null : this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createLeastConnection: SchedulerFactory = (servers) => new LeastConnectionScheduler(servers);

// Weighted least connection, as IPVS's ip_vs_wlc: the server with the least
// active/weight. IPVS's overhead is active*256 + inactive; an L7 proxy has no
// inactive (TIME_WAIT) connections, so the overhead is `active` alone. Ties
// take turns by weight (least-load.ts), so 3:1 weights give 3:1 shares even
// when requests never overlap.

import { TieBreaker, leastWeightedIndex } from './least-load.ts';
import type { RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';

export class WeightedLeastConnectionScheduler implements Scheduler {
  readonly name = 'wlc';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
  }

  pick(): RealServer | null {
    const best = leastWeightedIndex(this.servers, this.ties);
    return best === -1 ? null : this.servers[best];
  }

  refresh(): void {
    // Nothing precomputed: `active`, weights and up/down are read live.
  }
}

export const createWeightedLeastConnection: SchedulerFactory = (servers) => new WeightedLeastConnectionScheduler(servers);

// Round robin, as IPVS's ip_vs_rr: a cursor walks the group and the next
// usable server after it gets the request. Weights only matter as 0 (quiescent)
// vs. not; use wrr to honour them.

import { LiveScheduler, available } from './scheduler.ts';
import type { RealServer, SchedulerDescriptor } from './scheduler.ts';

// Nothing precomputed, so the change callbacks do nothing: the cursor stays
// where it is, and a health-check flap does not restart the cycle.
export class RoundRobinScheduler extends LiveScheduler {
  readonly name = 'rr';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private lastPicked = -1; // index of the last server returned

  constructor(servers: readonly RealServer[]) {
    super();
    this.servers = servers;
  }

  pick(): RealServer | null {
    const servers = this.servers;
    const count = servers.length;
    // Availability is read live, so a server marked down is skipped at once.
    let i = this.lastPicked;
    for (let step = 0; step < count; step++) {
      i = i + 1 === count ? 0 : i + 1;
      const server = servers[i];
      if (available(server)) {
        this.lastPicked = i;
        return server;
      }
    }
    return null;
  }
}

export const rr: SchedulerDescriptor = { name: 'rr', usesKey: false, knobs: [], create: (servers) => new RoundRobinScheduler(servers) };

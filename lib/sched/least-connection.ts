// The IPVS least-load family in one class: lc, wlc, sed and nq differ only in
// the measure of load they minimise (least-load.ts has the comparisons), so
// one implementation takes the measure as a parameter and the registry keeps
// the four names.
//
// - lc, as ip_vs_lc: the fewest requests in flight (`active`; an L7 proxy has
//   no TIME_WAIT "inactive" connections to weigh in). Weights only break ties.
// - wlc, as ip_vs_wlc: the least active/weight. IPVS's overhead is
//   active*256 + inactive; here it is `active` alone.
// - sed, as ip_vs_sed: the least (active + 1)/weight, the server that would
//   finish this request soonest if each worked through its queue at a speed
//   proportional to its weight. Unlike wlc it counts the request being
//   placed, so an idle heavy server beats an idle light one.
// - nq, as ip_vs_nq: an idle usable server takes the request at once,
//   whatever its weight; only when every server is busy does sed decide, so
//   a request never queues while some server sits idle. Idle servers take
//   turns by weight: IPVS takes the first idle one in its list, which under
//   light L7 load would send nearly everything to one server.
// Ties take turns by weight (least-load.ts), so 3:1 weights give 3:1 shares
// even when requests never overlap.
//
// Nothing is precomputed: `active`, weights and up/down are read live at
// each pick, so the change callbacks have nothing to do.

import { LiveScheduler } from './scheduler.ts';
import type { RealServer, SchedulerDescriptor } from './scheduler.ts';
import { TieBreaker, leastActiveIndex, leastWeightedIndex, shortestExpectedDelayIndex } from './least-load.ts';

/** Which load a least-load scheduler minimises. */
export type LeastLoadMeasure = 'lc' | 'wlc' | 'sed' | 'nq';

export class LeastLoadScheduler extends LiveScheduler {
  readonly name: LeastLoadMeasure;
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly ties = new TieBreaker();
  // The measure as small integers, so pick() switches on a constant of the instance.
  private readonly measure: number;

  constructor(servers: readonly RealServer[], measure: LeastLoadMeasure) {
    super();
    this.name = measure;
    this.servers = servers;
    this.measure = measure === 'lc' ? 0 : measure === 'wlc' ? 1 : measure === 'sed' ? 2 : 3;
  }

  pick(): RealServer | null {
    const servers = this.servers;
    let best: number;
    switch (this.measure) {
      case 0:
        best = leastActiveIndex(servers, this.ties);
        break;
      case 1:
        best = leastWeightedIndex(servers, this.ties);
        break;
      default:
        best = shortestExpectedDelayIndex(servers, this.ties, this.measure === 3);
    }
    return best === -1 ? null : servers[best];
  }
}

function leastLoad(name: LeastLoadMeasure): SchedulerDescriptor {
  return { name, usesKey: false, knobs: [], create: (servers) => new LeastLoadScheduler(servers, name) };
}

export const lc = leastLoad('lc');
export const wlc = leastLoad('wlc');
export const sed = leastLoad('sed');
export const nq = leastLoad('nq');

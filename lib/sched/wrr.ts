// Weighted round robin, the smooth variant (nginx's), not IPVS's ip_vs_wrr.
//
// IPVS steps a current weight down by gcd and serves every server whose weight
// reaches it, which gives bursts: weights 1:2:5 yield C C C B C A B C and, at
// the wrap, four C in a row. The smooth variant yields C B C A C B C C: each
// server's picks are spread as evenly as the weights allow, and a short run of
// requests sees nearly the configured proportions. Both give exact proportions
// over a full cycle of sum(weights) picks.
//
// Each pick: every usable server gains its weight in `current`; the highest
// wins and pays back the sum of the weights. Weights and up/down are read live
// (the sum is computed on the way), so the invariant sum(current) = 0 holds
// for any stable set, and a server marked down is skipped at once.

import { available } from './scheduler.ts';
import type { RealServer, Scheduler, SchedulerDescriptor } from './scheduler.ts';

export class WeightedRoundRobinScheduler implements Scheduler {
  readonly name = 'wrr';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  // current[i] is server i's accumulated credit; indexed by position in the group.
  private readonly current: Float64Array;
  // Sum of usable weights at the last pick or change: the scale credits were earned at.
  private totalWeightSeen = 0;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    this.current = new Float64Array(servers.length);
  }

  pick(): RealServer | null {
    const servers = this.servers;
    const current = this.current;
    let totalWeight = 0;
    let best = -1;
    let bestCredit = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!available(server)) continue;
      const credit = current[i] + server.weight;
      current[i] = credit;
      totalWeight += server.weight;
      // Strictly greater: ties go to the earlier server, so the sequence is
      // a pure function of the weights.
      if (best === -1 || credit > bestCredit) {
        best = i;
        bestCredit = credit;
      }
    }
    if (best === -1) return null;
    current[best] = bestCredit - totalWeight;
    this.totalWeightSeen = totalWeight;
    return servers[best];
  }

  serverUp(): void {
    this.rescale();
  }

  serverDown(): void {
    this.rescale();
  }

  weightChanged(): void {
    this.rescale();
  }

  /**
   * After weights or up/down change (O(n), nothing rebuilt), carry each
   * server's place in the cycle over to the new weights. A credit divided by the total weight is what the
   * server is owed, in picks (within ±1 in steady state); that lag is kept and
   * rescaled to the new total, so a big weight cut does not leave a server
   * owing hundreds of picks, and frequent changes do not restart the cycle
   * (which would favour the heaviest server). Servers that left forget their
   * credit so they rejoin neutral, and the credits are re-centred to sum 0,
   * the algorithm's steady-state invariant. A rescale with nothing changed
   * leaves the sequence untouched.
   */
  private rescale(): void {
    const servers = this.servers;
    const current = this.current;
    let totalWeight = 0;
    let usableCount = 0;
    for (let i = 0; i < servers.length; i++) {
      if (available(servers[i])) {
        totalWeight += servers[i].weight;
        usableCount++;
      } else {
        current[i] = 0;
      }
    }
    const previousTotal = this.totalWeightSeen;
    this.totalWeightSeen = totalWeight;
    if (usableCount === 0) return;
    const scale = previousTotal > 0 ? totalWeight / previousTotal : 0;
    let creditSum = 0;
    for (let i = 0; i < servers.length; i++) {
      if (!available(servers[i])) continue;
      let credit = scale === 1 ? current[i] : current[i] * scale;
      if (credit > totalWeight) credit = totalWeight;
      else if (credit < -totalWeight) credit = -totalWeight;
      current[i] = credit;
      creditSum += credit;
    }
    if (creditSum === 0) return;
    const share = creditSum / usableCount;
    for (let i = 0; i < servers.length; i++) {
      if (available(servers[i])) current[i] -= share;
    }
  }
}

export const wrr: SchedulerDescriptor = {
  name: 'wrr',
  usesKey: false,
  knobs: [],
  create: (servers) => new WeightedRoundRobinScheduler(servers),
};

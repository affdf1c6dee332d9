// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018; HAProxy's
// hash-balance-factor and Envoy's hash_balance_factor are the same idea).
//
// Plain consistent hashing sends a key to the first server clockwise from the
// key's point on a ring of virtual nodes, so one hot key overloads its server.
// Here a server takes the request only if its load afterwards stays within
//   active + 1 <= ceil(c × (totalActive + 1) × weight / totalWeight)
// (c = balanceFactor > 1); otherwise the walk goes on clockwise to the next
// distinct usable server. No server ever exceeds c times its fair share at the
// moment it is picked, and at equal load (idle, say) the first server wins, so
// the mapping is then the plain, stateless one that every process agrees on.
// Since sum(bound) >= c × (totalActive + 1) > totalActive + 1, some server on
// the ring always fits; the wlc fallback only serves requests without a key
// and the moment between a weight change and refresh().
//
// Virtual nodes: POINTS_PER_UNIT per unit of weight, the unit being the gcd
// of the weights the group started with (so "all weight 1" and "all weight
// 100" give the same 512 points a server), scaled down only when the ring would
// exceed MAX_RING_POINTS. A server's points depend on its name and its own
// weight alone, so a weight change or a server leaving moves only the keys it
// gains or loses. Servers that are down stay on the ring and are skipped, so
// up/down needs no rebuild; weight changes do (refresh()).

import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
import { leastWeightedIndex } from './wlc.ts';
import { HashRing, keyHash, nameOrder } from './hash-ring.ts';

export const DEFAULT_BALANCE_FACTOR = 1.25;
/**
 * Virtual nodes per unit of weight. A server's share of the key space strays
 * from its fair share by about share/sqrt(points). Over 400 sample groups of
 * 5 and 8 servers, the worst excess share was 4% at 160 points, 3.5% at 256
 * and 2.3% at 512: 512 keeps "removing one of N servers moves at most
 * 1/N + 3% of the keys" for any names, at 4 KiB a server.
 */
export const POINTS_PER_UNIT = 512;
/** Ring size cap (4 MiB of typed arrays, 1024 servers at full density); bigger rings are scaled down. */
export const MAX_RING_POINTS = 1 << 19;

export function checkBalanceFactor(balanceFactor: number | undefined): number {
  const factor = balanceFactor ?? DEFAULT_BALANCE_FACTOR;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1) {
    throw new Error(`chbl: balanceFactor ${String(factor)} must be a number greater than 1 (e.g. 1.25: at most 25% above the mean load)`);
  }
  return factor;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

export class BoundedLoadHashScheduler implements Scheduler {
  readonly name = 'chbl';
  readonly usesKey = true;
  readonly balanceFactor: number;
  private readonly servers: readonly RealServer[];
  private readonly order: Int32Array;
  private readonly ring = new HashRing();
  private readonly pointCounts: Int32Array;
  // Points per weight, fixed from the starting weights so that later weight
  // changes resize only the changed server's share of the ring.
  private readonly pointsPerWeight: number;
  // visitedAt[i] === visitStamp: server i was already considered in this pick.
  private readonly visitedAt: Uint32Array;
  private visitStamp = 0;
  private lastFallback = -1;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    this.balanceFactor = checkBalanceFactor(options.balanceFactor);
    this.servers = servers;
    this.order = nameOrder(servers);
    this.pointCounts = new Int32Array(servers.length);
    this.visitedAt = new Uint32Array(servers.length);
    let unit = 0;
    let totalWeight = 0;
    for (const server of servers) {
      if (server.weight > 0 && Number.isInteger(server.weight)) unit = gcd(server.weight, unit);
      if (server.weight > 0) totalWeight += server.weight;
    }
    if (unit === 0) unit = 1;
    this.pointsPerWeight = Math.min(POINTS_PER_UNIT / unit, totalWeight > 0 ? MAX_RING_POINTS / totalWeight : Infinity);
    this.refresh();
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (key === undefined) return this.pickLeastWeighted();
    const servers = this.servers;
    let totalActive = 0;
    let totalWeight = 0;
    let usableCount = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!available(server)) continue;
      totalActive += server.active;
      totalWeight += server.weight;
      usableCount++;
    }
    if (usableCount === 0) return null;
    const owners = this.ring.owners;
    const length = owners.length;
    let point = this.ring.firstAtOrAfter(keyHash(key));
    if (point !== -1) {
      // c × (totalActive + 1): multiplied by weight before dividing by the
      // total, so a bound that is a whole number is computed exactly.
      const allowedTotal = this.balanceFactor * (totalActive + 1);
      const visitedAt = this.visitedAt;
      let stamp = this.visitStamp + 1;
      if (stamp > 0xffffffff) {
        visitedAt.fill(0);
        stamp = 1;
      }
      this.visitStamp = stamp;
      let seen = 0;
      for (let step = 0; step < length && seen < usableCount; step++) {
        const index = owners[point];
        point = point + 1 === length ? 0 : point + 1;
        if (visitedAt[index] === stamp) continue;
        visitedAt[index] = stamp;
        const server = servers[index];
        if (!available(server)) continue;
        seen++;
        if (server.active + 1 <= Math.ceil((allowedTotal * server.weight) / totalWeight)) return server;
      }
    }
    // Only reached when usable servers are missing from the ring (a weight
    // raised from 0 before refresh()): the least loaded is as fair as it gets.
    return this.pickLeastWeighted();
  }

  private pickLeastWeighted(): RealServer | null {
    const best = leastWeightedIndex(this.servers, this.lastFallback);
    if (best === -1) return null;
    this.lastFallback = best;
    return this.servers[best];
  }

  /** Virtual nodes server i holds on the ring now (for tests and diagnostics). */
  pointsOf(server: RealServer): number {
    return this.pointCounts[server.id];
  }

  refresh(): void {
    const servers = this.servers;
    const pointCounts = this.pointCounts;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const weight = servers[i].weight;
      total += weight > 0 ? weight * this.pointsPerWeight : 0;
    }
    // Weights raised since the start could outgrow the cap: scale everyone.
    const scale = total > MAX_RING_POINTS ? MAX_RING_POINTS / total : 1;
    for (let i = 0; i < servers.length; i++) {
      const weight = servers[i].weight;
      pointCounts[i] = weight > 0 ? Math.max(1, Math.round(weight * this.pointsPerWeight * scale)) : 0;
    }
    this.ring.build(servers, this.order, pointCounts);
  }
}

export const createBoundedLoadHash: SchedulerFactory = (servers, options) => new BoundedLoadHashScheduler(servers, options);

// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018; HAProxy's
// hash-balance-factor and Envoy's hash_balance_factor are the same idea).
//
// Plain consistent hashing sends a key to the first server clockwise from the
// key's point on a ring of virtual nodes, so one hot key overloads its server.
// Here the walk goes on clockwise past servers over their bound to the next
// distinct usable server; the bound, the load counters and the keyless
// fallback are bounded-load.ts's, which mh shares.
//
// Virtual nodes: POINTS_PER_UNIT per unit of weight, the unit being the gcd
// of the weights the group started with (so "all weight 1" and "all weight
// 100" give the same 512 points a server), scaled down only when the ring would
// exceed MAX_RING_POINTS. A server's points depend on its name and its own
// weight alone, so a weight change or a server leaving moves only the keys it
// gains or loses. Servers that are down stay on the ring and are skipped, so
// up/down needs no rebuild; a weight change rebuilds the ring at the next pick.

import type { PickContext, RealServer, Scheduler, SchedulerDescriptor, SchedulerOptions } from './scheduler.ts';
import { HashRing, keyHash, nameOrder } from './hash-ring.ts';
import { BoundedLoad, balanceFactorKnob, balanceOnKnob, type BalanceOn } from './bounded-load.ts';

export {
  DECAY_WINDOW_PER_SERVER,
  DEFAULT_BALANCE_FACTOR,
  DEFAULT_BALANCE_ON,
  MIN_DECAY_WINDOW,
  type BalanceOn,
} from './bounded-load.ts';

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
  private readonly servers: readonly RealServer[];
  private readonly order: Int32Array;
  private readonly ring = new HashRing();
  private readonly pointCounts: Int32Array;
  // Points per weight, fixed from the starting weights so that later weight
  // changes resize only the changed server's share of the ring.
  private readonly pointsPerWeight: number;
  private readonly bounded: BoundedLoad;
  // A weight changed since the ring was built: rebuilt at the next pick, so
  // several changes at once cost one rebuild.
  private stale = false;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    this.servers = servers;
    this.order = nameOrder(servers);
    this.bounded = new BoundedLoad(servers, this.order, options, 'chbl');
    this.pointCounts = new Int32Array(servers.length);
    let unit = 0;
    let totalWeight = 0;
    for (const server of servers) {
      if (server.weight > 0 && Number.isInteger(server.weight)) unit = gcd(server.weight, unit);
      if (server.weight > 0) totalWeight += server.weight;
    }
    if (unit === 0) unit = 1;
    this.pointsPerWeight = Math.min(POINTS_PER_UNIT / unit, totalWeight > 0 ? MAX_RING_POINTS / totalWeight : Infinity);
    this.buildRing();
  }

  get balanceFactor(): number {
    return this.bounded.balanceFactor;
  }

  get balanceOn(): BalanceOn {
    return this.bounded.balanceOn;
  }

  get decayWindow(): number {
    return this.bounded.decayWindow;
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    const bounded = this.bounded;
    if (key === undefined) return bounded.fallback();
    if (this.stale) this.buildRing();
    if (!bounded.start()) return null;
    const owners = this.ring.owners;
    const length = owners.length;
    let point = this.ring.firstAtOrAfter(keyHash(key));
    if (point !== -1) {
      for (let step = 0; step < length && !bounded.allSeen(); step++) {
        const index = owners[point];
        point = point + 1 === length ? 0 : point + 1;
        if (bounded.fits(index)) return bounded.chosen(index);
      }
    }
    // Only reached when usable servers are missing from the ring (a weight
    // written without weightChanged()): the least loaded is as fair as it gets.
    return bounded.fallback();
  }

  /** Virtual nodes server i holds on the ring now (for tests and diagnostics). */
  pointsOf(server: RealServer): number {
    if (this.stale) this.buildRing();
    return this.pointCounts[server.id];
  }

  /** The decayed count of requests recently sent to a server (0 under balanceOn 'active'). */
  recentRequestsOf(server: RealServer): number {
    return this.bounded.recentRequestsOf(server);
  }

  // Down servers stay on the ring and are skipped: up/down rebuilds nothing.
  serverUp(): void {}

  serverDown(): void {}

  weightChanged(): void {
    this.stale = true;
  }

  private buildRing(): void {
    this.stale = false;
    // The request counters stay: they are history, and a reweighted server is
    // held to its new share from the next pick on.
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

export const chbl: SchedulerDescriptor = {
  name: 'chbl',
  usesKey: true,
  knobs: [balanceFactorKnob, balanceOnKnob],
  create: (servers, options) => new BoundedLoadHashScheduler(servers, options),
};

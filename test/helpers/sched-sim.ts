// Scheduler tests: server groups, and requests held open and released in a
// seeded, out-of-order pattern, the way a proxy's responses finish.
import { makeRealServers } from '../../lib/sched/index.ts';
import type { RealServer } from '../../lib/sched/index.ts';
import { seededRandom } from './seeded-random.ts';

export { seededRandom };

/** Servers 10.0.0.1:80, 10.0.0.2:80, ... with these weights. */
export function serverGroup(weights: number[]): RealServer[] {
  return makeRealServers(weights.map((weight, i) => ({ host: `10.0.0.${i + 1}`, port: 80, weight })));
}

export interface ChurnOptions {
  servers: RealServer[];
  pick: () => RealServer;
  seed: number;
  steps: number;
  low: number; // below this many held, always pick
  high: number; // below this, pick or release at random; at it, release
  /** Judges each pick before it is counted as in flight; false counts as a bad pick. */
  check?: (picked: RealServer, servers: RealServer[]) => boolean;
}

export interface ChurnResult {
  picks: number[]; // server ids in pick order
  badPicks: number; // picks `check` rejected
  meanSpread: number; // time-average of max - min active/weight over the servers
  activeShares: number[]; // each server's time-average share of the requests in flight
  pickShares: number[]; // each server's share of the picks
}

export function churn(o: ChurnOptions): ChurnResult {
  const { servers } = o;
  const random = seededRandom(o.seed);
  const held: RealServer[] = [];
  const picks: number[] = [];
  const pickCounts = servers.map(() => 0);
  const activeSums = servers.map(() => 0);
  let badPicks = 0;
  let spreadSum = 0;
  for (let step = 0; step < o.steps; step++) {
    if (held.length < o.low || (held.length < o.high && random() < 0.5)) {
      const server = o.pick();
      if (o.check !== undefined && !o.check(server, servers)) badPicks++;
      picks.push(server.id);
      pickCounts[server.id]++;
      server.active++;
      held.push(server);
    } else {
      const at = Math.floor(random() * held.length);
      held[at].active--;
      held[at] = held[held.length - 1];
      held.pop();
    }
    let most = -Infinity;
    let least = Infinity;
    for (let i = 0; i < servers.length; i++) {
      const load = servers[i].active / servers[i].weight;
      most = Math.max(most, load);
      least = Math.min(least, load);
      activeSums[i] += servers[i].active;
    }
    spreadSum += most - least;
  }
  const activeTotal = activeSums.reduce((a, b) => a + b, 0);
  return {
    picks,
    badPicks,
    meanSpread: spreadSum / o.steps,
    activeShares: activeSums.map((a) => a / activeTotal),
    pickShares: pickCounts.map((c) => c / picks.length),
  };
}

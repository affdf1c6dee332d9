import t from 'tap';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext, RealServer } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

function group(weights: number[]) {
  return makeRealServers(weights.map((weight, i) => ({ host: `10.0.0.${i + 1}`, port: 80, weight })));
}

// Seeded PRNG (mulberry32) so the release pattern is the same on every run.
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** True when no usable server has fewer requests in flight than `picked`. */
function isLeastLoaded(picked: RealServer, servers: RealServer[]): boolean {
  return servers.every((s) => !(s.up && s.weight > 0) || s.active >= picked.active);
}

interface ChurnResult {
  notLeast: number; // picks that did not go to a least-loaded server
  meanSpread: number; // time-average of max - min active/weight over usable servers
  activeShares: number[]; // each server's time-average share of the requests in flight
  pickShares: number[];
}

/**
 * Holds picks open and releases random held ones (seeded), keeping between
 * `low` and `high` in flight, the way a proxy's responses finish out of order.
 */
function churn(name: string, weights: number[], low: number, high: number, steps: number): ChurnResult {
  const servers = group(weights);
  const scheduler = createScheduler(name, servers, {});
  const random = seededRandom(7);
  const held: RealServer[] = [];
  const activeSums = weights.map(() => 0);
  let notLeast = 0;
  let spreadSum = 0;
  for (let step = 0; step < steps; step++) {
    if (held.length < low || (held.length < high && random() < 0.5)) {
      const server = scheduler.pick(ctx)!;
      if (!isLeastLoaded(server, servers)) notLeast++;
      server.active++;
      server.total++;
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
  const pickTotal = servers.reduce((sum, s) => sum + s.total, 0);
  return {
    notLeast,
    meanSpread: spreadSum / steps,
    activeShares: activeSums.map((a) => a / activeTotal),
    pickShares: servers.map((s) => s.total / pickTotal),
  };
}

t.test('equal servers share the load when nothing is held open (rotating ties)', async (t) => {
  // IPVS's lc would send all of these to the first server.
  const lc = createScheduler('lc', group([1, 1, 1]), {});
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[lc.pick(ctx)!.id]++;
  t.same(counts, [1000, 1000, 1000]);
});

t.test('weights other than 0 do not matter', async (t) => {
  const servers = group([1, 5, 2]);
  const lc = createScheduler('lc', servers, {});
  for (let i = 0; i < 30; i++) lc.pick(ctx)!.active++;
  t.same(servers.map((s) => s.active), [10, 10, 10]);
});

t.test('balances active requests held open with seeded releases', async (t) => {
  const lc = churn('lc', [1, 1, 1, 1, 1], 20, 60, 100_000);
  const rr = churn('rr', [1, 1, 1, 1, 1], 20, 60, 100_000);
  t.equal(lc.notLeast, 0, 'every pick went to a least-loaded server');
  t.ok(lc.meanSpread <= rr.meanSpread / 2, `mean active spread ${lc.meanSpread.toFixed(2)} at most half of rr's ${rr.meanSpread.toFixed(2)}`);
  for (const share of lc.activeShares) t.ok(Math.abs(share - 0.2) <= 0.2 * 0.02, `active share ${share.toFixed(4)} within 2% of 0.2`);
  for (const share of lc.pickShares) t.ok(Math.abs(share - 0.2) <= 0.2 * 0.02, `pick share ${share.toFixed(4)} within 2% of 0.2`);
});

t.test('down and quiescent servers are skipped even when idle', async (t) => {
  const servers = group([1, 0, 1, 1]);
  servers[0].active = 500;
  servers[3].active = 10;
  servers[2].up = false; // no refresh: skipped at once
  const lc = createScheduler('lc', servers, {});
  for (let i = 0; i < 100; i++) lc.pick(ctx)!.active++;
  t.same(servers.map((s) => s.active), [500, 0, 0, 110]);
});

t.test('null when nothing is usable', async (t) => {
  const servers = group([1, 0]);
  servers[0].up = false;
  const lc = createScheduler('lc', servers, {});
  lc.refresh();
  t.equal(lc.pick(ctx), null);
  t.equal(createScheduler('lc', [], {}).pick(ctx), null);
  servers[1].weight = 1;
  lc.refresh();
  t.equal(lc.pick(ctx)?.id, 1);
});

import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import { churn, serverGroup as group } from '../helpers/sched-sim.ts';
import type { PickContext, RealServer } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

/** True when no usable server has a smaller active/weight than `picked`. */
function isLeastLoaded(picked: RealServer, servers: RealServer[]): boolean {
  return servers.every((s) => !(s.up && s.weight > 0) || s.active / s.weight >= picked.active / picked.weight);
}

/** Holds picks open and releases random held ones (seed 7), keeping between `low` and `high` in flight. */
function churnWith(name: string, weights: number[], low: number, high: number, steps: number) {
  const servers = group(weights);
  const scheduler = createScheduler(name, servers, {});
  return churn({ servers, pick: () => scheduler.pick(ctx)!, seed: 7, steps, low, high, check: isLeastLoaded });
}

t.test('requests held open fill servers in proportion to weight', async (t) => {
  const servers = group([1, 2, 5]);
  const wlc = createScheduler('wlc', servers, {});
  for (let i = 0; i < 80; i++) wlc.pick(ctx)!.active++;
  t.same(
    servers.map((s) => s.active),
    [10, 20, 50],
  );
});

t.test('balances active/weight under seeded churn; higher weight carries more', async (t) => {
  const weights = [1, 2, 5];
  const wlc = churnWith('wlc', weights, 400, 1200, 200_000);
  const wrr = churnWith('wrr', weights, 400, 1200, 200_000);
  t.equal(wlc.badPicks, 0, 'every pick had the least active/weight');
  t.ok(
    wlc.meanSpread <= wrr.meanSpread / 2,
    `mean active/weight spread ${wlc.meanSpread.toFixed(2)} at most half of wrr's ${wrr.meanSpread.toFixed(2)}`,
  );
  for (let i = 0; i < weights.length; i++) {
    const expected = weights[i] / 8;
    t.ok(
      Math.abs(wlc.activeShares[i] - expected) <= expected * 0.02,
      `server ${i}: active share ${wlc.activeShares[i].toFixed(4)} within 2% of ${expected}`,
    );
    t.ok(
      Math.abs(wlc.pickShares[i] - expected) <= expected * 0.02,
      `server ${i}: pick share ${wlc.pickShares[i].toFixed(4)} within 2% of ${expected}`,
    );
  }
});

t.test('equal ratios tie and rotate; unequal ones order by active/weight', async (t) => {
  // 1/3 and 2/6 tie. 7/3 < 5/2 (7*2 = 14 < 5*3 = 15) though 7 > 5.
  const servers = group([3, 6]);
  servers[0].active = 1;
  servers[1].active = 2;
  const wlc = createScheduler('wlc', servers, {});
  const first = wlc.pick(ctx)!.id;
  const second = wlc.pick(ctx)!.id;
  t.same([first, second].sort(), [0, 1], 'equal ratios rotate');
  const uneven = group([3, 2]);
  uneven[0].active = 7;
  uneven[1].active = 5;
  t.equal(createScheduler('wlc', uneven, {}).pick(ctx)?.id, 0);
});

t.test('idle equal ratios rotate', async (t) => {
  const wlc = createScheduler('wlc', group([2, 2, 2]), {});
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[wlc.pick(ctx)!.id]++;
  t.same(counts, [100, 100, 100]);
});

t.test('down and quiescent servers are skipped; all unusable gives null', async (t) => {
  const servers = group([1, 0, 4]);
  servers[0].active = 9;
  const wlc = createScheduler('wlc', servers, {});
  servers[2].up = false; // no refresh: skipped at once
  t.equal(wlc.pick(ctx)?.id, 0);
  servers[0].up = false;
  resync(wlc, servers);
  t.equal(wlc.pick(ctx), null);
  t.equal(createScheduler('wlc', [], {}).pick(ctx), null);
});

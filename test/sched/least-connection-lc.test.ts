import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import { churn, serverGroup as group } from '../helpers/sched-sim.ts';
import type { PickContext, RealServer } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

/** True when no usable server has fewer requests in flight than `picked`. */
function isLeastLoaded(picked: RealServer, servers: RealServer[]): boolean {
  return servers.every((s) => !(s.up && s.weight > 0) || s.active >= picked.active);
}

/** Holds picks open and releases random held ones (seed 7), keeping between `low` and `high` in flight. */
function churnWith(name: string, weights: number[], low: number, high: number, steps: number) {
  const servers = group(weights);
  const scheduler = createScheduler(name, servers, {});
  return churn({ servers, pick: () => scheduler.pick(ctx)!, seed: 7, steps, low, high, check: isLeastLoaded });
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
  t.same(
    servers.map((s) => s.active),
    [10, 10, 10],
  );
});

t.test('balances active requests held open with seeded releases', async (t) => {
  const lc = churnWith('lc', [1, 1, 1, 1, 1], 20, 60, 100_000);
  const rr = churnWith('rr', [1, 1, 1, 1, 1], 20, 60, 100_000);
  t.equal(lc.badPicks, 0, 'every pick went to a least-loaded server');
  t.ok(
    lc.meanSpread <= rr.meanSpread / 2,
    `mean active spread ${lc.meanSpread.toFixed(2)} at most half of rr's ${rr.meanSpread.toFixed(2)}`,
  );
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
  t.same(
    servers.map((s) => s.active),
    [500, 0, 0, 110],
  );
});

t.test('null when nothing is usable', async (t) => {
  const servers = group([1, 0]);
  servers[0].up = false;
  const lc = createScheduler('lc', servers, {});
  resync(lc, servers);
  t.equal(lc.pick(ctx), null);
  t.equal(createScheduler('lc', [], {}).pick(ctx), null);
  servers[1].weight = 1;
  resync(lc, servers);
  t.equal(lc.pick(ctx)?.id, 1);
});

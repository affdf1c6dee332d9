import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { churn, serverGroup as group } from '../helpers/sched-sim.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { PickContext, RealServer } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

/** True when no usable server has a smaller (active + 1) / weight than `picked`. */
function hasShortestDelay(picked: RealServer, servers: RealServer[]): boolean {
  return servers.every((s) => !(s.up && s.weight > 0) || (s.active + 1) / s.weight >= (picked.active + 1) / picked.weight);
}

t.test('every pick under seeded churn has the shortest expected delay; load follows weight', async (t) => {
  const weights = [1, 2, 5];
  const servers = group(weights);
  const sed = createScheduler('sed', servers, {});
  const result = churn({ servers, pick: () => sed.pick(ctx)!, seed: 11, steps: 100_000, low: 200, high: 800, check: hasShortestDelay });
  const notShortest = result.badPicks;
  t.equal(notShortest, 0, 'no pick had a longer expected delay than another server');
  for (let i = 0; i < 3; i++) {
    const expected = weights[i] / 8;
    const share = result.activeShares[i];
    t.ok(Math.abs(share - expected) <= expected * 0.03, `server ${i}: active share ${share.toFixed(4)} within 3% of ${expected}`);
  }
});

t.test('an idle heavy server beats an idle light one, where wlc sees a tie', async (t) => {
  // (0+1)/4 < (0+1)/1: the heavy server takes requests while (active+1)/4 < 1,
  // i.e. the first three; at (3+1)/4 = 1/1 it ties, and the tie goes by weight.
  const servers = group([1, 4]);
  const sed = createScheduler('sed', servers, {});
  const picks = [];
  for (let i = 0; i < 4; i++) {
    const server = sed.pick(ctx)!;
    server.active++;
    picks.push(server.id);
  }
  t.same(picks, [1, 1, 1, 1]);
  const next = sed.pick(ctx)!;
  t.equal(next.id, 0, 'then (4+1)/4 > (0+1)/1: the light server');
  const wlcServers = group([1, 4]);
  const wlc = createScheduler('wlc', wlcServers, {});
  const wlcPicks = [0, 0];
  for (let i = 0; i < 5; i++) wlcPicks[wlc.pick(ctx)!.id]++;
  t.same(wlcPicks, [1, 4], 'wlc sees idle servers tied, and shares them 1:4 by weight');
});

t.test('equal expected delays at equal weights rotate', async (t) => {
  const sed = createScheduler('sed', group([3, 3, 3]), {});
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[sed.pick(ctx)!.id]++;
  t.same(counts, [100, 100, 100]);
});

t.test('down and quiescent servers are skipped, before refresh too; none usable gives null', async (t) => {
  const servers = group([1, 0, 9]);
  servers[0].active = 50;
  const sed = createScheduler('sed', servers, {});
  t.equal(sed.pick(ctx)?.id, 2);
  servers[2].up = false;
  for (let i = 0; i < 20; i++) t.equal(sed.pick(ctx)?.id, 0, 'only the busy light server is left');
  servers[0].weight = 0;
  t.equal(sed.pick(ctx), null, 'a weight set to 0 counts before refresh()');
  resync(sed, servers);
  t.equal(sed.pick(ctx), null);
  t.equal(createScheduler('sed', [], {}).pick(ctx), null);
});

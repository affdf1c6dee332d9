// Weights hold at every concurrency. With requests that never overlap every
// server is idle at every pick, so lc, wlc and nq see a tie every time; the
// tie goes by weight (smooth weighted round robin among the tied, as nginx's
// least_conn), so 3:1 weights give 3:1 shares. sed is never tied there: by
// its definition an idle heavy server has the shorter expected delay.
import t from 'tap';
import { createScheduler } from '../../lib/sched/index.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import type { PickContext } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

for (const name of ['lc', 'wlc', 'nq']) {
  t.test(`${name}: 200 sequential requests at weights 3:1 split 150/50`, async (t) => {
    const servers = group([3, 1]);
    const scheduler = createScheduler(name, servers, {});
    const counts = [0, 0];
    for (let i = 0; i < 200; i++) {
      const server = scheduler.pick(ctx)!;
      server.active++; // the request runs...
      counts[server.id]++;
      server.active--; // ...and ends before the next one
    }
    t.same(counts, [150, 50]);
  });

  t.test(`${name}: tied servers interleave (smooth), never four in a row at 3:1`, async (t) => {
    const scheduler = createScheduler(name, group([3, 1]), {});
    const picks = Array.from({ length: 40 }, () => scheduler.pick(ctx)!.id).join('');
    t.notMatch(picks, /0000/, picks);
    t.notMatch(picks, /11/, picks);
  });

  t.test(`${name}: equal weights rotate evenly`, async (t) => {
    const scheduler = createScheduler(name, group([2, 2, 2]), {});
    const counts = [0, 0, 0];
    for (let i = 0; i < 300; i++) counts[scheduler.pick(ctx)!.id]++;
    t.same(counts, [100, 100, 100]);
  });
}

t.test('a loaded server is not chosen for its weight: ties only among the least loaded', async (t) => {
  const servers = group([1, 9, 1]);
  servers[1].active = 5; // wlc: 5/9 > 0/1
  const scheduler = createScheduler('wlc', servers, {});
  const counts = [0, 0, 0];
  for (let i = 0; i < 100; i++) counts[scheduler.pick(ctx)!.id]++;
  t.same(counts, [50, 0, 50]);
});

t.test('sed: sequential requests all go to the heavier idle server, as IPVS sed', async (t) => {
  const servers = group([3, 1]);
  const sed = createScheduler('sed', servers, {});
  const counts = [0, 0];
  for (let i = 0; i < 200; i++) counts[sed.pick(ctx)!.id]++;
  t.same(counts, [200, 0], '(0+1)/3 < (0+1)/1 every time');
});

t.test('sed: real ties go by weight', async (t) => {
  const servers = group([3, 1]);
  servers[0].active = 2; // (2+1)/3 = (0+1)/1
  const sed = createScheduler('sed', servers, {});
  const counts = [0, 0];
  for (let i = 0; i < 40; i++) counts[sed.pick(ctx)!.id]++;
  t.same(counts, [30, 10]);
});

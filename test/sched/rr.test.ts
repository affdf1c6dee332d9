import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { PickContext } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

t.test('cycles through the servers in order, evenly', async (t) => {
  const servers = group([1, 1, 1, 1]);
  const rr = createScheduler('rr', servers, {});
  const counts = [0, 0, 0, 0];
  let outOfOrder = 0;
  for (let i = 0; i < 4000; i++) {
    const id = rr.pick(ctx)!.id;
    if (id !== i % 4) outOfOrder++;
    counts[id]++;
  }
  t.same(counts, [1000, 1000, 1000, 1000]);
  t.equal(outOfOrder, 0);
});

t.test('ignores weights other than 0', async (t) => {
  const rr = createScheduler('rr', group([1, 10]), {});
  const counts = [0, 0];
  for (let i = 0; i < 1000; i++) counts[rr.pick(ctx)!.id]++;
  t.same(counts, [500, 500]);
});

t.test('skips down and quiescent servers', async (t) => {
  const servers = group([1, 1, 0, 1]);
  servers[1].up = false;
  const rr = createScheduler('rr', servers, {});
  resync(rr, servers);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[rr.pick(ctx)!.id]++;
  t.same(counts, [1500, 0, 0, 1500]);
});

t.test('a server marked down is skipped at once, and rejoins after refresh', async (t) => {
  const servers = group([1, 1, 1]);
  const rr = createScheduler('rr', servers, {});
  rr.pick(ctx);
  servers[2].up = false; // no refresh yet
  const whileDown = [0, 0, 0];
  for (let i = 0; i < 100; i++) whileDown[rr.pick(ctx)!.id]++;
  t.same(whileDown, [50, 50, 0]);
  servers[2].up = true;
  resync(rr, servers);
  const afterUp = [0, 0, 0];
  for (let i = 0; i < 300; i++) afterUp[rr.pick(ctx)!.id]++;
  t.same(afterUp, [100, 100, 100]);
});

t.test('null when nothing is usable', async (t) => {
  const servers = group([1, 0, 1]);
  servers[0].up = false;
  servers[2].up = false;
  const rr = createScheduler('rr', servers, {});
  resync(rr, servers);
  t.equal(rr.pick(ctx), null);
  t.equal(createScheduler('rr', [], {}).pick(ctx), null);
  servers[2].up = true;
  resync(rr, servers);
  t.equal(rr.pick(ctx)?.id, 2);
});

import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { PickContext, RealServer } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

const usable = (s: RealServer) => s.up && s.weight > 0;

t.test('an idle server is taken even when sed would wait for a faster busy one', async (t) => {
  // sed: (5+1)/10 = 0.6 beats (0+1)/1 = 1. nq: server 0 is idle, so it goes there.
  const nqServers = group([1, 10]);
  const sedServers = group([1, 10]);
  nqServers[1].active = sedServers[1].active = 5;
  t.equal(createScheduler('sed', sedServers, {}).pick(ctx)?.id, 1);
  t.equal(createScheduler('nq', nqServers, {}).pick(ctx)?.id, 0);
});

t.test('idle servers take turns in proportion to their weights', async (t) => {
  const servers = group([1, 5, 2, 8]);
  servers[3].active = 1; // busy: never chosen while others are idle
  const nq = createScheduler('nq', servers, {});
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 320; i++) counts[nq.pick(ctx)!.id]++;
  t.same(counts, [40, 200, 80, 0], '1:5:2 over 40 full turns');
});

t.test('under seeded churn: idle first, else the shortest expected delay; load follows weight when busy', async (t) => {
  const weights = [1, 2, 5];
  const servers = group(weights);
  const nq = createScheduler('nq', servers, {});
  const random = seededRandom(5);
  const held: RealServer[] = [];
  let idlePicks = 0;
  let busyPicks = 0;
  let wrong = 0;
  const activeSums = [0, 0, 0];
  for (let step = 0; step < 100_000; step++) {
    // Mostly light load (idle servers are common), with heavy spells.
    const high = step % 20_000 < 10_000 ? 4 : 600;
    if (held.length < high && random() < 0.5) {
      const someIdle = servers.some((s) => usable(s) && s.active === 0);
      const server = nq.pick(ctx)!;
      if (someIdle) {
        idlePicks++;
        if (server.active !== 0) wrong++;
      } else {
        busyPicks++;
        const delay = (server.active + 1) / server.weight;
        if (servers.some((s) => usable(s) && (s.active + 1) / s.weight < delay)) wrong++;
      }
      server.active++;
      held.push(server);
    } else if (held.length > 0) {
      const at = Math.floor(random() * held.length);
      held[at].active--;
      held[at] = held[held.length - 1];
      held.pop();
    }
    if (high > 4) for (let i = 0; i < 3; i++) activeSums[i] += servers[i].active;
  }
  t.equal(wrong, 0, 'every pick followed the rule');
  t.ok(idlePicks > 1000 && busyPicks > 1000, `both cases exercised (${idlePicks} idle, ${busyPicks} busy)`);
  const total = activeSums.reduce((a, b) => a + b, 0);
  for (let i = 0; i < 3; i++) {
    const expected = weights[i] / 8;
    const share = activeSums[i] / total;
    t.ok(
      Math.abs(share - expected) <= expected * 0.05,
      `server ${i}: active share under load ${share.toFixed(4)} within 5% of ${expected}`,
    );
  }
});

t.test('down and quiescent servers are skipped even when idle; none usable gives null', async (t) => {
  const servers = group([1, 0, 3]);
  servers[2].active = 7;
  const nq = createScheduler('nq', servers, {});
  servers[0].up = false; // idle but down, no refresh
  for (let i = 0; i < 10; i++) t.equal(nq.pick(ctx)?.id, 2, 'the idle quiescent and the idle down server are passed over');
  servers[2].up = false;
  resync(nq, servers);
  t.equal(nq.pick(ctx), null);
});

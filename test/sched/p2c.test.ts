import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import { churn, seededRandom, serverGroup as group, type ChurnResult } from '../helpers/sched-sim.ts';
import type { PickContext, Scheduler } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

function runP2c(weights: number[], seed: number | undefined, steps = 20_000): ChurnResult {
  const servers = group(weights);
  const p2c: Scheduler = createScheduler('p2c', servers, seed === undefined ? {} : { seed });
  return churn({ servers, pick: () => p2c.pick(ctx)!, seed: 99, steps, low: 50, high: 200 });
}

t.test('a seed makes the picks repeatable; another seed changes them', async (t) => {
  const weights = [1, 1, 1, 1, 1, 1, 1, 1];
  const first = runP2c(weights, 42);
  t.same(runP2c(weights, 42).picks, first.picks, 'same seed, same picks');
  const other = runP2c(weights, 43).picks;
  const differing = other.filter((id, i) => id !== first.picks[i]).length;
  t.ok(differing > first.picks.length / 4, `another seed: ${differing} of ${first.picks.length} picks differ`);
  const unseeded = runP2c(weights, undefined).picks;
  t.ok(unseeded.filter((id, i) => id !== first.picks[i]).length > first.picks.length / 4, 'no seed: a random one');
});

t.test('balances requests in flight far better than one random choice', async (t) => {
  const weights = Array.from({ length: 10 }, () => 1);
  const p2c = runP2c(weights, 7, 100_000);
  const randomServers = group(weights);
  const random = seededRandom(7);
  const single = churn({
    servers: randomServers,
    pick: () => randomServers[Math.floor(random() * randomServers.length)],
    seed: 99,
    steps: 100_000,
    low: 50,
    high: 200,
  });
  t.ok(
    p2c.meanSpread < single.meanSpread / 2,
    `mean max-min in flight ${p2c.meanSpread.toFixed(2)} under half of random's ${single.meanSpread.toFixed(2)}`,
  );
});

t.test('weights: heavier servers carry proportionally more', async (t) => {
  const weights = [1, 2, 4, 1];
  const result = runP2c(weights, 3, 100_000);
  for (let i = 0; i < weights.length; i++) {
    const expected = weights[i] / 8;
    t.ok(
      Math.abs(result.activeShares[i] - expected) <= expected * 0.1,
      `server ${i}: active share ${result.activeShares[i].toFixed(4)} within 10% of ${expected}`,
    );
  }
});

t.test('with two usable servers both are drawn, so the less loaded always wins', async (t) => {
  const servers = group([1, 3, 2]);
  servers[0].up = false;
  const p2c = createScheduler('p2c', servers, { seed: 1 });
  resync(p2c, servers);
  servers[1].active = 5; // 5/3 > 3/2
  servers[2].active = 3;
  for (let i = 0; i < 200; i++) t.equal(p2c.pick(ctx)?.id, 2);
});

t.test('down and quiescent servers are skipped, before refresh too; none usable gives null', async (t) => {
  const servers = group([1, 0, 2, 2]);
  const p2c = createScheduler('p2c', servers, { seed: 9 });
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(p2c.pick(ctx)!.id);
  t.same([...seen].sort(), [0, 2, 3], 'the quiescent server is never drawn');
  servers[3].up = false; // no refresh: the listed usable set is stale
  seen.clear();
  for (let i = 0; i < 500; i++) seen.add(p2c.pick(ctx)!.id);
  t.same([...seen].sort(), [0, 2]);
  servers[2].weight = 0;
  for (let i = 0; i < 50; i++) t.equal(p2c.pick(ctx)?.id, 0, 'one usable server left, before refresh');
  resync(p2c, servers);
  for (let i = 0; i < 50; i++) t.equal(p2c.pick(ctx)?.id, 0, 'and after');
  servers[0].up = false;
  t.equal(p2c.pick(ctx), null);
  resync(p2c, servers);
  t.equal(p2c.pick(ctx), null);
  t.equal(createScheduler('p2c', [], {}).pick(ctx), null);
});

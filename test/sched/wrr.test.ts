import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, Scheduler } from '../../lib/sched/index.ts';

const ctx: PickContext = { key: undefined, clientAddress: '127.0.0.1' };

function picks(scheduler: Scheduler, count: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(scheduler.pick(ctx)!.id);
  return ids;
}

function shares(ids: number[], serverCount: number): number[] {
  const counts = new Array<number>(serverCount).fill(0);
  for (const id of ids) counts[id]++;
  return counts.map((c) => c / ids.length);
}

/** Each usable server's share of `weights`, 0 for the unusable ones. */
function expectedShares(servers: RealServer[]): number[] {
  const usable = servers.map((s) => (s.up && s.weight > 0 ? s.weight : 0));
  const total = usable.reduce((a, b) => a + b, 0);
  return usable.map((w) => w / total);
}

/** Largest gap, over every prefix of `ids`, between a server's pick count and its ideal share. */
function worstPrefixDeviation(ids: number[], expected: number[]): number {
  const counts = new Array<number>(expected.length).fill(0);
  let worst = 0;
  for (let m = 1; m <= ids.length; m++) {
    counts[ids[m - 1]]++;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(counts[i] - m * expected[i]));
  }
  return worst;
}

function longestRuns(ids: number[], serverCount: number): number[] {
  const longest = new Array<number>(serverCount).fill(0);
  let run = 0;
  for (let i = 0; i < ids.length; i++) {
    run = i > 0 && ids[i] === ids[i - 1] ? run + 1 : 1;
    longest[ids[i]] = Math.max(longest[ids[i]], run);
  }
  return longest;
}

function assertProportions(test: Pick<typeof t, 'ok'>, ids: number[], expected: number[]): void {
  const got = shares(ids, expected.length);
  for (let i = 0; i < expected.length; i++) {
    test.ok(
      Math.abs(got[i] - expected[i]) <= expected[i] * 0.01,
      `server ${i}: share ${got[i].toFixed(4)} within 1% of ${expected[i].toFixed(4)}`,
    );
  }
}

t.test('weights 1:2:5 give their proportions over 100k picks', async (t) => {
  const servers = group([1, 2, 5]);
  const ids = picks(createScheduler('wrr', servers, {}), 100_000);
  assertProportions(t, ids, expectedShares(servers));
});

t.test('every window of one cycle holds each server exactly weight times', async (t) => {
  const weights = [1, 2, 5];
  const ids = picks(createScheduler('wrr', group(weights), {}), 8 * 100);
  let badWindows = 0;
  for (let start = 0; start + 8 <= ids.length; start++) {
    const counts = [0, 0, 0];
    for (let i = start; i < start + 8; i++) counts[ids[i]]++;
    if (counts.join() !== weights.join()) badWindows++;
  }
  t.equal(badWindows, 0);
});

t.test('smooth interleave: no avoidable runs of one server', async (t) => {
  // 1:2:5 in a cycle of 8: the 3 other picks split C's 5 into at most 3 runs
  // around the circle, so runs of 2 are the least possible; gcd-stepping WRR
  // (IPVS) gives C C C B C A B C, with a run of 4 across the cycle boundary.
  const ids = picks(createScheduler('wrr', group([1, 2, 5]), {}), 800);
  t.same(longestRuns(ids, 3), [1, 1, 2]);

  for (const weights of [
    [1, 1, 1],
    [3, 1],
    [5, 5],
    [7, 3],
    [4, 4, 1],
    [2, 3],
    [10, 1, 1],
    [1, 2, 3, 4],
    [100, 1],
  ]) {
    const total = weights.reduce((a, b) => a + b, 0);
    const runs = longestRuns(picks(createScheduler('wrr', group(weights), {}), total * 50), weights.length);
    for (let i = 0; i < weights.length; i++) {
      t.ok(runs[i] <= weights[i], `${weights.join(':')}: server ${i} run ${runs[i]} <= weight ${weights[i]}`);
      // Small shares never repeat back to back when the others can fill in.
      if (weights[i] * 2 <= total - weights[i]) t.equal(runs[i], 1, `${weights.join(':')}: server ${i} never twice in a row`);
    }
    t.ok(
      worstPrefixDeviation(
        picks(createScheduler('wrr', group(weights), {}), total * 20),
        weights.map((w) => w / total),
      ) < 1,
      `${weights.join(':')}: every prefix within one pick of its share`,
    );
  }
});

t.test('weight change with refresh keeps fairness from the first pick', async (t) => {
  for (const already of [0, 1, 3, 5, 7, 12_345]) {
    const servers = group([1, 2, 5]);
    const wrr = createScheduler('wrr', servers, {});
    picks(wrr, already);
    servers[0].weight = 5;
    servers[2].weight = 1;
    resync(wrr, servers);
    const ids = picks(wrr, 100_000);
    const expected = expectedShares(servers);
    t.ok(worstPrefixDeviation(ids.slice(0, 2000), expected) <= 1.5, `after ${already} picks: prefixes stay within 1.5 picks`);
    assertProportions(t, ids, expected);
  }
});

t.test('a large weight cut does not starve the others', async (t) => {
  // Credits built up under 1000:1:1 are clamped at refresh; without that the
  // first server would be owed hundreds of picks' worth.
  for (const already of [3, 250, 500, 999]) {
    const servers = group([1000, 1, 1]);
    const wrr = createScheduler('wrr', servers, {});
    picks(wrr, already);
    servers[0].weight = 1;
    resync(wrr, servers);
    const ids = picks(wrr, 3000);
    t.ok(worstPrefixDeviation(ids, [1 / 3, 1 / 3, 1 / 3]) <= 1.5, `after ${already} picks: 1:1:1 at once`);
  }
});

t.test('change callbacks with nothing changed do not disturb the sequence', async (t) => {
  const servers = group([1, 2, 5, 3]);
  const refreshed = createScheduler('wrr', servers, {});
  const untouched = createScheduler('wrr', group([1, 2, 5, 3]), {});
  let differences = 0;
  for (let i = 0; i < 1100; i++) {
    resync(refreshed, servers);
    if (refreshed.pick(ctx)!.id !== untouched.pick(ctx)!.id) differences++;
  }
  t.equal(differences, 0);
});

t.test('down and quiescent servers are skipped; the rest keep their ratio', async (t) => {
  const servers = group([1, 2, 5, 3]);
  const wrr = createScheduler('wrr', servers, {});
  picks(wrr, 1001);
  servers[2].up = false; // before refresh: skipped at once
  const beforeRefresh = picks(wrr, 1000);
  t.notOk(beforeRefresh.includes(2), 'down server never picked, even before refresh');
  servers[3].weight = 0;
  resync(wrr, servers);
  const ids = picks(wrr, 30_000);
  t.notOk(ids.includes(2) || ids.includes(3), 'down and quiescent servers never picked');
  assertProportions(t, ids, expectedShares(servers));
  t.ok(worstPrefixDeviation(ids.slice(0, 2000), expectedShares(servers)) <= 1.5);

  servers[2].up = true;
  servers[3].weight = 3;
  resync(wrr, servers);
  const back = picks(wrr, 110_000);
  assertProportions(t, back, expectedShares(servers));
  t.ok(worstPrefixDeviation(back.slice(0, 2000), expectedShares(servers)) <= 1.5, 'rejoining servers get their share at once');
});

t.test('null when nothing is usable', async (t) => {
  const servers = group([0, 2, 0]);
  servers[1].up = false;
  const wrr = createScheduler('wrr', servers, {});
  resync(wrr, servers);
  t.equal(wrr.pick(ctx), null);
  t.equal(createScheduler('wrr', [], {}).pick(ctx), null);
  servers[1].up = true;
  resync(wrr, servers);
  t.equal(wrr.pick(ctx)?.id, 1);
});

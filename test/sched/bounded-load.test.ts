// lib/sched/bounded-load.ts: the two knobs (parse and check), the bound
// load + 1 <= ceil(c × (totalLoad + 1) × weight / totalWeight), how a walk
// over candidates spills to the next one that fits, the request counters and
// their decay (balance-on requests), and in-flight counts (balance-on
// active). chbl.test.ts and mh.test.ts test the schedulers around it.
import t from 'tap';
import { makeRealServers, type RealServer } from '../../lib/sched/index.ts';
import { nameOrder } from '../../lib/sched/hash-ring.ts';
import {
  BoundedLoad,
  DECAY_WINDOW_PER_SERVER,
  DEFAULT_BALANCE_FACTOR,
  DEFAULT_BALANCE_ON,
  MIN_DECAY_WINDOW,
  balanceFactorKnob,
  balanceOnKnob,
  checkBalanceFactor,
  checkBalanceOn,
} from '../../lib/sched/bounded-load.ts';
import { G_PICKS, createGroupShare } from '../../lib/state/group-share.ts';
import { W_RECENT } from '../../lib/state/server-share.ts';
import type { SchedulerOptions } from '../../lib/sched/scheduler.ts';

function servers(...weights: number[]): RealServer[] {
  return makeRealServers(weights.map((weight, i) => ({ host: `10.0.0.${i + 1}`, port: 80, weight })));
}

function bounded(group: RealServer[], options: SchedulerOptions = {}): BoundedLoad {
  return new BoundedLoad(group, nameOrder(group), options, 'chbl');
}

function setRecent(group: RealServer[], ...counts: number[]): void {
  counts.forEach((n, i) => {
    group[i].share[W_RECENT] = n;
  });
}

function recent(group: RealServer[]): number[] {
  return group.map((s) => s.share[W_RECENT]);
}

/** What chbl and mh do with their candidate order: the first that fits, else the fallback. */
function walk(b: BoundedLoad, candidates: number[]): number | null {
  if (!b.start()) return null;
  for (const i of candidates) {
    if (b.allSeen()) break;
    if (b.fits(i)) return b.chosen(i).id;
  }
  return b.fallback()?.id ?? null;
}

/** Which of the servers fit in a fresh pick, each asked once. */
function fitting(b: BoundedLoad, count: number): boolean[] {
  b.start();
  return Array.from({ length: count }, (_, i) => b.fits(i));
}

t.test('defaults and the option checks', async (t) => {
  t.equal(DEFAULT_BALANCE_FACTOR, 1.25);
  t.equal(DEFAULT_BALANCE_ON, 'requests');
  t.equal(checkBalanceFactor(undefined, 'mh'), 1.25);
  t.equal(checkBalanceFactor(1.0001, 'mh'), 1.0001);
  t.equal(checkBalanceFactor(1000, 'mh'), 1000, 'the constructor takes any factor above 1; the knob caps what a file may say');
  for (const bad of [1, 0.5, -2, Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
    t.throws(
      () => checkBalanceFactor(bad, 'mh'),
      {
        message: `mh: balanceFactor ${String(bad)} must be a number greater than 1 (e.g. 1.25: at most 25% above the mean load)`,
      },
      `${String(bad)} (${typeof bad})`,
    );
  }
  t.equal(checkBalanceOn(undefined, 'chbl'), 'requests');
  t.equal(checkBalanceOn('active', 'chbl'), 'active');
  t.throws(() => checkBalanceOn('Active', 'chbl'), {
    message: "chbl: balanceOn 'Active' must be 'requests' (recent requests sent) or 'active' (requests in flight)",
  });
  t.throws(() => bounded(servers(1), { balanceFactor: 1 }), /^chbl: balanceFactor 1 must/, 'the constructor checks');
  t.throws(() => bounded(servers(1), { balanceOn: 'x' as 'active' }), /^chbl: balanceOn 'x' must/);
});

t.test('balance-factor: a decimal above 1, at most 100, up to six places', async (t) => {
  t.equal(balanceFactorKnob.statement, 'balance-factor');
  t.equal(balanceFactorKnob.field, 'balanceFactor');
  t.equal(balanceFactorKnob.usage, 'balance-factor DECIMAL (above 1, e.g. 1.25)');
  for (const [text, value] of [
    ['1.25', 1.25],
    ['2', 2],
    ['100', 100],
    ['1.000001', 1.000001],
    ['0100', 100],
  ] as const) {
    t.same(balanceFactorKnob.parse(text), { ok: true, value }, text);
  }
  for (const text of [
    '1',
    '1.0',
    '1.0000001',
    '0.5',
    '100.000001',
    '101',
    '12345',
    '1e2',
    '.5',
    '2.',
    '+2',
    '-2',
    ' 2',
    'two',
    '',
    'NaN',
    'Infinity',
  ]) {
    t.same(
      balanceFactorKnob.parse(text),
      { ok: false, message: `bad balance factor '${text}': a decimal number above 1 and at most 100, e.g. 1.25` },
      `'${text}' is refused`,
    );
  }
  t.equal(balanceFactorKnob.print(1.5), '1.5');
  t.equal(balanceFactorKnob.check, undefined, 'nothing to check against the group');
});

t.test('balance-on: requests or active', async (t) => {
  t.equal(balanceOnKnob.statement, 'balance-on');
  t.equal(balanceOnKnob.field, 'balanceOn');
  t.same(balanceOnKnob.parse('requests'), { ok: true, value: 'requests' });
  t.same(balanceOnKnob.parse('active'), { ok: true, value: 'active' });
  for (const text of ['Requests', 'connections', '']) {
    t.same(balanceOnKnob.parse(text), {
      ok: false,
      message: `bad balance-on '${text}': requests (recent requests sent to each server) or active (requests in flight)`,
    });
  }
  t.equal(balanceOnKnob.print('active'), 'active');
});

t.test('decay window: 1024 picks, or 64 per server in larger groups', async (t) => {
  t.equal(MIN_DECAY_WINDOW, 1024);
  t.equal(DECAY_WINDOW_PER_SERVER, 64);
  t.equal(bounded(servers(1, 1)).decayWindow, 1024);
  t.equal(bounded(servers(...Array(16).fill(1))).decayWindow, 1024);
  t.equal(bounded(servers(...Array(17).fill(1))).decayWindow, 1088);
});

t.test('the bound, equal weights', async (t) => {
  const group = servers(1, 1, 1);
  const b = bounded(group); // c = 1.25
  t.same(fitting(b, 3), [true, true, true], 'fresh: bound ceil(1.25 × 1 / 3) = 1, and 0 + 1 fits');
  setRecent(group, 1, 0, 0);
  t.same(fitting(b, 3), [false, true, true], 'bound ceil(1.25 × 2 / 3) = 1: a server with one already is full');
  setRecent(group, 2, 1, 0);
  // c × (3 + 1) = 5 → ceil(5 / 3) = 2: load + 1 <= 2.
  t.same(fitting(b, 3), [false, true, true]);
  setRecent(group, 2, 2, 1);
  // 1.25 × 6 = 7.5 → ceil(2.5) = 3.
  t.same(fitting(b, 3), [true, true, true]);
  setRecent(group, 3, 2, 1);
  // 1.25 × 7 = 8.75 → ceil(2.9167) = 3.
  t.same(fitting(b, 3), [false, true, true]);
  setRecent(group, 30, 29, 0);
  // 1.25 × 60 = 75 → 25.
  t.same(fitting(b, 3), [false, false, true]);
});

t.test('the bound scales with weight over the usable servers only', async (t) => {
  const group = servers(3, 1);
  const b = bounded(group, { balanceFactor: 2 });
  setRecent(group, 5, 1);
  // 2 × 7 = 14: ceil(14 × 3 / 4) = 11 for the weight-3 server, ceil(14 / 4) = 4 for the other.
  t.same(fitting(b, 2), [true, true]);
  setRecent(group, 10, 3);
  // 2 × 14 = 28: 21 and 7.
  t.same(fitting(b, 2), [true, true]);
  setRecent(group, 21, 3);
  // 2 × 25 = 50: ceil(37.5) = 38 and ceil(12.5) = 13.
  t.same(fitting(b, 2), [true, true]);
  setRecent(group, 2, 4);
  // 2 × 7 = 14: 11 and ceil(3.5) = 4; 4 + 1 > 4.
  t.same(fitting(b, 2), [true, false]);

  const three = servers(1, 1, 1);
  const c = bounded(three, { balanceFactor: 1.5 });
  setRecent(three, 4, 0, 100);
  t.same(fitting(c, 3), [true, true, false], 'all up: 1.5 × 105 / 3 = 52.5 → 53, which only the third passes');
  three[2].up = false;
  // Down: its 100 and its weight leave both totals: 1.5 × 5 / 2 = 3.75 → 4; 4 + 1 > 4.
  t.same(fitting(c, 3), [false, true, false], 'a down server neither counts nor fits');
});

t.test('start, fits and allSeen within one pick', async (t) => {
  const group = servers(1, 1, 0, 1);
  const b = bounded(group);
  t.equal(b.start(), true);
  t.equal(b.allSeen(), false);
  t.equal(b.fits(2), false, 'weight 0: never fits');
  t.equal(b.allSeen(), false, 'and is not counted as seen');
  t.equal(b.fits(0), true);
  t.equal(b.fits(0), false, 'the same candidate again in one pick: no');
  t.equal(b.allSeen(), false);
  t.equal(b.fits(1), true);
  t.equal(b.fits(3), true);
  t.equal(b.allSeen(), true, 'three usable, three seen');
  t.equal(b.start(), true);
  t.equal(b.allSeen(), false, 'a new pick starts over');
  t.equal(b.fits(0), true, 'and may consider the same server again');

  for (const s of group) s.up = false;
  t.equal(b.start(), false, 'nothing usable');
  t.equal(b.allSeen(), true, 'zero of zero seen');
});

t.test('spill: a full candidate passes the request to the next in the walk', async (t) => {
  const group = servers(1, 1, 1, 1);
  const b = bounded(group);
  setRecent(group, 0, 0, 9, 0);
  // 1.25 × 10 / 4 = 3.125 → 4: server 2 (9) is full.
  t.equal(walk(b, [2, 0, 1, 3]), 0, 'the hot key spills to its next candidate');
  t.equal(walk(b, [2, 3, 0, 1]), 3, 'in the order the scheduler walks, not by id');
  t.same(recent(group), [1, 0, 9, 1], 'each pick counted on the server chosen');
  group[3].up = false;
  t.equal(walk(b, [2, 3, 1, 0]), 1, 'a down candidate is skipped');
  // A walk that repeats a server (a ring's points) does not count it twice.
  setRecent(group, 0, 0, 0, 0);
  group[3].up = true;
  setRecent(group, 9, 9, 0, 0);
  t.equal(walk(b, [0, 0, 1, 1, 0, 2]), 2);
  // Candidates missing usable servers: the fallback, fewest recent per weight.
  setRecent(group, 9, 9, 9, 0);
  t.equal(walk(b, [0, 1]), 3, 'not in the walk but usable: the fallback finds it');
  // Some usable server always fits once all are seen (sum of bounds > totalLoad + 1).
  const skewed = servers(1, 1, 1);
  const s = bounded(skewed, { balanceFactor: 1.01 });
  setRecent(skewed, 50, 50, 50);
  let over = 0;
  for (let n = 0; n < 300; n++) {
    const total = recent(skewed).reduce((a, b) => a + b, 0);
    const picked = walk(s, [0, 1, 2]);
    if (picked === null) t.fail('no server taken');
    else if (skewed[picked].share[W_RECENT] > Math.ceil((1.01 * (total + 1)) / 3)) over++;
  }
  t.equal(over, 0, 'every one of 300 picks of one key, c = 1.01, stayed within its bound');
  const counts = recent(skewed);
  t.ok(Math.max(...counts) <= Math.ceil((1.01 * 450) / 3), `the busiest ends within the bound too: ${counts}`);
  t.ok(Math.min(...counts) >= 140, `the hot key spread over all three: ${counts}`);
});

t.test('balance-on requests: counters, decay, and the keyless fallback', async (t) => {
  const group = servers(1, 1);
  const words = new Int32Array(createGroupShare());
  const b = bounded(group, { groupWords: words });
  t.equal(b.balanceOn, 'requests');
  b.chosen(0);
  b.chosen(0);
  b.chosen(1);
  t.same(recent(group), [2, 1]);
  t.equal(b.recentRequestsOf(group[0]), 2);
  t.equal(words[G_PICKS], 3, 'picks counted in the group words');
  setRecent(group, 101, 7);
  words[G_PICKS] = 1022;
  b.chosen(0);
  t.same([recent(group), words[G_PICKS]], [[102, 7], 1023], 'the 1023rd pick: no decay yet');
  b.chosen(1);
  t.same([recent(group), words[G_PICKS]], [[51, 4], 0], 'the 1024th: every counter halved (rounding down), the count restarted');

  // Keyless: fewest (recent + 1) per weight; ties to the first by name.
  const byName = makeRealServers([
    { host: '10.0.0.9', port: 80, weight: 1 },
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.5', port: 80, weight: 2 },
  ]);
  const f = bounded(byName);
  t.equal(f.fallback()?.name, '10.0.0.5:80', '1/2 beats 1/1');
  t.same(recent(byName), [0, 0, 1], 'and is counted');
  t.equal(f.fallback()?.name, '10.0.0.1:80', 'all three at 1 per weight: the first by name');
  t.equal(f.fallback()?.name, '10.0.0.5:80', "its 2/2 ties 10.0.0.9's 1/1, and 10.0.0.5 comes first by name");
  t.equal(f.fallback()?.name, '10.0.0.9:80', '1/1 beats 2/1 and 3/2');
  t.same(recent(byName), [1, 1, 2]);
  byName[2].up = false;
  byName[1].up = false;
  t.equal(f.fallback()?.name, '10.0.0.9:80', 'down servers are skipped');
  byName[0].weight = 0;
  t.equal(f.fallback(), null, 'none usable');
});

t.test('balance-on active: requests in flight, no counters', async (t) => {
  const group = servers(1, 1, 1);
  const words = new Int32Array(createGroupShare());
  const b = bounded(group, { balanceOn: 'active', groupWords: words });
  t.equal(b.balanceOn, 'active');
  setRecent(group, 1000, 0, 0); // ignored in this mode
  group[0].active = 0;
  group[1].active = 5;
  group[2].active = 0;
  // 1.25 × 6 / 3 = 2.5 → 3: server 1 (5 in flight) is full, server 0 is not, whatever it was sent.
  t.same(fitting(b, 3), [true, false, true]);
  t.equal(walk(b, [1, 0]), 0);
  t.same(recent(group), [1000, 0, 0], 'chosen() counts nothing');
  t.equal(words[G_PICKS], 0);
  t.equal(b.recentRequestsOf(group[0]), 0, 'no recent-request count to report');
  // Keyless: wlc, the least in flight per weight.
  t.equal(b.fallback()?.id, 0, 'ties between 0 and 2 broken by turns');
  t.equal(b.fallback()?.id, 2);
  group[2].active = 1;
  t.equal(b.fallback()?.id, 0);
  group[0].up = false;
  t.equal(b.fallback()?.id, 2, '1 in flight beats 5');
});

t.test('private group words when none are given', async (t) => {
  const group = servers(1);
  const a = bounded(group);
  const b = bounded(servers(1));
  for (let n = 0; n < 1023; n++) a.chosen(0);
  t.equal(a.recentRequestsOf(group[0]), 1023);
  b.chosen(0);
  t.equal(a.recentRequestsOf(group[0]), 1023, "another scheduler's picks do not advance this one's window");
  a.chosen(0);
  t.equal(a.recentRequestsOf(group[0]), 512, '1024 halved at its own 1024th pick');
});

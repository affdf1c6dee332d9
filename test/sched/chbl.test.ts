import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers, setServerState } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, RealServerSpec, Scheduler } from '../../lib/sched/index.ts';
import {
  type BoundedLoadHashScheduler,
  DECAY_WINDOW_PER_SERVER,
  MAX_RING_POINTS,
  MIN_DECAY_WINDOW,
  POINTS_PER_UNIT,
} from '../../lib/sched/chbl.ts';
import type { SchedulerOptions } from '../../lib/sched/scheduler.ts';
import { HashRing } from '../../lib/sched/hash-ring.ts';

const runFile = promisify(execFile);

// Balancing on requests in flight: the tests of the ring and of the in-flight
// bound, where picks must leave no state behind.
const ACTIVE = { balanceOn: 'active' } as const;

const SPECS = [
  { host: '10.0.0.1', port: 8080, weight: 1 },
  { host: '10.0.0.2', port: 8080, weight: 2 },
  { host: 'fd00::3', port: 8080, weight: 3 },
];

function equalSpecs(count: number): RealServerSpec[] {
  return Array.from({ length: count }, (_, i) => ({ host: `10.0.1.${i + 1}`, port: 80, weight: 1 }));
}

function pickName(scheduler: Scheduler, key: string | undefined): string | undefined {
  const ctx: PickContext = { key, clientAddress: '127.0.0.1' };
  return scheduler.pick(ctx)?.name;
}

function keyOf(n: number): string {
  return `/doc/${n}`;
}

/** Key ranks drawn Zipf(alpha) over `count` keys: rank 0 is by far the hottest. */
function zipfSampler(count: number, random: () => number, alpha = 1.1): () => number {
  const cdf = new Float64Array(count);
  let sum = 0;
  for (let rank = 0; rank < count; rank++) cdf[rank] = sum += 1 / (rank + 1) ** alpha;
  return () => {
    const target = random() * sum;
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cdf[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

interface LoadRun {
  picks: string[];
  keys: string[];
  pickBoundViolations: number; // picks that left the picked server above ceil(1.25 × total × share)
  peakRatio: number; // busiest active / mean active, once 30+ requests are in flight
}

/** Pick, hold ~50 requests in flight, release them in a seeded order. */
function runLoad(scheduler: Scheduler, servers: RealServer[], steps: number): LoadRun {
  const random = seededRandom(7);
  const nextRank = zipfSampler(2000, random);
  const inFlight: RealServer[] = [];
  const totalWeight = servers.reduce((sum, s) => sum + s.weight, 0);
  const run: LoadRun = { picks: [], keys: [], pickBoundViolations: 0, peakRatio: 0 };
  for (let step = 0; step < steps; step++) {
    const target = 40 + Math.floor(random() * 20);
    while (inFlight.length >= target) {
      const at = Math.floor(random() * inFlight.length);
      inFlight[at].active--;
      inFlight[at] = inFlight[inFlight.length - 1];
      inFlight.pop();
    }
    const key = keyOf(nextRank());
    const server = scheduler.pick({ key, clientAddress: '127.0.0.1' })!;
    server.active++;
    inFlight.push(server);
    run.picks.push(server.name);
    run.keys.push(key);
    const total = inFlight.length;
    if (server.active > Math.ceil((1.25 * total * server.weight) / totalWeight)) run.pickBoundViolations++;
    if (total >= 30) {
      let busiest = 0;
      for (const s of servers) busiest = Math.max(busiest, (s.active * totalWeight) / s.weight);
      run.peakRatio = Math.max(run.peakRatio, busiest / total);
    }
  }
  return run;
}

interface RequestRun {
  share: number[]; // picks of server i / (picks × its weight share)
  boundViolations: number; // picks that left the picked server's count above ceil(c × total × share)
  offHome: number; // picks that did not go to the key's zero-load server
}

/**
 * Picks for `picks` Zipf(1.0) keys over `keyCount` objects, every request
 * done at once (nothing stays in flight, as with cache hits).
 */
function runRequests(specs: RealServerSpec[], options: SchedulerOptions, picks: number, keyCount: number): RequestRun {
  const servers = makeRealServers(specs);
  const chbl = createScheduler('chbl', servers, options) as BoundedLoadHashScheduler;
  const home = createScheduler('chbl', makeRealServers(specs), ACTIVE);
  const factor = chbl.balanceFactor;
  const nextRank = zipfSampler(keyCount, seededRandom(3), 1.0);
  const totalWeight = servers.reduce((sum, s) => sum + s.weight, 0);
  const picked = new Array<number>(servers.length).fill(0);
  const run: RequestRun = { share: [], boundViolations: 0, offHome: 0 };
  let previousTotal = 0;
  for (let step = 0; step < picks; step++) {
    const key = keyOf(nextRank());
    const server = chbl.pick({ key, clientAddress: '127.0.0.1' })!;
    picked[server.id]++;
    if (server.name !== pickName(home, key)) run.offHome++;
    let total = 0;
    for (const s of servers) total += chbl.recentRequestsOf(s);
    // A pick that completed a window halved every count: the bound is checked between halvings.
    if (total > previousTotal && chbl.recentRequestsOf(server) > Math.ceil((factor * total * server.weight) / totalWeight))
      run.boundViolations++;
    previousTotal = total;
  }
  run.share = servers.map((s, i) => picked[i] / ((picks * s.weight) / totalWeight));
  return run;
}

t.test('balanceFactor must be a number above 1; balanceOn requests (the default) or active', async (t) => {
  const servers = makeRealServers(SPECS);
  for (const bad of [1, 0.5, 0, -2, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(
      () => createScheduler('chbl', servers, { balanceFactor: bad }),
      { message: /chbl: balanceFactor .* must be a number greater than 1/ },
      `${bad}`,
    );
  }
  const chbl = createScheduler('chbl', servers, {}) as BoundedLoadHashScheduler;
  t.equal(chbl.balanceFactor, 1.25, 'default 1.25');
  t.equal(chbl.balanceOn, 'requests', 'balances on requests sent by default');
  t.equal(chbl.name, 'chbl');
  t.equal(chbl.usesKey, true);
  t.equal((createScheduler('chbl', servers, { balanceFactor: 1.01 }) as BoundedLoadHashScheduler).balanceFactor, 1.01);
  t.equal((createScheduler('chbl', servers, ACTIVE) as BoundedLoadHashScheduler).balanceOn, 'active');
  t.equal((createScheduler('chbl', servers, { balanceOn: 'requests' }) as BoundedLoadHashScheduler).balanceOn, 'requests');
  for (const bad of ['connections', '', 'Requests']) {
    const options = { balanceOn: bad } as unknown as SchedulerOptions;
    t.throws(
      () => createScheduler('chbl', servers, options),
      { message: /^chbl: balanceOn '.*' must be 'requests' .* or 'active'/ },
      `'${bad}'`,
    );
  }
  t.equal(chbl.decayWindow, MIN_DECAY_WINDOW, '3 servers: the shortest window');
  t.equal(
    (createScheduler('chbl', makeRealServers(equalSpecs(40)), {}) as BoundedLoadHashScheduler).decayWindow,
    40 * DECAY_WINDOW_PER_SERVER,
    '40 servers',
  );
});

t.test('virtual nodes follow weights in units of their gcd, within the ring cap', async (t) => {
  const hundreds = makeRealServers(SPECS.map((s) => ({ ...s, weight: s.weight * 100 })));
  const chbl = createScheduler('chbl', hundreds, {}) as BoundedLoadHashScheduler;
  t.same(
    hundreds.map((s) => chbl.pointsOf(s)),
    [POINTS_PER_UNIT, 2 * POINTS_PER_UNIT, 3 * POINTS_PER_UNIT],
  );
  setServerState(chbl, hundreds[0], true, 150);
  t.same(
    hundreds.map((s) => chbl.pointsOf(s)),
    [1.5 * POINTS_PER_UNIT, 2 * POINTS_PER_UNIT, 3 * POINTS_PER_UNIT],
    'a weight change resizes only that server',
  );
  setServerState(chbl, hundreds[0], true, 0);
  t.equal(chbl.pointsOf(hundreds[0]), 0, 'quiescent: off the ring');

  const skewed = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 65535 },
  ]);
  const capped = createScheduler('chbl', skewed, {}) as BoundedLoadHashScheduler;
  const total = capped.pointsOf(skewed[0]) + capped.pointsOf(skewed[1]);
  t.ok(total <= MAX_RING_POINTS + 1, `${total} points, within the cap`);
  t.ok(capped.pointsOf(skewed[0]) >= 1, 'the light server keeps a point');
  setServerState(capped, skewed[0], true, 65535); // raised at runtime beyond the cap
  t.ok(capped.pointsOf(skewed[0]) + capped.pointsOf(skewed[1]) <= MAX_RING_POINTS + 2, 'still within the cap after a raise');
  t.equal(capped.pointsOf(skewed[0]), capped.pointsOf(skewed[1]), 'equal weights, equal points');
});

t.test('at zero load keys spread by weight', async (t) => {
  // Nothing is ever in flight here, so balancing on in-flight requests shows the bare ring.
  const chbl = createScheduler('chbl', makeRealServers(SPECS), ACTIVE);
  const counts = new Map<string, number>();
  const keyCount = 60_000;
  for (let n = 0; n < keyCount; n++) {
    const name = pickName(chbl, keyOf(n))!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const server of makeRealServers(SPECS)) {
    const share = (counts.get(server.name) ?? 0) / keyCount;
    t.ok(
      Math.abs(share - server.weight / 6) <= 0.03,
      `${server.name}: ${share.toFixed(4)} of the keys, weight share ${(server.weight / 6).toFixed(4)}`,
    );
  }
});

t.test('at equal load the mapping is stateless: instances, reorders and load levels agree', async (t) => {
  const idle = createScheduler('chbl', makeRealServers(SPECS), ACTIVE);
  const first = Array.from({ length: 1000 }, (_, n) => pickName(idle, keyOf(n)));
  t.equal(new Set(first).size, 3);
  for (let n = 0; n < 50; n++) pickName(idle, undefined);
  t.same(
    Array.from({ length: 1000 }, (_, n) => pickName(idle, keyOf(n))),
    first,
    'picks at zero load leave no state',
  );
  for (const order of [
    [2, 1, 0],
    [1, 0, 2],
  ]) {
    const reordered = createScheduler('chbl', makeRealServers(order.map((i) => SPECS[i])), ACTIVE);
    t.same(
      Array.from({ length: 1000 }, (_, n) => pickName(reordered, keyOf(n))),
      first,
      `order ${order.join(',')}`,
    );
  }
  // Load in proportion to weight is "equal": every server is at its fair share.
  for (const perWeight of [1, 4, 25]) {
    const servers = makeRealServers(SPECS);
    for (const server of servers) server.active = perWeight * server.weight;
    const loaded = createScheduler('chbl', servers, ACTIVE);
    t.same(
      Array.from({ length: 1000 }, (_, n) => pickName(loaded, keyOf(n))),
      first,
      `${perWeight} in flight per unit of weight`,
    );
  }
  // Balancing on requests sent, a fresh scheduler is at equal (zero) load:
  // its first pick is the same plain mapping, whatever is in flight.
  let freshDiffers = 0;
  for (let n = 0; n < 1000; n++) {
    const servers = makeRealServers(n % 2 === 0 ? SPECS : [...SPECS].reverse());
    servers[n % 3].active = 50;
    if (pickName(createScheduler('chbl', servers, {}), keyOf(n)) !== first[n]) freshDiffers++;
  }
  t.equal(freshDiffers, 0, 'the first pick of a fresh scheduler balancing on requests, in either listing order');
});

/** Keys of a Zipf(1.0) stream over 300 objects, every 10th request without a key (null). */
function mixedKeys(count: number): (string | null)[] {
  const nextRank = zipfSampler(300, seededRandom(11), 1.0);
  return Array.from({ length: count }, (_, n) => (n % 10 === 9 ? null : keyOf(nextRank())));
}

/**
 * Picks for `keys` under the default balanceOn (requests): server `downName`
 * is down for picks 2000..2999 and SPECS[0] is weighted 2 from pick 4000 on.
 * `inFlight` sets each server's `active` before every pick.
 */
function requestSequence(
  specs: RealServerSpec[],
  keys: (string | null)[],
  inFlight: (server: RealServer, step: number) => number,
): string[] {
  const servers = makeRealServers(specs);
  const chbl = createScheduler('chbl', servers, {});
  const byName = (spec: RealServerSpec) => servers.find((s) => s.host === spec.host)!;
  const names: string[] = [];
  for (let step = 0; step < keys.length; step++) {
    if (step === 2000) byName(SPECS[1]).up = false;
    if (step === 3000) byName(SPECS[1]).up = true;
    if (step === 4000) {
      byName(SPECS[0]).weight = 2;
      resync(chbl, servers);
    }
    for (const server of servers) server.active = inFlight(server, step);
    names.push(pickName(chbl, keys[step] ?? undefined)!);
  }
  return names;
}

t.test('balancing on requests, the choices depend on the request sequence alone', async (t) => {
  const keys = mixedKeys(6000);
  const ours = requestSequence(SPECS, keys, () => 0);
  const theirs = requestSequence([...SPECS].reverse(), keys, (server, step) => ((step + server.port + server.host.length) * 7) % 13);
  t.same(theirs, ours, 'another listing order and other in-flight counts: the same choices');
  // The sequence is not the zero-load mapping: hot keys did spill.
  const idle = createScheduler('chbl', makeRealServers(SPECS), ACTIVE);
  let spilled = 0;
  for (let step = 0; step < 2000; step++) {
    const key = keys[step];
    if (key !== null && ours[step] !== pickName(idle, key)) spilled++;
  }
  t.ok(spilled > 0, `${spilled} of the first 2000 requests left their home server`);
  t.notOk(ours.slice(2000, 3000).includes(makeRealServers(SPECS)[1].name), 'the down server got none');
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const keys = mixedKeys(5000);
  // Equal in-flight load under balanceOn active; a stream of hot keys and
  // keyless requests under balanceOn requests.
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const specs = JSON.parse(process.argv[1]);
    const keys = JSON.parse(process.argv[2]);
    const servers = makeRealServers(specs);
    for (const s of servers) s.active = 3 * s.weight;
    const active = createScheduler('chbl', servers, { balanceFactor: 1.5, balanceOn: 'active' });
    const atEqualLoad = [];
    for (let n = 0; n < 1000; n++) atEqualLoad.push(active.pick({ key: '/doc/' + n, clientAddress: '' })?.name);
    const requests = createScheduler('chbl', makeRealServers(specs), {});
    const sequence = keys.map((key) => requests.pick({ key: key ?? undefined, clientAddress: '' })?.name);
    process.stdout.write(JSON.stringify({ atEqualLoad, sequence }));
  `;
  const { stdout } = await runFile(
    process.execPath,
    ['--input-type=module', '-e', childProgram, JSON.stringify([...SPECS].reverse()), JSON.stringify(keys)],
    {
      timeout: 30_000,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    },
  );
  const theirs = JSON.parse(stdout) as { atEqualLoad: string[]; sequence: string[] };
  const servers = makeRealServers(SPECS);
  for (const s of servers) s.active = 3 * s.weight;
  const active = createScheduler('chbl', servers, { balanceFactor: 1.5, balanceOn: 'active' });
  t.equal(theirs.atEqualLoad.length, 1000);
  t.same(
    theirs.atEqualLoad,
    Array.from({ length: 1000 }, (_, n) => pickName(active, keyOf(n))),
    'balanceOn active, equal load',
  );
  const requests = createScheduler('chbl', makeRealServers(SPECS), {});
  t.equal(theirs.sequence.length, keys.length);
  t.same(
    theirs.sequence,
    keys.map((key) => pickName(requests, key ?? undefined)),
    'balanceOn requests, the same request sequence',
  );
});

t.test('balancing on requests: under Zipf(1.0) keys no server gets more than c times its share of the picks', async (t) => {
  // From a fresh start the bound on the decayed counts holds the picks
  // themselves within c × share, up to the rounding (the ceil in the bound,
  // the halving rounding down): at most (c + 3) / (2 × window × share) on the
  // ratio, 0.017 for 8 equal servers and a window of 1024.
  const picks = 100_000;
  const cases: [string, RealServerSpec[], number][] = [
    ['8 equal servers', equalSpecs(8), 1.25],
    ['8 equal servers', equalSpecs(8), 1.1],
    ['5 equal servers', equalSpecs(5), 1.25],
    ['weights 1, 2, 3', SPECS, 1.25],
  ];
  for (const [label, specs, factor] of cases) {
    const totalWeight = specs.reduce((sum, s) => sum + s.weight, 0);
    const window = Math.max(MIN_DECAY_WINDOW, DECAY_WINDOW_PER_SERVER * specs.length);
    const bounded = runRequests(specs, { balanceFactor: factor }, picks, 2000);
    t.equal(bounded.boundViolations, 0, `${label}, c = ${factor}: every count within ceil(c × total × share) between halvings`);
    for (let i = 0; i < specs.length; i++) {
      const slack = (factor + 3) / ((2 * window * specs[i].weight) / totalWeight);
      t.ok(
        bounded.share[i] <= factor + slack,
        `${label}, c = ${factor}: ${specs[i].host} got ${bounded.share[i].toFixed(4)} × its share, at most ${(factor + slack).toFixed(4)}`,
      );
    }
    t.ok(bounded.offHome < picks / 4, `${label}, c = ${factor}: ${bounded.offHome} of ${picks} picks left their home server`);

    // The same stream balanced on requests in flight, which a request done
    // at once never raises (a cache hit): plain consistent hashing, well
    // beyond the bound. That is what counting requests sent fixes.
    const inFlight = runRequests(specs, { balanceFactor: factor, balanceOn: 'active' }, picks, 2000);
    t.equal(inFlight.offHome, 0, `${label}, c = ${factor}, balanceOn active: nothing in flight, every pick at home`);
    const busiest = Math.max(...inFlight.share);
    t.ok(busiest > factor + 0.1, `${label}, c = ${factor}, balanceOn active: the busiest got ${busiest.toFixed(4)} × its share`);
  }
});

t.test('balancing on requests: every decayWindow picks halve the counts', async (t) => {
  const servers = makeRealServers(SPECS);
  const chbl = createScheduler('chbl', servers, {}) as BoundedLoadHashScheduler;
  const window = chbl.decayWindow;
  const counts = () => servers.map((s) => chbl.recentRequestsOf(s));
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  t.same(counts(), [0, 0, 0], 'fresh: nothing counted');
  for (let n = 0; n < window - 1; n++) pickName(chbl, n % 5 === 0 ? undefined : keyOf(n));
  t.equal(sum(counts()), window - 1, 'every pick counted, with a key or without');
  const before = counts();
  const last = chbl.pick({ key: keyOf(window), clientAddress: '' })!;
  before[last.id]++;
  t.same(
    counts(),
    before.map((c) => Math.floor(c / 2)),
    'the window-th pick halves every count, rounding down',
  );
  for (let n = 0; n < window; n++) pickName(chbl, keyOf(n));
  t.ok(sum(counts()) < window + sum(before.map((c) => Math.floor(c / 2))), 'and the next window halves again');

  const inFlight = createScheduler('chbl', servers, ACTIVE) as BoundedLoadHashScheduler;
  for (let n = 0; n < 100; n++) pickName(inFlight, keyOf(n));
  t.same(
    servers.map((s) => inFlight.recentRequestsOf(s)),
    [0, 0, 0],
    'balanceOn active counts nothing',
  );
});

t.test('balancing on in-flight requests with hot keys: no server is ever picked beyond c times its share of the load', async (t) => {
  for (const specs of [equalSpecs(6), SPECS]) {
    const servers = makeRealServers(specs);
    const bounded = runLoad(createScheduler('chbl', servers, { balanceFactor: 1.25, balanceOn: 'active' }), servers, 20_000);
    t.equal(bounded.pickBoundViolations, 0, `${specs.length} servers: every pick within ceil(1.25 × total × share)`);

    // The same stream through plain consistent hashing (c too large to bind)
    // piles the hot keys up: the bound above is what made the difference.
    const plainServers = makeRealServers(specs);
    const plain = runLoad(createScheduler('chbl', plainServers, { balanceFactor: 100, balanceOn: 'active' }), plainServers, 20_000);
    t.ok(plain.pickBoundViolations > 1000, `plain consistent hashing breaks the bound ${plain.pickBoundViolations} times`);
    t.ok(
      bounded.peakRatio < plain.peakRatio,
      `peak busiest/mean ${bounded.peakRatio.toFixed(2)} < ${plain.peakRatio.toFixed(2)} without the bound`,
    );
  }
});

t.test('with a large balance factor it is plain consistent hashing', async (t) => {
  const idle = createScheduler('chbl', makeRealServers(equalSpecs(6)), ACTIVE);
  for (const balanceOn of ['active', 'requests'] as const) {
    const servers = makeRealServers(equalSpecs(6));
    const run = runLoad(createScheduler('chbl', servers, { balanceFactor: 100, balanceOn }), servers, 5000);
    const idlePicks = run.keys.map((key) => pickName(idle, key));
    t.same(run.picks, idlePicks, `balanceOn ${balanceOn}: every pick under load is the zero-load pick`);
    // ...whereas c = 1.25 under the same load moves some hot-key requests on.
    const boundedServers = makeRealServers(equalSpecs(6));
    const bounded = runLoad(createScheduler('chbl', boundedServers, { balanceOn }), boundedServers, 5000);
    const movedOn = bounded.picks.filter((name, i) => name !== pickName(idle, bounded.keys[i])).length;
    t.ok(movedOn > 0, `balanceOn ${balanceOn}: ${movedOn} requests went past a full server`);
  }
});

t.test('down and quiescent servers are skipped at once; all unusable gives null', async (t) => {
  for (const balanceOn of ['active', 'requests'] as const) {
    const servers = makeRealServers([...SPECS, { host: '10.0.0.4', port: 8080, weight: 2 }]);
    const chbl = createScheduler('chbl', servers, { balanceOn });
    // Balancing on requests every pick counts, so each mapping is taken on a
    // fresh copy of the state: the same picks on a scheduler in the same state.
    const mapping = (keys: string[]) => {
      const fresh = createScheduler('chbl', servers, { balanceOn });
      return keys.map((k) => pickName(fresh, k));
    };
    const keys = Array.from({ length: 20_000 }, (_, n) => keyOf(n));
    const before = balanceOn === 'active' ? keys.map((k) => pickName(chbl, k)) : mapping(keys);
    servers[1].up = false;
    servers[3].weight = 0;
    const during = balanceOn === 'active' ? keys.map((k) => pickName(chbl, k)) : mapping(keys);
    t.notOk(during.includes(servers[1].name) || during.includes(servers[3].name), `balanceOn ${balanceOn}: neither is picked`);
    if (balanceOn === 'active') {
      let movedOthers = 0;
      let stayedOnUnusable = 0;
      for (let i = 0; i < keys.length; i++) {
        if (before[i] === servers[1].name || before[i] === servers[3].name) {
          if (during[i] === before[i]) stayedOnUnusable++;
        } else if (during[i] !== before[i]) movedOthers++;
      }
      t.equal(stayedOnUnusable, 0, 'every key of the down and the quiescent server moved');
      t.equal(movedOthers, 0, 'keys of the others stay');
      resync(chbl, servers);
      t.same(
        keys.map((k) => pickName(chbl, k)),
        during,
        'refresh changes nothing more',
      );
      servers[1].up = true;
      servers[3].weight = 2;
      resync(chbl, servers);
      t.same(
        keys.map((k) => pickName(chbl, k)),
        before,
        'back to the original mapping',
      );
    } else {
      t.ok(before.includes(servers[1].name) && before.includes(servers[3].name), 'both had keys before');
      for (let n = 0; n < 2000; n++) {
        const name = pickName(chbl, n % 4 === 0 ? undefined : keyOf(n % 50));
        if (name === servers[1].name || name === servers[3].name) {
          t.fail(`pick ${n} went to an unusable server`);
          break;
        }
      }
      servers[1].up = true;
      servers[3].weight = 2;
      resync(chbl, servers);
    }
    for (const server of servers) server.up = false;
    t.equal(pickName(chbl, 'k'), undefined, `balanceOn ${balanceOn}: all down, no server`);
    t.equal(pickName(chbl, undefined), undefined, `balanceOn ${balanceOn}: all down, no server for a keyless request`);
    t.equal(createScheduler('chbl', [], { balanceOn }).pick({ key: 'k', clientAddress: '' }), null, 'an empty group');
  }
});

t.test('a server weighted up from 0 before refresh still gets its share of load', async (t) => {
  for (const balanceOn of ['active', 'requests'] as const) {
    const servers = makeRealServers([
      { host: '10.0.0.1', port: 80, weight: 1 },
      { host: '10.0.0.2', port: 80, weight: 0 },
    ]);
    const chbl = createScheduler('chbl', servers, { balanceOn }) as BoundedLoadHashScheduler;
    t.equal(chbl.pointsOf(servers[1]), 0);
    servers[1].weight = 100; // not on the ring until refresh()
    const first = chbl.pick({ key: 'a', clientAddress: '' })!;
    t.equal(first.name, servers[0].name, `balanceOn ${balanceOn}: the ring server while under its bound`);
    first.active++; // under balanceOn requests, the pick itself counted
    t.equal(pickName(chbl, 'a'), servers[1].name, `balanceOn ${balanceOn}: then the least loaded, the ring server being full`);
    servers[0].up = false;
    t.equal(pickName(chbl, 'b'), servers[1].name, `balanceOn ${balanceOn}: and when the ring holds no usable server`);
    resync(chbl, servers);
    t.ok(chbl.pointsOf(servers[1]) > 0, 'on the ring after refresh');
  }
});

t.test('an empty ring, a huge group, and the visit stamp wrapping', async (t) => {
  const servers = makeRealServers(SPECS.map((s) => ({ ...s, weight: 0 })));
  const chbl = createScheduler('chbl', servers, {});
  t.equal(pickName(chbl, 'k'), undefined, 'nothing usable');
  servers[1].weight = 1; // on no ring yet
  t.equal(pickName(chbl, 'k'), servers[1].name, 'an empty ring falls back to the least loaded');
  t.equal(new HashRing().firstAtOrAfter(123), -1);

  const huge = new Array<RealServer>(1 << 20);
  t.throws(() => new HashRing().build(huge, new Int32Array(0), new Int32Array(0)), { message: /at most 1048575 servers/ });

  const keys = mixedKeys(3000);
  const plain = createScheduler('chbl', makeRealServers(SPECS), {});
  const expected = keys.map((key) => pickName(plain, key ?? undefined));
  const wrapping = createScheduler('chbl', makeRealServers(SPECS), {});
  (wrapping as unknown as { visitStamp: number }).visitStamp = 0xffffffff - 5;
  t.same(
    keys.map((key) => pickName(wrapping, key ?? undefined)),
    expected,
    'the same picks across the wrap',
  );
});

t.test('the same host:port listed twice resolves the same way everywhere', async (t) => {
  const twice = [SPECS[0], SPECS[1], SPECS[0]];
  for (const balanceOn of ['active', 'requests'] as const) {
    const a = createScheduler('chbl', makeRealServers(twice), { balanceOn });
    const b = createScheduler('chbl', makeRealServers(twice), { balanceOn });
    const picksA = Array.from({ length: 500 }, (_, n) => a.pick({ key: keyOf(n), clientAddress: '' })!.id);
    const picksB = Array.from({ length: 500 }, (_, n) => b.pick({ key: keyOf(n), clientAddress: '' })!.id);
    t.same(picksA, picksB, `balanceOn ${balanceOn}`);
    // At zero load; counting requests, the second listing takes what the first turns away.
    if (balanceOn === 'active') t.notOk(picksA.includes(2), 'the first listing wins the shared points');
  }
});

t.test('without a key: wlc balancing on in-flight requests, fewest recent requests per weight otherwise', async (t) => {
  const servers = makeRealServers(SPECS);
  const chbl = createScheduler('chbl', servers, ACTIVE);
  const wlcServers = makeRealServers(SPECS);
  const wlc = createScheduler('wlc', wlcServers, {});
  const heldIds: number[] = [];
  let differences = 0;
  for (let step = 0; step < 2000; step++) {
    if (step % 3 === 2) {
      const id = heldIds.splice((step * 7) % heldIds.length, 1)[0];
      servers[id].active--;
      wlcServers[id].active--;
      continue;
    }
    const ours = chbl.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    const theirs = wlc.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    if (ours.id !== theirs.id) differences++;
    ours.active++;
    wlcServers[theirs.id].active++;
    heldIds.push(ours.id);
  }
  t.equal(differences, 0, 'balanceOn active: the same picks as wlc');
  t.ok(servers[2].active > servers[0].active, 'the heavier server holds more');

  // Balancing on requests: by weight, in the same order for any listing.
  const picksOf = (specs: RealServerSpec[]) => {
    const requests = createScheduler('chbl', makeRealServers(specs), {});
    return Array.from({ length: 6000 }, () => pickName(requests, undefined)!);
  };
  const picks = picksOf(SPECS);
  t.same(picksOf([...SPECS].reverse()), picks, 'balanceOn requests: the same picks in either listing order');
  for (const server of makeRealServers(SPECS)) {
    const share = picks.filter((name) => name === server.name).length / picks.length;
    t.ok(
      Math.abs(share - server.weight / 6) <= 0.01,
      `${server.name}: ${share.toFixed(4)} of the requests, weight share ${(server.weight / 6).toFixed(4)}`,
    );
  }
  t.same(
    picks.slice(0, 3),
    [SPECS[2], SPECS[1], SPECS[2]].map((s) => makeRealServers([s])[0].name),
    'fewest (requests + 1) per weight first',
  );
});

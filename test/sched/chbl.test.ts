import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, RealServerSpec, Scheduler } from '../../lib/sched/index.ts';
import { BoundedLoadHashScheduler, MAX_RING_POINTS, POINTS_PER_UNIT } from '../../lib/sched/chbl.ts';
import { HashRing, nameOrder } from '../../lib/sched/hash-ring.ts';

const runFile = promisify(execFile);

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

// Seeded PRNG (mulberry32): the same stream on every run.
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Key ranks drawn Zipf(1.1) over `count` keys: rank 0 is by far the hottest. */
function zipfSampler(count: number, random: () => number): () => number {
  const cdf = new Float64Array(count);
  let sum = 0;
  for (let rank = 0; rank < count; rank++) cdf[rank] = sum += 1 / Math.pow(rank + 1, 1.1);
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

t.test('balanceFactor must be a number above 1', async (t) => {
  const servers = makeRealServers(SPECS);
  for (const bad of [1, 0.5, 0, -2, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => createScheduler('chbl', servers, { balanceFactor: bad }), { message: /chbl: balanceFactor .* must be a number greater than 1/ }, `${bad}`);
  }
  const chbl = createScheduler('chbl', servers, {}) as BoundedLoadHashScheduler;
  t.equal(chbl.balanceFactor, 1.25, 'default 1.25');
  t.equal(chbl.name, 'chbl');
  t.equal(chbl.usesKey, true);
  t.equal((createScheduler('chbl', servers, { balanceFactor: 1.01 }) as BoundedLoadHashScheduler).balanceFactor, 1.01);
});

t.test('virtual nodes follow weights in units of their gcd, within the ring cap', async (t) => {
  const hundreds = makeRealServers(SPECS.map((s) => ({ ...s, weight: s.weight * 100 })));
  const chbl = createScheduler('chbl', hundreds, {}) as BoundedLoadHashScheduler;
  t.same(hundreds.map((s) => chbl.pointsOf(s)), [POINTS_PER_UNIT, 2 * POINTS_PER_UNIT, 3 * POINTS_PER_UNIT]);
  hundreds[0].weight = 150;
  chbl.refresh();
  t.same(hundreds.map((s) => chbl.pointsOf(s)), [1.5 * POINTS_PER_UNIT, 2 * POINTS_PER_UNIT, 3 * POINTS_PER_UNIT], 'a weight change resizes only that server');
  hundreds[0].weight = 0;
  chbl.refresh();
  t.equal(chbl.pointsOf(hundreds[0]), 0, 'quiescent: off the ring');

  const skewed = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 65535 },
  ]);
  const capped = createScheduler('chbl', skewed, {}) as BoundedLoadHashScheduler;
  const total = capped.pointsOf(skewed[0]) + capped.pointsOf(skewed[1]);
  t.ok(total <= MAX_RING_POINTS + 1, `${total} points, within the cap`);
  t.ok(capped.pointsOf(skewed[0]) >= 1, 'the light server keeps a point');
  skewed[0].weight = 65535; // raised at runtime beyond the cap
  capped.refresh();
  t.ok(capped.pointsOf(skewed[0]) + capped.pointsOf(skewed[1]) <= MAX_RING_POINTS + 2, 'still within the cap after a raise');
  t.equal(capped.pointsOf(skewed[0]), capped.pointsOf(skewed[1]), 'equal weights, equal points');
});

t.test('at zero load keys spread by weight', async (t) => {
  const chbl = createScheduler('chbl', makeRealServers(SPECS), {});
  const counts = new Map<string, number>();
  const keyCount = 60_000;
  for (let n = 0; n < keyCount; n++) {
    const name = pickName(chbl, keyOf(n))!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const server of makeRealServers(SPECS)) {
    const share = (counts.get(server.name) ?? 0) / keyCount;
    t.ok(Math.abs(share - server.weight / 6) <= 0.03, `${server.name}: ${share.toFixed(4)} of the keys, weight share ${(server.weight / 6).toFixed(4)}`);
  }
});

t.test('at equal load the mapping is stateless: instances, reorders and load levels agree', async (t) => {
  const idle = createScheduler('chbl', makeRealServers(SPECS), {});
  const first = Array.from({ length: 1000 }, (_, n) => pickName(idle, keyOf(n)));
  t.equal(new Set(first).size, 3);
  for (let n = 0; n < 50; n++) pickName(idle, undefined);
  t.same(Array.from({ length: 1000 }, (_, n) => pickName(idle, keyOf(n))), first, 'picks at zero load leave no state');
  for (const order of [[2, 1, 0], [1, 0, 2]]) {
    const reordered = createScheduler('chbl', makeRealServers(order.map((i) => SPECS[i])), {});
    t.same(Array.from({ length: 1000 }, (_, n) => pickName(reordered, keyOf(n))), first, `order ${order.join(',')}`);
  }
  // Load in proportion to weight is "equal": every server is at its fair share.
  for (const perWeight of [1, 4, 25]) {
    const servers = makeRealServers(SPECS);
    for (const server of servers) server.active = perWeight * server.weight;
    const loaded = createScheduler('chbl', servers, {});
    t.same(Array.from({ length: 1000 }, (_, n) => pickName(loaded, keyOf(n))), first, `${perWeight} in flight per unit of weight`);
  }
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const specs = JSON.parse(process.argv[1]);
    const servers = makeRealServers(specs);
    for (const s of servers) s.active = 3 * s.weight;
    const chbl = createScheduler('chbl', servers, { balanceFactor: 1.5 });
    const names = [];
    for (let n = 0; n < 1000; n++) names.push(chbl.pick({ key: '/doc/' + n, clientAddress: '' })?.name);
    process.stdout.write(JSON.stringify(names));
  `;
  const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', childProgram, JSON.stringify([...SPECS].reverse())], {
    timeout: 30_000,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const theirs = JSON.parse(stdout) as string[];
  const chbl = createScheduler('chbl', makeRealServers(SPECS), { balanceFactor: 1.5 });
  const ours = Array.from({ length: 1000 }, (_, n) => pickName(chbl, keyOf(n)));
  t.equal(theirs.length, 1000);
  t.same(theirs, ours);
});

t.test('hot keys: no server is ever picked beyond c times its share of the load', async (t) => {
  for (const specs of [equalSpecs(6), SPECS]) {
    const servers = makeRealServers(specs);
    const bounded = runLoad(createScheduler('chbl', servers, { balanceFactor: 1.25 }), servers, 20_000);
    t.equal(bounded.pickBoundViolations, 0, `${specs.length} servers: every pick within ceil(1.25 × total × share)`);

    // The same stream through plain consistent hashing (c too large to bind)
    // piles the hot keys up: the bound above is what made the difference.
    const plainServers = makeRealServers(specs);
    const plain = runLoad(createScheduler('chbl', plainServers, { balanceFactor: 100 }), plainServers, 20_000);
    t.ok(plain.pickBoundViolations > 1000, `plain consistent hashing breaks the bound ${plain.pickBoundViolations} times`);
    t.ok(bounded.peakRatio < plain.peakRatio, `peak busiest/mean ${bounded.peakRatio.toFixed(2)} < ${plain.peakRatio.toFixed(2)} without the bound`);
  }
});

t.test('with a large balance factor it is plain consistent hashing', async (t) => {
  const servers = makeRealServers(equalSpecs(6));
  const run = runLoad(createScheduler('chbl', servers, { balanceFactor: 100 }), servers, 5000);
  const idle = createScheduler('chbl', makeRealServers(equalSpecs(6)), {});
  const idlePicks = run.keys.map((key) => pickName(idle, key));
  t.same(run.picks, idlePicks, 'every pick under load is the zero-load pick');
  // ...whereas c = 1.25 under the same load moves some hot-key requests on.
  const boundedServers = makeRealServers(equalSpecs(6));
  const bounded = runLoad(createScheduler('chbl', boundedServers, {}), boundedServers, 5000);
  const movedOn = bounded.picks.filter((name, i) => name !== pickName(idle, bounded.keys[i])).length;
  t.ok(movedOn > 0, `${movedOn} requests went past a full server`);
});

t.test('down and quiescent servers are skipped at once; all unusable gives null', async (t) => {
  const servers = makeRealServers([...SPECS, { host: '10.0.0.4', port: 8080, weight: 2 }]);
  const chbl = createScheduler('chbl', servers, {});
  const keys = Array.from({ length: 20_000 }, (_, n) => keyOf(n));
  const before = keys.map((k) => pickName(chbl, k));
  servers[1].up = false;
  servers[3].weight = 0;
  const during = keys.map((k) => pickName(chbl, k));
  let movedOthers = 0;
  let stayedOnUnusable = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === servers[1].name || before[i] === servers[3].name) {
      if (during[i] === before[i]) stayedOnUnusable++;
    } else if (during[i] !== before[i]) movedOthers++;
  }
  t.equal(stayedOnUnusable, 0, 'every key of the down and the quiescent server moved');
  t.equal(movedOthers, 0, 'keys of the others stay');
  t.notOk(during.includes(servers[1].name) || during.includes(servers[3].name));
  chbl.refresh();
  t.same(keys.map((k) => pickName(chbl, k)), during, 'refresh changes nothing more');
  servers[1].up = true;
  servers[3].weight = 2;
  chbl.refresh();
  t.same(keys.map((k) => pickName(chbl, k)), before, 'back to the original mapping');
  for (const server of servers) server.up = false;
  t.equal(pickName(chbl, 'k'), undefined);
  t.equal(pickName(chbl, undefined), undefined);
  t.equal(createScheduler('chbl', [], {}).pick({ key: 'k', clientAddress: '' }), null, 'an empty group');
});

t.test('a server weighted up from 0 before refresh still gets its share of load', async (t) => {
  const servers = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 0 },
  ]);
  const chbl = createScheduler('chbl', servers, {}) as BoundedLoadHashScheduler;
  t.equal(chbl.pointsOf(servers[1]), 0);
  servers[1].weight = 100; // not on the ring until refresh()
  const first = chbl.pick({ key: 'a', clientAddress: '' })!;
  t.equal(first.name, servers[0].name, 'the ring server while under its bound');
  first.active++;
  t.equal(pickName(chbl, 'a'), servers[1].name, 'then the least loaded, the ring server being full');
  servers[0].up = false;
  t.equal(pickName(chbl, 'b'), servers[1].name, 'and when the ring holds no usable server');
  chbl.refresh();
  t.ok(chbl.pointsOf(servers[1]) > 0, 'on the ring after refresh');
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

  const wrapping = createScheduler('chbl', makeRealServers(SPECS), {});
  const expected = Array.from({ length: 20 }, (_, n) => pickName(wrapping, keyOf(n)));
  (wrapping as unknown as { visitStamp: number }).visitStamp = 0xffffffff - 5;
  t.same(Array.from({ length: 20 }, (_, n) => pickName(wrapping, keyOf(n))), expected, 'the same picks across the wrap');
});

t.test('the same host:port listed twice resolves the same way everywhere', async (t) => {
  const twice = [SPECS[0], SPECS[1], SPECS[0]];
  const a = createScheduler('chbl', makeRealServers(twice), {});
  const b = createScheduler('chbl', makeRealServers(twice), {});
  const picksA = Array.from({ length: 500 }, (_, n) => a.pick({ key: keyOf(n), clientAddress: '' })!.id);
  const picksB = Array.from({ length: 500 }, (_, n) => b.pick({ key: keyOf(n), clientAddress: '' })!.id);
  t.same(picksA, picksB);
  t.notOk(picksA.includes(2), 'the first listing wins the shared points');
});

t.test('without a key it behaves as wlc', async (t) => {
  const servers = makeRealServers(SPECS);
  const chbl = createScheduler('chbl', servers, {});
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
  t.equal(differences, 0);
  t.ok(servers[2].active > servers[0].active, 'the heavier server holds more');
});

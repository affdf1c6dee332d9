import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, Scheduler } from '../../lib/sched/index.ts';
import { type MaglevScheduler, isPrime } from '../../lib/sched/mh.ts';

const runFile = promisify(execFile);

const SPECS = [
  { host: '10.0.0.1', port: 8080, weight: 1 },
  { host: '10.0.0.2', port: 8080, weight: 2 },
  { host: 'fd00::3', port: 8080, weight: 3 },
];

function pickName(scheduler: Scheduler, key: string | undefined): string | undefined {
  const ctx: PickContext = { key, clientAddress: '127.0.0.1' };
  return scheduler.pick(ctx)?.name;
}

function keyOf(n: number): string {
  return `/item/${n}`;
}

function slotCounts(mh: MaglevScheduler): Map<string, number> {
  const counts = new Map<string, number>();
  for (let slot = 0; slot < mh.tableSize; slot++) {
    const name = mh.slotOwner(slot)?.name ?? 'none';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

t.test('isPrime', async (t) => {
  t.same([1, 2, 3, 4, 9, 25, 97, 65536, 65537, 131071].map(isPrime), [false, true, true, false, false, false, true, false, true, true]);
  t.equal(isPrime(2.5), false);
});

t.test('tableSize must be a prime of at least 100 × servers', async (t) => {
  const servers = makeRealServers(SPECS);
  t.throws(() => createScheduler('mh', servers, { tableSize: 65536 }), { message: /tableSize 65536 is not a prime/ });
  t.throws(() => createScheduler('mh', servers, { tableSize: 293 }), { message: /tableSize 293 is too small for 3 servers.*300/ });
  t.throws(() => createScheduler('mh', servers, { tableSize: 1009.5 }), { message: /tableSize 1009.5 must be a prime/ });
  t.throws(() => createScheduler('mh', servers, { tableSize: 0 }), { message: /tableSize/ });
  t.throws(() => createScheduler('mh', servers, { tableSize: 16777259 }), {
    message: /tableSize 16777259 must be a prime between 300 and/,
  });
  const smallest = createScheduler('mh', servers, { tableSize: 307 }) as MaglevScheduler;
  t.equal(smallest.tableSize, 307, 'the first prime above 300 is accepted');
  const byDefault = createScheduler('mh', servers, {}) as MaglevScheduler;
  t.equal(byDefault.tableSize, 65537);
  t.equal(byDefault.name, 'mh');
  t.equal(byDefault.usesKey, true);
  t.throws(
    () =>
      createScheduler(
        'mh',
        makeRealServers(Array.from({ length: 700 }, (_, i) => ({ host: `10.1.${i >> 8}.${i & 255}`, port: 80, weight: 1 }))),
        {},
      ),
    {
      message: /tableSize 65537 is too small for 700 servers/,
    },
  );
});

t.test('every usable server owns table slots in proportion to its weight', async (t) => {
  for (const tableSize of [65537, 5003]) {
    const mh = createScheduler('mh', makeRealServers(SPECS), { tableSize }) as MaglevScheduler;
    const counts = slotCounts(mh);
    t.notOk(counts.has('none'), `${tableSize}: every slot is owned`);
    for (const spec of makeRealServers(SPECS)) {
      const share = (counts.get(spec.name) ?? 0) / tableSize;
      const expected = spec.weight / 6;
      t.ok(
        Math.abs(share - expected) <= 0.01,
        `${tableSize}: ${spec.name} owns ${share.toFixed(4)} of the table, expected ${expected.toFixed(4)}`,
      );
    }
  }
  // Equal weights of any size give equal shares.
  const hundreds = makeRealServers(SPECS.map((s) => ({ ...s, weight: 100 })));
  const counts = slotCounts(createScheduler('mh', hundreds, {}) as MaglevScheduler);
  for (const server of hundreds) t.ok(Math.abs((counts.get(server.name) ?? 0) / 65537 - 1 / 3) <= 0.001, `${server.name}: a third`);
});

t.test('keys follow the table: shares by weight', async (t) => {
  const mh = createScheduler('mh', makeRealServers(SPECS), {});
  const counts = new Map<string, number>();
  const keyCount = 60_000;
  for (let n = 0; n < keyCount; n++) {
    const name = pickName(mh, keyOf(n))!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const server of makeRealServers(SPECS)) {
    const share = (counts.get(server.name) ?? 0) / keyCount;
    t.ok(Math.abs(share - server.weight / 6) <= 0.015, `${server.name}: ${share.toFixed(4)} of the keys`);
  }
});

t.test('same mapping across instances, picks in between and reordered servers', async (t) => {
  const mh = createScheduler('mh', makeRealServers(SPECS), {});
  const first = Array.from({ length: 1000 }, (_, n) => pickName(mh, keyOf(n)));
  for (let n = 0; n < 3000; n++) pickName(mh, `other-${n}`);
  for (let n = 0; n < 30; n++) pickName(mh, undefined);
  t.same(
    Array.from({ length: 1000 }, (_, n) => pickName(mh, keyOf(n))),
    first,
    'picks do not change the mapping',
  );
  const fresh = createScheduler('mh', makeRealServers(SPECS), {});
  t.same(
    Array.from({ length: 1000 }, (_, n) => pickName(fresh, keyOf(n))),
    first,
    'a new instance agrees',
  );
  for (const order of [
    [2, 1, 0],
    [1, 2, 0],
    [0, 2, 1],
  ]) {
    const reordered = createScheduler('mh', makeRealServers(order.map((i) => SPECS[i])), {});
    t.same(
      Array.from({ length: 1000 }, (_, n) => pickName(reordered, keyOf(n))),
      first,
      `order ${order.join(',')} maps the same`,
    );
  }
  t.equal(new Set(first).size, 3, 'keys spread over every server');
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const specs = JSON.parse(process.argv[1]);
    const mh = createScheduler('mh', makeRealServers(specs), { tableSize: 10007 });
    const names = [];
    for (let n = 0; n < 1000; n++) names.push(mh.pick({ key: '/item/' + n, clientAddress: '' })?.name);
    process.stdout.write(JSON.stringify(names));
  `;
  const reversed = [...SPECS].reverse();
  const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', childProgram, JSON.stringify(reversed)], {
    timeout: 30_000,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const theirs = JSON.parse(stdout) as string[];
  const mh = createScheduler('mh', makeRealServers(SPECS), { tableSize: 10007 });
  const ours = Array.from({ length: 1000 }, (_, n) => pickName(mh, keyOf(n)));
  t.equal(theirs.length, 1000);
  t.same(theirs, ours);
});

t.test('a down server is skipped at once, and refresh rebuilds without it', async (t) => {
  const servers = makeRealServers([...SPECS, { host: '10.0.0.4', port: 8080, weight: 2 }]);
  const mh = createScheduler('mh', servers, {}) as MaglevScheduler;
  const keys = Array.from({ length: 20_000 }, (_, n) => keyOf(n));
  const before = keys.map((k) => pickName(mh, k));
  const down = servers[1];
  down.up = false;
  const beforeRefresh = keys.map((k) => pickName(mh, k));
  let movedOthers = 0;
  let movedDown = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === down.name) {
      if (beforeRefresh[i] !== down.name) movedDown++;
    } else if (beforeRefresh[i] !== before[i]) movedOthers++;
  }
  t.ok(movedDown > 0);
  t.equal(movedDown, before.filter((n) => n === down.name).length, 'every key of the down server moved before refresh');
  t.equal(movedOthers, 0, 'no other key moved before refresh');
  const spread = new Set(beforeRefresh.filter((_, i) => before[i] === down.name));
  t.equal(spread.size, 3, 'its keys spread over the three others');

  resync(mh, servers);
  t.notOk(slotCounts(mh).has(down.name), 'the rebuilt table has no slot for it');
  const afterRefresh = keys.map((k) => pickName(mh, k));
  t.notOk(afterRefresh.includes(down.name));
  const rebuilt = createScheduler('mh', makeRealServers([SPECS[0], SPECS[2], { host: '10.0.0.4', port: 8080, weight: 2 }]), {});
  t.same(
    afterRefresh,
    keys.map((k) => pickName(rebuilt, k)),
    'the same table as a group without it',
  );

  down.up = true;
  t.notOk(keys.map((k) => pickName(mh, k)).includes(down.name), 'back up: unused until refresh');
  resync(mh, servers);
  t.same(
    keys.map((k) => pickName(mh, k)),
    before,
    'refresh restores the original mapping',
  );
});

t.test('quiescent servers own no slots; all unusable gives null', async (t) => {
  const servers = makeRealServers(SPECS);
  servers[2].weight = 0;
  const mh = createScheduler('mh', servers, { tableSize: 1009 }) as MaglevScheduler;
  t.notOk(slotCounts(mh).has(servers[2].name));
  servers[0].weight = 0; // quiescent before refresh: skipped already
  for (let n = 0; n < 500; n++) t.equal(pickName(mh, keyOf(n)), servers[1].name);
  servers[1].up = false;
  t.equal(pickName(mh, 'any'), undefined, 'null before refresh');
  resync(mh, servers);
  t.equal(mh.slotOwner(0), null, 'an empty table');
  t.equal(pickName(mh, 'any'), undefined, 'null after refresh');
  t.equal(pickName(mh, undefined), undefined);
  t.equal(createScheduler('mh', [], {}).pick({ key: 'k', clientAddress: '' }), null, 'an empty group');
});

t.test('with the whole table unusable before refresh it still picks a usable server, deterministically', async (t) => {
  function build(): RealServer[] {
    const servers = makeRealServers(SPECS);
    servers[1].weight = 0;
    servers[2].up = false;
    return servers;
  }
  const servers = build();
  const mh = createScheduler('mh', servers, { tableSize: 1009 });
  t.same(
    new Set(Array.from({ length: 200 }, (_, n) => pickName(mh, keyOf(n)))),
    new Set([servers[0].name]),
    'the table holds only the first server',
  );
  // The only usable servers are now ones the table does not hold.
  servers[0].up = false;
  servers[1].weight = 2;
  servers[2].up = true;
  const picks = Array.from({ length: 400 }, (_, n) => pickName(mh, keyOf(n)));
  t.same(new Set(picks), new Set([servers[1].name, servers[2].name]), 'every key finds a usable server');
  const other = build();
  const mhOther = createScheduler('mh', other, { tableSize: 1009 });
  other[0].up = false;
  other[1].weight = 2;
  other[2].up = true;
  t.same(
    Array.from({ length: 400 }, (_, n) => pickName(mhOther, keyOf(n))),
    picks,
    'the same picks in another instance',
  );

  // Nothing was usable at the last refresh, something is now.
  const empty = makeRealServers(SPECS);
  for (const server of empty) server.up = false;
  const mhEmpty = createScheduler('mh', empty, { tableSize: 1009 });
  empty[2].up = true;
  t.equal(pickName(mhEmpty, 'k'), empty[2].name);
});

t.test('without a key it behaves as wlc', async (t) => {
  const servers = makeRealServers(SPECS);
  const mh = createScheduler('mh', servers, {});
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
    const ours = mh.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    const theirs = wlc.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    if (ours.id !== theirs.id) differences++;
    ours.active++;
    wlcServers[theirs.id].active++;
    heldIds.push(ours.id);
  }
  t.equal(differences, 0);
  t.ok(servers[2].active > servers[0].active, 'the heavier server holds more');
});

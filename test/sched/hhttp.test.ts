import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, Scheduler } from '../../lib/sched/index.ts';
import { fnv1a32 } from '../../lib/sched/hhttp.ts';

const runFile = promisify(execFile);

const SPECS = [
  { host: '10.0.0.1', port: 8080, weight: 1 },
  { host: '10.0.0.2', port: 8080, weight: 2 },
  { host: 'fd00::3', port: 8080, weight: 5 },
];

function pickName(scheduler: Scheduler, key: string | undefined): string | undefined {
  const ctx: PickContext = { key, clientAddress: '127.0.0.1' };
  return scheduler.pick(ctx)?.name;
}

function keyOf(n: number): string {
  return `/user/${n}/profile`;
}

t.test('fnv1a32 matches the published FNV-1a test vectors for ASCII', async (t) => {
  t.equal(fnv1a32(''), 0x811c9dc5);
  t.equal(fnv1a32('a'), 0xe40c292c);
  t.equal(fnv1a32('foobar'), 0xbf9cf968);
});

t.test('same key, same server set: same server, whatever came in between', async (t) => {
  const hhttp = createScheduler('hhttp', makeRealServers(SPECS), {});
  const first = Array.from({ length: 1000 }, (_, n) => pickName(hhttp, keyOf(n)));
  for (let n = 0; n < 5000; n++) pickName(hhttp, `other-${n}`);
  for (let n = 0; n < 50; n++) pickName(hhttp, undefined);
  const again = Array.from({ length: 1000 }, (_, n) => pickName(hhttp, keyOf(n)));
  t.same(again, first);
  const fresh = createScheduler('hhttp', makeRealServers(SPECS), {});
  t.same(
    Array.from({ length: 1000 }, (_, n) => pickName(fresh, keyOf(n))),
    first,
    'a new instance agrees',
  );
  const reordered = createScheduler('hhttp', makeRealServers([...SPECS].reverse()), {});
  t.same(
    Array.from({ length: 1000 }, (_, n) => pickName(reordered, keyOf(n))),
    first,
    'config order does not matter',
  );
  t.equal(new Set(first).size, 3, 'keys spread over every server');
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const specs = JSON.parse(process.argv[1]);
    const hhttp = createScheduler('hhttp', makeRealServers(specs), {});
    const names = [];
    for (let n = 0; n < 1000; n++) names.push(hhttp.pick({ key: '/user/' + n + '/profile', clientAddress: '' })?.name);
    process.stdout.write(JSON.stringify(names));
  `;
  const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', childProgram, JSON.stringify(SPECS)], {
    timeout: 30_000,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const theirs = JSON.parse(stdout) as string[];
  const hhttp = createScheduler('hhttp', makeRealServers(SPECS), {});
  const ours = Array.from({ length: 1000 }, (_, n) => pickName(hhttp, keyOf(n)));
  t.equal(theirs.length, 1000);
  t.same(theirs, ours);
});

t.test('keys spread in proportion to weight', async (t) => {
  const hhttp = createScheduler('hhttp', makeRealServers(SPECS), {});
  const counts = new Map<string, number>();
  const keyCount = 100_000;
  for (let n = 0; n < keyCount; n++) {
    const name = pickName(hhttp, keyOf(n))!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const totalWeight = SPECS.reduce((sum, s) => sum + s.weight, 0);
  for (const server of makeRealServers(SPECS)) {
    const share = (counts.get(server.name) ?? 0) / keyCount;
    const expected = server.weight / totalWeight;
    t.ok(Math.abs(share - expected) <= 0.01, `${server.name}: share ${share.toFixed(4)} within 0.01 of ${expected}`);
  }
});

t.test('only the keys of a server that leaves move, and they come back', async (t) => {
  const servers = makeRealServers([...SPECS, { host: '10.0.0.4', port: 8080, weight: 3 }]);
  const hhttp = createScheduler('hhttp', servers, {});
  const keys = Array.from({ length: 20_000 }, (_, n) => keyOf(n));
  const before = keys.map((k) => pickName(hhttp, k));
  servers[1].up = false;
  resync(hhttp, servers);
  const during = keys.map((k) => pickName(hhttp, k));
  let movedFromOthers = 0;
  let movedFromDown = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === servers[1].name) {
      if (during[i] !== servers[1].name) movedFromDown++;
    } else if (during[i] !== before[i]) movedFromOthers++;
  }
  t.equal(movedFromOthers, 0, 'keys on the other servers stay put');
  t.equal(movedFromDown, before.filter((n) => n === servers[1].name).length, 'every key of the down server moved');
  t.ok(movedFromDown > 0);
  servers[1].up = true;
  resync(hhttp, servers);
  t.same(
    keys.map((k) => pickName(hhttp, k)),
    before,
    'the same mapping once it is back',
  );
});

t.test('quiescent and down servers get no keys; all unusable gives null', async (t) => {
  const servers = makeRealServers(SPECS);
  servers[2].weight = 0;
  const hhttp = createScheduler('hhttp', servers, {});
  resync(hhttp, servers);
  let onQuiescent = 0;
  for (let n = 0; n < 5000; n++) if (pickName(hhttp, keyOf(n)) === servers[2].name) onQuiescent++;
  t.equal(onQuiescent, 0);
  servers[0].up = false;
  servers[1].up = false;
  resync(hhttp, servers);
  t.equal(pickName(hhttp, 'any'), undefined);
  t.equal(pickName(hhttp, undefined), undefined);
});

t.test('without a key it behaves as wlc', async (t) => {
  const servers = makeRealServers(SPECS);
  const hhttp = createScheduler('hhttp', servers, {});
  const wlcServers = makeRealServers(SPECS);
  const wlc = createScheduler('wlc', wlcServers, {});
  // Hold requests open on both and release the same ones: identical choices.
  const heldIds: number[] = [];
  let differences = 0;
  for (let step = 0; step < 2000; step++) {
    if (step % 3 === 2) {
      const id = heldIds.splice((step * 7) % heldIds.length, 1)[0];
      servers[id].active--;
      wlcServers[id].active--;
      continue;
    }
    const ours = hhttp.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    const theirs = wlc.pick({ key: undefined, clientAddress: '127.0.0.1' }) as RealServer;
    if (ours.id !== theirs.id) differences++;
    ours.active++;
    wlcServers[theirs.id].active++;
    heldIds.push(ours.id);
  }
  t.equal(differences, 0);
  t.ok(servers[2].active > servers[0].active, 'the heavier server holds more');
});

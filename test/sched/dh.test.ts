import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, Scheduler } from '../../lib/sched/index.ts';
import { BucketTable } from '../../lib/sched/bucket-table.ts';

const runFile = promisify(execFile);

const SPECS = [
  { host: '10.0.0.1', port: 8080, weight: 1 },
  { host: '10.0.0.2', port: 8080, weight: 2 },
  { host: 'fd00::3', port: 8080, weight: 5 },
  { host: '10.0.0.4', port: 8080, weight: 3 },
];
const TOTAL_WEIGHT = SPECS.reduce((sum, s) => sum + s.weight, 0);

function pickName(scheduler: Scheduler, key: string | undefined): string | undefined {
  const ctx: PickContext = { key, clientAddress: '127.0.0.1' };
  return scheduler.pick(ctx)?.name;
}

function keyOf(n: number): string {
  return `/object/${n}.jpg`;
}

function mapKeys(scheduler: Scheduler, count: number): (string | undefined)[] {
  return Array.from({ length: count }, (_, n) => pickName(scheduler, keyOf(n)));
}

t.test('one key maps to one server across 10k picks, instances and config order', async (t) => {
  const dh = createScheduler('dh', makeRealServers(SPECS), {});
  t.equal(dh.usesKey, true);
  const first = pickName(dh, '/hot/key');
  let moved = 0;
  for (let n = 0; n < 10_000; n++) {
    if (pickName(dh, '/hot/key') !== first) moved++;
    pickName(dh, keyOf(n)); // other keys in between
    if (n % 100 === 0) pickName(dh, undefined);
  }
  t.equal(moved, 0, 'the hot key never moved');
  const mapping = mapKeys(dh, 1000);
  t.same(mapKeys(createScheduler('dh', makeRealServers(SPECS), {}), 1000), mapping, 'a new instance agrees');
  t.same(mapKeys(createScheduler('dh', makeRealServers([...SPECS].reverse()), {}), 1000), mapping, 'reversed config order agrees');
  const rotated = [...SPECS.slice(2), ...SPECS.slice(0, 2)];
  t.same(mapKeys(createScheduler('dh', makeRealServers(rotated), {}), 1000), mapping, 'rotated config order agrees');
  t.equal(new Set(mapping).size, SPECS.length, 'keys reach every server');
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const dh = createScheduler('dh', makeRealServers(JSON.parse(process.argv[1])), {});
    const names = [];
    for (let n = 0; n < 1000; n++) names.push(dh.pick({ key: '/object/' + n + '.jpg', clientAddress: '' })?.name);
    process.stdout.write(JSON.stringify(names));
  `;
  const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', childProgram, JSON.stringify(SPECS)], {
    timeout: 30_000,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const theirs = JSON.parse(stdout) as string[];
  t.equal(theirs.length, 1000);
  t.same(theirs, mapKeys(createScheduler('dh', makeRealServers(SPECS), {}), 1000));
});

t.test('keys and buckets spread in proportion to weight', async (t) => {
  const servers = makeRealServers(SPECS);
  const table = new BucketTable(servers);
  let bucketSum = 0;
  for (const server of servers) {
    const exact = (table.size * server.weight) / TOTAL_WEIGHT;
    t.ok(
      Math.abs(table.bucketsOf(server.id) - exact) <= 1.5,
      `${server.name}: ${table.bucketsOf(server.id)} buckets, ${exact.toFixed(1)} by weight`,
    );
    bucketSum += table.bucketsOf(server.id);
  }
  t.equal(bucketSum, table.size, 'every bucket has a server');
  const dh = createScheduler('dh', servers, {});
  const counts = new Map<string, number>();
  const keyCount = 100_000;
  for (const name of mapKeys(dh, keyCount)) counts.set(name!, (counts.get(name!) ?? 0) + 1);
  for (const server of servers) {
    const share = (counts.get(server.name) ?? 0) / keyCount;
    const expected = server.weight / TOTAL_WEIGHT;
    t.ok(Math.abs(share - expected) <= 0.01, `${server.name}: key share ${share.toFixed(4)} within 0.01 of ${expected.toFixed(4)}`);
  }
});

t.test('a down server: only its keys move, spread over the rest, and come back', async (t) => {
  const servers = makeRealServers(SPECS);
  const dh = createScheduler('dh', servers, {});
  const keyCount = 20_000;
  const before = mapKeys(dh, keyCount);
  const down = servers[2]; // the heaviest, so it owns many keys
  down.up = false; // no refresh yet: skipped at once
  for (const refreshed of [false, true]) {
    if (refreshed) resync(dh, servers);
    const during = mapKeys(dh, keyCount);
    let movedFromOthers = 0;
    let owned = 0;
    const landedOn = new Map<string, number>();
    for (let i = 0; i < keyCount; i++) {
      if (before[i] === down.name) {
        owned++;
        landedOn.set(during[i]!, (landedOn.get(during[i]!) ?? 0) + 1);
      } else if (during[i] !== before[i]) movedFromOthers++;
    }
    t.equal(movedFromOthers, 0, `keys of the other servers stay put (refreshed: ${refreshed})`);
    t.notOk(landedOn.has(down.name), 'no key is left on the down server');
    t.ok(owned > 1000);
    // Rehashing spreads the moved keys over the others by weight, not onto one neighbour.
    const restWeight = TOTAL_WEIGHT - down.weight;
    for (const other of servers.filter((s) => s !== down)) {
      const share = (landedOn.get(other.name) ?? 0) / owned;
      const expected = other.weight / restWeight;
      t.ok(Math.abs(share - expected) <= 0.05, `${other.name} took ${share.toFixed(3)} of them, ${expected.toFixed(3)} by weight`);
    }
  }
  down.up = true;
  resync(dh, servers);
  t.same(mapKeys(dh, keyCount), before, 'the same mapping once it is back');
});

t.test('quiescent servers take no keys, before and after refresh; none usable gives null', async (t) => {
  const servers = makeRealServers(SPECS);
  const dh = createScheduler('dh', servers, {});
  servers[2].weight = 0;
  t.notOk(mapKeys(dh, 5000).includes(servers[2].name), 'skipped before refresh');
  resync(dh, servers);
  t.notOk(mapKeys(dh, 5000).includes(servers[2].name), 'and after');
  for (const server of servers) server.up = false;
  resync(dh, servers);
  t.equal(pickName(dh, 'any'), undefined);
  t.equal(pickName(dh, undefined), undefined);
  t.equal(pickName(createScheduler('dh', [], {}), 'any'), undefined);
});

t.test('a server raised from weight 0 before refresh is still used when it is the only one', async (t) => {
  const servers = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 0 },
  ]);
  const dh = createScheduler('dh', servers, {});
  servers[0].up = false;
  servers[1].weight = 2; // not in the table until refresh()
  t.equal(pickName(dh, 'k'), servers[1].name);
  resync(dh, servers);
  t.equal(pickName(dh, 'k'), servers[1].name);
});

t.test('without a key it behaves as wlc', async (t) => {
  const servers = makeRealServers(SPECS);
  const dh = createScheduler('dh', servers, {});
  for (let i = 0; i < TOTAL_WEIGHT * 10; i++) (dh.pick({ key: undefined, clientAddress: '' }) as RealServer).active++;
  t.same(
    servers.map((s) => s.active),
    SPECS.map((s) => s.weight * 10),
    'held requests fill servers by weight',
  );
});

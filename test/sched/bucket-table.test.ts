// lib/sched/bucket-table.ts: the table's size, how buckets are shared by
// weight (largest remainder, name order), the layout, the lookup's rehash
// and walk when a bucket's server is unusable, when the table is rebuilt,
// and BucketHashScheduler's fallback. dh.test.ts and sh.test.ts test the
// schedulers built on it by their keys.
import t from 'tap';
import { makeRealServers, type PickContext, type RealServer } from '../../lib/sched/index.ts';
import { BucketHashScheduler, BucketTable } from '../../lib/sched/bucket-table.ts';
import { mix32 } from '../../lib/sched/hash.ts';

function servers(...weights: number[]): RealServer[] {
  return makeRealServers(weights.map((weight, i) => ({ host: `10.0.0.${i + 1}`, port: 80, weight })));
}

function counts(table: BucketTable, group: readonly RealServer[]): number[] {
  return group.map((s) => table.bucketsOf(s.id));
}

/** A key hash whose home bucket is `bucket` in a table of `size`. */
function hashHomedAt(bucket: number, size: number): number {
  for (let h = 0; ; h++) if ((mix32(h) & (size - 1)) === bucket) return h;
}

/** The server index owning each bucket, as the table lays them out: contiguous runs in name order. */
function layout(table: BucketTable, group: readonly RealServer[]): number[] {
  const owners: number[] = [];
  const byName = [...group].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
  for (const s of byName) for (let k = 0; k < table.bucketsOf(s.id); k++) owners.push(s.id);
  while (owners.length < table.size) owners.push(-1);
  return owners;
}

t.test('size: at least 4096 buckets and 16 per server, a power of two', async (t) => {
  t.equal(new BucketTable(servers(1)).size, 4096);
  t.equal(new BucketTable(servers()).size, 4096, 'even with no servers');
  t.equal(new BucketTable(servers(...Array(256).fill(1))).size, 4096, '256 × 16 = 4096');
  t.equal(new BucketTable(servers(...Array(257).fill(1))).size, 8192);
  t.equal(new BucketTable(servers(...Array(1000).fill(1))).size, 16384);
});

t.test('shares: one bucket each, the rest by weight, leftovers by largest remainder', async (t) => {
  const equal = servers(1, 1, 1);
  // 4093 spare / 3 = 1364 rem 1 each: one bucket left, which the first by name takes.
  t.same(counts(new BucketTable(equal), equal), [1366, 1365, 1365]);

  const weighted = servers(1, 2, 5);
  // 4093 spare by 1:2:5 = 511 rem 5/8, 1023 rem 2/8, 2558 rem 1/8; one each besides makes 4095; the largest remainder takes the last.
  t.same(counts(new BucketTable(weighted), weighted), [513, 1024, 2559]);

  const tiny = servers(65535, 1);
  t.same(counts(new BucketTable(tiny), tiny), [4095, 1], 'a weight-1 server beside a 65535 still has its one bucket');

  const quiescent = servers(3, 0, 1);
  t.same(counts(new BucketTable(quiescent), quiescent), [3072, 0, 1024], 'weight 0: no bucket');

  const none = servers(0, 0);
  const empty = new BucketTable(none);
  t.same(counts(empty, none), [0, 0]);
  t.equal(empty.lookup(12345), -1, 'no bucket has a server');
});

t.test('ties for the leftover go in name order, not config order', async (t) => {
  // Config order c, a, b: a is first by name.
  const group = makeRealServers([
    { host: '10.0.0.3', port: 80, weight: 1 },
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 1 },
  ]);
  t.same(counts(new BucketTable(group), group), [1365, 1366, 1365]);
  const same = makeRealServers(Array.from({ length: 3 }, () => ({ host: '10.0.0.9', port: 80, weight: 1 })));
  t.same(counts(new BucketTable(same), same), [1366, 1365, 1365], 'one name three times: config order');
});

t.test('layout: contiguous runs in name order, so every process builds the same table', async (t) => {
  const group = makeRealServers([
    { host: '10.0.0.3', port: 80, weight: 2 },
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 1 },
  ]);
  const table = new BucketTable(group);
  const owners = layout(table, group);
  t.equal(owners[0], 1, 'bucket 0: 10.0.0.1');
  t.equal(owners[4095], 0, 'the last bucket: 10.0.0.3');
  t.equal(table.lookup(hashHomedAt(0, 4096)), 1);
  t.equal(table.lookup(hashHomedAt(4095, 4096)), 0);
  t.equal(table.lookup(hashHomedAt(owners.indexOf(2), 4096)), 2, 'the first bucket of 10.0.0.2');
  t.equal(table.lookup(hashHomedAt(owners.indexOf(2) - 1, 4096)), 1, 'the bucket before it');
  let wrong = 0;
  for (let h = 0; h < 5000; h++) if (table.lookup(h * 7919) !== owners[mix32(h * 7919) & 4095]) wrong++;
  t.equal(wrong, 0, 'every key goes to its home bucket while all are usable');

  const reordered = makeRealServers([group[2], group[0], group[1]].map((s) => ({ host: s.host, port: s.port, weight: s.weight })));
  const other = new BucketTable(reordered);
  let moved = 0;
  for (let h = 0; h < 5000; h++) if (reordered[other.lookup(h)].name !== group[table.lookup(h)].name) moved++;
  t.equal(moved, 0, 'the same servers in another config order: the same mapping');
});

t.test('an unusable home: rehash probes scatter its keys, and they come back', async (t) => {
  const group = servers(1, 1, 1, 1);
  const table = new BucketTable(group);
  const owners = layout(table, group);
  const keys = Array.from({ length: 8000 }, (_, n) => Math.imul(n, 2654435761) >>> 0);
  const before = keys.map((h) => table.lookup(h));
  group[1].up = false;
  const after = keys.map((h) => table.lookup(h));
  const movedTo = new Map<number, number>();
  for (let k = 0; k < keys.length; k++) {
    if (before[k] === 1) {
      movedTo.set(after[k], (movedTo.get(after[k]) ?? 0) + 1);
    } else if (after[k] !== before[k]) t.fail(`key ${keys[k]} moved off a usable server`);
  }
  t.equal(movedTo.get(1), undefined, 'none stays on the down server');
  t.same([...movedTo.keys()].sort(), [0, 2, 3], "the down server's keys go to every other server, not one neighbour");
  for (const [to, n] of movedTo) t.ok(n > 400, `server ${to} took ${n} of them`);
  // The first probe whose bucket is usable decides: (h + probe × 0x9e3779b9), mixed.
  for (let k = 0; k < 200; k++) {
    if (before[k] !== 1) continue;
    let expected = -1;
    for (let probe = 1; probe <= 64 && expected === -1; probe++) {
      const owner = owners[mix32((keys[k] + Math.imul(probe, 0x9e3779b9)) >>> 0) & 4095];
      if (owner !== 1) expected = owner;
    }
    t.equal(after[k], expected, `key ${keys[k]}: the first usable probe`);
  }
  t.equal(table.builds, 1, 'down does not rebuild');
  t.equal(table.bucketsOf(1), 1024, 'a down server keeps its buckets');
  group[1].up = true;
  t.same(
    keys.map((h) => table.lookup(h)),
    before,
    'back up: every key home again',
  );
  group[1].weight = 0;
  t.not(table.lookup(hashHomedAt(owners.indexOf(1), 4096)), 1, 'weight 0 is unusable at once, before any rebuild');
});

t.test('a usable server with one bucket is found by walking the table', async (t) => {
  const group = servers(65535, 1);
  const table = new BucketTable(group);
  group[0].up = false;
  // 64 probes at 1/4096 each mostly miss; the walk from home then finds the one bucket.
  let found = 0;
  for (let h = 0; h < 300; h++) if (table.lookup(h) === 1) found++;
  t.equal(found, 300, 'every key reaches the only usable server');
  group[1].up = false;
  t.equal(table.lookup(7), -1, 'none usable: -1');
});

t.test('rebuilds: only after invalidate(), once for many changes, at the next lookup', async (t) => {
  const group = servers(1, 1);
  const table = new BucketTable(group);
  t.equal(table.builds, 1, 'built once by the constructor');
  group[0].up = false;
  group[0].up = true;
  table.lookup(1);
  t.equal(table.builds, 1);
  group[0].weight = 3;
  t.same(counts(table, group), [2048, 2048], 'a weight written without invalidate() is not seen by the shares');
  t.equal(table.builds, 1);
  table.invalidate();
  group[1].weight = 0;
  table.invalidate();
  t.equal(table.builds, 1, 'invalidate() alone does not rebuild');
  t.equal(table.lookup(hashHomedAt(4095, 4096)), 0, 'the lookup rebuilds first: 10.0.0.2 holds nothing now');
  t.equal(table.builds, 2, 'two changes, one rebuild');
  t.same(counts(table, group), [4096, 0]);
  table.invalidate();
  t.equal(table.bucketsOf(1), 0, 'bucketsOf() rebuilds too');
  t.equal(table.builds, 3);
  table.rebuild();
  t.equal(table.builds, 4, 'rebuild() by hand');
});

t.test('a server given weight without a rebuild holds no bucket, so the table has nothing usable', async (t) => {
  const group = servers(1, 0);
  const table = new BucketTable(group);
  group[0].up = false;
  group[1].weight = 5;
  t.equal(table.lookup(99), -1, 'usable, but not in the table');
  table.invalidate();
  t.equal(table.lookup(99), 1, 'in the table after the rebuild');
});

class KeyAsHash extends BucketHashScheduler {
  readonly name = 'test-hash';
  readonly usesKey = true;
  pick(ctx: PickContext): RealServer | null {
    return this.pickByHash(Number(ctx.key));
  }
}

function pick(s: KeyAsHash, hash: number): string | undefined {
  return s.pick({ key: String(hash), clientAddress: '127.0.0.1' })?.name;
}

t.test('BucketHashScheduler: the table, and the least-loaded fallback when it has nothing usable', async (t) => {
  const group = servers(1, 0, 1);
  const s = new KeyAsHash(group);
  const table = new BucketTable(servers(1, 0, 1)); // the same table, built apart
  for (let h = 0; h < 100; h++) t.equal(pick(s, h), group[table.lookup(h)].name, `hash ${h}`);
  t.equal(s.bucketsOf(group[1]), 0);
  t.equal(s.bucketsOf(group[0]) + s.bucketsOf(group[2]), 4096);

  s.serverDown();
  s.serverUp();
  t.equal(s.builds, 1, 'up and down rebuild nothing');

  // Both table servers down; 10.0.0.2 given weight with no weightChanged yet: the fallback finds it.
  group[0].up = false;
  group[2].up = false;
  group[1].weight = 2;
  t.equal(pick(s, 5), '10.0.0.2:80', 'no usable bucket: the least-loaded usable server');
  t.equal(s.builds, 1);
  s.weightChanged();
  t.equal(pick(s, 5), '10.0.0.2:80');
  t.equal(s.builds, 2, 'weightChanged: rebuilt at the next pick');
  t.equal(
    s.bucketsOf(group[1]),
    2048,
    'its share now: 1 + 2046 of the 4093 spare (2 of 4 by weight), plus the leftover by largest remainder',
  );
  group[1].up = false;
  t.equal(s.pick({ key: '5', clientAddress: '' }), null, 'nothing usable anywhere: null (503)');
});

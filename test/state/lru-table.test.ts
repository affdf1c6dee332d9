import t, { type Test } from 'tap';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import {
  LAYOUT_FOR_TESTS,
  MAX_ENTRIES_LIMIT,
  SharedLruTable,
  fingerprintNumber,
  fingerprintString,
  newFingerprint,
  type Fingerprint,
} from '../../lib/state/lru-table.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import type { RaceResult, WorkerJob } from './lru-table-worker.ts';

const OWNER = 1; // this (main) thread's lock owner

function fpOf(key: string | number, seed: number): Fingerprint {
  const fp = newFingerprint();
  if (typeof key === 'number') fingerprintNumber(key, fp);
  else fingerprintString(key, seed, fp);
  return fp;
}

/** Thin key-level helpers over the entry API, as a caller would write them (lock held by the test). */
function find(table: SharedLruTable, key: string | number, now: number, ttl = Infinity): number {
  const fp = fpOf(key, table.seed);
  return table.find(fp.hi, fp.lo, now, ttl);
}
function peek(table: SharedLruTable, key: string | number, now: number, ttl = Infinity): number {
  const fp = fpOf(key, table.seed);
  return table.peek(fp.hi, fp.lo, now, ttl);
}
function insert(table: SharedLruTable, key: string | number, now: number, value = 0): number {
  const fp = fpOf(key, table.seed);
  const e = table.insert(fp.hi, fp.lo, now);
  if (table.valueWords > 0) table.ints[table.valueBase(e)] = value;
  return e;
}
function storedValue(table: SharedLruTable, e: number): number {
  return table.ints[table.valueBase(e)];
}

function locked<T>(table: SharedLruTable, fn: () => T): T {
  table.lock(OWNER);
  try {
    return fn();
  } finally {
    table.unlock();
  }
}

t.test('insert, find, peek, remove, size, clear', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 8, valueWords: 2, timeWords: 1 });
  locked(table, () => {
    t.equal(table.size(), 0);
    t.equal(find(table, '/a', 1000), -1, 'empty table: miss');
    const a = insert(table, '/a', 1000, 11);
    const b = insert(table, '/b', 1000, 22);
    const ip = insert(table, 0xc0000201, 1000, 33);
    t.equal(table.size(), 3);
    t.not(a, b);
    t.equal(find(table, '/a', 1001), a);
    t.equal(storedValue(table, find(table, '/b', 1001)), 22);
    t.equal(storedValue(table, find(table, 0xc0000201, 1001)), 33, 'number keys');
    t.equal(find(table, 0xc0000202, 1001), -1, 'a neighbouring address is another key');
    t.equal(peek(table, '/b', 1002), b);
    t.equal(peek(table, '/zz', 1002), -1);

    // Value and time words belong to their entry.
    table.ints[table.valueBase(a) + 1] = -5;
    table.times[table.timeBase(a)] = 1.5;
    table.times[table.timeBase(b)] = 2.5;
    t.equal(table.ints[table.valueBase(a)], 11);
    t.equal(table.ints[table.valueBase(a) + 1], -5);
    t.equal(table.ints[table.valueBase(b)], 22);
    t.equal(table.ints[table.valueBase(b) + 1], 0, 'new entries start zeroed');
    t.equal(table.times[table.timeBase(a)], 1.5);
    t.equal(table.times[table.timeBase(b)], 2.5);
    t.equal(table.times[table.timeBase(ip)], 0);
    t.equal(table.lastUse(a), 1001, 'find sets the last use');
    t.equal(table.lastUse(b), 1001, 'peek does not');

    table.remove(b);
    t.equal(table.size(), 2);
    t.equal(find(table, '/b', 1003), -1, 'removed');
    t.throws(() => table.remove(b), RangeError, 'removing a free entry is an error');
    t.throws(() => table.touch(b, 1), RangeError);
    t.throws(() => table.remove(7), RangeError, 'never used');
    t.throws(() => table.remove(-1), RangeError);

    // A reused entry comes back zeroed.
    const c = insert(table, '/c', 1004);
    t.equal(c, b, 'the freed entry is reused');
    t.equal(table.ints[table.valueBase(c) + 1], 0);
    t.equal(table.times[table.timeBase(c)], 0);

    // insert over a present key replaces it, as lru-cache's set().
    const a2 = insert(table, '/a', 1005, 99);
    t.equal(table.size(), 3);
    t.equal(storedValue(table, find(table, '/a', 1006)), 99);
    t.equal(table.ints[table.valueBase(a2) + 1], 0);
    table.check();

    table.clear();
    t.equal(table.size(), 0);
    t.equal(find(table, '/a', 1007), -1);
    t.equal(find(table, 0xc0000201, 1007), -1);
    table.check();
    insert(table, '/a', 1008, 1);
    t.equal(storedValue(table, find(table, '/a', 1008)), 1, 'usable after clear');
    table.check();
  });
});

t.test('valueWords 0 and timeWords 0 work', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 2, valueWords: 0 });
  t.equal(table.timeWords, 0);
  locked(table, () => {
    insert(table, 'x', 10);
    insert(table, 'y', 10);
    insert(table, 'z', 10);
    t.equal(table.size(), 2);
    t.equal(find(table, 'x', 11), -1);
    t.not(find(table, 'z', 11), -1);
    table.check();
  });
});

t.test('options are validated', async (t) => {
  for (const maxEntries of [0, -1, 1.5, NaN, Infinity, MAX_ENTRIES_LIMIT + 1]) {
    t.throws(() => SharedLruTable.create({ maxEntries, valueWords: 1 }), /maxEntries/, `maxEntries ${maxEntries}`);
  }
  t.throws(() => SharedLruTable.create({ maxEntries: 4, valueWords: 65 }), /valueWords/);
  t.throws(() => SharedLruTable.create({ maxEntries: 4, valueWords: -1 }), /valueWords/);
  t.throws(() => SharedLruTable.create({ maxEntries: 4, valueWords: 1, timeWords: 9 }), /timeWords/);
  t.throws(() => SharedLruTable.create({ maxEntries: MAX_ENTRIES_LIMIT, valueWords: 64 }), /maxEntries .*bytes/, 'too much memory');
  const table = SharedLruTable.create({ maxEntries: 5, valueWords: 64, timeWords: 8 });
  t.equal(table.maxEntries, 5);
  t.equal(table.times.byteOffset % 8, 0);
  t.throws(() => table.lock(0), RangeError, 'owner 0 would read as unlocked');
  t.throws(() => table.lock(1.5), RangeError);
  t.equal(table.holder(), 0);
});

t.test('exact LRU eviction order; a find moves the entry to most recent', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 3, valueWords: 1 });
  locked(table, () => {
    insert(table, 'a', 1);
    insert(table, 'b', 2);
    insert(table, 'c', 3);
    t.not(find(table, 'a', 4), -1, 'a is now the most recent; b the least');
    insert(table, 'd', 5);
    t.equal(peek(table, 'b', 6), -1, 'b evicted');
    t.equal(table.size(), 3);
    t.not(peek(table, 'c', 6), -1, 'peek does not move c');
    insert(table, 'e', 7);
    t.equal(peek(table, 'c', 8), -1, 'c, the least recent despite the peek, evicted');
    t.not(peek(table, 'a', 8), -1);
    const d = find(table, 'd', 9);
    table.touch(find(table, 'a', 9), 9);
    table.touch(d, 10); // order now (recent first): d, a, e
    insert(table, 'f', 11);
    t.equal(peek(table, 'e', 12), -1, 'touch() moves too');
    insert(table, 'g', 13);
    t.equal(peek(table, 'a', 14), -1);
    t.not(peek(table, 'd', 14), -1);
    table.check();
  });
});

t.test('ttl: expiry after the last use, Infinity, a changed ttl applies at once', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 10, valueWords: 1 });
  const t0 = 1_700_000_000_000;
  locked(table, () => {
    insert(table, '/s', t0, 7);
    for (let i = 1; i <= 5; i++) t.not(find(table, '/s', t0 + 900 * i, 1000), -1, `use ${i}, 900 ms after the last`);
    const last = t0 + 4500;
    t.not(find(table, '/s', last + 1000, 1000), -1, 'exactly ttl after the last use: still there (expired is > ttl)');
    const used = last + 1000;
    t.equal(peek(table, '/s', used + 1001, 1000), -1, 'past ttl: peek reads it as absent');
    t.equal(table.size(), 1, 'but peek leaves it');
    t.not(peek(table, '/s', used + 1001, 2000), -1, 'a longer ttl passed in the next call applies at once');
    t.not(find(table, '/s', used + 1001, 2000), -1);
    t.equal(find(table, '/s', used + 1001 + 501, 500), -1, 'a shorter one too: expired');
    t.equal(table.size(), 0, 'find removes an expired entry');
    table.check();

    insert(table, '/forever', t0, 1);
    t.not(find(table, '/forever', t0 + 1e15, Infinity), -1, 'Infinity never expires');
    t.equal(find(table, '/forever', t0 + 2e15 + 1, 1e15), -1);
  });
});

t.test('expired entries count in size until found or evicted, and are evicted in LRU order', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 2, valueWords: 1 });
  locked(table, () => {
    insert(table, 'old', 0);
    insert(table, 'new', 500);
    t.equal(table.size(), 2, 'old is expired at 1001 but still counted');
    insert(table, 'newer', 1001);
    t.equal(table.size(), 2);
    t.equal(find(table, 'old', 1002, 1000), -1);
    t.not(find(table, 'new', 1002, 1000), -1);
    table.check();
  });
});

/** The lru-cache semantics (max, ttl, updateAgeOnGet) as plainly as possible: a Map in LRU order. */
class ReferenceLru {
  private readonly map = new Map<string | number, { value: number; lastUse: number }>();
  private readonly max: number;
  expired = 0;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string | number, now: number, ttl: number): number | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    if (now - entry.lastUse > ttl) {
      this.expired++;
      return undefined;
    }
    entry.lastUse = now;
    this.map.set(key, entry);
    return entry.value;
  }
  peek(key: string | number, now: number, ttl: number): number | undefined {
    const entry = this.map.get(key);
    return entry === undefined || now - entry.lastUse > ttl ? undefined : entry.value;
  }
  set(key: string | number, value: number, now: number): void {
    this.map.delete(key);
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { value, lastUse: now });
  }
  delete(key: string | number): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
}

function randomRun(t: Test, maxEntries: number, ops: number, seed: number, varyTtl: boolean): void {
  const random = seededRandom(seed);
  const table = SharedLruTable.create({ maxEntries, valueWords: 1, timeWords: 1 });
  const reference = new ReferenceLru(maxEntries);
  const fixedTtl = 1000;
  // The real thing, with the options the project uses, when the ttl stays fixed.
  const clock = { now: 1_000_000 };
  const cache = varyTtl
    ? null
    : new LRUCache<string | number, number>({
        max: maxEntries,
        ttl: fixedTtl,
        updateAgeOnGet: true,
        ttlResolution: 0,
        perf: { now: () => clock.now },
      });
  const keySpace = maxEntries * 2 + 3;
  const meanStep = (fixedTtl * 0.82) / keySpace / 0.18;
  const keyOf = (i: number): string | number => (i % 2 === 0 ? `/k${i}` : 0x0a000000 + i);
  let mismatches = 0;
  let hits = 0;
  const fail = (what: string): void => {
    if (mismatches++ < 5) t.fail(`op ${what}`);
  };
  table.lock(OWNER);
  try {
    for (let op = 0; op < ops; op++) {
      const key = keyOf(Math.floor(random() * keySpace));
      const ttl = varyTtl ? [200, 1000, 5000, Infinity][Math.floor(random() * 4)] : fixedTtl;
      const now = clock.now;
      const r = random();
      if (r < 0.5) {
        // The caller's protocol: find, else insert.
        const e = find(table, key, now, ttl);
        const want = reference.get(key, now, ttl);
        const cached = cache?.get(key);
        const got = e === -1 ? undefined : storedValue(table, e);
        if (got !== want || (cache && cached !== want)) fail(`${op}: get ${key} table ${got} reference ${want} lru-cache ${cached}`);
        if (e !== -1 && table.times[table.timeBase(e)] !== want! * 2) fail(`${op}: time word of ${key}`);
        if (got !== undefined) hits++;
        if (e === -1) {
          const value = 1 + Math.floor(random() * 1e6);
          const ne = insert(table, key, now, value);
          table.times[table.timeBase(ne)] = value * 2;
          reference.set(key, value, now);
          cache?.set(key, value);
        }
      } else if (r < 0.65) {
        const e = peek(table, key, now, ttl);
        const want = reference.peek(key, now, ttl);
        const cached = cache?.peek(key);
        const got = e === -1 ? undefined : storedValue(table, e);
        if (got !== want || (cache && cached !== want)) fail(`${op}: peek ${key} table ${got} reference ${want} lru-cache ${cached}`);
      } else if (r < 0.75) {
        // Overwrite, present or not (lru-cache's set).
        const value = 1 + Math.floor(random() * 1e6);
        const ne = insert(table, key, now, value);
        table.times[table.timeBase(ne)] = value * 2;
        reference.set(key, value, now);
        cache?.set(key, value);
      } else if (r < 0.82) {
        // Remove, as a caller does: find the entry, then remove it.
        const e = peek(table, key, now, Infinity);
        if (e !== -1) table.remove(e);
        reference.delete(key);
        cache?.delete(key);
      } else {
        // Scaled so a key comes back after about one ttl: both hits and expiries.
        clock.now += Math.floor(random() * meanStep * 2);
      }
      if (table.size() !== reference.size || (cache && cache.size !== reference.size)) {
        fail(`${op}: size table ${table.size()} reference ${reference.size} lru-cache ${cache?.size}`);
      }
      if (op % 997 === 0) table.check();
    }
    table.check();
  } finally {
    table.unlock();
  }
  t.equal(mismatches, 0, `${ops} operations agree with the reference${cache ? ' and lru-cache' : ''}`);
  t.ok(hits > ops / 20, `hits happen (${hits})`);
  t.ok(reference.expired > 0, `expiries happen (${reference.expired})`);
}

t.test('matches a reference LRU (and lru-cache itself) over random operations', async (t) => {
  for (const maxEntries of [1, 3, 100]) {
    t.test(`maxEntries ${maxEntries}, fixed ttl`, async (t) => randomRun(t, maxEntries, 20_000, 0x5eed + maxEntries, false));
    t.test(`maxEntries ${maxEntries}, ttl changing between calls`, async (t) =>
      randomRun(t, maxEntries, 20_000, 0xbeef + maxEntries, true),
    );
  }
});

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

t.test('fingerprints', async (t) => {
  const a = newFingerprint();
  const b = newFingerprint();
  fingerprintString('/index.html', 42, a);
  fingerprintString('/index.html', 42, b);
  t.same(a, b, 'same string, same seed: same fingerprint');
  let sameHi = 0;
  let sameLo = 0;
  for (let i = 0; i < 1000; i++) {
    fingerprintString(`/p${i}`, 1, a);
    fingerprintString(`/p${i}`, 2, b);
    if (a.hi === b.hi) sameHi++;
    if (a.lo === b.lo) sameLo++;
  }
  t.equal(sameHi + sameLo, 0, 'another seed changes both halves');

  fingerprintNumber(0xc0a80001, a);
  t.same(a, { hi: 1, lo: 0xc0a80001 | 0 });
  fingerprintString('', 7, a);
  t.equal(a.hi & 1, 0, 'the empty string is a string key too');
  fingerprintString('\ud800', 7, b);
  t.notSame(a, b, 'lone surrogates hash');
  fingerprintString('a', 7, a);
  fingerprintString('a\0', 7, b);
  t.notSame(a, b, 'the length counts');

  // 200k strings and 200k IPv4 addresses: no 64-bit collision, and each
  // 32-bit half alone collides about as often as random (birthday: ~4.7).
  const N = 200_000;
  const seed = 0x12345678;
  const full = new Set<bigint>();
  const his = new Set<number>();
  const los = new Set<number>();
  let evenHi = 0;
  for (let i = 0; i < N; i++) {
    fingerprintString(`/k${i}`, seed, a);
    if ((a.hi & 1) === 0) evenHi++;
    full.add((BigInt(a.hi >>> 0) << 32n) | BigInt(a.lo >>> 0));
    his.add(a.hi);
    los.add(a.lo);
  }
  t.equal(evenHi, N, 'every string has the low bit of hi clear');
  let hiOne = 0;
  for (let i = 0; i < N; i++) {
    fingerprintNumber((0x0a000000 + i * 613) >>> 0, a);
    if (a.hi === 1) hiOne++;
    full.add((BigInt(a.hi >>> 0) << 32n) | BigInt(a.lo >>> 0));
  }
  t.equal(hiOne, N, 'every number has hi 1');
  t.equal(full.size, 2 * N, 'no collisions among 200k strings and 200k addresses');
  // hi has 31 free bits: ~9.3 expected collisions; lo 32 bits: ~4.7.
  t.ok(N - his.size < 40, `hi halves: ${N - his.size} collisions`);
  t.ok(N - los.size < 25, `lo halves: ${N - los.size} collisions`);

  // Avalanche: one changed character flips about half the bits of each half.
  let bitsHi = 0;
  let bitsLo = 0;
  const pairs = 20_000;
  for (let i = 0; i < pairs; i++) {
    fingerprintString(`/static/file-${i}.css`, seed, a);
    fingerprintString(`/static/file-${i}.csr`, seed, b);
    bitsHi += popcount(a.hi ^ b.hi);
    bitsLo += popcount(a.lo ^ b.lo);
  }
  t.ok(Math.abs(bitsHi / pairs - 15.5) < 0.3, `hi: ${(bitsHi / pairs).toFixed(2)} of 31 bits flip`);
  t.ok(Math.abs(bitsLo / pairs - 16) < 0.3, `lo: ${(bitsLo / pairs).toFixed(2)} of 32 bits flip`);
});

t.test('a table of 200k string keys finds every one (chains work at full load)', async (t) => {
  const N = 200_000;
  const table = SharedLruTable.create({ maxEntries: N, valueWords: 1 });
  const fp = newFingerprint();
  let wrong = 0;
  locked(table, () => {
    for (let i = 0; i < N; i++) {
      fingerprintString(`/k${i}`, table.seed, fp);
      if (table.find(fp.hi, fp.lo, 1, Infinity) !== -1) wrong++;
      table.ints[table.valueBase(table.insert(fp.hi, fp.lo, 1))] = i;
    }
    for (let i = 0; i < N; i++) {
      fingerprintString(`/k${i}`, table.seed, fp);
      const e = table.find(fp.hi, fp.lo, 2, Infinity);
      if (e === -1 || table.ints[table.valueBase(e)] !== i) wrong++;
    }
    t.equal(table.size(), N);
    table.check();
  });
  t.equal(wrong, 0);
});

t.test('check() catches a corrupted table; find() does not loop on a cyclic chain', async (t) => {
  const { header, entry } = LAYOUT_FOR_TESTS;
  /** A table of 5 entries under keys k0..k4, the lock held; `spoil` damages it. */
  const spoiled = (
    what: string,
    expect: RegExp,
    spoil: (table: SharedLruTable, rec: (e: number) => number, es: number[]) => void,
  ): void => {
    const table = SharedLruTable.create({ maxEntries: 8, valueWords: 1 });
    table.lock(OWNER);
    try {
      const es = [0, 1, 2, 3, 4].map((i) => insert(table, `k${i}`, 1, i));
      table.remove(es[2]); // one entry on the free list
      table.check();
      spoil(table, (e) => table.valueBase(e) - entry.fixedWords, es);
      t.throws(() => table.check(), expect, what);
    } finally {
      table.unlock();
    }
  };
  spoiled('count too high', /LRU list has 4 entries, count is 5/, (table) => table.ints[header.count]++);
  spoiled('count above the high-water mark', /count .* outside/, (table) => (table.ints[header.count] = 7));
  spoiled('high-water mark past maxEntries', /high-water mark/, (table) => (table.ints[header.hwm] = 9));
  spoiled('a wrong prev link', /has prev/, (table, rec, es) => (table.ints[rec(es[1]) + entry.prev] = es[4]));
  spoiled('a wrong tail', /tail is/, (table, _rec, es) => (table.ints[header.tail] = es[3]));
  spoiled('an LRU cycle', /twice|longer than count/, (table, rec, es) => (table.ints[rec(es[0]) + entry.next] = es[4]));
  spoiled('an LRU link out of range', /outside/, (table, rec, es) => (table.ints[rec(es[0]) + entry.next] = 6));
  spoiled(
    'a free entry still in the LRU list',
    /free list holds entry|not marked free/,
    (table, _rec, es) => (table.ints[header.free] = es[1]),
  );
  spoiled('a free entry lost', /free list has 0 entries/, (table) => (table.ints[header.free] = -1));
  spoiled('a free entry not marked', /not marked free/, (table, rec, es) => (table.ints[rec(es[2]) + entry.prev] = -1));

  // Chain surgery: buckets are a power of two >= maxEntries (8 here).
  const BUCKETS = 8;
  /** Where entry e sits: the Int32 index that points at it (a bucket head or its predecessor's link), and its bucket. */
  const linkTo = (table: SharedLruTable, rec: (e: number) => number, e: number): { at: number; bucket: number } => {
    for (let b = 0; b < BUCKETS; b++) {
      let at = header.buckets + b;
      while (table.ints[at] !== -1) {
        if (table.ints[at] === e) return { at, bucket: b };
        at = rec(table.ints[at]) + entry.chain;
      }
    }
    throw new Error(`entry ${e} in no chain`);
  };
  const unchain = (table: SharedLruTable, rec: (e: number) => number, e: number): number => {
    const { at, bucket } = linkTo(table, rec, e);
    table.ints[at] = table.ints[rec(e) + entry.chain];
    return bucket;
  };
  spoiled('an entry out of its chain', /hash chains hold 3 entries, count is 4/, (table, rec, es) => void unchain(table, rec, es[3]));
  spoiled('an entry in a bucket its key does not hash to', /hashes elsewhere/, (table, rec, es) => {
    const home = unchain(table, rec, es[3]);
    const other = header.buckets + ((home + 1) % BUCKETS);
    table.ints[rec(es[3]) + entry.chain] = table.ints[other];
    table.ints[other] = es[3];
  });
  spoiled('a key in the table twice', /is in the table twice/, (table, rec, es) => {
    // es[4] takes es[0]'s key and joins es[0]'s chain: each entry is in its right bucket, but the key is there twice.
    unchain(table, rec, es[4]);
    table.ints[rec(es[4]) + entry.hi] = table.ints[rec(es[0]) + entry.hi];
    table.ints[rec(es[4]) + entry.lo] = table.ints[rec(es[0]) + entry.lo];
    const home = linkTo(table, rec, es[0]).bucket;
    table.ints[rec(es[4]) + entry.chain] = table.ints[header.buckets + home];
    table.ints[header.buckets + home] = es[4];
  });
  spoiled('a chain that loops', /in a chain already/, (table, rec, es) => (table.ints[rec(es[0]) + entry.chain] = es[0]));

  // A chain that loops makes find(), peek() and insert() throw instead of spinning forever.
  const table = SharedLruTable.create({ maxEntries: 8, valueWords: 1 });
  table.lock(OWNER);
  try {
    const e = insert(table, 'loop', 1);
    table.ints[table.valueBase(e) - entry.fixedWords + entry.chain] = e;
    table.ints.fill(e, header.buckets, header.buckets + BUCKETS); // every key's chain is that loop
    t.throws(() => find(table, 'absent', 2), /a hash chain loops/);
    t.throws(() => peek(table, 'absent', 2), /a hash chain loops/);
    t.throws(() => insert(table, 'absent', 2), /a hash chain loops/);
    t.throws(() => table.check(), /corrupt/);
  } finally {
    table.unlock();
  }
});

t.test('attach(): a second view over the same buffer', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 16, valueWords: 3, timeWords: 2 });
  locked(table, () => insert(table, '/a', 10, 5));
  const view = SharedLruTable.attach(table.buffer);
  t.equal(view.seed, table.seed);
  t.equal(view.maxEntries, 16);
  t.equal(view.valueWords, 3);
  t.equal(view.timeWords, 2);
  t.equal(view.buffer, table.buffer);
  locked(view, () => {
    const e = find(view, '/a', 11);
    t.not(e, -1, 'the view sees the entry');
    t.equal(storedValue(view, e), 5);
    view.times[view.timeBase(e) + 1] = 3.25;
    insert(view, 0x7f000001, 12, 9);
  });
  t.equal(view.holder(), 0);
  locked(table, () => {
    const e = peek(table, '/a', 13);
    t.equal(table.times[table.timeBase(e) + 1], 3.25, 'and writes through the view show in the first');
    t.equal(storedValue(table, peek(table, 0x7f000001, 13)), 9);
    t.equal(table.size(), 2);
    table.check();
  });
  // The lock is shared too.
  table.lock(4);
  t.equal(view.holder(), 4);
  table.unlock();

  t.throws(() => SharedLruTable.attach(new SharedArrayBuffer(4096)), /does not hold a table/);
  t.throws(() => SharedLruTable.attach(new SharedArrayBuffer(8)), /too small/);
  t.throws(() => SharedLruTable.attach(new ArrayBuffer(4096) as unknown as SharedArrayBuffer), TypeError);
  const copy = new SharedArrayBuffer(table.buffer.byteLength + 8);
  new Uint8Array(copy).set(new Uint8Array(table.buffer));
  t.throws(() => SharedLruTable.attach(copy), /bytes/, 'a length that does not match the header');
});

t.test('lock misuse and breakLock', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 4, valueWords: 1 });
  t.throws(() => table.unlock(), /not locked/);
  table.lock(3);
  t.equal(table.holder(), 3);
  t.throws(() => table.lock(3), /already holds/, 're-entry throws rather than hang');
  t.equal(table.breakLock(2), false, 'owner 2 does not hold it');
  t.equal(table.holder(), 3);
  t.equal(table.breakLock(3), true);
  t.equal(table.holder(), 0);
  t.equal(table.breakLock(3), false, 'already free');
  table.lock(2);
  t.equal(table.holder(), 2);
  table.unlock();
  t.equal(table.holder(), 0);
});

interface Started {
  worker: Worker;
  /** Resolves when it exits with 0 (listened for from the start, so it cannot be missed). */
  exited: Promise<void>;
  /** Its first message. */
  message: Promise<unknown>;
}

function startWorker(job: WorkerJob): Started {
  const worker = new Worker(new URL('./lru-table-worker.ts', import.meta.url), { workerData: job });
  const exited = once(worker, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`worker exited with ${code}`);
  });
  const message = once(worker, 'message').then(([m]) => m as unknown);
  return { worker, exited, message };
}

t.test('a thread blocked in lock() wakes when the holder unlocks (main thread waits)', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 4, valueWords: 1 });
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = startWorker({ mode: 'hold', buffer: table.buffer, owner: 2, holdMs: 200, flag });
  // The worker sets the flag to 1 once it holds the lock and to 2 just
  // before it releases it. Waiting on the flag (bounded) rather than for a
  // message sees the 1 at once however busy the event loop is.
  Atomics.wait(flag, 0, 0, 10_000);
  t.ok(Atomics.load(flag, 0) >= 1, 'the worker took the lock');
  const started = performance.now();
  table.lock(OWNER); // blocks this thread in Atomics.wait until the worker unlocks
  const waited = performance.now() - started;
  t.equal(Atomics.load(flag, 0), 2, 'lock() returned only after the holder released');
  t.equal(table.holder(), OWNER);
  table.unlock();
  t.comment(`waited ${waited.toFixed(1)} ms for the holder`);
  await worker.exited;
});

t.test('breakLock frees the lock of a thread that died holding it', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 4, valueWords: 1 });
  const worker = startWorker({ mode: 'die-holding', buffer: table.buffer, owner: 3 });
  t.equal(await worker.message, 'locked');
  await worker.exited;
  t.equal(table.holder(), 3, 'still held by the dead thread');
  t.equal(table.breakLock(2), false);
  t.equal(table.breakLock(3), true);
  locked(table, () => table.check());
});

interface RaceRun {
  table: SharedLruTable;
  results: RaceResult[];
  ms: number;
}

async function race(mode: 'first-wins' | 'evict', maxEntries: number, keys: number, iterations: number, ttlMs: number): Promise<RaceRun> {
  const table = SharedLruTable.create({ maxEntries, valueWords: 3, timeWords: 1 });
  const started = performance.now();
  const workers: Started[] = [];
  for (let w = 0; w < 4; w++) {
    // Owners 2..5: the main thread is 1.
    workers.push(startWorker({ mode, buffer: table.buffer, owner: w + 2, keys, iterations, rngSeed: 1000 + w, ttlMs }));
  }
  const results = await Promise.all(
    workers.map(async (worker) => {
      const result = (await worker.message) as RaceResult;
      await worker.exited;
      return result;
    }),
  );
  return { table, results, ms: performance.now() - started };
}

t.test("4 threads racing insert-if-absent: every key has one value, the first inserter's", async (t) => {
  const KEYS = 500;
  const { table, results, ms } = await race('first-wins', 1000, KEYS, 200_000, Infinity);
  t.comment(`4 x 200k lock/find/insert?/unlock rounds in ${ms.toFixed(0)} ms`);
  const inserts = results.reduce((n, r) => n + r.inserts, 0);
  t.equal(inserts, KEYS, 'each key inserted exactly once across all threads');
  t.equal(
    results.reduce((n, r) => n + r.changed, 0),
    0,
    'no thread saw a key change value',
  );
  t.equal(
    results.reduce((n, r) => n + r.mismatched, 0),
    0,
    'value words always those of the key',
  );
  let disagreements = 0;
  let unseen = 0;
  const fp = newFingerprint();
  locked(table, () => {
    t.equal(table.size(), KEYS);
    table.check();
    for (let k = 0; k < KEYS; k++) {
      fingerprintString(`/k${k}`, table.seed, fp);
      const e = table.peek(fp.hi, fp.lo, Date.now(), Infinity);
      const stored = e === -1 ? -1 : table.ints[table.valueBase(e)];
      for (const r of results) {
        if (r.seen[k] === 0) unseen++;
        else if (r.seen[k] !== stored) disagreements++;
      }
    }
  });
  t.equal(disagreements, 0, 'all threads saw the stored (first) value for every key');
  t.equal(unseen, 0, 'every thread looked up every key');
  t.equal(table.holder(), 0);
});

t.test('4 threads with evictions, removals and expiry: structure stays consistent', async (t) => {
  const MAX = 1000;
  const { table, results, ms } = await race('evict', MAX, 3000, 200_000, 5);
  t.comment(`4 x 200k rounds with evictions in ${ms.toFixed(0)} ms`);
  t.same(
    results.flatMap((r) => r.broken),
    [],
    'check() passed inside the threads',
  );
  t.equal(
    results.reduce((n, r) => n + r.mismatched, 0),
    0,
    'value and time words always those of the key',
  );
  const inserts = results.reduce((n, r) => n + r.inserts, 0);
  const removes = results.reduce((n, r) => n + r.removes, 0);
  t.ok(inserts > MAX * 10, `evictions happened (${inserts} inserts)`);
  t.ok(removes > 0, `removals happened (${removes})`);
  locked(table, () => {
    table.check();
    t.ok(table.size() <= MAX, `size ${table.size()} <= ${MAX}`);
    t.ok(table.size() > 0);
  });
  t.equal(table.holder(), 0);
});

t.test('adopt(): a peer director’s use wins only when newer; walk by record index; a given seed', async (t) => {
  const table = SharedLruTable.create({ maxEntries: 4, valueWords: 1, seed: 1234 });
  t.equal(table.seed, 1234, 'the seed given is the seed used');
  t.equal(SharedLruTable.attach(table.buffer).seed, 1234);
  locked(table, () => {
    const local = table.insert(1, 2, 100);
    table.ints[table.valueBase(local)] = 7;
    t.equal(table.adopt(1, 2, 90), -1, 'an older use from the peer loses');
    t.equal(table.ints[table.valueBase(local)], 7);
    t.equal(table.lastUse(local), 100);
    const other = table.insert(3, 4, 110); // now the most recent
    t.equal(table.adopt(1, 2, 120), local, 'a newer one wins: the same entry');
    t.equal(table.lastUse(local), 120);
    const fresh = table.adopt(5, 6, 80);
    t.not(fresh, -1, 'an unknown key is inserted');
    t.equal(table.lastUse(fresh), 80);
    t.equal(table.ints[table.valueBase(fresh)], 0, 'with its value zeroed');
    t.equal(table.find(5, 6, 100, 10), -1, 'an adopted use that is old reads as expired');
    table.remove(other);
    t.equal(table.highWater(), 3, 'three records were used');
    const live = [0, 1, 2].filter((e) => table.isLive(e));
    t.same(
      live.map((e) => [table.keyHi(e), table.keyLo(e)]),
      [[1, 2]],
      'only the first key is live: one removed, one expired',
    );
    table.check();
  });
});

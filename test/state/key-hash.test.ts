// Key fingerprints for the shared LRU table (lib/state/key-hash.ts). The
// first lane is MurmurHash3 x86_32 over the key's UTF-16LE bytes: checked
// against a byte-wise reference written here from the published algorithm,
// itself checked against the published test vectors. Then the properties the
// table relies on: strings and numbers never meet, the seed changes every
// key, and distinct keys do not collide in practice.
import t from 'tap';
import { fingerprintNumber, fingerprintString, fmix32, newFingerprint } from '../../lib/state/key-hash.ts';

/** MurmurHash3_x86_32 over bytes, as in SMHasher (the reference, not the code under test). */
function murmur3(bytes: Buffer, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = bytes.length >> 2;
  for (let b = 0; b < blocks; b++) {
    let k = bytes.readUInt32LE(b * 4);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  const rest = bytes.length & 3;
  if (rest !== 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[tail + 2] << 16;
    if (rest >= 2) k ^= bytes[tail + 1] << 8;
    k ^= bytes[tail];
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

t.test('the reference MurmurHash3 gives the published test vectors', async (t) => {
  const vectors: Array<[string, number, number]> = [
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ];
  for (const [text, seed, hash] of vectors)
    t.equal(murmur3(Buffer.from(text, 'latin1'), seed), hash, `${JSON.stringify(text)} seed ${seed}`);
  t.equal(murmur3(Buffer.from([0, 0, 0, 0]), 0), 0x2362f9de);
});

t.test('the first lane is MurmurHash3 of the UTF-16LE bytes, low bit cleared', async (t) => {
  const out = newFingerprint();
  const keys = ['', 'a', 'ab', 'abc', '/index.html', '/users/élodie', 'ключ', '🙂', 'x'.repeat(1001)];
  for (const seed of [0, 1, 0x9747b28c | 0, -1]) {
    for (const key of keys) {
      fingerprintString(key, seed, out);
      const expected = murmur3(Buffer.from(key, 'utf16le'), seed >>> 0) & ~1;
      t.equal(out.hi, expected | 0, `${JSON.stringify(key.slice(0, 12))} seed ${seed}`);
    }
  }
});

t.test('strings never equal numbers: a string hi is even, a number hi is 1', async (t) => {
  const out = newFingerprint();
  for (let i = 0; i < 2000; i++) {
    fingerprintString(`k${i}`, 42, out);
    if ((out.hi & 1) !== 0) {
      t.fail(`k${i}: odd hi ${out.hi}`);
      return;
    }
  }
  t.pass('2000 string keys, every hi even');
  fingerprintNumber(0x0a000001, out);
  t.same(out, { hi: 1, lo: 0x0a000001 });
  fingerprintNumber(0xffffffff, out);
  t.same(out, { hi: 1, lo: -1 }, 'uint32 stored as an int32 half');
  fingerprintNumber(0, out);
  t.same(out, { hi: 1, lo: 0 });
});

t.test('deterministic per seed; another seed, another fingerprint', async (t) => {
  const a = newFingerprint();
  const b = newFingerprint();
  fingerprintString('/same/key', 7, a);
  fingerprintString('/same/key', 7, b);
  t.same(a, b, 'the same key and seed');
  let differ = 0;
  for (let i = 0; i < 100; i++) {
    fingerprintString(`/k/${i}`, 7, a);
    fingerprintString(`/k/${i}`, 8, b);
    if (a.hi !== b.hi && a.lo !== b.lo) differ++;
  }
  t.equal(differ, 100, 'both halves change with the seed');
});

t.test('keys that differ only in length or order of code units differ', async (t) => {
  const seen = new Map<string, string>();
  const out = newFingerprint();
  const keys = ['a', 'a\0', 'a\0\0', '\0a', 'ab', 'ba', 'aa', 'aaa', '\0', '', '\0\0'];
  for (const key of keys) {
    fingerprintString(key, 0, out);
    const id = `${out.hi}:${out.lo}`;
    t.equal(seen.get(id), undefined, `${JSON.stringify(key)} collides with ${JSON.stringify(seen.get(id))}`);
    seen.set(id, key);
  }
});

t.test('no 64-bit collisions among 200,000 similar keys, and neither lane alone is weak', async (t) => {
  const out = newFingerprint();
  const full = new Set<string>();
  const hi = new Set<number>();
  const lo = new Set<number>();
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    fingerprintString(`/img/${i}.png`, 0x12345678, out);
    full.add(`${out.hi}:${out.lo}`);
    hi.add(out.hi);
    lo.add(out.lo);
  }
  t.equal(full.size, n, 'every key its own fingerprint');
  // 31 (hi) and 32 (lo) random bits: expected collisions n^2/2^32 and n^2/2^33, about 9 and 5.
  t.ok(n - hi.size < 60, `hi lane: ${n - hi.size} collisions`);
  t.ok(n - lo.size < 60, `lo lane: ${n - lo.size} collisions`);
});

t.test('fmix32: a bijection, and 0 is its fixed point', async (t) => {
  t.equal(fmix32(0), 0);
  const seen = new Set<number>();
  for (let i = 0; i < 1 << 16; i++) seen.add(fmix32(i * 65537));
  t.equal(seen.size, 1 << 16, '65536 inputs, 65536 outputs');
  t.not(fmix32(1), 1);
});

// A fixed-size key -> value LRU table inside one SharedArrayBuffer, shared by
// the worker threads of the process: each thread wraps the same buffer
// (create() in one, attach(buffer) in the others), so a session persistence
// pin (client address or header value -> server id) or a scheduler's locality
// entry (lblc: key -> server id; lblcr: key -> a small set of server ids)
// made by one thread is seen by all. It replaces per-thread lru-cache
// instances and keeps their semantics exactly (lru-cache with
// { max: maxEntries, ttl, updateAgeOnGet: true }): at most maxEntries live
// entries; a full table evicts its least recently used entry; an entry unused
// for more than ttl ms is expired (a lookup treats it as absent and drops it);
// a hit is a use. Exact LRU, not an approximation (clock, sampling), because
// persistence and locality are documented as an LRU of maxEntries with a
// timeout after the last use, and the tests and operators rely on that.
//
// Design:
// - One lock per table: a futex-style mutex on an Int32 word (compareExchange
//   0 -> owner, a short spin, then Atomics.wait with a 1 ms timeout in a loop;
//   unlock notifies only when a waiters counter says someone may sleep). Every
//   operation is a few dozen plain typed-array accesses, so one lock costs
//   less than finer locking would and keeps the LRU order global. The atomic
//   acquire and release give the happens-before ordering for the plain
//   reads/writes done while holding it. `owner` (worker number + 1) is stored
//   in the lock word so that breakLock() can free the lock of a dead thread.
// - Entries are fixed-size records in a pool [0, maxEntries): an Int32 record
//   (key hi, key lo, hash chain link, LRU prev, LRU next, valueWords caller
//   words) and a Float64 record (last use, timeWords caller words). A
//   chaining hash (bucket heads, power of two >= maxEntries, so chains average
//   under one entry), a doubly linked LRU list (head = most recent), a free
//   list plus a high-water mark (so create() and clear() need not touch every
//   entry), and a live count.
// - Keys are 64-bit fingerprints (see key-hash.ts) hashed with the table's
//   random seed, which every thread reads from the header.
// - Nothing on the lookup/insert path allocates.

import { randomBytes } from 'node:crypto';
import { fmix32 } from './key-hash.ts';

export { fingerprintNumber, fingerprintString, newFingerprint } from './key-hash.ts';
export type { Fingerprint } from './key-hash.ts';

export interface LruTableOptions {
  maxEntries: number;
  /** Int32 words per entry for the caller (0..64), at ints[valueBase(e) + k]. */
  valueWords: number;
  /** Float64 words per entry for the caller (0..8), at times[timeBase(e) + k]; default 0. */
  timeWords?: number;
  /** The key hash seed; default random. Two directors that sync a table share one (see director-sync.ts). */
  seed?: number;
}

export const MAX_ENTRIES_LIMIT = 16 * 1024 * 1024;
export const MAX_VALUE_WORDS = 64;
export const MAX_TIME_WORDS = 8;
// Keeps every typed-array index a small integer, and a typo in maxEntries
// from asking for gigabytes of shared memory.
const MAX_BYTES = 2 ** 31;

// Header, in Int32 words. The lock and its waiters counter get their own
// 64-byte line: spinning threads read it while the holder writes the rest.
const H_LOCK = 0;
const H_WAITERS = 1;
const H_MAGIC = 16;
const H_MAX = 17;
const H_VALUE_WORDS = 18;
const H_TIME_WORDS = 19;
const H_SEED = 20;
const H_BUCKET_MASK = 21;
const H_COUNT = 22;
const H_HEAD = 23; // most recently used
const H_TAIL = 24; // least recently used
const H_FREE = 25; // free list head (links through E_NEXT)
const H_HWM = 26; // entries [hwm, maxEntries) were never used
const HEADER_WORDS = 32;
const MAGIC = 0x4c525531; // "LRU1": layout version

// Int32 entry record.
const E_HI = 0;
const E_LO = 1;
const E_CHAIN = 2; // next entry in the bucket's chain, -1 at the end
const E_PREV = 3; // LRU neighbour towards the head; FREE marks a free entry
const E_NEXT = 4; // LRU neighbour towards the tail; free-list link when free
const E_FIXED = 5;
const FREE = -2;

// Float64 entry record.
const T_LAST_USE = 0;
const T_FIXED = 1;

/** @internal Word offsets, for tests that corrupt a table on purpose to see check() catch it. */
export const LAYOUT_FOR_TESTS = {
  header: { count: H_COUNT, head: H_HEAD, tail: H_TAIL, free: H_FREE, hwm: H_HWM, buckets: HEADER_WORDS },
  /** Offsets from valueBase(e) - fixedWords: the start of entry e's Int32 record. */
  entry: { hi: E_HI, lo: E_LO, chain: E_CHAIN, prev: E_PREV, next: E_NEXT, fixedWords: E_FIXED },
} as const;

const SPIN_LIMIT = 64;
// Atomics.pause (the CPU's spin-wait hint) came with Node 24; on Node 22 the
// spin just loops.
const spinPause: () => void = (Atomics as { pause?: () => void }).pause ?? ((): void => {});
const WAIT_MS = 1;

interface Layout {
  bucketCount: number;
  intStride: number;
  timeStride: number;
  entriesBase: number; // Int32 index of entry 0's record
  timesByteOffset: number;
  byteLength: number;
}

function layoutOf(maxEntries: number, valueWords: number, timeWords: number): Layout {
  let bucketCount = 1;
  while (bucketCount < maxEntries) bucketCount *= 2;
  const intStride = E_FIXED + valueWords;
  const timeStride = T_FIXED + timeWords;
  const entriesBase = HEADER_WORDS + bucketCount;
  const intBytes = (entriesBase + maxEntries * intStride) * 4;
  const timesByteOffset = Math.ceil(intBytes / 8) * 8; // Float64Array needs 8-byte alignment
  const byteLength = timesByteOffset + maxEntries * timeStride * 8;
  return { bucketCount, intStride, timeStride, entriesBase, timesByteOffset, byteLength };
}

function validate(maxEntries: number, valueWords: number, timeWords: number): Layout {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_ENTRIES_LIMIT) {
    throw new RangeError(`SharedLruTable: maxEntries must be an integer from 1 to ${MAX_ENTRIES_LIMIT}, got ${maxEntries}`);
  }
  if (!Number.isInteger(valueWords) || valueWords < 0 || valueWords > MAX_VALUE_WORDS) {
    throw new RangeError(`SharedLruTable: valueWords must be an integer from 0 to ${MAX_VALUE_WORDS}, got ${valueWords}`);
  }
  if (!Number.isInteger(timeWords) || timeWords < 0 || timeWords > MAX_TIME_WORDS) {
    throw new RangeError(`SharedLruTable: timeWords must be an integer from 0 to ${MAX_TIME_WORDS}, got ${timeWords}`);
  }
  const layout = layoutOf(maxEntries, valueWords, timeWords);
  if (layout.byteLength > MAX_BYTES) {
    throw new RangeError(
      `SharedLruTable: maxEntries ${maxEntries} with valueWords ${valueWords} and timeWords ${timeWords} ` +
        `needs ${layout.byteLength} bytes of shared memory, more than the limit of ${MAX_BYTES}`,
    );
  }
  return layout;
}

/** The bucket of a key: mixed with the seed so clients cannot aim at one bucket. */
function bucketOf(hi: number, lo: number, seed: number, mask: number): number {
  return fmix32(lo ^ Math.imul(hi, 0x9e3779b1) ^ seed) & mask;
}

/**
 * One thread's view of a shared table. An entry index (from find, peek or
 * insert) and the words at valueBase/timeBase are only valid while this
 * thread holds the lock: after unlock() another thread may evict the entry
 * and reuse its record for another key. The lock is not re-entrant.
 */
export class SharedLruTable {
  readonly buffer: SharedArrayBuffer;
  readonly maxEntries: number;
  readonly valueWords: number;
  readonly timeWords: number;
  readonly seed: number;
  /** The whole buffer as Int32; entry e's value words are ints[valueBase(e) + k]. */
  readonly ints: Int32Array;
  /** The Float64 region; entry e's extra time words are times[timeBase(e) + k]. */
  readonly times: Float64Array;
  private readonly mask: number;
  private readonly intStride: number;
  private readonly timeStride: number;
  private readonly entriesBase: number;

  /** A new table in a new SharedArrayBuffer, with a random seed unless one is given. */
  static create(options: LruTableOptions): SharedLruTable {
    const { maxEntries, valueWords } = options;
    const timeWords = options.timeWords ?? 0;
    const layout = validate(maxEntries, valueWords, timeWords);
    const buffer = new SharedArrayBuffer(layout.byteLength);
    const ints = new Int32Array(buffer);
    ints[H_MAX] = maxEntries;
    ints[H_VALUE_WORDS] = valueWords;
    ints[H_TIME_WORDS] = timeWords;
    ints[H_SEED] = options.seed === undefined ? randomBytes(4).readInt32LE(0) : options.seed | 0;
    ints[H_BUCKET_MASK] = layout.bucketCount - 1;
    ints.fill(-1, HEADER_WORDS, HEADER_WORDS + layout.bucketCount);
    ints[H_HEAD] = -1;
    ints[H_TAIL] = -1;
    ints[H_FREE] = -1;
    // Written last and atomically: attach() in another thread that reads the
    // magic also sees the header above.
    Atomics.store(ints, H_MAGIC, MAGIC);
    return new SharedLruTable(buffer, layout);
  }

  /** This thread's view of a table another thread created; sizes and seed come from the header. */
  static attach(buffer: SharedArrayBuffer): SharedLruTable {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('SharedLruTable.attach: not a SharedArrayBuffer');
    if (buffer.byteLength < HEADER_WORDS * 4) throw new RangeError('SharedLruTable.attach: buffer too small for a table');
    const ints = new Int32Array(buffer, 0, HEADER_WORDS);
    if (Atomics.load(ints, H_MAGIC) !== MAGIC) throw new RangeError('SharedLruTable.attach: buffer does not hold a table');
    const layout = validate(ints[H_MAX], ints[H_VALUE_WORDS], ints[H_TIME_WORDS]);
    if (layout.byteLength !== buffer.byteLength) {
      throw new RangeError(`SharedLruTable.attach: buffer is ${buffer.byteLength} bytes, the header says ${layout.byteLength}`);
    }
    return new SharedLruTable(buffer, layout);
  }

  private constructor(buffer: SharedArrayBuffer, layout: Layout) {
    this.buffer = buffer;
    this.ints = new Int32Array(buffer);
    const ints = this.ints;
    this.maxEntries = ints[H_MAX];
    this.valueWords = ints[H_VALUE_WORDS];
    this.timeWords = ints[H_TIME_WORDS];
    this.seed = ints[H_SEED];
    this.mask = ints[H_BUCKET_MASK];
    this.intStride = layout.intStride;
    this.timeStride = layout.timeStride;
    this.entriesBase = layout.entriesBase;
    this.times = new Float64Array(buffer, layout.timesByteOffset, this.maxEntries * layout.timeStride);
  }

  // ---- lock ----

  /** Takes the table's lock for `owner` (a small positive int, unique per thread), waiting as long as needed. */
  lock(owner: number): void {
    // 0 would read as unlocked, and Atomics would truncate a fraction.
    if ((owner | 0) !== owner || owner <= 0) throw new RangeError(`SharedLruTable.lock: owner must be a positive int32, got ${owner}`);
    if (Atomics.compareExchange(this.ints, H_LOCK, 0, owner) !== 0) this.lockSlow(owner);
  }

  private lockSlow(owner: number): void {
    const ints = this.ints;
    // Critical sections are short: a brief spin usually beats sleeping.
    for (let i = 0; i < SPIN_LIMIT; i++) {
      const held = Atomics.load(ints, H_LOCK);
      if (held === 0) {
        if (Atomics.compareExchange(ints, H_LOCK, 0, owner) === 0) return;
      } else if (held === owner) {
        throw selfDeadlock(owner);
      } else {
        spinPause();
      }
    }
    // Registered before the compareExchange that precedes each wait, so an
    // unlock() that misses this count has already stored 0 and that
    // compareExchange (or the wait's value check) sees it. The timeout bounds
    // any other missed wake-up.
    Atomics.add(ints, H_WAITERS, 1);
    try {
      for (;;) {
        const held = Atomics.compareExchange(ints, H_LOCK, 0, owner);
        if (held === 0) return;
        if (held === owner) throw selfDeadlock(owner);
        Atomics.wait(ints, H_LOCK, held, WAIT_MS);
      }
    } finally {
      Atomics.sub(ints, H_WAITERS, 1);
    }
  }

  /** Releases the lock (whoever holds it: there is no owner check on this path). */
  unlock(): void {
    const ints = this.ints;
    if (Atomics.exchange(ints, H_LOCK, 0) === 0) throw new Error('SharedLruTable.unlock: the table is not locked');
    if (Atomics.load(ints, H_WAITERS) !== 0) Atomics.notify(ints, H_LOCK, 1);
  }

  /**
   * Frees the lock if `owner` holds it (its thread died); true if it did.
   * A thread terminated inside an operation may have left the structure half
   * updated: lock, check(), and clear() if check() throws.
   */
  breakLock(owner: number): boolean {
    const ints = this.ints;
    if (owner === 0 || Atomics.compareExchange(ints, H_LOCK, owner, 0) !== owner) return false;
    if (Atomics.load(ints, H_WAITERS) !== 0) Atomics.notify(ints, H_LOCK, 1);
    return true;
  }

  /** The owner holding the lock, 0 when free; for status and tests. */
  holder(): number {
    return Atomics.load(this.ints, H_LOCK);
  }

  // ---- table; everything below must be called while holding the lock ----

  /**
   * The entry for key (hi, lo), or -1. A hit is a use: the entry becomes the
   * most recent and its last use `now`. An entry unused for more than ttlMs
   * (now - lastUse > ttlMs; Infinity: never) is removed and reads as -1.
   */
  find(hi: number, lo: number, now: number, ttlMs: number): number {
    hi |= 0;
    lo |= 0;
    const ints = this.ints;
    const bucket = HEADER_WORDS + bucketOf(hi, lo, this.seed, this.mask);
    let prev = -1;
    let e = ints[bucket];
    let steps = 0;
    while (e !== -1) {
      const r = this.entriesBase + e * this.intStride;
      if (ints[r + E_HI] === hi && ints[r + E_LO] === lo) {
        const t = e * this.timeStride + T_LAST_USE;
        if (now - this.times[t] > ttlMs) {
          this.unlinkChain(bucket, prev, ints[r + E_CHAIN]);
          this.release(e, r);
          return -1;
        }
        this.times[t] = now;
        this.toFront(e, r);
        return e;
      }
      prev = e;
      e = ints[r + E_CHAIN];
      if (++steps > this.maxEntries) throw corrupt('a hash chain loops');
    }
    return -1;
  }

  /** Like find() without the use: no LRU move, no last-use update; an expired entry reads as -1 and stays. */
  peek(hi: number, lo: number, now: number, ttlMs: number): number {
    const e = this.lookup(hi | 0, lo | 0);
    if (e === -1 || now - this.times[e * this.timeStride + T_LAST_USE] > ttlMs) return -1;
    return e;
  }

  /**
   * A new entry for key (hi, lo), most recent, last use `now`, value and time
   * words zeroed. Callers check absence first (find); an entry still there
   * for the key (an expired one peek() skipped) is replaced, as lru-cache's
   * set() replaces. A full table first evicts its least recently used entry.
   */
  insert(hi: number, lo: number, now: number): number {
    hi |= 0;
    lo |= 0;
    const ints = this.ints;
    const old = this.lookup(hi, lo);
    if (old !== -1) this.remove(old);
    if (ints[H_COUNT] >= this.maxEntries) this.remove(ints[H_TAIL]);
    let e = ints[H_FREE];
    if (e !== -1) {
      ints[H_FREE] = ints[this.entriesBase + e * this.intStride + E_NEXT];
    } else {
      e = ints[H_HWM]++;
    }
    const r = this.entriesBase + e * this.intStride;
    const bucket = HEADER_WORDS + bucketOf(hi, lo, this.seed, this.mask);
    ints[r + E_HI] = hi;
    ints[r + E_LO] = lo;
    ints[r + E_CHAIN] = ints[bucket];
    ints[bucket] = e;
    const head = ints[H_HEAD];
    ints[r + E_PREV] = -1;
    ints[r + E_NEXT] = head;
    if (head !== -1) ints[this.entriesBase + head * this.intStride + E_PREV] = e;
    else ints[H_TAIL] = e;
    ints[H_HEAD] = e;
    for (let k = r + E_FIXED, end = r + this.intStride; k < end; k++) ints[k] = 0;
    const times = this.times;
    const t = e * this.timeStride;
    times[t + T_LAST_USE] = now;
    for (let k = t + T_FIXED, end = t + this.timeStride; k < end; k++) times[k] = 0;
    ints[H_COUNT]++;
    return e;
  }

  /** Removes a live entry. */
  remove(entry: number): void {
    const r = this.liveRecord(entry);
    const ints = this.ints;
    const bucket = HEADER_WORDS + bucketOf(ints[r + E_HI], ints[r + E_LO], this.seed, this.mask);
    let prev = -1;
    let e = ints[bucket];
    let steps = 0;
    while (e !== entry) {
      if (e === -1 || ++steps > this.maxEntries) throw corrupt(`entry ${entry} is not in its hash chain`);
      prev = e;
      e = ints[this.entriesBase + e * this.intStride + E_CHAIN];
    }
    this.unlinkChain(bucket, prev, ints[r + E_CHAIN]);
    this.release(entry, r);
  }

  /** Marks a live entry used at `now`: most recent, last use now. */
  touch(entry: number, now: number): void {
    const r = this.liveRecord(entry);
    this.times[entry * this.timeStride + T_LAST_USE] = now;
    this.toFront(entry, r);
  }

  /** Live entries; expired ones count until found or evicted, as lru-cache's size. */
  size(): number {
    return this.ints[H_COUNT];
  }

  /** size() without holding the lock, for status: one word, read as it is now. */
  sizeNow(): number {
    return Atomics.load(this.ints, H_COUNT);
  }

  /** Index in `ints` of entry's first value word. */
  valueBase(entry: number): number {
    return this.entriesBase + entry * this.intStride + E_FIXED;
  }

  /** Index in `times` of entry's first extra time word. */
  timeBase(entry: number): number {
    return entry * this.timeStride + T_FIXED;
  }

  /** The last use of a live entry (epoch ms as given by the caller). */
  lastUse(entry: number): number {
    return this.times[entry * this.timeStride + T_LAST_USE];
  }

  /**
   * Records [0, highWater()) have been used; isLive() tells which hold an
   * entry now. A walk by record index, unlike one along the LRU list, may
   * drop the lock between records (director-sync.ts scans a table in slices).
   */
  highWater(): number {
    return this.ints[H_HWM];
  }

  isLive(entry: number): boolean {
    return this.ints[this.entriesBase + entry * this.intStride + E_PREV] !== FREE;
  }

  keyHi(entry: number): number {
    return this.ints[this.entriesBase + entry * this.intStride + E_HI];
  }

  keyLo(entry: number): number {
    return this.ints[this.entriesBase + entry * this.intStride + E_LO];
  }

  /**
   * Takes in an entry another director used at `lastUse`: the entry for the
   * key, made most recent with that last use (a new one has its value and
   * time words zeroed), or -1 when the entry here was used at or after
   * `lastUse` (the newer use wins). No expiry check: an old use reads as
   * expired at the next find().
   */
  adopt(hi: number, lo: number, lastUse: number): number {
    hi |= 0;
    lo |= 0;
    const e = this.lookup(hi, lo);
    if (e === -1) return this.insert(hi, lo, lastUse);
    const t = e * this.timeStride + T_LAST_USE;
    if (this.times[t] >= lastUse) return -1;
    this.times[t] = lastUse;
    this.toFront(e, this.entriesBase + e * this.intStride);
    return e;
  }

  /** Drops every entry; the seed and sizes stay. */
  clear(): void {
    const ints = this.ints;
    ints.fill(-1, HEADER_WORDS, HEADER_WORDS + this.mask + 1);
    ints[H_COUNT] = 0;
    ints[H_HEAD] = -1;
    ints[H_TAIL] = -1;
    ints[H_FREE] = -1;
    ints[H_HWM] = 0;
  }

  /**
   * Walks the header, LRU list, hash chains and free list and throws on any
   * inconsistency. Allocates and costs O(maxEntries): for tests and for
   * checking a table after breakLock().
   */
  check(): void {
    const ints = this.ints;
    const max = this.maxEntries;
    const count = ints[H_COUNT];
    const hwm = ints[H_HWM];
    if (ints[H_MAGIC] !== MAGIC || ints[H_MAX] !== max || ints[H_SEED] !== this.seed) throw corrupt('header changed');
    if (!(hwm >= 0 && hwm <= max)) throw corrupt(`high-water mark ${hwm} outside [0, ${max}]`);
    if (!(count >= 0 && count <= hwm)) throw corrupt(`count ${count} outside [0, ${hwm}]`);
    const state = new Uint8Array(hwm); // 1 in LRU list, 2 also in a chain, 3 free
    const record = (e: number, what: string): number => {
      if (!Number.isInteger(e) || e < 0 || e >= hwm) throw corrupt(`${what}: entry ${e} outside [0, ${hwm})`);
      return this.entriesBase + e * this.intStride;
    };
    // LRU list, head to tail.
    let prev = -1;
    let n = 0;
    for (let e = ints[H_HEAD]; e !== -1; ) {
      const r = record(e, 'LRU list');
      if (state[e] !== 0) throw corrupt(`LRU list visits entry ${e} twice`);
      state[e] = 1;
      if (ints[r + E_PREV] !== prev) throw corrupt(`LRU entry ${e} has prev ${ints[r + E_PREV]}, expected ${prev}`);
      if (++n > count) throw corrupt(`LRU list longer than count ${count}`);
      prev = e;
      e = ints[r + E_NEXT];
    }
    if (n !== count) throw corrupt(`LRU list has ${n} entries, count is ${count}`);
    if (ints[H_TAIL] !== prev) throw corrupt(`tail is ${ints[H_TAIL]}, the list ends at ${prev}`);
    // Hash chains: every live entry exactly once, in its own bucket, keys unique.
    const keys = new Set<string>();
    n = 0;
    for (let b = 0; b <= this.mask; b++) {
      for (let e = ints[HEADER_WORDS + b]; e !== -1; ) {
        const r = record(e, `chain ${b}`);
        if (state[e] !== 1)
          throw corrupt(`chain ${b} holds entry ${e}, which is ${state[e] === 2 ? 'in a chain already' : 'not in the LRU list'}`);
        state[e] = 2;
        const hi = ints[r + E_HI];
        const lo = ints[r + E_LO];
        if (bucketOf(hi, lo, this.seed, this.mask) !== b) throw corrupt(`entry ${e} is in chain ${b}, its key hashes elsewhere`);
        const key = `${hi}:${lo}`;
        if (keys.has(key)) throw corrupt(`key ${key} is in the table twice`);
        keys.add(key);
        n++;
        e = ints[r + E_CHAIN];
      }
    }
    if (n !== count) throw corrupt(`hash chains hold ${n} entries, count is ${count}`);
    // Free list: every other entry below the high-water mark.
    n = 0;
    for (let e = ints[H_FREE]; e !== -1; ) {
      const r = record(e, 'free list');
      if (state[e] !== 0) throw corrupt(`free list holds entry ${e}, which is ${state[e] === 3 ? 'listed twice' : 'live'}`);
      if (ints[r + E_PREV] !== FREE) throw corrupt(`free entry ${e} is not marked free`);
      state[e] = 3;
      n++;
      e = ints[r + E_NEXT];
    }
    if (n !== hwm - count) throw corrupt(`free list has ${n} entries, expected ${hwm - count}`);
  }

  // ---- internals ----

  /** The live entry for a key, or -1; no expiry, no use. */
  private lookup(hi: number, lo: number): number {
    const ints = this.ints;
    let e = ints[HEADER_WORDS + bucketOf(hi, lo, this.seed, this.mask)];
    let steps = 0;
    while (e !== -1) {
      const r = this.entriesBase + e * this.intStride;
      if (ints[r + E_HI] === hi && ints[r + E_LO] === lo) return e;
      e = ints[r + E_CHAIN];
      if (++steps > this.maxEntries) throw corrupt('a hash chain loops');
    }
    return -1;
  }

  private liveRecord(entry: number): number {
    if ((entry | 0) !== entry || entry < 0 || entry >= this.ints[H_HWM]) {
      throw new RangeError(`SharedLruTable: entry ${entry} is not in the table`);
    }
    const r = this.entriesBase + entry * this.intStride;
    if (this.ints[r + E_PREV] === FREE) throw new RangeError(`SharedLruTable: entry ${entry} is not in the table`);
    return r;
  }

  /** Takes an entry out of its chain, given its predecessor there (-1: the bucket head). */
  private unlinkChain(bucket: number, prev: number, next: number): void {
    if (prev === -1) this.ints[bucket] = next;
    else this.ints[this.entriesBase + prev * this.intStride + E_CHAIN] = next;
  }

  /** Takes an entry (already out of its chain) out of the LRU list onto the free list. */
  private release(e: number, r: number): void {
    const ints = this.ints;
    this.unlinkLru(r);
    ints[r + E_PREV] = FREE;
    ints[r + E_NEXT] = ints[H_FREE];
    ints[H_FREE] = e;
    ints[H_COUNT]--;
  }

  private unlinkLru(r: number): void {
    const ints = this.ints;
    const prev = ints[r + E_PREV];
    const next = ints[r + E_NEXT];
    if (prev !== -1) ints[this.entriesBase + prev * this.intStride + E_NEXT] = next;
    else ints[H_HEAD] = next;
    if (next !== -1) ints[this.entriesBase + next * this.intStride + E_PREV] = prev;
    else ints[H_TAIL] = prev;
  }

  private toFront(e: number, r: number): void {
    const ints = this.ints;
    const head = ints[H_HEAD];
    if (head === e) return;
    this.unlinkLru(r);
    ints[r + E_PREV] = -1;
    ints[r + E_NEXT] = head; // not -1: e is live and not the head
    ints[this.entriesBase + head * this.intStride + E_PREV] = e;
    ints[H_HEAD] = e;
  }
}

function selfDeadlock(owner: number): Error {
  return new Error(`SharedLruTable.lock: owner ${owner} already holds the lock (re-entry, or a dead thread's lock not broken)`);
}

function corrupt(what: string): Error {
  return new Error(`SharedLruTable corrupt: ${what}`);
}

// A worker thread for test/state/lru-table.test.ts: wraps the table's
// SharedArrayBuffer and runs one of the jobs below against it, then posts
// what it saw.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedLruTable, fingerprintString, newFingerprint } from '../../lib/state/lru-table.ts';

export type WorkerJob =
  | {
      mode: 'first-wins' | 'evict';
      buffer: SharedArrayBuffer;
      owner: number;
      keys: number;
      iterations: number;
      rngSeed: number;
      ttlMs: number;
    }
  | { mode: 'hold'; buffer: SharedArrayBuffer; owner: number; holdMs: number; flag: Int32Array }
  | { mode: 'die-holding'; buffer: SharedArrayBuffer; owner: number };

export interface RaceResult {
  /** Per key: the first value word this thread saw for it (0: never looked it up). */
  seen: Int32Array;
  /** Lookups whose answer differed from what this thread had seen for the key before (first-wins only). */
  changed: number;
  /** Hits whose value words did not belong to the key looked up. */
  mismatched: number;
  inserts: number;
  hits: number;
  removes: number;
  /** check() failures, as messages. */
  broken: string[];
}

const job = workerData as WorkerJob;
const port = parentPort!;
const table = SharedLruTable.attach(job.buffer);

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return (x ^ (x >>> 14)) >>> 0;
  };
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

if (job.mode === 'hold') {
  table.lock(job.owner);
  Atomics.store(job.flag, 0, 1);
  Atomics.notify(job.flag, 0);
  sleep(job.holdMs);
  Atomics.store(job.flag, 0, 2); // about to release
  table.unlock();
  port.postMessage('unlocked');
} else if (job.mode === 'die-holding') {
  table.lock(job.owner);
  port.postMessage('locked');
  // Exits with the lock held, as a crashed thread would.
} else {
  const { keys, iterations, owner, ttlMs } = job;
  // Fingerprints once up front: the loop is about the table, not hashing.
  const his = new Int32Array(keys);
  const los = new Int32Array(keys);
  const fp = newFingerprint();
  for (let k = 0; k < keys; k++) {
    fingerprintString(`/k${k}`, table.seed, fp);
    his[k] = fp.hi;
    los[k] = fp.lo;
  }
  const next = rng(job.rngSeed);
  const ints = table.ints;
  const times = table.times;
  const result: RaceResult = { seen: new Int32Array(keys), changed: 0, mismatched: 0, inserts: 0, hits: 0, removes: 0, broken: [] };
  const evict = job.mode === 'evict';
  for (let i = 0; i < iterations; i++) {
    const r = next();
    const k = r % keys;
    table.lock(owner);
    let value: number;
    try {
      const now = Date.now();
      let e = table.find(his[k], los[k], now, ttlMs);
      if (e === -1) {
        e = table.insert(his[k], los[k], now);
        const v = table.valueBase(e);
        ints[v] = owner;
        ints[v + 1] = k;
        ints[v + 2] = ~k;
        times[table.timeBase(e)] = k;
        value = owner;
        result.inserts++;
      } else {
        result.hits++;
        const v = table.valueBase(e);
        value = ints[v];
        if (ints[v + 1] !== k || ints[v + 2] !== ~k || times[table.timeBase(e)] !== k) result.mismatched++;
        if (evict && r >>> 28 === 0) {
          // 1 in 16 hits: drop it, so removal races with the rest too.
          table.remove(e);
          result.removes++;
        }
      }
      if (evict && i % 20_000 === 0) {
        try {
          table.check();
        } catch (err) {
          result.broken.push((err as Error).message);
        }
      }
    } finally {
      table.unlock();
    }
    if (result.seen[k] === 0) result.seen[k] = value;
    else if (!evict && result.seen[k] !== value) result.changed++;
  }
  port.postMessage(result);
}

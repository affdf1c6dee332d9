// Striped shared-memory counters: read as the collector reports the same
// records, the same whatever the stripes, the recent window, attach(), the
// cache-line layout, torn or foreign values, and real worker threads writing
// their own stripes while the main thread reads.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import type { ServiceRuntime } from '../../lib/proxy/service.ts';
import type { RequestOutcome, RequestRecord } from '../../lib/proxy/observer.ts';
import { OUTCOMES, ratePerSecond, statusClassIndex, type StatsSnapshot } from '../../lib/stats/collector.ts';
import { createStats } from '../helpers/reference-collector.ts';
import { BUCKET_COUNT, WINDOW_SECONDS, bucketOf } from '../../lib/stats/histogram.ts';
import {
  CACHE_LINE_BYTES,
  CONNECTION_STRIPE_BYTES,
  CONNECTION_STRIPE_DATA_BYTES,
  ConnectionCounterBlock,
  HEADER_BYTES,
  REQUEST_STRIPE_BYTES,
  REQUEST_STRIPE_DATA_BYTES,
  RequestCounterBlock,
  outcomeIndex,
  type RequestCounterWriter,
} from '../../lib/stats/shared-counters.ts';
import { openConnections, recordRequests, type WorkerJob } from './shared-counters-worker.ts';

const BASE = 1_700_000_000_000; // a whole second
const BASE_SECOND = BASE / 1000;

interface Rec {
  at: number; // epoch ms
  durationMs: number;
  status: number;
  outcome: RequestOutcome;
  bytesIn: number;
  bytesOut: number;
}

function put(w: RequestCounterWriter, r: Rec): void {
  w.record(
    Math.floor(r.at / 1000),
    bucketOf(r.durationMs),
    r.durationMs,
    statusClassIndex(r.status),
    outcomeIndex(r.outcome),
    r.bytesIn,
    r.bytesOut,
  );
}

/** A small deterministic generator (an LCG), so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

const DURATIONS = [0, -3, Number.NaN, 0.004, 0.01, 0.5, 1, 3.7, 12.25, 99.9, 1234.5, 100_000, 250_000, 0.123, 42];
const STATUSES = [200, 204, 301, 404, 500, 503, 101, 0, 600, 201, 302];

/** Every number finite and >= 0 (null allowed); the paths of those that are not. */
function insane(x: unknown, path = ''): string[] {
  if (x === null) return [];
  if (typeof x === 'number') return Number.isFinite(x) && x >= 0 ? [] : [`${path}=${x}`];
  if (Array.isArray(x)) return x.flatMap((v, i) => insane(v, `${path}[${i}]`));
  if (typeof x === 'object') return Object.entries(x as object).flatMap(([k, v]) => insane(v, `${path}.${k}`));
  return [`${path} is ${typeof x}`];
}

/**
 * Just what the collector's attach() and snapshot() read of a service with
 * no groups (records are fed by hand with group null), so this test does not
 * depend on how runtimes are built.
 */
function serviceStub(name: string): ServiceRuntime {
  return {
    observers: [],
    spec: { name, listen: { host: '127.0.0.1', port: 0 } },
    groups: new Map(),
    address: null,
  } as unknown as ServiceRuntime;
}

t.test('one stripe reads as the collector reports the same records at the same clock', async (t) => {
  const web = serviceStub('web');
  let clock = BASE;
  const stats = createStats({ now: () => clock });
  stats.attach([web]);
  const block = RequestCounterBlock.create(1);
  const w = block.writer(0);
  const connections = ConnectionCounterBlock.create(1);
  const cw = connections.writer(0);
  const requestsOf = (snap: StatsSnapshot) => snap.services[0].requests;

  const compare = (what: string) => {
    t.strictSame(block.read(clock, BASE, true), requestsOf(stats.snapshot({ histograms: true })), `${what}: with histograms`);
    t.strictSame(block.read(clock, BASE, false), requestsOf(stats.snapshot()), `${what}: without`);
    t.strictSame(connections.read(clock, BASE), stats.snapshot().services[0].connections, `${what}: connections`);
  };
  compare('nothing recorded');

  let n = 0;
  for (let sec = 0; sec < 15; sec++) {
    for (let j = 0; j <= (sec * 7) % 5; j++, n++) {
      clock = BASE + sec * 1000 + j * 137;
      const r: Rec = {
        at: clock,
        durationMs: DURATIONS[n % DURATIONS.length],
        status: STATUSES[n % STATUSES.length],
        outcome: OUTCOMES[n % OUTCOMES.length],
        bytesIn: (n * 37) % 500,
        bytesOut: (n * 101) % 7000,
      };
      const record: RequestRecord = { service: 'web', group: null, server: null, ...r };
      stats.observer.requestEnded(record);
      put(w, r);
      if (n % 3 !== 2) {
        stats.observer.connectionOpened('web');
        cw.opened(Math.floor(clock / 1000));
      } else {
        stats.observer.connectionClosed('web');
        cw.closed();
      }
    }
    clock = BASE + sec * 1000 + 999;
    compare(`second ${sec}`);
  }
  for (let i = 0; i < n; i++) {
    stats.observer.connectionClosed('web'); // more than are open: both stay at 0
    cw.closed();
  }
  clock = BASE + 15_000;
  compare('more closes than opens');
  stats.observer.connectionOpened('web');
  cw.opened(Math.floor(clock / 1000));
  compare('one opened after: it counts from 0, not from below');
  for (const later of [5_000, 9_500, 13_250, 30_000]) {
    clock = BASE + 15_000 + later;
    compare(`${later} ms after the last`);
  }
  const final = block.read(clock, BASE, true);
  t.equal(final.total, n, 'the records were all counted');
  t.equal(final.recentLatency.count, 0, 'and have left the window');
  t.equal(connections.read(clock, BASE).active, 1);
});

/** `count` deterministic records over `seconds` seconds from BASE, in time order. */
function records(seed: number, count: number, seconds: number): Rec[] {
  const next = random(seed);
  const out: Rec[] = [];
  for (let i = 0; i < count; i++) {
    const quarterMs = Math.floor(next() ** 3 * 600_000); // mostly small, some beyond 100 s; exact in binary
    out.push({
      at: BASE + Math.floor((i / count) * seconds * 1000),
      durationMs: quarterMs / 4,
      status: STATUSES[Math.floor(next() * STATUSES.length)],
      outcome: OUTCOMES[Math.floor(next() * OUTCOMES.length)],
      bytesIn: Math.floor(next() * 10_000),
      bytesOut: Math.floor(next() * 1e6),
    });
  }
  return out;
}

t.test('records split over 3 stripes read the same as all of them in one', async (t) => {
  const recs = records(7, 5000, 14);
  const split = RequestCounterBlock.create(3);
  const one = RequestCounterBlock.create(1);
  const writers = [0, 1, 2].map((s) => split.writer(s));
  const single = one.writer(0);
  const next = random(99);
  const perStripe = [0, 0, 0];
  for (const r of recs) {
    const s = Math.floor(next() * 3);
    perStripe[s]++;
    put(writers[s], r);
    put(single, r);
  }
  t.ok(
    perStripe.every((c) => c > 1000),
    `every stripe has records: ${perStripe}`,
  );
  for (const at of [BASE + 3_500, BASE + 10_000, BASE + 13_999, BASE + 20_000, BASE + 60_000]) {
    t.strictSame(split.read(at, BASE, true), one.read(at, BASE, true), `the same at +${at - BASE} ms`);
  }
  t.equal(split.total(), 5000);
  const r = split.read(BASE + 14_000, BASE, true);
  t.equal(r.total, 5000);
  t.equal(
    r.histogram!.counts.reduce((a, b) => a + b, 0),
    5000,
  );
  t.equal(r.status['1xx'] + r.status['2xx'] + r.status['3xx'] + r.status['4xx'] + r.status['5xx'] + r.status.other, 5000);
  t.equal(r.histogram!.counts[BUCKET_COUNT - 1] > 0, true, 'some went to the overflow bucket');
});

t.test('the recent window: old seconds leave it, a reused slot starts empty, stripes combine by second', async (t) => {
  const block = RequestCounterBlock.create(2);
  const w0 = block.writer(0);
  const w1 = block.writer(1);
  // One request per second over 15 seconds, 10 ms each, in stripe 0.
  for (let sec = 0; sec < 15; sec++) w0.record(BASE_SECOND + sec, bucketOf(10), 10, 1, 0, 1, 1);
  let r = block.read(BASE + 14_500, BASE, true);
  t.equal(r.total, 15);
  t.equal(r.recentLatency.count, WINDOW_SECONDS, 'only the last 10 seconds count');
  t.equal(r.perSecond, ratePerSecond(WINDOW_SECONDS, BASE + 14_500, BASE));
  t.equal(
    r.histogram!.recentCounts.reduce((a, b) => a + b, 0),
    WINDOW_SECONDS,
  );
  t.equal(block.read(BASE + 40_000, BASE, false).recentLatency.count, 0, 'nothing recent after a long pause');
  t.equal(block.read(BASE + 40_000, BASE, false).perSecond, 0);

  // Stripe 1: 5 slow requests in second 20, then 2 fast ones in second 30 (the same slot).
  for (let i = 0; i < 5; i++) w1.record(BASE_SECOND + 20, bucketOf(100), 100, 1, 0, 0, 0);
  r = block.read(BASE + 29_999, BASE, true);
  t.same([r.recentLatency.count, r.recentLatency.minMs, r.recentLatency.maxMs], [5, 100, 100]);
  w1.record(BASE_SECOND + 30, bucketOf(1), 1, 1, 0, 0, 0);
  w1.record(BASE_SECOND + 30, bucketOf(1), 1, 1, 0, 0, 0);
  r = block.read(BASE + 30_000, BASE, true);
  t.same([r.recentLatency.count, r.recentLatency.minMs, r.recentLatency.maxMs], [2, 1, 1], 'the reused slot holds only its new second');
  t.equal(r.histogram!.recentCounts[bucketOf(100)], 0, 'its old buckets were cleared');
  t.equal(r.histogram!.recentCounts[bucketOf(1)], 2);
  t.equal(r.latency.count, 15 + 7, 'since the start keeps everything');
  t.equal(r.latency.maxMs, 100);
  t.equal(block.read(BASE + 29_000, BASE, false).recentLatency.count, 0, 'second 20 is gone and second 30 is still to come');

  // Two stripes, the same slot index, different seconds: each counts in its own window.
  w0.record(BASE_SECOND + 31, bucketOf(7), 7, 1, 0, 0, 0); // slot 1
  w1.record(BASE_SECOND + 41, bucketOf(3), 3, 1, 0, 0, 0); // slot 1 too
  t.same(
    [31_000, 35_000, 40_999, 41_000].map((ms) => {
      const x = block.read(BASE + ms, BASE, false).recentLatency;
      return [x.count, x.minMs, x.maxMs];
    }),
    [
      [3, 1, 7],
      [3, 1, 7],
      [1, 7, 7],
      [1, 3, 3],
    ],
  );

  // Connections: the same window, counts only.
  const conns = ConnectionCounterBlock.create(2);
  const c0 = conns.writer(0);
  const c1 = conns.writer(1);
  for (let sec = 0; sec < 15; sec++) (sec % 2 === 0 ? c0 : c1).opened(BASE_SECOND + sec);
  c1.opened(BASE_SECOND + 14);
  t.strictSame(conns.read(BASE + 14_500, BASE), { active: 16, total: 16, perSecond: ratePerSecond(11, BASE + 14_500, BASE) });
  c0.opened(BASE_SECOND + 20); // reuses stripe 0's slot of second 10 (and 0)
  t.equal(
    conns.read(BASE + 20_000, BASE).perSecond,
    ratePerSecond(3 + 3, BASE + 20_000, BASE),
    'seconds 11..20: 12, 14 and 20 in stripe 0; 11, 13 and 14 in stripe 1',
  );
  t.equal(conns.read(BASE + 60_000, BASE).perSecond, 0);
  t.equal(conns.read(BASE + 60_000, BASE).total, 17);
});

t.test('attach(): another view over the buffer reads and writes the same counters', async (t) => {
  const block = RequestCounterBlock.create(4);
  for (const [i, r] of records(3, 400, 5).entries()) put(block.writer(i % 4), r);
  const view = RequestCounterBlock.attach(block.buffer);
  t.equal(view.stripes, 4, 'the stripe count comes from the header');
  t.equal(view.buffer, block.buffer);
  t.strictSame(view.read(BASE + 5_000, BASE, true), block.read(BASE + 5_000, BASE, true));
  view.writer(2).record(BASE_SECOND + 5, bucketOf(2), 2, 1, 0, 10, 20);
  t.equal(block.read(BASE + 5_000, BASE, false).total, 401, 'a write through the view shows in the original');

  const conns = ConnectionCounterBlock.create(3);
  conns.writer(1).opened(BASE_SECOND);
  conns.writer(2).opened(BASE_SECOND);
  const cview = ConnectionCounterBlock.attach(conns.buffer);
  t.strictSame(cview.read(BASE + 500, BASE), conns.read(BASE + 500, BASE));
  t.equal(cview.activeOf(1), 1);
  t.equal(cview.activeOf(0), 0);

  t.throws(() => RequestCounterBlock.attach(conns.buffer), /not a RequestCounterBlock/, 'the header tells the kinds apart');
  t.throws(() => ConnectionCounterBlock.attach(block.buffer), /not a ConnectionCounterBlock/);
  t.throws(() => RequestCounterBlock.attach(new SharedArrayBuffer(16)), /too short/);
  t.throws(() => RequestCounterBlock.attach(new SharedArrayBuffer(HEADER_BYTES + REQUEST_STRIPE_BYTES)), /not a RequestCounterBlock/);
  const truncated = new SharedArrayBuffer(block.buffer.byteLength - REQUEST_STRIPE_BYTES);
  new Uint8Array(truncated).set(new Uint8Array(block.buffer, 0, truncated.byteLength));
  t.throws(() => RequestCounterBlock.attach(truncated), /length/);
  t.throws(() => RequestCounterBlock.attach(new ArrayBuffer(64) as unknown as SharedArrayBuffer), TypeError);
  t.throws(() => RequestCounterBlock.create(0), RangeError);
  t.throws(() => RequestCounterBlock.create(1.5), RangeError);
  t.throws(() => block.writer(4), RangeError);
  t.throws(() => conns.activeOf(-1), RangeError);
});

t.test('clearStripe() empties one stripe and leaves it ready for a new writer', async (t) => {
  const block = RequestCounterBlock.create(2);
  const w0 = block.writer(0);
  const w1 = block.writer(1);
  const recs = records(11, 300, 4);
  for (const r of recs) put(w0, r);
  const alone = block.read(BASE + 4_000, BASE, true);
  for (const r of recs) put(w1, { ...r, durationMs: 0.25 });
  t.equal(block.read(BASE + 4_000, BASE, false).total, 600);
  block.clearStripe(1);
  t.strictSame(block.read(BASE + 4_000, BASE, true), alone, 'reads as stripe 0 alone');
  w1.record(BASE_SECOND + 3, bucketOf(500_000), 500_000, 4, 2, 0, 0);
  const r = block.read(BASE + 4_000, BASE, true);
  t.equal(r.latency.maxMs, 500_000, 'the cleared stripe records again');
  const fresh = RequestCounterBlock.create(1);
  fresh.writer(0).record(BASE_SECOND + 3, bucketOf(5), 5, 1, 0, 0, 0);
  block.clearStripe(0);
  block.clearStripe(1);
  w1.record(BASE_SECOND + 3, bucketOf(5), 5, 1, 0, 0, 0);
  t.strictSame(
    block.read(BASE + 4_000, BASE, true),
    fresh.read(BASE + 4_000, BASE, true),
    'min and max start again from nothing, not from 0',
  );

  const conns = ConnectionCounterBlock.create(2);
  const c = conns.writer(1);
  c.opened(BASE_SECOND);
  c.opened(BASE_SECOND);
  conns.writer(0).opened(BASE_SECOND);
  conns.clearStripe(1);
  t.strictSame(conns.read(BASE + 500, BASE), { active: 1, total: 1, perSecond: 1 });
  c.opened(BASE_SECOND);
  t.equal(conns.activeOf(1), 1);
});

/** Byte offsets where two buffers differ. */
function changed(before: Uint8Array, after: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) out.push(i);
  return out;
}

t.test('stripes are whole cache lines apart, and a writer touches only its own', async (t) => {
  t.equal(REQUEST_STRIPE_BYTES % CACHE_LINE_BYTES, 0);
  t.equal(CONNECTION_STRIPE_BYTES % CACHE_LINE_BYTES, 0);
  t.equal(HEADER_BYTES % CACHE_LINE_BYTES, 0);
  t.ok(
    REQUEST_STRIPE_BYTES - REQUEST_STRIPE_DATA_BYTES >= CACHE_LINE_BYTES,
    'a spare line after the data, for a buffer that does not start on a line',
  );
  t.ok(CONNECTION_STRIPE_BYTES - CONNECTION_STRIPE_DATA_BYTES >= CACHE_LINE_BYTES);
  const expectedData = 8 * (3 + 6 + 5 + 4 + BUCKET_COUNT + 4 * WINDOW_SECONDS) + 4 * WINDOW_SECONDS * BUCKET_COUNT;
  t.equal(REQUEST_STRIPE_DATA_BYTES, expectedData, 'everything a RequestCounters holds, once');

  const block = RequestCounterBlock.create(5);
  const conns = ConnectionCounterBlock.create(5);
  t.equal(block.buffer.byteLength, RequestCounterBlock.byteLength(5));
  t.equal(conns.buffer.byteLength, ConnectionCounterBlock.byteLength(5));
  for (let s = 0; s < 5; s++) {
    t.equal(block.stripeOffset(s) % CACHE_LINE_BYTES, 0, `request stripe ${s} starts on a line`);
    t.equal(conns.stripeOffset(s) % CACHE_LINE_BYTES, 0, `connection stripe ${s} starts on a line`);
    if (s > 0) t.equal(block.stripeOffset(s) - block.stripeOffset(s - 1), REQUEST_STRIPE_BYTES);
  }

  const bytes = new Uint8Array(block.buffer);
  const cbytes = new Uint8Array(conns.buffer);
  for (const s of [0, 2, 4]) {
    const before = bytes.slice();
    const w = block.writer(s);
    // Every bucket, every slot, every class and outcome.
    for (let sec = 0; sec < WINDOW_SECONDS; sec++)
      for (let b = 0; b < BUCKET_COUNT; b++) w.record(BASE_SECOND + sec, b, b, b % 6, b % 5, 1, 1);
    w.record(BASE_SECOND, 9999, 1, 99, -1, 1, 1); // out-of-range indices stay in the stripe
    const diff = changed(before, bytes);
    const lo = block.stripeOffset(s);
    t.ok(diff.length > 0);
    t.ok(
      diff.every((i) => i >= lo && i < lo + REQUEST_STRIPE_DATA_BYTES),
      `request stripe ${s}: ${diff.length} bytes changed, all in [${lo}, ${lo + REQUEST_STRIPE_DATA_BYTES})`,
    );
    const cbefore = cbytes.slice();
    const c = conns.writer(s);
    for (let sec = 0; sec < WINDOW_SECONDS; sec++) c.opened(BASE_SECOND + sec);
    c.closed();
    const cdiff = changed(cbefore, cbytes);
    const clo = conns.stripeOffset(s);
    t.ok(
      cdiff.length > 0 && cdiff.every((i) => i >= clo && i < clo + CONNECTION_STRIPE_DATA_BYTES),
      `connection stripe ${s}: all changes in its data`,
    );
  }
  const r = block.read(BASE + WINDOW_SECONDS * 1000 - 1, BASE, true);
  t.equal(r.total, 3 * (WINDOW_SECONDS * BUCKET_COUNT + 1));
  t.equal(r.status.other, 3 * (1 + WINDOW_SECONDS * Math.ceil((BUCKET_COUNT - 5) / 6)), 'an unknown status class counts as other');
});

t.test('torn or foreign values never make a read throw or give NaN, infinities or negatives', async (t) => {
  const next = random(1234);
  const odd = [Number.NaN, -1, -0, Infinity, -Infinity, 1e300, 0.5, 3, 2 ** 53];
  let bad: string[] = [];
  let tries = 0;
  for (let round = 0; round < 300; round++) {
    const block = RequestCounterBlock.create(2);
    const conns = ConnectionCounterBlock.create(2);
    for (const r of records(round, 50, 3)) put(block.writer(round % 2), r);
    conns.writer(0).opened(BASE_SECOND);
    // Scribble over some words of the stripes: a write seen half done, or worse.
    const f = new Float64Array(block.buffer);
    const u = new Uint32Array(block.buffer);
    const cf = new Float64Array(conns.buffer);
    const ci = new Int32Array(conns.buffer);
    for (let k = 0; k < 40; k++) {
      const value = odd[Math.floor(next() * odd.length)];
      const i = HEADER_BYTES / 8 + Math.floor(next() * (f.length - HEADER_BYTES / 8));
      f[i] = value;
      u[HEADER_BYTES / 4 + Math.floor(next() * (u.length - HEADER_BYTES / 4))] = Math.floor(next() * 2 ** 32);
      cf[HEADER_BYTES / 8 + Math.floor(next() * (cf.length - HEADER_BYTES / 8))] = value;
      ci[HEADER_BYTES / 4 + Math.floor(next() * (ci.length - HEADER_BYTES / 4))] = Math.floor(next() * 2 ** 32) | 0;
    }
    for (const at of [BASE + 1_500, BASE + 3_000]) {
      tries++;
      bad = bad.concat(insane(block.read(at, BASE, true), `round ${round}`), insane(conns.read(at, BASE), `round ${round} connections`));
    }
  }
  t.strictSame(bad.slice(0, 10), [], `${tries} reads of scribbled blocks`);

  // The half-recorded request itself: counted, but no bucket, smallest or largest yet.
  const block = RequestCounterBlock.create(1);
  const f = new Float64Array(block.buffer);
  const s = block.stripeOffset(0) / 8;
  f[s] = 1; // total
  f[s + 3 + 6 + 5] = 1; // histogram count
  let r = block.read(BASE, BASE, true);
  t.strictSame(insane(r), []);
  t.equal(r.latency.count, 1);
  t.equal(r.latency.p50Ms, null, 'no bucket yet: no percentile');
  f[s + 3 + 6 + 5 + 4 + bucketOf(20)] = 1; // now its bucket, still no min or max
  r = block.read(BASE, BASE, true);
  t.strictSame(insane(r), []);
  t.ok(
    r.latency.minMs !== null && r.latency.maxMs !== null && r.latency.minMs <= 20 && r.latency.maxMs >= 20,
    'the range comes from the bucket',
  );
  t.ok(r.latency.p50Ms !== null && r.latency.p50Ms >= r.latency.minMs! && r.latency.p50Ms <= r.latency.maxMs!);
});

/** Messages from a worker, in order, as promises; errors and early exits reject. */
function inbox(worker: Worker): () => Promise<unknown> {
  const queue: unknown[] = [];
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: unknown) => void }> = [];
  let failure: unknown = null;
  worker.on('message', (m) => {
    const w = waiting.shift();
    if (w !== undefined) w.resolve(m);
    else queue.push(m);
  });
  const fail = (e: unknown) => {
    failure = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`worker exited (${code})`)));
  return () =>
    new Promise((resolve, reject) => {
      if (queue.length > 0) resolve(queue.shift());
      else if (failure !== null) reject(failure);
      else waiting.push({ resolve, reject });
    });
}

t.test('real threads: two workers write their own stripes, the main thread reads the exact sums', async (t) => {
  const COUNT = 100_000;
  const CONNECTIONS = 3_000;
  const second = BASE_SECOND + 3;
  const block = RequestCounterBlock.create(2);
  const conns = ConnectionCounterBlock.create(2);
  const control = new SharedArrayBuffer(16);
  const ctl = new Int32Array(control);
  const workers = [0, 1].map((stripe) => {
    const job: WorkerJob = {
      role: 'shared-counters',
      requests: block.buffer,
      connections: conns.buffer,
      control,
      stripe,
      count: COUNT,
      connectionCount: CONNECTIONS,
      second,
    };
    return new Worker(new URL('./shared-counters-worker.ts', import.meta.url), { workerData: job });
  });
  t.teardown(() => Promise.all(workers.map((w) => w.terminate())));
  const next = workers.map(inbox);
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  t.strictSame(await Promise.all(next.map((m) => m())), ['ready', 'ready']);

  // What the sums must be: the same records, written here into one stripe.
  const expected = RequestCounterBlock.create(1);
  recordRequests(expected.writer(0), 0, COUNT, second);
  recordRequests(expected.writer(0), 1, COUNT, second);
  const nowMs = second * 1000 + 400;

  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  // Read while they write: never a throw, never a bad number, never more than there will be.
  let reads = 0;
  let lastTotal = 0;
  const bad: string[] = [];
  do {
    const r = block.read(nowMs, BASE, (reads & 1) === 0);
    const c = conns.read(nowMs, BASE);
    bad.push(...insane(r), ...insane(c));
    if (r.total < lastTotal || r.total > 2 * COUNT) bad.push(`total ${r.total} after ${lastTotal}`);
    if (r.latency.count > 2 * COUNT || c.total > 2 * CONNECTIONS) bad.push(`count ${r.latency.count}, connections ${c.total}`);
    lastTotal = r.total;
    reads++;
  } while (Atomics.load(ctl, 1) < 2 && bad.length === 0);
  t.strictSame(bad.slice(0, 10), [], `${reads} reads during the writes were sane`);

  t.strictSame(await Promise.all(next.map((m) => m())), ['opened', 'opened']);
  const got = block.read(nowMs, BASE, true);
  t.strictSame(got, expected.read(nowMs, BASE, true), 'the exact sums of both stripes');
  t.equal(got.total, 2 * COUNT);
  t.equal(got.recentLatency.count, 2 * COUNT);
  t.equal(got.outcomes.ok, 2 * (COUNT / 5));
  t.equal(got.bytesIn, 2 * Array.from({ length: COUNT }, (_, i) => i % 300).reduce((a, b) => a + b, 0));
  t.strictSame(
    conns.read(nowMs, BASE),
    { active: (2 * CONNECTIONS) / 3, total: 2 * CONNECTIONS, perSecond: ratePerSecond(2 * CONNECTIONS, nowMs, BASE) },
    'a third of the connections still open',
  );
  t.same([conns.activeOf(0), conns.activeOf(1)], [CONNECTIONS / 3, CONNECTIONS / 3]);

  Atomics.store(ctl, 2, 1);
  Atomics.notify(ctl, 2);
  t.strictSame(await Promise.all(next.map((m) => m())), ['closed', 'closed']);
  await Promise.all(exited);
  t.strictSame(
    conns.read(nowMs, BASE),
    { active: 0, total: 2 * CONNECTIONS, perSecond: ratePerSecond(2 * CONNECTIONS, nowMs, BASE) },
    'all closed: none open, the total stays',
  );
  t.strictSame(block.read(nowMs, BASE, true), expected.read(nowMs, BASE, true));

  // The same connection work in one thread, for the record.
  const local = ConnectionCounterBlock.create(1);
  openConnections(local.writer(0), CONNECTIONS, second);
  t.equal(local.read(nowMs, BASE).active, CONNECTIONS / 3);
});

// The log-bucketed latency histogram: bucket edges, percentile error, the
// recent window's slots.
import t from 'tap';
import { BUCKET_COUNT, BUCKET_UPPER_MS, Histogram, RecentWindow, WINDOW_SECONDS, bucketOf, quantileOf } from '../../lib/stats/histogram.ts';

const STEP = 10 ** (1 / 20); // one bucket's width as a ratio

t.test('buckets: 20 per decade from 0.01 ms to 100 s, each value in the first bucket whose bound holds it', async (t) => {
  t.equal(BUCKET_UPPER_MS.length, 141);
  t.equal(BUCKET_COUNT, 142);
  t.ok(Math.abs(BUCKET_UPPER_MS[0] - 0.01) < 1e-15, 'lowest bound 0.01 ms');
  t.ok(Math.abs(BUCKET_UPPER_MS[140] - 100_000) < 1e-6, 'highest bound 100 s');
  let wrong = 0;
  for (let i = 0; i < BUCKET_UPPER_MS.length; i++) {
    const b = BUCKET_UPPER_MS[i];
    if (bucketOf(b) !== i) wrong++;
    if (bucketOf(b * 1.000001) !== i + 1) wrong++;
    if (i > 0 && bucketOf(b / 1.000001) !== i) wrong++;
  }
  t.equal(wrong, 0, 'every bound is inclusive and the next value goes one bucket up');
  t.equal(bucketOf(0), 0);
  t.equal(bucketOf(-5), 0);
  t.equal(bucketOf(Number.NaN), 0);
  t.equal(bucketOf(1e9), BUCKET_COUNT - 1, 'beyond 100 s: the overflow bucket');
});

t.test('percentiles are within one bucket of the truth', async (t) => {
  const h = new Histogram();
  // 1..10000 in 0.1 ms steps: p50 = 500 ms, p99 = 990 ms of a 1..1000 ms spread.
  const values: number[] = [];
  for (let i = 1; i <= 10_000; i++) values.push(i / 10);
  // Record in a scrambled order: the histogram must not care.
  for (let i = 0; i < values.length; i++) h.record(values[(i * 7919) % values.length]);
  t.equal(h.count, 10_000);
  const p50 = h.quantile(0.5)!;
  const p99 = h.quantile(0.99)!;
  t.ok(p50 / 500 < STEP && 500 / p50 < STEP, `p50 ${p50} within a bucket of 500`);
  t.ok(p99 / 990 < STEP && 990 / p99 < STEP, `p99 ${p99} within a bucket of 990`);
  t.equal(h.quantile(1), 1000, 'p100 is the largest value seen');
  t.ok(Math.abs(h.sumMs - 5_000_500) < 1e-6 * 5_000_500, `the sum ${h.sumMs} is 5000500 but for float rounding`);

  const single = new Histogram();
  single.record(3.3);
  t.equal(single.quantile(0.5), 3.3, 'one value: every percentile is that value (clamped to min and max)');
  t.equal(single.quantile(0.99), 3.3);
  t.equal(new Histogram().quantile(0.5), null, 'no values: null');

  const skewed = new Histogram();
  for (let i = 0; i < 990; i++) skewed.record(1);
  for (let i = 0; i < 10; i++) skewed.record(2000);
  t.equal(skewed.quantile(0.5), 1);
  t.equal(skewed.quantile(0.99), 1, '990 of 1000 are 1 ms: p99 is 1 ms');
  const p995 = skewed.quantile(0.995)!;
  t.ok(p995 > 2000 / STEP && p995 <= 2000, `p99.5 ${p995} is in the slow tail's bucket`);

  const huge = new Histogram();
  huge.record(250_000);
  huge.record(300_000);
  t.equal(huge.quantile(0.99), 300_000, 'the overflow bucket reports up to the largest value seen');
  t.equal(quantileOf(new Float64Array(BUCKET_COUNT), 0, 0.5, 0, 0), null);
});

t.test('the recent window keeps the last 10 seconds, one slot per second', async (t) => {
  const w = new RecentWindow(true);
  const scratch = new Float64Array(BUCKET_COUNT);
  const base = 1_700_000_000;
  for (let s = 0; s < 5; s++) for (let i = 0; i < 10; i++) w.record(base + s, s === 4 ? 100 : 1);
  t.equal(w.total(base + 4), 50);
  const [p50, p99] = w.quantiles(base + 4, [0.5, 0.99], scratch);
  t.equal(p50, 1);
  t.ok(p99! > 90 && p99! <= 100, `p99 ${p99} in the 100 ms bucket`);
  t.equal(w.total(base + WINDOW_SECONDS - 1), 50, 'at 9 s every slot is still in');
  t.equal(w.total(base + WINDOW_SECONDS), 40, 'at 10 s the first second has left the window');
  t.equal(w.total(base + 100), 0, 'long after: nothing');
  t.same(w.quantiles(base + 100, [0.5], scratch), [null]);
  // A slot is reused when its second comes round again: the old counts go.
  w.record(base + WINDOW_SECONDS, 7);
  t.equal(w.total(base + WINDOW_SECONDS), 41);
  t.same(w.quantiles(base + WINDOW_SECONDS + 5, [0.5], scratch), [7]);
  t.equal(w.total(base + 3), 30, 'a reader asking for an older window misses the slot that has been reused: it sees base+1..base+3');

  const counter = new RecentWindow(false);
  counter.count(base);
  counter.count(base);
  t.equal(counter.total(base), 2);
  t.same(counter.quantiles(base, [0.5], scratch), [null], 'a counting window has no latency');
});

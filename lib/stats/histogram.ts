// Latency histograms with fixed, log-spaced buckets: 20 per decade, so each
// bucket's upper bound is 10^(1/20) ≈ 12.2 % above the one before, from
// 0.01 ms to 100 s, plus one overflow bucket. Recording is an index
// computation and an increment; nothing is allocated per value, and the
// relative error of a percentile is below one bucket's width.
//
// Two kinds: Histogram keeps everything since the start (what Prometheus
// scrapes); RecentWindow keeps one histogram per second over the last
// WINDOW_SECONDS seconds (what the stats page shows, and its rate).

export const BUCKETS_PER_DECADE = 20;
const LOWEST_EXPONENT = -2 * BUCKETS_PER_DECADE; // 10^-2 ms = 10 µs
const HIGHEST_EXPONENT = 5 * BUCKETS_PER_DECADE; // 10^5 ms = 100 s

/** Upper bound in ms of each bounded bucket, ascending; the bucket after the last is the overflow (+Inf). */
export const BUCKET_UPPER_MS: readonly number[] = Array.from(
  { length: HIGHEST_EXPONENT - LOWEST_EXPONENT + 1 },
  (_, i) => 10 ** ((i + LOWEST_EXPONENT) / BUCKETS_PER_DECADE),
);
/** Bounded buckets plus the overflow bucket. */
export const BUCKET_COUNT = BUCKET_UPPER_MS.length + 1;
const OVERFLOW = BUCKET_COUNT - 1;
const LOWEST_MS = BUCKET_UPPER_MS[0];
const HIGHEST_MS = BUCKET_UPPER_MS[BUCKET_UPPER_MS.length - 1];

/** The bucket a duration falls in: the first whose upper bound is >= ms. */
export function bucketOf(ms: number): number {
  if (!(ms > LOWEST_MS)) return 0; // also NaN and negatives
  if (ms > HIGHEST_MS) return OVERFLOW;
  let i = Math.ceil(Math.log10(ms) * BUCKETS_PER_DECADE) - LOWEST_EXPONENT;
  // log10 may land one off at a bound; the table is the truth.
  if (i > 0 && ms <= BUCKET_UPPER_MS[i - 1]) i--;
  else if (ms > BUCKET_UPPER_MS[i]) i++;
  return i;
}

/** Lower bound in ms of bucket i (the first bucket starts at 0). */
function lowerOf(i: number): number {
  return i === 0 ? 0 : BUCKET_UPPER_MS[i - 1];
}

/**
 * The q-quantile (0 < q <= 1) of bucket counts, interpolated geometrically
 * inside its bucket and clamped to the smallest and largest value seen.
 * null when there are no values.
 */
export function quantileOf(counts: ArrayLike<number>, total: number, q: number, minMs: number, maxMs: number): number | null {
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) {
    const c = counts[i];
    if (c === 0) continue;
    if (below + c >= rank) {
      const fraction = (rank - below) / c;
      const lower = Math.max(lowerOf(i), minMs);
      const upper = Math.min(i === OVERFLOW ? maxMs : BUCKET_UPPER_MS[i], maxMs);
      const estimate = fraction < 1 && lower > 0 && upper > lower ? lower * (upper / lower) ** fraction : upper;
      return Math.min(Math.max(estimate, minMs), maxMs);
    }
    below += c;
  }
  return maxMs;
}

/** Every value since the start. */
export class Histogram {
  readonly counts = new Float64Array(BUCKET_COUNT);
  count = 0;
  sumMs = 0;
  minMs = Infinity;
  maxMs = -Infinity;

  record(ms: number): void {
    this.recordIn(bucketOf(ms), ms);
  }

  /** record() with the bucket already known (one lookup serves several histograms). */
  recordIn(bucket: number, ms: number): void {
    const v = ms > 0 ? ms : 0;
    this.counts[bucket]++;
    this.count++;
    this.sumMs += v;
    if (v < this.minMs) this.minMs = v;
    if (v > this.maxMs) this.maxMs = v;
  }

  quantile(q: number): number | null {
    return quantileOf(this.counts, this.count, q, this.minMs, this.maxMs);
  }
}

export const WINDOW_SECONDS = 10;

/**
 * The last WINDOW_SECONDS seconds, one slot per second. A slot is cleared
 * when its second comes round again, so there is no timer and no reset.
 * Its counts give the rate of whatever it records (requests per second).
 */
export class RecentWindow {
  private readonly slotSecond = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly slotCount = new Float64Array(WINDOW_SECONDS);
  private readonly slotMin = new Float64Array(WINDOW_SECONDS);
  private readonly slotMax = new Float64Array(WINDOW_SECONDS);
  // One histogram per slot, laid end to end; null for windows that only count.
  private readonly slotBuckets: Uint32Array | null;

  constructor(withLatency: boolean) {
    this.slotBuckets = withLatency ? new Uint32Array(WINDOW_SECONDS * BUCKET_COUNT) : null;
  }

  private slot(second: number): number {
    const i = second % WINDOW_SECONDS;
    if (this.slotSecond[i] !== second) {
      this.slotSecond[i] = second;
      this.slotCount[i] = 0;
      this.slotMin[i] = Infinity;
      this.slotMax[i] = -Infinity;
      this.slotBuckets?.fill(0, i * BUCKET_COUNT, (i + 1) * BUCKET_COUNT);
    }
    return i;
  }

  /** Counts one event in `second` (whole seconds since the epoch). */
  count(second: number): void {
    this.slotCount[this.slot(second)]++;
  }

  /** Counts one event with its duration. */
  record(second: number, ms: number): void {
    this.recordIn(second, bucketOf(ms), ms);
  }

  /** record() with the bucket already known. */
  recordIn(second: number, bucket: number, ms: number): void {
    const i = this.slot(second);
    const v = ms > 0 ? ms : 0;
    this.slotCount[i]++;
    if (v < this.slotMin[i]) this.slotMin[i] = v;
    if (v > this.slotMax[i]) this.slotMax[i] = v;
    if (this.slotBuckets !== null) this.slotBuckets[i * BUCKET_COUNT + bucket]++;
  }

  private live(i: number, nowSecond: number): boolean {
    const s = this.slotSecond[i];
    return s > nowSecond - WINDOW_SECONDS && s <= nowSecond;
  }

  /** Events in the window that ends at `nowSecond` (inclusive). */
  total(nowSecond: number): number {
    let n = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++) if (this.live(i, nowSecond)) n += this.slotCount[i];
    return n;
  }

  /**
   * Adds up the window's slots into `into` (BUCKET_COUNT long, overwritten):
   * its bucket counts, and how many values there were, the smallest and the largest.
   */
  collect(nowSecond: number, into: Float64Array): { count: number; minMs: number; maxMs: number } {
    into.fill(0);
    let count = 0;
    let minMs = Infinity;
    let maxMs = -Infinity;
    const buckets = this.slotBuckets;
    for (let i = 0; i < WINDOW_SECONDS; i++) {
      if (!this.live(i, nowSecond) || this.slotCount[i] === 0) continue;
      count += this.slotCount[i];
      minMs = Math.min(minMs, this.slotMin[i]);
      maxMs = Math.max(maxMs, this.slotMax[i]);
      if (buckets !== null) for (let b = 0; b < BUCKET_COUNT; b++) into[b] += buckets[i * BUCKET_COUNT + b];
    }
    return { count, minMs, maxMs };
  }

  /** Quantiles over the window (null for a window that only counts); `scratch` is overwritten. */
  quantiles(nowSecond: number, qs: readonly number[], scratch: Float64Array): Array<number | null> {
    const { count, minMs, maxMs } = this.collect(nowSecond, scratch);
    if (this.slotBuckets === null) return qs.map(() => null);
    return qs.map((q) => quantileOf(scratch, count, q, minMs, maxMs));
  }
}

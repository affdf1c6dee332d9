// Statistics counters in SharedArrayBuffers, striped per writer as IPVS keeps
// per-CPU counters: every worker thread writes only its own stripe, with plain
// typed-array stores (no Atomics, no locks, no contention), and the reader
// (the main thread) adds the stripes up when a snapshot is taken.
//
// RequestCounterBlock holds, per stripe, what the collector's RequestCounters
// holds (totals, bytes, status classes, outcomes, a latency Histogram since
// the start and a RecentWindow with latency); ConnectionCounterBlock holds the
// connections of a service (open now, accepted in total, a count-only recent
// window). Every block starts with a 64-byte header (what kind of block, the
// layout, the stripe count) so another thread can attach() to its buffer.
//
// Stripes are padded to a multiple of 64 bytes and keep one spare 64-byte
// line after their data, so two writers never share a cache line even when
// the buffer itself does not start on a line boundary.
//
// A read that races a writer may see a request half-recorded (its total
// counted, its histogram bucket not yet); that is accepted for statistics.
// Reads never throw and never give NaN, infinities or negative numbers
// because of it: every value read is checked, and a latency range that is not
// there yet is taken from the bucket counts.

import { BUCKET_COUNT, BUCKET_UPPER_MS, WINDOW_SECONDS, quantileOf } from './histogram.ts';
import {
  OUTCOMES,
  STATUS_CLASSES,
  ratePerSecond,
  type LatencySummary,
  type RequestOutcome,
  type RequestStats,
  type StatusClass,
} from './collector.ts';

export const CACHE_LINE_BYTES = 64;
/** The header before the first stripe: Int32 words, one cache line. */
export const HEADER_BYTES = CACHE_LINE_BYTES;
const LAYOUT_VERSION = 1;
const MAX_STRIPES = 65_536;
const REQUEST_MAGIC = 0x74637352; // "tcsR"
const CONNECTION_MAGIC = 0x74637343; // "tcsC"
// Header words.
const H_MAGIC = 0;
const H_VERSION = 1;
const H_STRIPES = 2;
const H_STRIPE_BYTES = 3;
const H_BUCKETS = 4;
const H_WINDOW = 5;

// Kept as literals so that nothing from collector.ts is needed while this
// module loads; create() and attach() check them against collector.ts.
const STATUS_CLASS_COUNT = 6;
const OUTCOME_COUNT = 5;

const W = WINDOW_SECONDS;
const B = BUCKET_COUNT;
const OVERFLOW = B - 1;

// A histogram since the start, in Float64 words from its base.
const HIST_COUNT = 0;
const HIST_SUM = 1;
const HIST_MIN = 2;
const HIST_MAX = 3;
const HIST_BUCKETS = 4;
const HIST_FLOATS = HIST_BUCKETS + B;

// A recent window, in Float64 words from its base: W slot seconds, W counts,
// and for a window with latency W minimums and W maximums. Its bucket counts
// (W × B, Uint32) live apart, after the stripe's Float64 words.
const WIN_SECOND = 0;
const WIN_COUNT = W;
const WIN_MIN = 2 * W;
const WIN_MAX = 3 * W;
const WIN_FLOATS_COUNT_ONLY = 2 * W;
const WIN_FLOATS_RANGED = 4 * W;

// A request stripe: Float64 words, then the recent window's Uint32 buckets.
const R_TOTAL = 0;
const R_BYTES_IN = 1;
const R_BYTES_OUT = 2;
const R_STATUS = 3;
const R_OUTCOME = R_STATUS + STATUS_CLASS_COUNT;
const R_HIST = R_OUTCOME + OUTCOME_COUNT;
const R_WINDOW = R_HIST + HIST_FLOATS;
const R_FLOATS = R_WINDOW + WIN_FLOATS_RANGED;
const R_BUCKETS_BYTE = R_FLOATS * 8;
/** Bytes of data in one request stripe. */
export const REQUEST_STRIPE_DATA_BYTES = R_BUCKETS_BYTE + W * B * 4;
/** Distance between two request stripes: the data padded to whole cache lines, plus one spare line. */
export const REQUEST_STRIPE_BYTES = paddedStripe(REQUEST_STRIPE_DATA_BYTES);

// A connection stripe: the open count (Int32) in its first word, then Float64 words.
const C_FLOATS_BYTE = 8;
const C_TOTAL = 0;
const C_WINDOW = 1;
const C_FLOATS = C_WINDOW + WIN_FLOATS_COUNT_ONLY;
/** Bytes of data in one connection stripe. */
export const CONNECTION_STRIPE_DATA_BYTES = C_FLOATS_BYTE + C_FLOATS * 8;
/** Distance between two connection stripes. */
export const CONNECTION_STRIPE_BYTES = paddedStripe(CONNECTION_STRIPE_DATA_BYTES);

function paddedStripe(dataBytes: number): number {
  return Math.ceil(dataBytes / CACHE_LINE_BYTES) * CACHE_LINE_BYTES + CACHE_LINE_BYTES;
}

// ---------------------------------------------------------------------------
// Pure helpers over Float64 words at a base index: the Histogram and
// RecentWindow arithmetic of histogram.ts, on shared memory.

/** A counter as read: a number that is not a finite, positive one (a torn or foreign write) counts as 0. */
function num(x: number): number {
  return x > 0 && x < Infinity ? x : 0;
}

function histogramInit(f: Float64Array, h: number): void {
  f[h + HIST_MIN] = Infinity;
  f[h + HIST_MAX] = -Infinity;
}

/** Histogram.recordIn(): `v` is the duration already clamped to >= 0. */
function histogramRecord(f: Float64Array, h: number, bucket: number, v: number): void {
  if (v < f[h + HIST_MIN]) f[h + HIST_MIN] = v;
  if (v > f[h + HIST_MAX]) f[h + HIST_MAX] = v;
  f[h + HIST_BUCKETS + bucket]++;
  f[h + HIST_SUM] += v;
  f[h + HIST_COUNT]++;
}

function windowInit(f: Float64Array, w: number, ranged: boolean): void {
  for (let i = 0; i < W; i++) {
    f[w + WIN_SECOND + i] = -1;
    f[w + WIN_COUNT + i] = 0;
    if (ranged) {
      f[w + WIN_MIN + i] = Infinity;
      f[w + WIN_MAX + i] = -Infinity;
    }
  }
}

/**
 * The slot of `second`, cleared first when it held another second. The
 * second is written last, so a reader never counts an older second's numbers
 * as this one's (at worst it misses them for a moment).
 */
function windowSlot(f: Float64Array, w: number, second: number, ranged: boolean, u: Uint32Array | null, ub: number): number {
  const i = second % W;
  if (f[w + WIN_SECOND + i] !== second) {
    f[w + WIN_COUNT + i] = 0;
    if (ranged) {
      f[w + WIN_MIN + i] = Infinity;
      f[w + WIN_MAX + i] = -Infinity;
    }
    if (u !== null) u.fill(0, ub + i * B, ub + (i + 1) * B);
    f[w + WIN_SECOND + i] = second;
  }
  return i;
}

/** RecentWindow.count(). */
function windowCount(f: Float64Array, w: number, second: number): void {
  f[w + WIN_COUNT + windowSlot(f, w, second, false, null, 0)]++;
}

/** RecentWindow.recordIn(), `v` clamped to >= 0. */
function windowRecord(f: Float64Array, w: number, u: Uint32Array, ub: number, second: number, bucket: number, v: number): void {
  const i = windowSlot(f, w, second, true, u, ub);
  if (v < f[w + WIN_MIN + i]) f[w + WIN_MIN + i] = v;
  if (v > f[w + WIN_MAX + i]) f[w + WIN_MAX + i] = v;
  u[ub + i * B + bucket]++;
  f[w + WIN_COUNT + i]++;
}

/** RecentWindow.live(): is a slot's second in the window that ends at nowSecond? */
function live(second: number, nowSecond: number): boolean {
  return second > nowSecond - W && second <= nowSecond;
}

/** RecentWindow.total(). */
function windowTotal(f: Float64Array, w: number, nowSecond: number): number {
  let n = 0;
  for (let i = 0; i < W; i++) if (live(f[w + WIN_SECOND + i], nowSecond)) n += num(f[w + WIN_COUNT + i]);
  return n;
}

/** What RecentWindow.collect() returns, added up over stripes. */
interface Range {
  count: number;
  minMs: number;
  maxMs: number;
}

/** RecentWindow.collect() without clearing: adds this window's live slots to `into` and `acc`. */
function windowCollect(f: Float64Array, w: number, u: Uint32Array, ub: number, nowSecond: number, into: Float64Array, acc: Range): void {
  for (let i = 0; i < W; i++) {
    if (!live(f[w + WIN_SECOND + i], nowSecond)) continue;
    const c = num(f[w + WIN_COUNT + i]);
    if (c === 0) continue;
    acc.count += c;
    addRange(acc, f[w + WIN_MIN + i], f[w + WIN_MAX + i]);
    const from = ub + i * B;
    for (let b = 0; b < B; b++) into[b] += u[from + b];
  }
}

/** Takes in a smallest and a largest value when they are real ones (not the empty ±Infinity, not torn). */
function addRange(acc: Range, minMs: number, maxMs: number): void {
  if (minMs >= 0 && minMs < acc.minMs) acc.minMs = minMs;
  if (maxMs >= 0 && maxMs < Infinity && maxMs > acc.maxMs) acc.maxMs = maxMs;
}

function lowerOf(i: number): number {
  return i === 0 ? 0 : BUCKET_UPPER_MS[i - 1];
}

/**
 * count, p50, p99, min and max as the collector reports them. Quantiles run
 * over the bucket counts as they are (their own total); when a half-recorded
 * request left no smallest or largest value yet, the buckets give them.
 */
function latencyOf(count: number, counts: Float64Array, range: Range): LatencySummary {
  if (count <= 0) return { count: 0, p50Ms: null, p99Ms: null, minMs: null, maxMs: null };
  let inBuckets = 0;
  let first = -1;
  let last = -1;
  for (let b = 0; b < B; b++) {
    if (counts[b] === 0) continue;
    inBuckets += counts[b];
    if (first < 0) first = b;
    last = b;
  }
  let { minMs, maxMs } = range;
  if (!(minMs <= maxMs && maxMs < Infinity)) {
    if (inBuckets === 0) return { count, p50Ms: null, p99Ms: null, minMs: null, maxMs: null };
    minMs = lowerOf(first);
    maxMs = BUCKET_UPPER_MS[Math.min(last, OVERFLOW - 1)];
  }
  return {
    count,
    p50Ms: quantileOf(counts, inBuckets, 0.5, minMs, maxMs),
    p99Ms: quantileOf(counts, inBuckets, 0.99, minMs, maxMs),
    minMs,
    maxMs,
  };
}

// ---------------------------------------------------------------------------
// Layout shared by both kinds of block.

function checkStripeCount(stripes: number): void {
  if (!Number.isInteger(stripes) || stripes < 1 || stripes > MAX_STRIPES)
    throw new RangeError(`stripes must be an integer from 1 to ${MAX_STRIPES}, not ${stripes}`);
  if (STATUS_CLASSES.length !== STATUS_CLASS_COUNT || OUTCOMES.length !== OUTCOME_COUNT)
    throw new Error('shared-counters: the status classes or outcomes of collector.ts changed; update its layout');
}

function newBuffer(magic: number, stripes: number, stripeBytes: number): SharedArrayBuffer {
  checkStripeCount(stripes);
  const buffer = new SharedArrayBuffer(HEADER_BYTES + stripes * stripeBytes);
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  header[H_MAGIC] = magic;
  header[H_VERSION] = LAYOUT_VERSION;
  header[H_STRIPES] = stripes;
  header[H_STRIPE_BYTES] = stripeBytes;
  header[H_BUCKETS] = B;
  header[H_WINDOW] = W;
  return buffer;
}

/** The stripe count of a block's buffer, after checking that it is one of this kind and layout. */
function stripesOf(buffer: SharedArrayBuffer, magic: number, stripeBytes: number, kind: string): number {
  if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError(`${kind}.attach() needs a SharedArrayBuffer`);
  if (buffer.byteLength < HEADER_BYTES) throw new Error(`${kind}.attach(): the buffer is too short for a header`);
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  if (header[H_MAGIC] !== magic) throw new Error(`${kind}.attach(): not a ${kind} buffer`);
  if (header[H_VERSION] !== LAYOUT_VERSION || header[H_STRIPE_BYTES] !== stripeBytes || header[H_BUCKETS] !== B || header[H_WINDOW] !== W)
    throw new Error(
      `${kind}.attach(): the buffer has another layout (version ${header[H_VERSION]}, stripe ${header[H_STRIPE_BYTES]} bytes)`,
    );
  const stripes = header[H_STRIPES];
  checkStripeCount(stripes);
  if (buffer.byteLength !== HEADER_BYTES + stripes * stripeBytes)
    throw new Error(`${kind}.attach(): the buffer length does not match its ${stripes} stripes`);
  return stripes;
}

/** Stripes of `stripeBytes` after the header, in one SharedArrayBuffer. */
abstract class StripedBlock {
  readonly buffer: SharedArrayBuffer;
  readonly stripes: number;
  protected readonly stripeBytes: number;
  protected readonly f: Float64Array; // the whole buffer
  protected readonly u: Uint32Array;
  protected readonly i32: Int32Array;

  protected constructor(buffer: SharedArrayBuffer, stripes: number, stripeBytes: number) {
    this.buffer = buffer;
    this.stripes = stripes;
    this.stripeBytes = stripeBytes;
    this.f = new Float64Array(buffer);
    this.u = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
  }

  /** Byte offset of a stripe in the buffer: a multiple of CACHE_LINE_BYTES. */
  stripeOffset(stripe: number): number {
    if (!Number.isInteger(stripe) || stripe < 0 || stripe >= this.stripes)
      throw new RangeError(`stripe ${stripe} is not in 0..${this.stripes - 1}`);
    return HEADER_BYTES + stripe * this.stripeBytes;
  }

  /**
   * Zeroes one stripe (and sets its empty markers), for a writer slot that
   * is given to a new thread. Nobody may be writing that stripe meanwhile.
   */
  clearStripe(stripe: number): void {
    const offset = this.stripeOffset(stripe);
    new Uint8Array(this.buffer, offset, this.stripeBytes).fill(0);
    this.initStripe(offset);
  }

  protected abstract initStripe(offset: number): void;
}

// ---------------------------------------------------------------------------
// Requests.

/** Records requests into one stripe of a RequestCounterBlock; to be used by one thread only. */
export class RequestCounterWriter {
  private readonly f: Float64Array;
  private readonly u: Uint32Array;
  private readonly base: number; // Float64 index of the stripe
  private readonly ub: number; // Uint32 index of its window buckets

  /** Made by RequestCounterBlock.writer(). */
  constructor(f: Float64Array, u: Uint32Array, stripeOffset: number) {
    this.f = f;
    this.u = u;
    this.base = stripeOffset / 8;
    this.ub = (stripeOffset + R_BUCKETS_BYTE) / 4;
  }

  /**
   * Counts one request: `second` is Math.floor(epochMs / 1000), `bucket` is
   * bucketOf(durationMs), `statusClass` is statusClassIndex(status) and
   * `outcome` the index in OUTCOMES. Plain stores into this stripe only;
   * indices out of range are taken as the last bucket, 'other' and 'ok'
   * rather than written elsewhere.
   */
  record(
    second: number,
    bucket: number,
    durationMs: number,
    statusClass: number,
    outcome: number,
    bytesIn: number,
    bytesOut: number,
  ): void {
    const f = this.f;
    const s = this.base;
    if (!(bucket >= 0 && bucket < B)) bucket = OVERFLOW;
    if (!(statusClass >= 0 && statusClass < STATUS_CLASS_COUNT)) statusClass = STATUS_CLASS_COUNT - 1;
    if (!(outcome >= 0 && outcome < OUTCOME_COUNT)) outcome = 0;
    const v = durationMs > 0 ? durationMs : 0;
    windowRecord(f, s + R_WINDOW, this.u, this.ub, second, bucket, v);
    histogramRecord(f, s + R_HIST, bucket, v);
    f[s + R_STATUS + statusClass]++;
    f[s + R_OUTCOME + outcome]++;
    if (bytesIn > 0) f[s + R_BYTES_IN] += bytesIn;
    if (bytesOut > 0) f[s + R_BYTES_OUT] += bytesOut;
    f[s + R_TOTAL]++;
  }
}

// Read scratch: a module has one reader at a time (a thread runs one read() at once).
const sinceStart = new Float64Array(B);
const recent = new Float64Array(B);
const statusSums = new Float64Array(STATUS_CLASS_COUNT);
const outcomeSums = new Float64Array(OUTCOME_COUNT);

/** The request counters of one entity (service, group, server, no-group, no-server), one stripe per writer. */
export class RequestCounterBlock extends StripedBlock {
  private constructor(buffer: SharedArrayBuffer, stripes: number) {
    super(buffer, stripes, REQUEST_STRIPE_BYTES);
  }

  /** Bytes of the buffer of a block with `stripes` stripes. */
  static byteLength(stripes: number): number {
    return HEADER_BYTES + stripes * REQUEST_STRIPE_BYTES;
  }

  static create(stripes: number): RequestCounterBlock {
    const block = new RequestCounterBlock(newBuffer(REQUEST_MAGIC, stripes, REQUEST_STRIPE_BYTES), stripes);
    for (let s = 0; s < stripes; s++) block.initStripe(block.stripeOffset(s));
    return block;
  }

  /** Another view of a block made by create(), for instance in the thread it was posted to. */
  static attach(buffer: SharedArrayBuffer): RequestCounterBlock {
    return new RequestCounterBlock(buffer, stripesOf(buffer, REQUEST_MAGIC, REQUEST_STRIPE_BYTES, 'RequestCounterBlock'));
  }

  protected initStripe(offset: number): void {
    const s = offset / 8;
    histogramInit(this.f, s + R_HIST);
    windowInit(this.f, s + R_WINDOW, true);
  }

  writer(stripe: number): RequestCounterWriter {
    return new RequestCounterWriter(this.f, this.u, this.stripeOffset(stripe));
  }

  /** Requests counted over all stripes (cheap: to tell whether a row is worth showing). */
  total(): number {
    let n = 0;
    for (let stripe = 0; stripe < this.stripes; stripe++) n += num(this.f[(HEADER_BYTES + stripe * REQUEST_STRIPE_BYTES) / 8 + R_TOTAL]);
    return n;
  }

  /** The sum of every stripe, as the collector's RequestStats. */
  read(nowMs: number, startedAtMs: number, histograms: boolean): RequestStats {
    const f = this.f;
    const u = this.u;
    const nowSecond = Math.floor(nowMs / 1000);
    sinceStart.fill(0);
    recent.fill(0);
    statusSums.fill(0);
    outcomeSums.fill(0);
    let total = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let sumMs = 0;
    const all: Range = { count: 0, minMs: Infinity, maxMs: -Infinity };
    const window: Range = { count: 0, minMs: Infinity, maxMs: -Infinity };
    for (let stripe = 0; stripe < this.stripes; stripe++) {
      const offset = HEADER_BYTES + stripe * REQUEST_STRIPE_BYTES;
      const s = offset / 8;
      total += num(f[s + R_TOTAL]);
      bytesIn += num(f[s + R_BYTES_IN]);
      bytesOut += num(f[s + R_BYTES_OUT]);
      for (let k = 0; k < STATUS_CLASS_COUNT; k++) statusSums[k] += num(f[s + R_STATUS + k]);
      for (let k = 0; k < OUTCOME_COUNT; k++) outcomeSums[k] += num(f[s + R_OUTCOME + k]);
      const h = s + R_HIST;
      all.count += num(f[h + HIST_COUNT]);
      sumMs += num(f[h + HIST_SUM]);
      addRange(all, f[h + HIST_MIN], f[h + HIST_MAX]);
      for (let b = 0; b < B; b++) sinceStart[b] += num(f[h + HIST_BUCKETS + b]);
      windowCollect(f, s + R_WINDOW, u, (offset + R_BUCKETS_BYTE) / 4, nowSecond, recent, window);
    }
    const latency = latencyOf(all.count, sinceStart, all);
    const stats: RequestStats = {
      total,
      perSecond: ratePerSecond(window.count, nowMs, startedAtMs),
      bytesIn,
      bytesOut,
      status: Object.fromEntries(STATUS_CLASSES.map((k, i) => [k, statusSums[i]])) as Record<StatusClass, number>,
      outcomes: Object.fromEntries(OUTCOMES.map((k, i) => [k, outcomeSums[i]])) as Record<RequestOutcome, number>,
      latency: { ...latency, meanMs: latency.count > 0 ? sumMs / latency.count : null },
      recentLatency: latencyOf(window.count, recent, window),
    };
    if (histograms) stats.histogram = { counts: Array.from(sinceStart), recentCounts: Array.from(recent), sumSeconds: sumMs / 1000 };
    return stats;
  }
}

// ---------------------------------------------------------------------------
// Connections.

/** Counts the connections of one stripe of a ConnectionCounterBlock; to be used by one thread only. */
export class ConnectionCounterWriter {
  private readonly f: Float64Array;
  private readonly i32: Int32Array;
  private readonly base: number; // Float64 index of the stripe's Float64 words
  private readonly active: number; // Int32 index of its open count

  /** Made by ConnectionCounterBlock.writer(). */
  constructor(f: Float64Array, i32: Int32Array, stripeOffset: number) {
    this.f = f;
    this.i32 = i32;
    this.base = (stripeOffset + C_FLOATS_BYTE) / 8;
    this.active = stripeOffset / 4;
  }

  /** A connection was accepted in `second` (Math.floor(epochMs / 1000)). */
  opened(second: number): void {
    this.i32[this.active]++;
    windowCount(this.f, this.base + C_WINDOW, second);
    this.f[this.base + C_TOTAL]++;
  }

  /** A connection of this stripe closed; never below 0, as in the collector. */
  closed(): void {
    if (this.i32[this.active] > 0) this.i32[this.active]--;
  }
}

export interface ConnectionStats {
  active: number;
  total: number;
  perSecond: number;
}

/** The connections of one service, one stripe per writer. */
export class ConnectionCounterBlock extends StripedBlock {
  private constructor(buffer: SharedArrayBuffer, stripes: number) {
    super(buffer, stripes, CONNECTION_STRIPE_BYTES);
  }

  static byteLength(stripes: number): number {
    return HEADER_BYTES + stripes * CONNECTION_STRIPE_BYTES;
  }

  static create(stripes: number): ConnectionCounterBlock {
    const block = new ConnectionCounterBlock(newBuffer(CONNECTION_MAGIC, stripes, CONNECTION_STRIPE_BYTES), stripes);
    for (let s = 0; s < stripes; s++) block.initStripe(block.stripeOffset(s));
    return block;
  }

  static attach(buffer: SharedArrayBuffer): ConnectionCounterBlock {
    return new ConnectionCounterBlock(buffer, stripesOf(buffer, CONNECTION_MAGIC, CONNECTION_STRIPE_BYTES, 'ConnectionCounterBlock'));
  }

  protected initStripe(offset: number): void {
    windowInit(this.f, (offset + C_FLOATS_BYTE) / 8 + C_WINDOW, false);
  }

  writer(stripe: number): ConnectionCounterWriter {
    return new ConnectionCounterWriter(this.f, this.i32, this.stripeOffset(stripe));
  }

  /**
   * Connections open in one stripe. Exact once its writer is quiet; read with
   * Atomics.load so that a polling loop always reads memory afresh.
   */
  activeOf(stripe: number): number {
    const n = Atomics.load(this.i32, this.stripeOffset(stripe) / 4);
    return n > 0 ? n : 0;
  }

  /** The writer of a stripe is gone (its thread died): none of its connections is open any more. */
  closeAllOf(stripe: number): void {
    Atomics.store(this.i32, this.stripeOffset(stripe) / 4, 0);
  }

  read(nowMs: number, startedAtMs: number): ConnectionStats {
    const nowSecond = Math.floor(nowMs / 1000);
    let active = 0;
    let total = 0;
    let recentCount = 0;
    for (let stripe = 0; stripe < this.stripes; stripe++) {
      const offset = HEADER_BYTES + stripe * CONNECTION_STRIPE_BYTES;
      const n = Atomics.load(this.i32, offset / 4);
      if (n > 0) active += n;
      const s = (offset + C_FLOATS_BYTE) / 8;
      total += num(this.f[s + C_TOTAL]);
      recentCount += windowTotal(this.f, s + C_WINDOW, nowSecond);
    }
    return { active, total, perSecond: ratePerSecond(recentCount, nowMs, startedAtMs) };
  }
}

let outcomeIndexes: Map<RequestOutcome, number> | null = null; // built on first use

/** The index of an outcome in OUTCOMES, as RequestCounterWriter.record() takes it (0, 'ok', for anything unknown). */
export function outcomeIndex(outcome: RequestOutcome): number {
  outcomeIndexes ??= new Map(OUTCOMES.map((o, i) => [o, i]));
  return outcomeIndexes.get(outcome) ?? 0;
}

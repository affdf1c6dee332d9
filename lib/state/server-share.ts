// A real server's shared record: a few Int32 words in a SharedArrayBuffer of
// its own that every thread running the data path maps, so N workers see one
// server. The control plane (health checks, config changes) writes the
// server's status and effective weight; the data path counts requests in
// flight, consecutive failures and chbl's recent requests here.
//
// One buffer per server, not slots in a shared arena: a server that leaves a
// group keeps its buffer alive for as long as a request in flight still holds
// it, and a server that joins can never inherit a leaver's counts.
//
// Requests in flight are counted twice: the total every scheduler reads, and
// each worker's own share in a stripe of its own (one 64-byte line each), so
// that when a worker thread dies the control plane can take back what it held.
// The stripe also holds the requests that worker ever sent the server (a
// float64 only its worker writes), which the admin side adds up.

export const W_ACTIVE = 0; // requests in flight, every worker together (Atomics)
export const W_STATUS = 1; // STATUS_* bits
export const W_WEIGHT = 2; // effective weight, as the control plane computed it
export const W_FAILURES = 3; // consecutive failed requests (passive ejection)
export const W_RECENT = 4; // chbl: decayed count of requests recently sent
export const W_PEAK = 5; // the most requests in flight at once, since the server joined (the stats page's max)
const HEADER_WORDS = 16; // one cache line
const STRIPE_WORDS = 16; // one cache line per worker

/** Up as far as the control plane knows (active and agent checks, maint). */
export const STATUS_UP = 1;
/** Ejected by passive checks; set by the data path, cleared by the control plane. */
export const STATUS_EJECTED = 2;

export function createServerShare(workers: number, weight: number): SharedArrayBuffer {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be a positive integer, not ${workers}`);
  const buffer = new SharedArrayBuffer((HEADER_WORDS + STRIPE_WORDS * workers) * 4);
  const words = new Int32Array(buffer);
  words[W_STATUS] = STATUS_UP;
  words[W_WEIGHT] = weight;
  return buffer;
}

/** Records `active` as the peak if it is higher, against other threads doing the same. */
export function raisePeak(words: Int32Array, active: number): void {
  for (;;) {
    const peak = Atomics.load(words, W_PEAK);
    if (active <= peak || Atomics.compareExchange(words, W_PEAK, peak, active) === peak) return;
  }
}

/** Usable status: up and not ejected. */
export function statusUp(status: number): boolean {
  return (status & (STATUS_UP | STATUS_EJECTED)) === STATUS_UP;
}

/** The word index of worker `stripe`'s own in-flight count. */
export function stripeWord(stripe: number): number {
  return HEADER_WORDS + STRIPE_WORDS * stripe;
}

/** The float64 index of worker `stripe`'s count of requests sent. */
export function stripeTotalIndex(stripe: number): number {
  return (HEADER_WORDS + STRIPE_WORDS * stripe) / 2 + 1;
}

/** Requests ever sent to the server, every worker's stripe added up. */
export function totalRequests(words: Int32Array): number {
  const floats = new Float64Array(words.buffer);
  let n = 0;
  for (let stripe = 0, count = shareStripes(words); stripe < count; stripe++) n += floats[stripeTotalIndex(stripe)];
  return n;
}

/** How many workers a share has stripes for. */
export function shareStripes(words: Int32Array): number {
  return (words.length - HEADER_WORDS) / STRIPE_WORDS;
}

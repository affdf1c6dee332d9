// 64-bit key fingerprints for SharedLruTable. The table lives in a
// SharedArrayBuffer, so it cannot hold JS strings: a key is stored as two
// int32 halves (hi, lo) and two keys are the same entry when both halves are
// equal. Strings get two independent 32-bit hashes (a MurmurHash3 lane and an
// xxHash32-style lane, so one lane's structural collisions are not the
// other's); numbers (IPv4 addresses, uint32) map to hi = 1, lo = n. The low
// bit of a string's hi is forced to 0, so a string never equals a number.
//
// The seed comes from the table header (table.seed): every thread that wraps
// the same buffer must hash the same way, and a per-table random seed keeps a
// client from choosing keys that collide (not a keyed PRF such as SipHash,
// but chance collisions are ~2^-63 per pair).
//
// Nothing here allocates: the result goes into a caller-owned Fingerprint
// that is reused for every request.

/** A reusable out-parameter: the two int32 halves of a 64-bit key. */
export interface Fingerprint {
  hi: number;
  lo: number;
}

/** A Fingerprint to reuse; allocate one per call site, not per call. */
export function newFingerprint(): Fingerprint {
  return { hi: 0, lo: 0 };
}

// MurmurHash3 x86_32 constants.
const M_C1 = 0xcc9e2d51;
const M_C2 = 0x1b873593;
// xxHash32 primes.
const X_P1 = 0x9e3779b1;
const X_P2 = 0x85ebca77;
const X_P3 = 0xc2b2ae3d;
const X_P5 = 0x165667b1;

/** MurmurHash3's finalizer: a bijection on 32 bits with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Fingerprint of a string's UTF-16 code units under `seed` into `out`.
 * Two code units make one 32-bit block (MurmurHash3 over UTF-16LE bytes).
 */
export function fingerprintString(s: string, seed: number, out: Fingerprint): void {
  let h1 = seed | 0;
  // A different start state for the second lane, derived so that the two
  // lanes do not begin equal for any seed.
  let h2 = (fmix32(seed ^ 0x27d4eb2f) + X_P5) | 0;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const w = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k = Math.imul(w, M_C1);
    k = (k << 15) | (k >>> 17);
    h1 ^= Math.imul(k, M_C2);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 = (h2 + Math.imul(w, X_P2)) | 0;
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = Math.imul(h2, X_P1);
  }
  if (i < n) {
    const w = s.charCodeAt(i);
    let k = Math.imul(w, M_C1);
    k = (k << 15) | (k >>> 17);
    h1 ^= Math.imul(k, M_C2);
    h2 = (h2 + Math.imul(w, X_P5)) | 0;
    h2 = (h2 << 11) | (h2 >>> 21);
    h2 = Math.imul(h2, X_P1);
  }
  // The length goes in so that "a" and "a\0" differ.
  h1 = fmix32(h1 ^ (n << 1));
  h2 = (h2 + (n << 1)) | 0;
  h2 ^= h2 >>> 15;
  h2 = Math.imul(h2, X_P2);
  h2 ^= h2 >>> 13;
  h2 = Math.imul(h2, X_P3);
  h2 ^= h2 >>> 16;
  out.hi = h1 & ~1; // low bit 0: strings; numbers have hi = 1
  out.lo = h2;
}

/** Fingerprint of a uint32 (e.g. an IPv4 address) into `out`: exact, no hashing. */
export function fingerprintNumber(n: number, out: Fingerprint): void {
  out.hi = 1;
  out.lo = n | 0;
}

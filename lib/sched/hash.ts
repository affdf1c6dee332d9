// Stable, seedless hashes shared by the hashing schedulers: every tcpvs
// process computes the same values, so nodes agree without sharing state.

/**
 * 32-bit FNV-1a over the string's UTF-16 code units. For ASCII keys this is
 * byte-for-byte the standard FNV-1a; other keys hash each code unit as one
 * step, which is just as stable and avoids encoding to UTF-8 per request.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Murmur3's 32-bit finaliser: spreads every input bit over the output, which FNV alone does poorly in the high bits. */
export function mix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

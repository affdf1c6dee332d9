// A seeded Zipf(alpha) stream over M objects: rank r (0 = most popular) is
// drawn with probability (r + 1)^-alpha / H(M, alpha). The generator is seeded
// so the bench can regenerate the exact sequence it sent and simulate caches
// on it afterwards.

/** sfc32, seeded through splitmix32: fast, 32-bit state words, good enough statistics for load generation. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // The first outputs of a fresh sfc32 state are poorly mixed.
    for (let i = 0; i < 16; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }
}

/** Inverse-CDF sampler: the CDF is computed once, each draw is one binary search. */
export class ZipfSampler {
  readonly objects: number;
  readonly alpha: number;
  private readonly cdf: Float64Array;

  constructor(objects: number, alpha: number) {
    if (!Number.isInteger(objects) || objects < 1) throw new Error(`objects must be a positive integer, got ${objects}`);
    if (!(alpha >= 0) || !Number.isFinite(alpha)) throw new Error(`alpha must be a finite number >= 0, got ${alpha}`);
    this.objects = objects;
    this.alpha = alpha;
    this.cdf = new Float64Array(objects);
    let total = 0;
    for (let rank = 0; rank < objects; rank++) {
      total += (rank + 1) ** -alpha;
      this.cdf[rank] = total;
    }
    for (let rank = 0; rank < objects; rank++) this.cdf[rank] /= total;
    this.cdf[objects - 1] = 1; // no draw may fall past the end through rounding
  }

  /** Probability of one rank. */
  probability(rank: number): number {
    return rank === 0 ? this.cdf[0] : this.cdf[rank] - this.cdf[rank - 1];
  }

  /** The rank whose CDF interval holds u, for u in [0, 1). */
  rankAt(u: number): number {
    let low = 0;
    let high = this.objects - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.cdf[mid] > u) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  draw(random: SeededRandom): number {
    return this.rankAt(random.nextDouble());
  }
}

/** `length` ranks drawn from Zipf(alpha) over `objects`, the same for the same arguments in every process. */
export function zipfStream(objects: number, alpha: number, length: number, seed: number): Uint32Array {
  const sampler = new ZipfSampler(objects, alpha);
  const random = new SeededRandom(seed);
  const stream = new Uint32Array(length);
  for (let i = 0; i < length; i++) stream[i] = sampler.draw(random);
  return stream;
}

/** The request path of an object, as the bench sends it and the origin answers it. */
export function objectPath(rank: number): string {
  return `/obj/${rank}`;
}

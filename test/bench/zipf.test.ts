import t from 'tap';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { SeededRandom, ZipfSampler, objectPath, zipfStream } from '../../bench/cache/zipf.ts';

function harmonic(objects: number, alpha: number): number {
  let sum = 0;
  for (let k = 1; k <= objects; k++) sum += k ** -alpha;
  return sum;
}

t.test('the same seed gives the same stream, another seed another one', async (t) => {
  const a = zipfStream(1000, 1.0, 5000, 7);
  const b = zipfStream(1000, 1.0, 5000, 7);
  const c = zipfStream(1000, 1.0, 5000, 8);
  t.same(Array.from(a), Array.from(b));
  let differences = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differences++;
  t.ok(differences > 2500, `seeds 7 and 8 differ at ${differences} of 5000 positions`);
});

t.test('another process regenerates the exact stream', async (t) => {
  const module = path.resolve(import.meta.dirname, '../../bench/cache/zipf.ts');
  const script = `import { zipfStream } from ${JSON.stringify(module)};
    process.stdout.write(Array.from(zipfStream(5000, 0.9, 2000, 42)).join(','));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(output, Array.from(zipfStream(5000, 0.9, 2000, 42)).join(','));
});

t.test('probabilities follow (r + 1)^-alpha / H and sum to 1', async (t) => {
  for (const alpha of [0.6, 0.9, 1.0, 1.2]) {
    const sampler = new ZipfSampler(2000, alpha);
    const h = harmonic(2000, alpha);
    let total = 0;
    for (let rank = 0; rank < 2000; rank++) total += sampler.probability(rank);
    t.ok(Math.abs(total - 1) < 1e-9, `alpha ${alpha}: total ${total}`);
    for (const rank of [0, 1, 9, 99, 1999]) {
      const expected = (rank + 1) ** -alpha / h;
      t.ok(
        Math.abs(sampler.probability(rank) - expected) < 1e-12 * Math.max(1, 1 / expected),
        `alpha ${alpha} rank ${rank}: ${sampler.probability(rank)} vs ${expected}`,
      );
    }
  }
  const uniform = new ZipfSampler(50, 0);
  for (let rank = 0; rank < 50; rank++) t.ok(Math.abs(uniform.probability(rank) - 0.02) < 1e-12);
});

t.test('rankAt inverts the CDF at the interval edges', async (t) => {
  const sampler = new ZipfSampler(100, 1.0);
  const p0 = sampler.probability(0);
  t.equal(sampler.rankAt(0), 0);
  t.equal(sampler.rankAt(p0 * 0.999), 0);
  t.equal(sampler.rankAt(p0), 1, 'the upper edge of an interval belongs to the next rank');
  t.equal(sampler.rankAt(p0 + sampler.probability(1) / 2), 1);
  t.equal(sampler.rankAt(1 - 1e-12), 99);
  t.equal(sampler.rankAt(0.9999999999999999), 99);
});

t.test('drawn frequencies match the distribution', async (t) => {
  const objects = 1000;
  const alpha = 1.0;
  const draws = 400_000;
  const sampler = new ZipfSampler(objects, alpha);
  const stream = zipfStream(objects, alpha, draws, 3);
  const counts = new Float64Array(objects);
  let outOfRange = 0;
  for (const rank of stream) {
    if (rank < objects) counts[rank]++;
    else outOfRange++;
  }
  t.equal(outOfRange, 0, 'every rank is below the object count');
  // Chi-square over the 30 most popular ranks and one bucket for the rest:
  // 30 degrees of freedom, the 99.9th percentile is about 59.7.
  let chiSquare = 0;
  let restExpected = 1;
  let restObserved = draws;
  for (let rank = 0; rank < 30; rank++) {
    const expected = sampler.probability(rank) * draws;
    chiSquare += (counts[rank] - expected) ** 2 / expected;
    restExpected -= sampler.probability(rank);
    restObserved -= counts[rank];
  }
  chiSquare += (restObserved - restExpected * draws) ** 2 / (restExpected * draws);
  t.ok(chiSquare < 59.7, `chi-square ${chiSquare.toFixed(1)} over 31 buckets`);
  t.ok(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99], 'popularity falls with rank');
  const share0 = counts[0] / draws;
  t.ok(Math.abs(share0 - 1 / harmonic(objects, alpha)) < 0.005, `rank 0 share ${share0}`);
});

t.test('SeededRandom gives doubles in [0, 1) spread evenly', async (t) => {
  const random = new SeededRandom(123);
  const buckets = new Array<number>(10).fill(0);
  let min = 1;
  let max = 0;
  for (let i = 0; i < 100_000; i++) {
    const u = random.nextDouble();
    min = Math.min(min, u);
    max = Math.max(max, u);
    buckets[Math.floor(u * 10)]++;
  }
  t.ok(min >= 0 && max < 1, `range [${min}, ${max}]`);
  for (const count of buckets) t.ok(Math.abs(count - 10_000) < 500, `bucket count ${count}`);
  t.not(new SeededRandom(1).nextUint32(), new SeededRandom(2).nextUint32());
});

t.test('bad arguments are refused', async (t) => {
  t.throws(() => new ZipfSampler(0, 1), /objects/);
  t.throws(() => new ZipfSampler(1.5, 1), /objects/);
  t.throws(() => new ZipfSampler(10, -0.5), /alpha/);
  t.throws(() => new ZipfSampler(10, Number.NaN), /alpha/);
  t.throws(() => new ZipfSampler(10, Number.POSITIVE_INFINITY), /alpha/);
});

t.test('object paths', async (t) => {
  t.equal(objectPath(0), '/obj/0');
  t.equal(objectPath(99999), '/obj/99999');
});

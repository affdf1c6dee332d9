import t from 'tap';
import { simulateLru } from '../../bench/cache/lru-bound.ts';
import { zipfStream } from '../../bench/cache/zipf.ts';

// The obvious LRU: an array, most recent last. Slow, and easy to trust.
function referenceLruHits(objects: readonly number[], capacity: number, measureFrom: number): number {
  const recency: number[] = [];
  let hits = 0;
  objects.forEach((object, position) => {
    const at = recency.indexOf(object);
    if (at !== -1) {
      if (position >= measureFrom) hits++;
      recency.splice(at, 1);
    } else if (capacity > 0 && recency.length === capacity) {
      recency.shift();
    }
    if (capacity > 0) recency.push(object);
  });
  return hits;
}

t.test('a hand-worked sequence', async (t) => {
  // capacity 2: 1 miss, 2 miss, 1 hit, 3 miss (evicts 2), 2 miss (evicts 1), 1 miss (evicts 3), 2 hit
  const stream = Uint32Array.from([1, 2, 1, 3, 2, 1, 2]);
  t.same(simulateLru(stream, 4, 2, 0, 0, 7), { requests: 7, hits: 2, hitRate: 2 / 7 });
  // Measuring from position 3 on: only the last hit counts, the warm-up still shapes the cache.
  t.same(simulateLru(stream, 4, 2, 0, 3, 7), { requests: 4, hits: 1, hitRate: 1 / 4 });
  // capacity 3 keeps everything: hits at positions 2, 4, 5, 6
  t.equal(simulateLru(stream, 4, 3, 0, 0, 7).hits, 4);
});

t.test('agrees with a reference LRU on Zipf streams', async (t) => {
  const objects = 300;
  for (const alpha of [0.7, 1.0]) {
    const stream = zipfStream(objects, alpha, 6000, 11);
    const plain = Array.from(stream);
    for (const capacity of [1, 2, 7, 30, 120, 299]) {
      for (const measureFrom of [0, 2500]) {
        const simulated = simulateLru(stream, objects, capacity, 0, measureFrom, stream.length);
        const expected = referenceLruHits(plain, capacity, measureFrom);
        t.equal(simulated.hits, expected, `alpha ${alpha} capacity ${capacity} from ${measureFrom}`);
        t.equal(simulated.requests, stream.length - measureFrom);
      }
    }
  }
});

t.test('a bigger cache never hits less (LRU inclusion), and N x C beats C on Zipf', async (t) => {
  const stream = zipfStream(10_000, 1.0, 100_000, 5);
  let previous = -1;
  for (const capacity of [10, 100, 300, 1000, 3000]) {
    const { hits } = simulateLru(stream, 10_000, capacity, 0, 20_000, stream.length);
    t.ok(hits >= previous, `capacity ${capacity}: ${hits} >= ${previous}`);
    previous = hits;
  }
  const single = simulateLru(stream, 10_000, 300, 0, 50_000, 100_000).hitRate;
  const partitioned = simulateLru(stream, 10_000, 8 * 300, 0, 50_000, 100_000).hitRate;
  t.ok(partitioned > single + 0.1, `N x C ${partitioned.toFixed(3)} vs C ${single.toFixed(3)}`);
});

t.test('only compulsory misses when everything fits', async (t) => {
  const stream = zipfStream(500, 0.8, 20_000, 9);
  const distinct = new Set(stream).size;
  const result = simulateLru(stream, 500, 500, 0, 0, stream.length);
  t.equal(result.hits, stream.length - distinct);
});

t.test('positions wrap around the end of the stream', async (t) => {
  const stream = zipfStream(200, 1.0, 1000, 2);
  const twice = new Uint32Array(2000);
  twice.set(stream, 0);
  twice.set(stream, 1000);
  const wrapped = simulateLru(stream, 200, 20, 700, 1100, 1900);
  const unrolled = simulateLru(twice, 200, 20, 700, 1100, 1900);
  t.same(wrapped, unrolled);
  t.equal(wrapped.requests, 800);
});

t.test('edge cases', async (t) => {
  const stream = Uint32Array.from([0, 0, 1, 1]);
  t.same(simulateLru(stream, 2, 0, 0, 0, 4), { requests: 4, hits: 0, hitRate: 0 }, 'capacity 0 never hits');
  t.same(simulateLru(stream, 2, 1, 0, 4, 4), { requests: 0, hits: 0, hitRate: 0 }, 'an empty measured window');
  t.same(simulateLru(stream, 2, 1, 2, 2, 2), { requests: 0, hits: 0, hitRate: 0 }, 'an empty run');
  t.same(simulateLru(new Uint32Array(0), 2, 1, 0, 0, 5), { requests: 0, hits: 0, hitRate: 0 }, 'an empty stream');
  t.throws(() => simulateLru(stream, 2, 1, 1, 0, 4), /outside/);
  t.throws(() => simulateLru(stream, 2, 1, 0, 5, 4), /outside/);
  t.throws(() => simulateLru(Uint32Array.from([0, 3]), 2, 1, 0, 0, 2), /not below/);
});

// Hit-rate bounds by simulation on the exact object sequence the bench sent:
// one LRU of capacity C over the whole stream is what a scheduler without
// locality gets (round robin: every cache sees a thinned copy of the stream,
// which an LRU of C serves about as well as the whole one), and one LRU of
// N x C is perfect partitioning (every object cached on exactly one node).

export interface LruSimulation {
  requests: number; // measured requests
  hits: number; // hits among them
  hitRate: number; // hits / requests, 0 when there were none
}

/**
 * Runs an LRU of `capacity` objects over stream positions [start, end),
 * counting hits only from `measureFrom` on (earlier requests warm the cache).
 * Positions wrap around the stream, as the bench's request feed does.
 * Objects are integers in [0, objects); O(1) per request, no allocation per request.
 */
export function simulateLru(
  stream: Uint32Array,
  objects: number,
  capacity: number,
  start: number,
  measureFrom: number,
  end: number,
): LruSimulation {
  if (stream.length === 0 || end <= start) return { requests: 0, hits: 0, hitRate: 0 };
  if (measureFrom < start || measureFrom > end) throw new Error(`measureFrom ${measureFrom} is outside [${start}, ${end}]`);
  // A doubly linked recency list threaded through typed arrays indexed by object.
  const newer = new Int32Array(objects).fill(-1);
  const older = new Int32Array(objects).fill(-1);
  const cached = new Uint8Array(objects);
  let newest = -1;
  let oldest = -1;
  let size = 0;
  let hits = 0;
  const length = stream.length;

  const unlink = (object: number): void => {
    const n = newer[object];
    const o = older[object];
    if (n === -1) newest = o;
    else older[n] = o;
    if (o === -1) oldest = n;
    else newer[o] = n;
    newer[object] = -1;
    older[object] = -1;
  };
  const pushNewest = (object: number): void => {
    older[object] = newest;
    newer[object] = -1;
    if (newest !== -1) newer[newest] = object;
    newest = object;
    if (oldest === -1) oldest = object;
  };

  for (let position = start; position < end; position++) {
    const object = stream[position % length];
    if (object >= objects) throw new Error(`object ${object} at position ${position} is not below ${objects}`);
    if (cached[object] === 1) {
      if (position >= measureFrom) hits++;
      if (newest !== object) {
        unlink(object);
        pushNewest(object);
      }
      continue;
    }
    if (capacity <= 0) continue;
    if (size === capacity) {
      const evicted = oldest;
      unlink(evicted);
      cached[evicted] = 0;
      size--;
    }
    pushNewest(object);
    cached[object] = 1;
    size++;
  }
  const requests = end - measureFrom;
  return { requests, hits, hitRate: requests === 0 ? 0 : hits / requests };
}

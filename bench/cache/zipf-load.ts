// Load that follows a precomputed object stream: autocannon (programmatic API)
// with a setupRequest hook that gives every request the next path of the
// stream, whichever connection sends it. The feed's position after a run says
// exactly which part of the stream went out, so the bounds can be simulated on
// the same requests. autocannon runs inside the harness process.
import { autocannon, loadSample, LoadStoppedError } from '../lib/load.ts';
import type { AutocannonInstance, LoadSample } from '../lib/load.ts';

/** The object stream as request paths; `position` counts the requests handed out so far. */
export class StreamFeed {
  position = 0;
  private readonly stream: Uint32Array;
  private readonly paths: readonly string[];

  constructor(stream: Uint32Array, paths: readonly string[]) {
    if (stream.length === 0) throw new Error('the object stream is empty');
    this.stream = stream;
    this.paths = paths;
  }

  /** Path of the next request; wraps around the end of the stream. */
  nextPath(): string {
    const path = this.paths[this.stream[this.position % this.stream.length]];
    this.position++;
    return path;
  }
}

export interface StreamLoadOptions {
  port: number;
  connections: number;
  /** Run for this long... */
  durationSeconds?: number;
  /** ...or until this many responses came back (then maxSeconds caps it). */
  amount?: number;
  maxSeconds?: number;
}

let inFlight: AutocannonInstance | null = null;
let stopped = false;

export async function runStreamLoad(feed: StreamFeed, options: StreamLoadOptions): Promise<LoadSample> {
  if (stopped) throw new LoadStoppedError();
  const instance = autocannon({
    url: `http://127.0.0.1:${options.port}`,
    connections: options.connections,
    pipelining: 1,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSeconds ?? 1 }),
    timeout: 10, // seconds per request before it counts as a timeout error
    requests: [
      {
        method: 'GET',
        path: '/',
        setupRequest: (request) => {
          request.path = feed.nextPath();
          return request;
        },
      },
    ],
  });
  inFlight = instance;
  const cap = options.maxSeconds === undefined ? null : setTimeout(() => instance.stop(), options.maxSeconds * 1000);
  try {
    const result = await instance;
    if (stopped) throw new LoadStoppedError(); // cut short: the numbers mean nothing
    return loadSample(result);
  } finally {
    if (cap !== null) clearTimeout(cap);
    inFlight = null;
  }
}

/** For SIGINT and the deadline: end the current run now and refuse new ones. */
export function stopStreamLoad(): void {
  stopped = true;
  inFlight?.stop();
}

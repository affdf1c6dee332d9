// One bounded load run with autocannon's programmatic API, reduced to the
// numbers the report needs. autocannon runs inside the harness process.
import { createRequire } from 'node:module';

// autocannon ships no types; this is the part of its API used here.
export interface AutocannonPercentiles {
  mean: number;
  p50: number;
  p99: number;
  total: number;
}
export interface AutocannonResult {
  duration: number; // seconds
  errors: number; // includes timeouts
  timeouts: number;
  non2xx: number;
  latency: AutocannonPercentiles; // ms, whole-ms resolution
  requests: AutocannonPercentiles; // per-second samples; total = completed
  throughput: AutocannonPercentiles; // bytes per second samples
}
export interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  stop(): void;
}
/** One request template; setupRequest may rewrite it before each send. */
export interface AutocannonRequest {
  method: string;
  path: string;
  setupRequest: (request: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  pipelining: number;
  duration?: number;
  amount?: number;
  timeout: number;
  requests?: AutocannonRequest[];
}) => AutocannonInstance;

export const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** The numbers the reports need from one autocannon run. */
export function loadSample(result: AutocannonResult): LoadSample {
  return {
    rps: result.duration > 0 ? result.requests.total / result.duration : 0,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    bytesPerSecond: result.throughput.mean,
    durationSeconds: result.duration,
  };
}

export interface LoadSample {
  rps: number; // completed requests / wall-clock duration (exact for short and fractional runs)
  p50Ms: number;
  p99Ms: number;
  requests: number; // completed
  errors: number; // connection errors and timeouts
  timeouts: number;
  non2xx: number;
  bytesPerSecond: number;
  durationSeconds: number;
}

export interface LoadOptions {
  port: number;
  path: string;
  connections: number;
  durationSeconds: number;
}

let inFlight: AutocannonInstance | null = null;
let stopped = false;

export async function runLoad(options: LoadOptions): Promise<LoadSample> {
  if (stopped) throw new LoadStoppedError();
  const instance = autocannon({
    url: `http://127.0.0.1:${options.port}${options.path}`,
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds,
    timeout: 10, // seconds per request before it counts as a timeout error
  });
  inFlight = instance;
  try {
    const result = await instance;
    if (stopped) throw new LoadStoppedError(); // cut short: the numbers mean nothing
    return loadSample(result);
  } finally {
    inFlight = null;
  }
}

export class LoadStoppedError extends Error {
  constructor() {
    super('load generation was stopped');
  }
}

// For SIGINT and the deadline: end the current run now and refuse new ones.
export function stopLoad(): void {
  stopped = true;
  inFlight?.stop();
}

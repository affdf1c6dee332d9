// Load for the benches. The proxy bench drives wrk in its own process and
// measures the target's CPU time per request; the cache bench drives
// autocannon's programmatic API (it needs a request per key), reduced to the
// same numbers.
import { createRequire } from 'node:module';
import { execFile, type ChildProcess } from 'node:child_process';
import { treeCpuSeconds } from './cpu.ts';

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
  /** CPU time the measured process (and its children) used per request, in µs; null when not measured. */
  cpuUsPerRequest?: number | null;
}

export interface LoadOptions {
  port: number;
  path: string;
  connections: number;
  durationSeconds: number;
  /** The process whose CPU time is measured over the run (with its children). */
  pid: number;
  /** https: wrk's connections do one handshake each and then keep alive, so its cost is amortised. */
  tls?: boolean;
}

// The proxy bench's load generator: wrk (Debian's) in its own process, one
// thread, so it never competes with the proxy inside one event loop and its
// own cost stays out of the proxy's CPU figure.
let wrkBinary: string | null = null;
let inFlight: ChildProcess | null = null;
let stopped = false;

export function useWrk(binary: string): void {
  wrkBinary = binary;
}

export async function runLoad(options: LoadOptions): Promise<LoadSample> {
  if (stopped) throw new LoadStoppedError();
  if (wrkBinary === null) throw new Error('runLoad: useWrk() was not called');
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${Math.max(1, Math.round(options.durationSeconds))}s`,
    '--latency',
    `${options.tls === true ? 'https' : 'http'}://127.0.0.1:${options.port}${options.path}`,
  ];
  const cpuBefore = treeCpuSeconds(options.pid);
  const started = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(wrkBinary!, args, { timeout: (options.durationSeconds + 30) * 1000 }, (err, stdout, stderr) => {
      inFlight = null;
      if (err !== null) reject(new Error(`wrk failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    inFlight = child;
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = treeCpuSeconds(options.pid) - cpuBefore;
  if (stopped) throw new LoadStoppedError(); // cut short: the numbers mean nothing
  const sample = parseWrk(output, seconds);
  sample.cpuUsPerRequest = sample.requests > 0 ? (cpuSeconds * 1e6) / sample.requests : null;
  return sample;
}

/** wrk's --latency report as the numbers the report needs. */
export function parseWrk(output: string, wallSeconds: number): LoadSample {
  const requestsMatch = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(output);
  if (requestsMatch === null) throw new Error(`cannot read wrk's output:\n${output}`);
  const requests = Number(requestsMatch[1]);
  const durationSeconds = toMs(Number(requestsMatch[2]), requestsMatch[3]) / 1000 || wallSeconds;
  const latency = (percent: string): number => {
    const m = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    return m === null ? 0 : toMs(Number(m[1]), m[2]);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const timeouts = socket === null ? 0 : Number(socket[4]);
  const errors = socket === null ? 0 : Number(socket[1]) + Number(socket[2]) + Number(socket[3]) + timeouts;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(output);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as const;
  return {
    rps: durationSeconds > 0 ? requests / durationSeconds : 0,
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests,
    errors,
    timeouts,
    non2xx,
    bytesPerSecond: transfer === null ? 0 : Number(transfer[1]) * unit[transfer[2] as keyof typeof unit],
    durationSeconds,
  };
}

function toMs(value: number, unit: string): number {
  switch (unit) {
    case 'us':
      return value / 1000;
    case 's':
      return value * 1000;
    case 'm':
      return value * 60_000;
    default:
      return value;
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
  inFlight?.kill('SIGKILL');
}

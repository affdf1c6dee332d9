// `tcpvs loadtest URL`: load-tests a running tcpvs, or any HTTP URL, with
// autocannon, showing progress while it runs and a readable summary at the
// end: requests per second, latency percentiles, throughput, and every error
// and non-2xx response counted. For comparing proxies fairly, use
// `npm run bench` (wrk in its own process, CPU per request); this is the
// everyday "how does my setup hold up" tool.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

export const LOADTEST_USAGE = `usage: tcpvs loadtest URL [options]
  -c, --connections N   concurrent connections (default 50)
  -d, --duration S      seconds to run (default 10)
  -p, --pipelining N    requests in flight per connection (default 1)
  -m, --method M        request method (default GET)
  -H, --header 'N: V'   a request header (repeat for more)
  -b, --body TEXT       request body
  -t, --timeout S       seconds before a request counts as timed out (default 10)
      --json            print autocannon's result as JSON instead of tables
Exit status: 0 when every response was 2xx and nothing failed, 1 otherwise, 2 on a usage error.`;

interface LoadtestIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Stops a run early (as Ctrl-C does); for tests. */
  stop?: AbortSignal;
}

// autocannon ships no types; the part of its API used here.
interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  duration: number;
}
interface Instance extends PromiseLike<Result> {
  stop(): void;
}
interface Autocannon {
  (options: Record<string, unknown>): Instance;
  track(instance: Instance, options: Record<string, unknown>): void;
}

const MAX_CONNECTIONS = 10_000;
const MAX_DURATION_S = 3600;

function wholeNumber(raw: string | undefined, fallback: number, flag: string, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag}: "${raw}" is not a whole number from 1 to ${max}`);
  return n;
}

export async function runLoadtest(argv: string[], io: LoadtestIo): Promise<number> {
  let options;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        connections: { type: 'string', short: 'c' },
        duration: { type: 'string', short: 'd' },
        pipelining: { type: 'string', short: 'p' },
        method: { type: 'string', short: 'm' },
        header: { type: 'string', short: 'H', multiple: true },
        body: { type: 'string', short: 'b' },
        timeout: { type: 'string', short: 't' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help === true) {
      io.stdout.write(LOADTEST_USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new Error(positionals.length === 0 ? 'a URL is required' : `one URL, not ${positionals.length}`);
    let url: URL;
    try {
      url = new URL(positionals[0]);
    } catch {
      throw new Error(`"${positionals[0]}" is not a URL (e.g. http://127.0.0.1:8080/)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`URL: "${url.protocol}" is not http: or https:`);
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const colon = h.indexOf(':');
      if (colon <= 0) throw new Error(`--header: "${h}" is not NAME: VALUE`);
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    }
    options = {
      url: url.href,
      connections: wholeNumber(values.connections, 50, '--connections', MAX_CONNECTIONS),
      duration: wholeNumber(values.duration, 10, '--duration', MAX_DURATION_S),
      pipelining: wholeNumber(values.pipelining, 1, '--pipelining', 1000),
      timeout: wholeNumber(values.timeout, 10, '--timeout', 3600),
      method: (values.method ?? 'GET').toUpperCase(),
      headers,
      body: values.body,
      json: values.json === true,
    };
  } catch (err) {
    io.stderr.write(`tcpvs loadtest: ${(err as Error).message}\n${LOADTEST_USAGE}\n`);
    return 2;
  }
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const { json, ...load } = options;
  io.stderr.write(`tcpvs loadtest: ${load.method} ${load.url}, ${load.connections} connections, ${load.duration} s\n`);
  const instance = autocannon(load);
  const stop = () => instance.stop();
  process.once('SIGINT', stop);
  io.stop?.addEventListener('abort', stop);
  if (!json)
    autocannon.track(instance, { outputStream: io.stderr, renderProgressBar: true, renderResultsTable: true, renderLatencyTable: false });
  let result: Result;
  try {
    result = await instance;
  } finally {
    process.off('SIGINT', stop);
    io.stop?.removeEventListener('abort', stop);
  }
  if (json) io.stdout.write(JSON.stringify(result) + '\n');
  else io.stdout.write(summary(result));
  // autocannon's errors include its timeouts.
  return result.errors + result.non2xx === 0 && result.requests.total > 0 ? 0 : 1;
}

/** The lines a person reads first, after autocannon's tables. */
function summary(r: Result): string {
  const bytes = r.throughput.average;
  const throughput = bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB/s` : `${(bytes / 1024).toFixed(1)} KiB/s`;
  return [
    '',
    `requests:   ${r.requests.total.toLocaleString('en')} in ${r.duration.toFixed(1)} s, ${Math.round(r.requests.average).toLocaleString('en')} per second`,
    `latency:    p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms`,
    `throughput: ${throughput}`,
    `failures:   ${r.errors} errors (${r.timeouts} of them timeouts), ${r.non2xx} responses not 2xx`,
    '',
  ].join('\n');
}

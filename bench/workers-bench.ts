// `npm run bench:workers`: what sharing state across worker threads costs a
// request. tcpvs with --workers 1 (the data path in the main thread, nothing
// crossing threads) beside tcpvs with --workers 2 (two worker threads over
// shared records), both with source persistence over wlc, so every request
// takes the pin table's lock and counts in-flight requests with Atomics.
//
// Not flattering anyone: the load generator is wrk (Debian's) in its own
// process, the backend nginx serving a static 100-byte file (1 worker),
// rounds alternate between the two tcpvs, and the number that matters is
// each tcpvs process's own CPU time (utime + stime of all its threads, from
// /proc) per request served, beside its requests per second. Target: at most
// 5 µs of CPU per request more with 2 workers than with 1. The table is
// printed and bench/results/workers-latest.json written; the next run
// compares against it.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { LOCAL_RESULTS_DIR, previousResultFile } from './lib/results-dir.ts';
import os from 'node:os';
import path from 'node:path';
import { freePort, startChild, stopChild, waitUntilAnswering, type ManagedChild } from './lib/processes.ts';
import { ensureSystemProxy } from './lib/system-proxies.ts';
import { runLoad, stopLoad, useWrk, type LoadSample } from './lib/load.ts';
import { guardRun } from './lib/run-guard.ts';
import { BODY_SIZES, bodyPath, makeBody } from './lib/bodies.ts';
import { staticBackendArgs } from './lib/targets.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const RESULT = path.join(LOCAL_RESULTS_DIR, 'workers-latest.json');
const TARGET_US = 5;
const SIZE = BODY_SIZES[0]; // 100 bytes
const PATH = bodyPath(SIZE);
const BODY = makeBody(SIZE.bytes);
const say = (line: string): void => void process.stdout.write(line + '\n');

interface Options {
  rounds: number;
  seconds: number;
  connections: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rounds: 3, seconds: 6, connections: 50 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const n = Number(value);
    const positive = () => {
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${value}" is not a positive whole number`);
      i++;
      return n;
    };
    if (flag === '--rounds') o.rounds = positive();
    else if (flag === '--seconds') o.seconds = positive();
    else if (flag === '--connections') o.connections = positive();
    else throw new Error(`unknown option ${flag} (--rounds N, --seconds S, --connections C)`);
  }
  return o;
}

const guard = guardRun('workers-bench', stopLoad);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  guard.armDeadline(120 + options.rounds * options.seconds * 2 * 2);
  const wrk = await ensureSystemProxy('wrk', ['wrk'], true, say);
  const nginx = await ensureSystemProxy('nginx', ['nginx-light', 'nginx'], true, say);
  if (!('binary' in wrk) || !('binary' in nginx)) {
    process.stderr.write(`workers-bench: ${'reason' in wrk ? wrk.reason : ''} ${'reason' in nginx ? nginx.reason : ''}\n`);
    return 1;
  }
  const work = (guard.workDir = mkdtempSync(path.join(os.tmpdir(), 'tcpvs-workers-bench-')));

  // nginx: one worker, two ports (two real servers), the bench's static bodies.
  const backendPorts = [await freePort(), await freePort()];
  const backend = startChild('nginx', nginx.binary, staticBackendArgs(backendPorts, path.join(work, 'nginx'), work), work);
  const backendReady = await waitUntilAnswering(backendPorts[0], PATH, BODY, backend, 15_000);
  if (backendReady !== null) throw new Error(`nginx: ${backendReady}`);

  const targets: Array<{ name: string; workers: number; port: number; child?: ManagedChild }> = [];
  for (const workers of [1, 2]) {
    const port = await freePort();
    const file = path.join(work, `tcpvs-${workers}.tcpvs`);
    writeFileSync(
      file,
      [
        'log level silent',
        `l4 admin ${work}/admin-${workers}.sock`,
        'service bench',
        `  listen 127.0.0.1:${port}`,
        '  group backend scheduler wlc',
        ...backendPorts.map((p) => `    server 127.0.0.1:${p}`),
        '    persist source',
        '  default backend',
        '',
      ].join('\n'),
    );
    const child = startChild(
      `tcpvs-${workers}`,
      path.join(repoRoot, 'node_modules', '.bin', 'node'),
      [path.join(repoRoot, 'index.ts'), 'start', '--workers', String(workers), '-c', file],
      repoRoot,
    );
    const ready = await waitUntilAnswering(port, PATH, BODY, child, 20_000);
    if (ready !== null) throw new Error(`tcpvs --workers ${workers}: ${ready}`);
    targets.push({ name: `tcpvs --workers ${workers}`, workers, port, child });
  }

  say(
    `workers bench: wrk -t1 -c${options.connections}, ${options.rounds} alternating rounds of ${options.seconds} s, 100 B from nginx (1 worker)`,
  );
  useWrk(wrk.binary);
  const load = (t: (typeof targets)[number], durationSeconds: number) =>
    runLoad({ port: t.port, path: PATH, connections: options.connections, durationSeconds, pid: t.child!.pid });
  const rounds = new Map<string, LoadSample[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) await load(t, 2); // warm-up
  for (let round = 0; round < options.rounds; round++) {
    for (const t of round % 2 === 0 ? targets : [...targets].reverse()) rounds.get(t.name)!.push(await load(t, options.seconds));
  }
  for (const t of targets) await stopChild(t.child!);
  await stopChild(backend);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = targets.map((t) => {
    const rs = rounds.get(t.name)!;
    return {
      target: t.name,
      workers: t.workers,
      rps: median(rs.map((r) => r.rps)),
      cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest ?? NaN)),
      errors: rs.reduce((n, r) => n + r.errors + r.non2xx, 0),
      rounds: rs,
    };
  });
  const previousFile = previousResultFile('workers', LOCAL_RESULTS_DIR);
  const previous = previousFile === null ? null : (JSON.parse(readFileSync(previousFile, 'utf8')) as { summary: typeof summary });
  say('');
  say('| target | rps (median) | CPU µs/request (median) | errors | previous run µs/request |');
  say('|---|---|---|---|---|');
  for (const s of summary) {
    const before = previous?.summary.find((p) => p.target === s.target)?.cpuUsPerRequest;
    say(
      `| ${s.target} | ${Math.round(s.rps).toLocaleString('en')} | ${s.cpuUsPerRequest.toFixed(1)} | ${s.errors} | ${before === undefined ? '-' : before.toFixed(1)} |`,
    );
  }
  const cost = summary[1].cpuUsPerRequest - summary[0].cpuUsPerRequest;
  const met = cost <= TARGET_US;
  say('');
  say(
    `sharing costs ${cost.toFixed(1)} µs of CPU per request (--workers 2 minus --workers 1); target at most ${TARGET_US} µs: ${met ? 'met' : 'NOT met'}`,
  );
  mkdirSync(path.dirname(RESULT), { recursive: true });
  writeFileSync(
    RESULT,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? '' },
        options,
        summary,
        sharingCostUs: cost,
        targetUs: TARGET_US,
        met,
      },
      null,
      2,
    ) + '\n',
  );
  say(`wrote ${path.relative(repoRoot, RESULT)}`);
  return met ? 0 : 1;
}

void guard.run(main);

// `npm run bench`: tcpvs side by side with nginx, HAProxy, a bare Node TCP
// pipe, node-http-proxy and @fastify/http-proxy, all in front of one backend
// on loopback (nginx serving static files, 1 worker); and tcpvs next to nginx
// terminating TLS (one certificate, the same ciphers, keep-alive). The load generator is
// wrk in its own process, so it never takes the CPU that would separate the
// proxies inside one event loop. On a shared, noisy machine only figures from
// the same run mean much: targets are interleaved round by round, every rps is
// reported relative to the backend and to nginx, and beside it each target's
// own CPU time per request (utime + stime from /proc), the figure that holds
// when the neighbours move. See
// docs/benchmarks.md#benchmark-tcpvs-next-to-nginx-haproxy-and-the-node-proxies.
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { LOCAL_RESULTS_DIR, previousResultFile } from './lib/results-dir.ts';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, makeBody } from './lib/bodies.ts';
import { LoadStoppedError, runLoad, stopLoad, useWrk } from './lib/load.ts';
import { USAGE, parseBenchOptions } from './lib/options.ts';
import type { BenchOptions } from './lib/options.ts';
import { describeMismatch, fetchOnce, freePort } from './lib/processes.ts';
import {
  checkGoals,
  emptyTargetResult,
  formatChangeSince,
  formatGoals,
  formatSizeTable,
  readPreviousResult,
  summarizeSize,
  writeResultFiles,
} from './lib/report.ts';
import type { BenchResult, MachineInfo, SizeResult, TargetResult } from './lib/report.ts';
import { ensureSystemProxy, findBinary, runCommand } from './lib/system-proxies.ts';
import { startTarget } from './lib/targets.ts';
import type { RunningTarget, TargetContext, TargetName } from './lib/targets.ts';
import { guardRun } from './lib/run-guard.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const say = (line: string): void => {
  process.stdout.write(line + '\n');
};

const guard = guardRun('proxy-bench', stopLoad);

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseBenchOptions>;
  try {
    parsed = parseBenchOptions(process.argv.slice(2), process.env, LOCAL_RESULTS_DIR);
  } catch (err) {
    process.stderr.write(`proxy-bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if ('help' in parsed) {
    say(USAGE);
    return 0;
  }
  const options: BenchOptions = parsed;
  // wrk takes whole seconds; below 1 s a round is mostly ramp-up.
  const secondsPerRound = Math.max(1, Math.round(options.durationSeconds / options.rounds));
  armDeadline(options, secondsPerRound);

  const startedAt = new Date().toISOString();
  const loadAverageAtStart = os.loadavg();
  guard.workDir = mkdtempSync(path.join(os.tmpdir(), 'tcpvs-bench-'));
  say(
    `tcpvs proxy bench: targets ${options.targets.join(', ')}; sizes ${options.sizes.map((s) => s.label).join(', ')}; ` +
      `${options.connections} connections; warm-up ${options.warmupSeconds} s, then ${options.rounds} x ${secondsPerRound} s per target per size`,
  );

  const wrk = await ensureSystemProxy('wrk', ['wrk'], options.allowInstall, say);
  if (!('binary' in wrk)) throw new Error(`no load generator: ${wrk.reason}`);
  useWrk(wrk.binary);
  const ctx: TargetContext = {
    backend: options.backend,
    repoRoot,
    ...(options.baseline === null ? {} : { baseline: await extractBaseline(options.baseline, guard.workDir) }),
    workDir: guard.workDir,
    backendPort: await freePort(),
    allowInstall: options.allowInstall,
    startupTimeoutMs: 15_000,
    say,
  };
  const backendStart = await startTarget('backend', ctx.backendPort, ctx);
  if (!backendStart.ok) throw new Error(`the bare backend did not start: ${backendStart.reason}`);

  const running = new Map<TargetName, RunningTarget>([['backend', backendStart.target]]);
  const startFailures = new Map<TargetName, string>();
  for (const name of options.targets) {
    if (name === 'backend') continue;
    if (guard.abortCode !== null) throw new LoadStoppedError();
    const started = await startTarget(name, await freePort(), ctx);
    if (started.ok) running.set(name, started.target);
    else startFailures.set(name, started.reason);
    say(`  ${name}: ${started.ok ? `up on 127.0.0.1:${started.target.port} (${started.target.version})` : started.reason}`);
  }

  const sizes: SizeResult[] = [];
  for (const size of options.sizes) {
    const expected = makeBody(size.bytes);
    const results = new Map<TargetName, TargetResult>();
    const measurable: RunningTarget[] = [];
    // One real response through each target first: a proxy that answers wrong is not "fast".
    for (const name of options.targets) {
      const target = running.get(name);
      if (target === undefined) {
        results.set(name, emptyTargetResult(name, 'unavailable', startFailures.get(name) ?? 'not started', ''));
        continue;
      }
      let problem: string;
      try {
        const response = await fetchOnce(target.port, bodyPath(size), 5000, target.tls);
        problem = describeMismatch(response, expected);
        if (response.negotiated !== undefined) say(`  ${name} ${size.label}: ${response.negotiated}`);
      } catch (err) {
        problem = (err as Error).message;
      }
      results.set(
        name,
        emptyTargetResult(name, problem === '' ? 'measured' : 'broken', problem === '' ? '' : `broken: ${problem}`, target.version),
      );
      if (problem === '') measurable.push(target);
      else say(`  ${name} ${size.label}: ${problem}; not measured`);
    }

    if (options.warmupSeconds > 0) {
      say(`${size.label}: warming up ${measurable.map((t) => t.name).join(', ')}`);
      for (const target of measurable) {
        if (!target.child.exited) await runLoad(loadFor(target, size.label, options.connections, options.warmupSeconds));
      }
    }
    // Round r runs the targets forwards when r is even and backwards when odd,
    // so slow drifts of the machine's load fall on every target alike.
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? measurable : [...measurable].reverse();
      for (const target of order) {
        const result = results.get(target.name)!;
        if (target.child.exited) {
          result.status = 'failed';
          result.reason = `process ended (${target.child.exitDescription})`;
          continue;
        }
        const sample = await runLoad(loadFor(target, size.label, options.connections, secondsPerRound));
        result.rounds.push(sample);
        const cpu = sample.cpuUsPerRequest == null ? '-' : sample.cpuUsPerRequest.toFixed(1);
        say(
          `${size.label} round ${round + 1}/${options.rounds} ${target.name.padEnd(18)} ${Math.round(sample.rps).toLocaleString('en-US').padStart(8)} rps` +
            `  ${cpu.padStart(6)} µs CPU/request  p50 ${sample.p50Ms.toFixed(2)} ms  p99 ${sample.p99Ms.toFixed(2)} ms` +
            `${sample.errors + sample.non2xx > 0 ? `  errors ${sample.errors} non-2xx ${sample.non2xx}` : ''}`,
        );
        if (target.child.exited) {
          result.status = 'failed';
          result.reason = `process ended during the run (${target.child.exitDescription})`;
        }
      }
    }
    const sizeResult: SizeResult = { label: size.label, bytes: size.bytes, targets: options.targets.map((name) => results.get(name)!) };
    summarizeSize(sizeResult);
    sizes.push(sizeResult);
  }

  const machine: MachineInfo = {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpuCount: os.cpus().length,
    totalMemoryMiB: Math.round(os.totalmem() / 1048576),
    platform: `${os.platform()} ${os.arch()}`,
    osRelease: os.release(),
    node: process.version,
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg(),
  };
  const wrkVersion = await runCommand(wrk.binary, ['-v'], 5000);
  const versions: BenchResult['versions'] = { wrk: /wrk [^\s]+/.exec(wrkVersion.stdout + wrkVersion.stderr)?.[0] ?? 'wrk' };
  for (const [name, target] of running) versions[name] = target.version;
  const result: BenchResult = {
    schema: 2,
    startedAt,
    finishedAt: new Date().toISOString(),
    settings: {
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      rounds: options.rounds,
      secondsPerRound,
      connections: options.connections,
      pipelining: 1,
      quick: options.quick,
      loadGenerator: 'wrk -t1',
      backend: options.backend,
    },
    machine,
    versions,
    sizes,
    goals: checkGoals(sizes),
  };

  say('');
  say(
    `machine: ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, load average ${loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')} at start`,
  );
  for (const size of sizes) say('\n' + formatSizeTable(size, options.connections));
  say('\n' + formatGoals(result.goals));

  mkdirSync(options.resultsDir, { recursive: true });
  const previousFile = previousResultFile('proxy', options.resultsDir);
  const previous = previousFile === null ? null : readPreviousResult(previousFile);
  if (previous !== null) {
    const change = formatChangeSince(previous, result);
    if (change !== '') say('\n' + change);
  }
  const files = writeResultFiles(result, options.resultsDir);
  say(`\nwrote ${files.map((f) => path.relative(process.cwd(), f)).join(' and ')}`);
  return 0;
}

function loadFor(target: RunningTarget, label: string, connections: number, durationSeconds: number) {
  return { port: target.port, path: '/' + label, connections, durationSeconds, pid: target.child.pid, tls: target.tls };
}

// Hard stop for the whole run, whatever is stuck: every child killed, exit 3.
function armDeadline(options: BenchOptions, secondsPerRound: number): void {
  const perTargetPerSize = options.warmupSeconds + options.rounds * secondsPerRound;
  const plannedSeconds = options.targets.length * options.sizes.length * perTargetPerSize;
  const needsInstall = options.allowInstall && ['nginx', 'haproxy', 'wrk', 'openssl'].some((binary) => findBinary(binary) === null);
  const deadlineSeconds =
    options.deadlineSeconds > 0 ? options.deadlineSeconds : Math.ceil(plannedSeconds * 1.5) + 120 + (needsInstall ? 600 : 0);
  guard.armDeadline(deadlineSeconds);
}

await guard.run(main);

/**
 * The source tree of git revision `rev` in the run's work dir, sharing this
 * checkout's node_modules (a baseline with other dependencies is not a
 * measurement of one change). git archive, not a worktree: nothing to clean
 * up in the repository afterwards.
 */
async function extractBaseline(rev: string, workDir: string): Promise<{ root: string; rev: string; commit: string }> {
  const commit = await runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', '--verify', `${rev}^{commit}`], 5000);
  if (commit.code !== 0) throw new Error(`--baseline: git does not know revision "${rev}": ${commit.stderr.trim()}`);
  const root = path.join(workDir, 'baseline-src');
  mkdirSync(root);
  const tar = path.join(workDir, 'baseline.tar');
  const archive = await runCommand('git', ['-C', repoRoot, 'archive', '--format=tar', '-o', tar, commit.stdout.trim()], 60_000);
  if (archive.code !== 0) throw new Error(`--baseline: git archive failed: ${archive.stderr.trim()}`);
  const untar = await runCommand('tar', ['-xf', tar, '-C', root], 60_000);
  if (untar.code !== 0) throw new Error(`--baseline: tar failed: ${untar.stderr.trim()}`);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  return { root, rev, commit: commit.stdout.trim() };
}

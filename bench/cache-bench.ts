// `npm run bench:cache`: tcpvs in front of a cluster of real HTTP caches, once
// per scheduler, fed one seeded Zipf stream of object requests. A scheduler
// that sends an object to the same node every time turns N small caches into
// one big one; round robin leaves N copies of the same small cache. Measured
// hit rates are set against two bounds simulated on the very requests sent:
// one LRU of C (no locality) and one LRU of N x C (perfect partitioning).
// See docs/benchmarks.md#benchmark-tcpvs-in-front-of-a-cache-cluster-once-per-scheduler.
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { LOCAL_RESULTS_DIR } from './lib/results-dir.ts';
import os from 'node:os';
import path from 'node:path';
import { LoadStoppedError } from './lib/load.ts';
import { freePort, sleep, startChild, stopChild, waitUntilAnswering } from './lib/processes.ts';
import type { ManagedChild } from './lib/processes.ts';
import type { MachineInfo } from './lib/report.ts';
import { runCommand } from './lib/system-proxies.ts';
import { packageVersion } from './lib/targets.ts';
import { flushAll, readNodeStats, resetAll, setOriginDelay } from './cache/admin.ts';
import { simulateLru } from './cache/lru-bound.ts';
import { objectBody } from './cache/object-body.ts';
import { USAGE, parseCacheBenchOptions } from './cache/options.ts';
import type { CacheBenchOptions } from './cache/options.ts';
import { ProgressLine } from './cache/progress.ts';
import {
  checkTargets,
  emptySchedulerResult,
  formatSchedulerTable,
  formatTargets,
  loadImbalance,
  relateSchedulers,
  writeCacheResultFiles,
} from './cache/report.ts';
import type { CacheBenchResult, CacheBenchSettings, SchedulerResult } from './cache/report.ts';
import { cacheChartSvg } from './cache/svg-chart.ts';
import { prepareTcpvsConfig } from './cache/tcpvs-setup.ts';
import { StreamFeed, runStreamLoad, stopStreamLoad } from './cache/zipf-load.ts';
import { objectPath, zipfStream } from './cache/zipf.ts';
import { guardRun } from './lib/run-guard.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const CACHE_LIB = path.join(import.meta.dirname, 'cache');
const STARTUP_TIMEOUT_MS = 15_000;
const say = (line: string): void => {
  process.stdout.write(line + '\n');
};
const progress = new ProgressLine();

const guard = guardRun('cache-bench', stopStreamLoad, () => progress.clear());

/** The cluster every scheduler runs against: origin, cache nodes, and the request stream. */
interface Cluster {
  originPort: number;
  cachePorts: number[];
  caches: ManagedChild;
  stream: Uint32Array;
  paths: string[];
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCacheBenchOptions>;
  try {
    parsed = parseCacheBenchOptions(process.argv.slice(2), LOCAL_RESULTS_DIR);
  } catch (err) {
    process.stderr.write(`cache-bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if ('help' in parsed) {
    say(USAGE);
    return 0;
  }
  const options: CacheBenchOptions = parsed;
  armDeadline(options);
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = os.loadavg();
  guard.workDir = mkdtempSync(path.join(os.tmpdir(), 'tcpvs-cache-bench-'));
  say(
    `tcpvs cache bench: ${options.nodes} cache nodes x ${options.capacity} objects, Zipf alpha ${options.alpha} over ` +
      `${options.objects} objects, origin delay ${options.originDelayMs} ms, ${options.connections} connections; per scheduler ` +
      `${options.warmupRequests} warm-up requests then ${options.durationSeconds} s; schedulers ${options.schedulers.join(', ')}`,
  );

  // Long enough that no run wraps around in practice; if one does, the bounds wrap with it.
  const streamLength = Math.max(1 << 21, options.warmupRequests * 2);
  progress.step('generating the request stream ...');
  const stream = zipfStream(options.objects, options.alpha, streamLength, options.seed);
  const paths: string[] = new Array<string>(options.objects);
  for (let rank = 0; rank < options.objects; rank++) paths[rank] = objectPath(rank);

  progress.step('starting the origin and the cache nodes ...');
  const cluster = await startCluster(options, stream, paths);
  progress.clear();
  say(`origin on 127.0.0.1:${cluster.originPort}; cache nodes on 127.0.0.1:${cluster.cachePorts.join(',')}`);

  const results: SchedulerResult[] = [];
  for (let i = 0; i < options.schedulers.length; i++) {
    if (guard.abortCode !== null) throw new LoadStoppedError();
    const name = options.schedulers[i];
    const result = await runScheduler(name, `[${i + 1}/${options.schedulers.length}] ${name}`, options, cluster);
    results.push(result);
    progress.clear();
    say(describeResult(result));
  }
  progress.clear();
  relateSchedulers(results);

  const settings: CacheBenchSettings = {
    nodes: options.nodes,
    objects: options.objects,
    capacity: options.capacity,
    alpha: options.alpha,
    originDelayMs: options.originDelayMs,
    durationSeconds: options.durationSeconds,
    warmupRequests: options.warmupRequests,
    warmupMaxSeconds: options.warmupMaxSeconds,
    connections: options.connections,
    seed: options.seed,
    bodyBytes: options.bodyBytes,
    balanceFactor: options.balanceFactor,
    streamLength,
    quick: options.quick,
  };
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
  const result: CacheBenchResult = {
    schema: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    settings,
    machine,
    versions: {
      tcpvs: await tcpvsVersion(),
      autocannon: packageVersion(repoRoot, 'autocannon'),
      'lru-cache': packageVersion(repoRoot, 'lru-cache'),
      undici: packageVersion(repoRoot, 'undici'),
    },
    schedulers: results,
    targets: checkTargets(results, options.alpha),
  };

  say('');
  say(
    `machine: ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, load average ` +
      `${loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${machine.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')} at end`,
  );
  say('\n' + formatSchedulerTable(results, settings));
  say('\n' + formatTargets(result.targets));
  mkdirSync(options.resultsDir, { recursive: true });
  const files = writeCacheResultFiles(result, cacheChartSvg(result), options.resultsDir);
  say(`\nwrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  return 0;
}

async function startCluster(options: CacheBenchOptions, stream: Uint32Array, paths: string[]): Promise<Cluster> {
  const node = process.execPath;
  const originPort = await freePort();
  const origin = startChild(
    'origin',
    node,
    [
      '--no-deprecation',
      path.join(CACHE_LIB, 'origin-server.ts'),
      String(originPort),
      String(options.originDelayMs),
      String(options.bodyBytes),
    ],
    repoRoot,
  );
  const probePath = paths[0];
  const probeBody = objectBody(probePath, options.bodyBytes);
  const originProblem = await waitUntilAnswering(originPort, probePath, probeBody, origin, STARTUP_TIMEOUT_MS);
  if (originProblem !== null) throw new Error(`the origin did not start: ${originProblem}`);

  const cachePorts: number[] = [];
  while (cachePorts.length < options.nodes) {
    const port = await freePort();
    if (port !== originPort && !cachePorts.includes(port)) cachePorts.push(port);
  }
  const caches = startChild(
    'caches',
    node,
    ['--no-deprecation', path.join(CACHE_LIB, 'cache-server.ts'), String(originPort), String(options.capacity), ...cachePorts.map(String)],
    repoRoot,
  );
  for (const port of cachePorts) {
    const problem = await waitUntilAnswering(port, probePath, probeBody, caches, STARTUP_TIMEOUT_MS);
    if (problem !== null) throw new Error(`cache node on port ${port} did not start: ${problem}`);
  }
  return { originPort, cachePorts, caches, stream, paths };
}

async function runScheduler(name: string, label: string, options: CacheBenchOptions, cluster: Cluster): Promise<SchedulerResult> {
  progress.step(`${label}: tcpvs check ...`);
  const listenPort = await freePort();
  const prepared = await prepareTcpvsConfig(repoRoot, guard.workDir, name, listenPort, cluster.cachePorts, options.balanceFactor);
  if (!prepared.ok) return emptySchedulerResult(name, 'unavailable', prepared.reason);
  if (cluster.caches.exited) throw new Error(`the cache nodes' process ended (${cluster.caches.exitDescription})`);

  progress.step(`${label}: starting tcpvs ...`);
  const tcpvs = startChild(
    `tcpvs ${name}`,
    process.execPath,
    [path.join(repoRoot, 'index.ts'), 'start', '--workers', '1', '-c', prepared.file],
    repoRoot,
  );
  try {
    const result = emptySchedulerResult(name, 'measured', '');
    result.notes = prepared.notes;
    result.groupLines = prepared.groupLines;
    // One response through tcpvs, checked byte for byte, before any load.
    const probePath = cluster.paths[0];
    const problem = await waitUntilAnswering(listenPort, probePath, objectBody(probePath, options.bodyBytes), tcpvs, STARTUP_TIMEOUT_MS);
    if (problem !== null) {
      result.status = 'broken';
      result.reason = `broken: ${problem}`;
      return result;
    }

    // Every scheduler starts from empty caches and the start of the same stream.
    await flushAll(cluster.cachePorts);
    const feed = new StreamFeed(cluster.stream, cluster.paths);
    if (options.warmupRequests > 0) {
      // The origin answers at once during the warm-up: it only fills the caches.
      await setOriginDelay(cluster.originPort, 0);
      const warmupStart = Date.now();
      const ticker = setInterval(
        () =>
          progress.tick(
            `${label}: warm-up ${seconds(Date.now() - warmupStart)} s, ${feed.position.toLocaleString('en-US')}/` +
              `${options.warmupRequests.toLocaleString('en-US')} requests`,
          ),
        250,
      );
      progress.step(`${label}: warm-up, ${options.warmupRequests} requests ...`);
      try {
        await runStreamLoad(feed, {
          port: listenPort,
          connections: options.connections,
          amount: options.warmupRequests,
          maxSeconds: options.warmupMaxSeconds,
        });
      } finally {
        clearInterval(ticker);
        await setOriginDelay(cluster.originPort, options.originDelayMs);
      }
      result.warmupSeconds = (Date.now() - warmupStart) / 1000;
      result.warmupRequests = feed.position;
      await sleep(100); // requests cut off at the end of the warm-up still finish in the caches
    }
    await resetAll(cluster.cachePorts);
    result.streamMeasureFrom = feed.position;

    const measureStart = Date.now();
    const ticker = setInterval(
      () =>
        progress.tick(
          `${label}: ${seconds(Date.now() - measureStart)}/${options.durationSeconds} s, ` +
            `${(feed.position - result.streamMeasureFrom).toLocaleString('en-US')} requests`,
        ),
      250,
    );
    progress.step(`${label}: measuring ${options.durationSeconds} s ...`);
    let sample;
    try {
      sample = await runStreamLoad(feed, { port: listenPort, connections: options.connections, durationSeconds: options.durationSeconds });
    } finally {
      clearInterval(ticker);
    }
    result.streamEnd = feed.position;
    // Requests still in flight when autocannon stopped reach their cache within one origin delay.
    await sleep(options.originDelayMs * 2 + 200);

    const stats = await Promise.all(cluster.cachePorts.map((port) => readNodeStats(port)));
    result.durationSeconds = sample.durationSeconds;
    result.rps = sample.rps;
    result.p50Ms = sample.p50Ms;
    result.p99Ms = sample.p99Ms;
    result.requests = sample.requests;
    result.errors = sample.errors;
    result.timeouts = sample.timeouts;
    result.non2xx = sample.non2xx;
    result.perNodeRequests = stats.map((s) => s.requests);
    result.cacheRequests = stats.reduce((a, s) => a + s.requests, 0);
    result.hits = stats.reduce((a, s) => a + s.hits, 0);
    result.misses = stats.reduce((a, s) => a + s.misses, 0);
    result.cacheErrors = stats.reduce((a, s) => a + s.errors, 0);
    result.hitRate = result.hits + result.misses === 0 ? null : result.hits / (result.hits + result.misses);
    result.imbalance = loadImbalance(result.perNodeRequests);
    result.perNodeMeanInFlight = stats.map((s) => s.meanInFlight);
    result.inFlightImbalance = loadImbalance(result.perNodeMeanInFlight);

    progress.step(`${label}: simulating the bounds ...`);
    const single = simulateLru(cluster.stream, options.objects, options.capacity, 0, result.streamMeasureFrom, result.streamEnd);
    const partitioned = simulateLru(
      cluster.stream,
      options.objects,
      options.capacity * options.nodes,
      0,
      result.streamMeasureFrom,
      result.streamEnd,
    );
    result.boundSingle = single.requests === 0 ? null : single.hitRate;
    result.boundPartitioned = partitioned.requests === 0 ? null : partitioned.hitRate;
    if (tcpvs.exited) {
      result.status = 'failed';
      result.reason = `tcpvs ended during the run (${tcpvs.exitDescription})`;
    }
    return result;
  } finally {
    await stopChild(tcpvs);
  }
}

function describeResult(r: SchedulerResult): string {
  if (r.rps === null || r.hitRate === null) return `  ${r.name.padEnd(6)} ${r.reason || r.status}`;
  const errors = r.errors + r.non2xx + r.cacheErrors;
  return (
    `  ${r.name.padEnd(6)} hit ${(r.hitRate * 100).toFixed(1)}% (bounds ${pct(r.boundSingle)} / ${pct(r.boundPartitioned)})  ` +
    `${Math.round(r.rps).toLocaleString('en-US')} rps  p99 ${r.p99Ms} ms  max/mean ${r.imbalance?.toFixed(2) ?? '-'}` +
    `${errors > 0 ? `  errors ${errors}` : ''}  (warm-up ${r.warmupRequests} requests in ${r.warmupSeconds.toFixed(1)} s)` +
    `${r.notes.length > 0 ? `  note: ${r.notes.join('; ')}` : ''}`
  );
}

function pct(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(1)}%`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

async function tcpvsVersion(): Promise<string> {
  const head = await runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], 5000);
  const dirty = await runCommand('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], 5000);
  const commit = head.code === 0 ? head.stdout.trim() : 'no-git';
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // keep 'unknown'
  }
  return `${version} (${commit}${dirty.code === 0 && dirty.stdout.trim() !== '' ? ', modified' : ''})`;
}

// Hard stop for the whole run, whatever is stuck: every child killed, exit 3.
function armDeadline(options: CacheBenchOptions): void {
  const perScheduler = 15 + Math.min(options.warmupMaxSeconds, 5 + options.warmupRequests / 1000) + options.durationSeconds;
  const plannedSeconds = 30 + options.schedulers.length * perScheduler;
  const deadlineSeconds = options.deadlineSeconds > 0 ? options.deadlineSeconds : Math.ceil(plannedSeconds * 1.5) + 120;
  guard.armDeadline(deadlineSeconds);
}

await guard.run(main);

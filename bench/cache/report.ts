// What a cache bench run produced: per scheduler numbers, the two simulated
// bounds, the targets, the table, and the result files. Pure functions
// over data, plus the file writing.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderTable } from '../lib/report.ts';
import type { MachineInfo, Verdict } from '../lib/report.ts';

export type SchedulerStatus = 'measured' | 'unavailable' | 'broken' | 'failed';

export interface SchedulerResult {
  name: string;
  status: SchedulerStatus;
  reason: string; // why not measured ('' when measured)
  notes: string[]; // e.g. a config line tcpvs check rejected
  groupLines: string[]; // group settings used besides `scheduler`
  warmupRequests: number; // stream positions [0, streamMeasureFrom) warmed the caches
  warmupSeconds: number;
  streamMeasureFrom: number;
  streamEnd: number; // measured: [streamMeasureFrom, streamEnd)
  durationSeconds: number;
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number; // completed, as autocannon counted
  errors: number;
  timeouts: number;
  non2xx: number;
  cacheRequests: number; // object requests the caches saw while measuring
  hits: number;
  misses: number;
  cacheErrors: number; // origin failures inside the caches
  hitRate: number | null;
  perNodeRequests: number[];
  imbalance: number | null; // busiest node's requests / mean
  perNodeMeanInFlight: number[]; // time-averaged requests in flight per node
  inFlightImbalance: number | null; // busiest node's mean in-flight / mean over nodes
  boundSingle: number | null; // LRU of C over the measured stream
  boundPartitioned: number | null; // LRU of N x C over it
  ofPartitioned: number | null; // hitRate / boundPartitioned
  rpsToRr: number | null;
}

export interface TargetCheck {
  target: string;
  verdict: Verdict;
  measured: number | null;
  detail: string;
}

export interface CacheBenchSettings {
  nodes: number;
  objects: number;
  capacity: number;
  alpha: number;
  originDelayMs: number;
  durationSeconds: number;
  warmupRequests: number;
  warmupMaxSeconds: number;
  connections: number;
  seed: number;
  bodyBytes: number;
  balanceFactor: number;
  streamLength: number;
  quick: boolean;
}

export interface CacheBenchResult {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  settings: CacheBenchSettings;
  machine: MachineInfo;
  versions: { tcpvs: string; autocannon: string; 'lru-cache': string; undici: string };
  schedulers: SchedulerResult[];
  targets: TargetCheck[];
}

/** Schedulers meant to keep an object on one node; the throughput target looks at the best of them. */
export const LOCALITY_SCHEDULERS: readonly string[] = ['dh', 'lblc', 'lblcr', 'mh', 'chbl'];
/** The hit-rate target applies to these. */
export const HIT_RATE_SCHEDULERS: readonly string[] = ['lblc', 'lblcr', 'mh', 'chbl'];
export const MIN_SHARE_OF_PARTITIONED = 0.9;
export const MAX_CHBL_IMBALANCE = 1.3;
export const CHBL_IMBALANCE_ALPHA = 1.0;
export const MIN_LOCALITY_SPEEDUP = 2;
// More failed requests than this share and a scheduler's numbers mean little.
const MAX_ERROR_SHARE = 0.001;

export function emptySchedulerResult(name: string, status: SchedulerStatus, reason: string): SchedulerResult {
  return {
    name,
    status,
    reason,
    notes: [],
    groupLines: [],
    warmupRequests: 0,
    warmupSeconds: 0,
    streamMeasureFrom: 0,
    streamEnd: 0,
    durationSeconds: 0,
    rps: null,
    p50Ms: null,
    p99Ms: null,
    requests: 0,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    cacheRequests: 0,
    hits: 0,
    misses: 0,
    cacheErrors: 0,
    hitRate: null,
    perNodeRequests: [],
    imbalance: null,
    perNodeMeanInFlight: [],
    inFlightImbalance: null,
    boundSingle: null,
    boundPartitioned: null,
    ofPartitioned: null,
    rpsToRr: null,
  };
}

/** Busiest node's share over the mean of all nodes (1 = perfectly even); null without any load. */
export function loadImbalance(perNode: readonly number[]): number | null {
  const total = perNode.reduce((a, b) => a + b, 0);
  if (perNode.length === 0 || total === 0) return null;
  return Math.max(...perNode) / (total / perNode.length);
}

/** Fills the fields that compare schedulers with each other. */
export function relateSchedulers(results: SchedulerResult[]): void {
  const rrRps = results.find((r) => r.name === 'rr')?.rps ?? null;
  for (const r of results) {
    r.ofPartitioned = r.hitRate === null || r.boundPartitioned === null || r.boundPartitioned === 0 ? null : r.hitRate / r.boundPartitioned;
    r.rpsToRr = r.rps === null || rrRps === null || rrRps === 0 ? null : r.rps / rrRps;
  }
}

function failedShare(r: SchedulerResult): number {
  return (r.errors + r.non2xx) / Math.max(1, r.requests + r.errors);
}

export function checkTargets(results: readonly SchedulerResult[], alpha: number): TargetCheck[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const checks: TargetCheck[] = [];
  for (const name of HIT_RATE_SCHEDULERS) {
    const target = `${name} hit rate >= ${Math.round(MIN_SHARE_OF_PARTITIONED * 100)}% of the N x C bound`;
    const r = byName.get(name);
    if (r === undefined) checks.push({ target, verdict: 'SKIP', measured: null, detail: 'not run' });
    else if (r.ofPartitioned === null) checks.push({ target, verdict: 'SKIP', measured: null, detail: r.status });
    else if (failedShare(r) > MAX_ERROR_SHARE) {
      checks.push({ target, verdict: 'FAIL', measured: r.ofPartitioned, detail: `${r.errors} errors, ${r.non2xx} non-2xx` });
    } else {
      const pass = r.ofPartitioned >= MIN_SHARE_OF_PARTITIONED;
      checks.push({
        target,
        verdict: pass ? 'PASS' : 'FAIL',
        measured: r.ofPartitioned,
        detail: `${percent(r.hitRate!)} of ${percent(r.boundPartitioned!)} = ${percent(r.ofPartitioned)}`,
      });
    }
  }

  const chblTarget = `chbl max/mean <= ${MAX_CHBL_IMBALANCE} at alpha ${CHBL_IMBALANCE_ALPHA.toFixed(1)}`;
  const chbl = byName.get('chbl');
  if (alpha !== CHBL_IMBALANCE_ALPHA) {
    checks.push({ target: chblTarget, verdict: 'SKIP', measured: null, detail: `this run used alpha ${alpha}` });
  } else if (chbl === undefined || chbl.imbalance === null) {
    checks.push({ target: chblTarget, verdict: 'SKIP', measured: null, detail: chbl === undefined ? 'not run' : chbl.status });
  } else {
    const pass = chbl.imbalance <= MAX_CHBL_IMBALANCE;
    checks.push({
      target: chblTarget,
      verdict: pass ? 'PASS' : 'FAIL',
      measured: chbl.imbalance,
      detail: `${chbl.imbalance.toFixed(2)} ${pass ? '<=' : '>'} ${MAX_CHBL_IMBALANCE}`,
    });
  }

  const speedTarget = `best locality scheduler rps >= ${MIN_LOCALITY_SPEEDUP}x rr`;
  const rr = byName.get('rr');
  const locality = results.filter((r) => LOCALITY_SCHEDULERS.includes(r.name) && r.rps !== null && failedShare(r) <= MAX_ERROR_SHARE);
  if (rr === undefined || rr.rps === null || rr.rps === 0) {
    checks.push({ target: speedTarget, verdict: 'SKIP', measured: null, detail: rr === undefined ? 'rr not run' : `rr ${rr.status}` });
  } else if (locality.length === 0) {
    checks.push({
      target: speedTarget,
      verdict: 'SKIP',
      measured: null,
      detail: `none of ${LOCALITY_SCHEDULERS.join(', ')} measured cleanly`,
    });
  } else {
    const best = locality.reduce((a, b) => (b.rps! > a.rps! ? b : a));
    const speedup = best.rps! / rr.rps;
    const pass = speedup >= MIN_LOCALITY_SPEEDUP;
    checks.push({
      target: speedTarget,
      verdict: pass ? 'PASS' : 'FAIL',
      measured: speedup,
      detail: `${best.name} ${Math.round(best.rps!)} / rr ${Math.round(rr.rps)} = ${speedup.toFixed(2)}x`,
    });
  }
  return checks;
}

export function formatSchedulerTable(results: readonly SchedulerResult[], settings: CacheBenchSettings): string {
  const header = [
    'scheduler',
    'hit rate',
    'C bound',
    'NxC bound',
    'of NxC',
    'rps',
    'x rr',
    'p50 ms',
    'p99 ms',
    'max/mean',
    'in-flight max/mean',
    'errors',
    'note',
  ];
  const rows = results.map((r) => [
    r.name,
    optional(r.hitRate, percent),
    optional(r.boundSingle, percent),
    optional(r.boundPartitioned, percent),
    optional(r.ofPartitioned, percent),
    optional(r.rps, (v) => Math.round(v).toLocaleString('en-US')),
    optional(r.rpsToRr, (v) => v.toFixed(2)),
    optional(r.p50Ms, trimNumber),
    optional(r.p99Ms, trimNumber),
    optional(r.imbalance, (v) => v.toFixed(2)),
    optional(r.inFlightImbalance, (v) => v.toFixed(2)),
    r.rps === null ? '-' : String(r.errors + r.non2xx + r.cacheErrors),
    [r.reason, ...r.notes].filter((n) => n !== '').join('; '),
  ]);
  const s = settings;
  const title =
    `${s.nodes} cache nodes x ${s.capacity} objects (LRU), Zipf alpha ${s.alpha} over ${s.objects} objects, ` +
    `origin delay ${s.originDelayMs} ms, ${s.connections} connections, ${s.durationSeconds} s per scheduler after ${s.warmupRequests} warm-up requests`;
  return title + '\n' + renderTable(header, rows, [false, true, true, true, true, true, true, true, true, true, true, true, false]);
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  const rows = checks.map((c) => [c.verdict, c.target, c.detail]);
  return 'targets (reported, never fail the run)\n' + renderTable(['verdict', 'target', 'measured'], rows, [false, false, false]);
}

/** Write-then-rename, so a killed run never leaves half a file behind. */
export function writeFileAtomically(file: string, text: string): void {
  const temporary = file + '.tmp';
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

export function writeCacheResultFiles(result: CacheBenchResult, svg: string, resultsDir: string): string[] {
  const stamp = result.startedAt.replace(/:/g, '-'); // ':' is not portable in file names
  const json = JSON.stringify(result, null, 2) + '\n';
  const files: Array<[string, string]> = [
    [path.join(resultsDir, `cache-${stamp}.json`), json],
    [path.join(resultsDir, 'cache-latest.json'), json],
    [path.join(resultsDir, 'cache-latest.svg'), svg],
  ];
  for (const [file, text] of files) writeFileAtomically(file, text);
  return files.map(([file]) => file);
}

export function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

function optional(value: number | null, format: (v: number) => string): string {
  return value === null ? '-' : format(value);
}

function trimNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

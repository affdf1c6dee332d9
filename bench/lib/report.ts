// What a run produced: per body size per target numbers, the ratios that are
// comparable on a noisy machine, the goals, and the change since the
// previous run. Pure functions over data, plus the JSON files.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadSample } from './load.ts';
import { nginxPeerOf } from './targets.ts';
import type { TargetName } from './targets.ts';

export type TargetStatus = 'measured' | 'unavailable' | 'broken' | 'failed';

export interface TargetResult {
  name: TargetName;
  status: TargetStatus;
  reason: string; // why not measured ('' when measured cleanly)
  version: string;
  rounds: LoadSample[]; // one per interleaved round, in run order
  rps: number | null; // median over rounds
  p50Ms: number | null;
  p99Ms: number | null;
  cpuUsPerRequest: number | null; // median over rounds of the target's own CPU time per request
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  ratioToBackend: number | null;
  ratioToNginx: number | null; // against nginx-tls for a TLS target
}

export interface SizeResult {
  label: string;
  bytes: number;
  targets: TargetResult[];
}

export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

export interface GoalCheck {
  size: string;
  goal: string; // what must hold, in words
  value: number | null; // what was measured (a ratio, or µs of CPU per request)
  verdict: Verdict;
  detail: string;
}

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  totalMemoryMiB: number;
  platform: string;
  osRelease: string;
  node: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}

export interface BenchResult {
  schema: 2;
  startedAt: string;
  finishedAt: string;
  settings: {
    durationSeconds: number;
    warmupSeconds: number;
    rounds: number;
    secondsPerRound: number;
    connections: number;
    pipelining: 1;
    quick: boolean;
    loadGenerator: string;
    backend: string;
  };
  machine: MachineInfo;
  versions: Partial<Record<TargetName | 'wrk', string>>;
  sizes: SizeResult[];
  goals: GoalCheck[];
}

// The targets for tcpvs with one worker: rps against nginx with one worker,
// its own CPU time per request, and what its default access log costs.
type Goal =
  | { size: string; kind: 'ratio'; target: TargetName; versus: TargetName; min: number }
  | { size: string; kind: 'cpu'; target: TargetName; maxUs: number };

export const GOALS: readonly Goal[] = [
  { size: '100b', kind: 'ratio', target: 'tcpvs', versus: 'nginx', min: 0.8 },
  { size: '100b', kind: 'cpu', target: 'tcpvs', maxUs: 50 },
  { size: '64k', kind: 'ratio', target: 'tcpvs', versus: 'nginx', min: 0.8 },
  { size: '64k', kind: 'cpu', target: 'tcpvs', maxUs: 100 },
  { size: '100b', kind: 'ratio', target: 'tcpvs-log', versus: 'tcpvs', min: 0.9 },
  { size: '100b', kind: 'ratio', target: 'tcpvs-tls', versus: 'nginx-tls', min: 0.8 },
];

// More failed requests than this share and the throughput figure means little.
const MAX_ERROR_SHARE = 0.001;

export function emptyTargetResult(name: TargetName, status: TargetStatus, reason: string, version: string): TargetResult {
  return {
    name,
    status,
    reason,
    version,
    rounds: [],
    rps: null,
    p50Ms: null,
    p99Ms: null,
    cpuUsPerRequest: null,
    requests: 0,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    ratioToBackend: null,
    ratioToNginx: null,
  };
}

// Fills the aggregate fields from the rounds, then the ratios across targets.
export function summarizeSize(size: SizeResult): void {
  for (const target of size.targets) {
    if (target.rounds.length === 0) continue;
    target.rps = median(target.rounds.map((r) => r.rps));
    target.p50Ms = median(target.rounds.map((r) => r.p50Ms));
    target.p99Ms = median(target.rounds.map((r) => r.p99Ms));
    const cpu = target.rounds.map((r) => r.cpuUsPerRequest).filter((c): c is number => typeof c === 'number');
    target.cpuUsPerRequest = cpu.length === 0 ? null : median(cpu);
    target.requests = sum(target.rounds.map((r) => r.requests));
    target.errors = sum(target.rounds.map((r) => r.errors));
    target.timeouts = sum(target.rounds.map((r) => r.timeouts));
    target.non2xx = sum(target.rounds.map((r) => r.non2xx));
  }
  const backendRps = size.targets.find((t) => t.name === 'backend')?.rps ?? null;
  for (const target of size.targets) {
    const peer = nginxPeerOf(target.name);
    target.ratioToBackend = ratio(target.rps, backendRps);
    target.ratioToNginx = ratio(target.rps, size.targets.find((t) => t.name === peer)?.rps ?? null);
  }
}

export function checkGoals(sizes: SizeResult[]): GoalCheck[] {
  return GOALS.map((goal): GoalCheck => {
    const words =
      goal.kind === 'ratio' ? `${goal.target} rps >= ${goal.min}x ${goal.versus}` : `${goal.target} CPU <= ${goal.maxUs} µs/request`;
    const base = { size: goal.size, goal: words, value: null };
    const size = sizes.find((s) => s.label === goal.size);
    if (size === undefined) return { ...base, verdict: 'SKIP', detail: `size ${goal.size} not run` };
    const subject = size.targets.find((t) => t.name === goal.target);
    const sides = goal.kind === 'ratio' ? [subject, size.targets.find((t) => t.name === goal.versus)] : [subject];
    for (const side of sides) {
      if (side === undefined) return { ...base, verdict: 'SKIP', detail: 'target not run' };
      if (side.rps === null) return { ...base, verdict: 'SKIP', detail: `${side.name} ${side.status}` };
    }
    const failedShare = (subject!.errors + subject!.non2xx) / Math.max(1, subject!.requests + subject!.errors);
    if (failedShare > MAX_ERROR_SHARE)
      return { ...base, verdict: 'FAIL', detail: `${goal.target} had ${subject!.errors} errors, ${subject!.non2xx} non-2xx` };
    if (goal.kind === 'ratio') {
      const measured = ratio(subject!.rps, sides[1]!.rps)!;
      const verdict: Verdict = measured >= goal.min ? 'PASS' : 'FAIL';
      return { ...base, value: measured, verdict, detail: `${fixed(measured)}x ${verdict === 'PASS' ? '>=' : '<'} ${goal.min}x` };
    }
    const cpu = subject!.cpuUsPerRequest;
    if (cpu === null) return { ...base, verdict: 'SKIP', detail: 'no CPU figure' };
    const verdict: Verdict = cpu <= goal.maxUs ? 'PASS' : 'FAIL';
    return { ...base, value: cpu, verdict, detail: `${cpu.toFixed(1)} µs ${verdict === 'PASS' ? '<=' : '>'} ${goal.maxUs} µs` };
  });
}

export function formatSizeTable(size: SizeResult, connections: number): string {
  const header = ['target', 'rps', 'spread', 'CPU µs/req', 'p50 ms', 'p99 ms', 'x backend', 'x nginx', 'errors', 'non-2xx', 'note'];
  const rows = size.targets.map((t) => [
    t.name,
    t.rps === null ? '-' : Math.round(t.rps).toLocaleString('en-US'),
    t.rps === null || t.rounds.length < 2 ? '-' : `${Math.round(rpsSpread(t) * 100)}%`,
    t.cpuUsPerRequest === null ? '-' : t.cpuUsPerRequest.toFixed(1),
    t.p50Ms === null ? '-' : trimNumber(t.p50Ms),
    t.p99Ms === null ? '-' : trimNumber(t.p99Ms),
    t.ratioToBackend === null ? '-' : fixed(t.ratioToBackend),
    t.ratioToNginx === null ? '-' : fixed(t.ratioToNginx),
    t.rps === null ? '-' : String(t.errors),
    t.rps === null ? '-' : String(t.non2xx),
    t.reason,
  ]);
  const title = `${size.label} body (${size.bytes} bytes), ${connections} connections, median of ${maxRounds(size)} round(s)`;
  return title + '\n' + renderTable(header, rows, [false, true, true, true, true, true, true, true, true, true, false]);
}

export function formatGoals(goals: GoalCheck[]): string {
  const rows = goals.map((g) => [g.verdict, g.size, g.goal, g.detail]);
  return (
    'goals (reported, never fail the run)\n' + renderTable(['verdict', 'size', 'goal', 'measured'], rows, [false, false, false, false])
  );
}

// Ratio changes against a previous result; '' when there is nothing to compare.
export function formatChangeSince(previous: BenchResult, current: BenchResult): string {
  const rows: string[][] = [];
  for (const size of current.sizes) {
    const previousSize = previous.sizes.find((s) => s.label === size.label);
    if (previousSize === undefined) continue;
    for (const target of size.targets) {
      const before = previousSize.targets.find((t) => t.name === target.name);
      if (before === undefined || target.name === 'backend') continue;
      if (before.rps === null && target.rps === null) continue;
      rows.push([
        size.label,
        target.name,
        change(before.cpuUsPerRequest, target.cpuUsPerRequest, 1),
        change(before.ratioToBackend, target.ratioToBackend),
        target.name === nginxPeerOf(target.name) ? '' : change(before.ratioToNginx, target.ratioToNginx),
      ]);
    }
  }
  if (rows.length === 0) return '';
  const sameMachine = previous.machine.cpuModel === current.machine.cpuModel && previous.machine.cpuCount === current.machine.cpuCount;
  const title = `change since the previous run (${previous.startedAt}${sameMachine ? '' : ', on a different machine'}): before -> now (delta)`;
  return title + '\n' + renderTable(['size', 'target', 'CPU µs/req', 'x backend', 'x nginx'], rows, [false, false, true, true, true]);
}

export function readPreviousResult(file: string): BenchResult | null {
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
    return parsed.schema === 2 && Array.isArray(parsed.sizes) ? parsed : null;
  } catch {
    return null;
  }
}

// Write-then-rename, so a killed run never leaves half a JSON file behind.
export function writeResultFiles(result: BenchResult, resultsDir: string): string[] {
  const stamp = result.startedAt.replace(/:/g, '-'); // ':' is not portable in file names
  const files = [path.join(resultsDir, `proxy-${stamp}.json`), path.join(resultsDir, 'proxy-latest.json')];
  const text = JSON.stringify(result, null, 2) + '\n';
  for (const file of files) {
    const temporary = file + '.tmp';
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  }
  return files;
}

export function renderTable(header: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function change(before: number | null | undefined, now: number | null, digits = 2): string {
  const show = (v: number | null | undefined) => (v == null ? '-' : v.toFixed(digits));
  if (before == null || now === null) return `${show(before)} -> ${show(now)}`;
  const delta = now - before;
  return `${show(before)} -> ${show(now)} (${delta >= 0 ? '+' : ''}${delta.toFixed(digits)})`;
}

// (max - min) / median of the rounds' rps: how much the noise moved this target.
export function rpsSpread(target: TargetResult): number {
  const values = target.rounds.map((r) => r.rps);
  return target.rps === null || target.rps === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / target.rps;
}

function maxRounds(size: SizeResult): number {
  return Math.max(0, ...size.targets.map((t) => t.rounds.length));
}

function ratio(value: number | null, reference: number | null): number | null {
  return value === null || reference === null || reference === 0 ? null : value / reference;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function fixed(value: number): string {
  return value.toFixed(2);
}

function trimNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

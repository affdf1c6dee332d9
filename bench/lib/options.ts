// Command line and environment for `npm run bench`. Flags win over env vars.
import { parseArgs } from 'node:util';
import { BODY_SIZES } from './bodies.ts';
import type { BodySize } from './bodies.ts';
import { TARGET_NAMES } from './targets.ts';
import type { TargetName } from './targets.ts';

export interface BenchOptions {
  durationSeconds: number; // measured time per target per body size, split over the rounds
  warmupSeconds: number; // per target per body size, before the first round
  rounds: number; // interleaved passes over the targets, alternating direction
  connections: number;
  backend: 'nginx' | 'node'; // what every proxy forwards to
  targets: TargetName[]; // always starts with 'backend', the reference
  sizes: BodySize[];
  allowInstall: boolean; // apt-get install nginx/haproxy/openssl when missing
  deadlineSeconds: number; // 0: computed from the plan
  resultsDir: string;
  quick: boolean;
  baseline: string | null; // a git revision measured as tcpvs-base
}

export const USAGE = `usage: npm run bench -- [options]
  --duration S      measured seconds per target per body size (default 12, quick 4), in whole-second rounds
  --warmup S        warm-up seconds per target per body size (default 5, quick 1)
  --rounds N        interleaved rounds the duration is split over (default 4, quick 2)
  --connections N   wrk connections (default 50; wrk runs 1 thread)
  --backend B       nginx (static files, 1 worker; default) or node (a node:http server)
  --targets a,b     subset of: ${TARGET_NAMES.join(', ')} (backend is always measured)
  --sizes a,b       subset of: ${BODY_SIZES.map((s) => s.label).join(', ')}
  --quick           short run for a smoke check
  --no-install      do not apt-get install nginx/haproxy/openssl when missing
  --deadline S      hard limit for the whole run (default: planned time + margin)
  --results DIR     where JSON results go (default bench/results-local, git-ignored)
  --baseline REV    also measure tcpvs at git revision REV (target tcpvs-base), in the same rounds
env: BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_BACKEND, BENCH_TARGETS,
     BENCH_SIZES, BENCH_QUICK=1, BENCH_NO_INSTALL=1, BENCH_DEADLINE, BENCH_BASELINE`;

export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv, defaultResultsDir: string): BenchOptions | { help: true } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      backend: { type: 'string' },
      targets: { type: 'string' },
      sizes: { type: 'string' },
      quick: { type: 'boolean' },
      'no-install': { type: 'boolean' },
      deadline: { type: 'string' },
      results: { type: 'string' },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return { help: true };
  const quick = values.quick === true || isTrue(env.BENCH_QUICK);
  const backend = values.backend ?? env.BENCH_BACKEND ?? 'nginx';
  if (backend !== 'nginx' && backend !== 'node') throw new Error(`--backend must be nginx or node, got "${backend}"`);
  const baselineRaw = values.baseline ?? env.BENCH_BASELINE;
  const baseline = baselineRaw === undefined || baselineRaw === '' ? null : baselineRaw;
  if (baseline !== null && !/^[\w./~^@{}-]+$/.test(baseline)) throw new Error(`--baseline: "${baseline}" is not a git revision`);
  const listed = values.targets ?? env.BENCH_TARGETS;
  let targets = parseList(listed, TARGET_NAMES, 'target').map((t) => t as TargetName);
  if (baseline === null) {
    if (listed !== undefined && targets.includes('tcpvs-base')) throw new Error('target tcpvs-base needs --baseline REV');
    targets = targets.filter((t) => t !== 'tcpvs-base');
  } else if (!targets.includes('tcpvs-base')) {
    // Right after tcpvs, so the two alternate as closely as the rounds allow.
    const at = targets.indexOf('tcpvs');
    targets.splice(at < 0 ? targets.length : at + 1, 0, 'tcpvs-base');
  }
  const sizeLabels = parseList(
    values.sizes ?? env.BENCH_SIZES,
    BODY_SIZES.map((s) => s.label),
    'size',
  );
  return {
    durationSeconds: number(values.duration ?? env.BENCH_DURATION, quick ? 4 : 12, 'duration', 1),
    warmupSeconds: number(values.warmup ?? env.BENCH_WARMUP, quick ? 1 : 5, 'warmup', 0),
    rounds: number(values.rounds ?? env.BENCH_ROUNDS, quick ? 2 : 4, 'rounds', 1),
    connections: number(values.connections ?? env.BENCH_CONNECTIONS, 50, 'connections', 1),
    backend,
    targets: ['backend', ...targets.filter((t) => t !== 'backend')],
    sizes: BODY_SIZES.filter((s) => sizeLabels.includes(s.label)),
    allowInstall: !(values['no-install'] === true || isTrue(env.BENCH_NO_INSTALL)),
    deadlineSeconds: number(values.deadline ?? env.BENCH_DEADLINE, 0, 'deadline', 0),
    resultsDir: values.results ?? defaultResultsDir,
    quick,
    baseline,
  };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

function number(raw: string | undefined, fallback: number, what: string, min: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${what} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

// A comma list of known names; absent means all of them. 'direct' is accepted for the backend.
function parseList(raw: string | undefined, known: readonly string[], what: string): string[] {
  if (raw === undefined || raw.trim() === '') return [...known];
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (s === 'direct' ? 'backend' : s));
  for (const name of names) {
    if (!known.includes(name)) throw new Error(`unknown ${what} "${name}"; known: ${known.join(', ')}`);
  }
  return names;
}

// Command line of `npm run bench:cache`.
import { parseArgs } from 'node:util';

export const DEFAULT_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'p2c', 'lblc', 'lblcr', 'mh', 'chbl'] as const;

export interface CacheBenchOptions {
  nodes: number; // N cache nodes
  objects: number; // M distinct objects
  capacity: number; // C objects per cache node
  alpha: number; // Zipf exponent
  originDelayMs: number; // origin answer delay: the price of a miss
  durationSeconds: number; // measured time per scheduler
  warmupRequests: number; // requests per scheduler before measuring, origin delay off
  warmupMaxSeconds: number; // cap on the warm-up's time
  connections: number;
  schedulers: string[];
  seed: number; // Zipf stream seed
  bodyBytes: number;
  balanceFactor: number; // chbl's `balance-factor`
  deadlineSeconds: number; // 0: computed from the plan
  resultsDir: string;
  quick: boolean;
}

export const USAGE = `usage: npm run bench:cache -- [options]
  --nodes N            cache nodes (default 8)
  --objects M          distinct objects (default 100000)
  --capacity C         objects each cache node holds (default 3% of M)
  --alpha A            Zipf exponent of object popularity (default 1.0)
  --origin-delay MS    origin answer delay, the cost of a miss (default 50)
  --duration S         measured seconds per scheduler (default 8, quick 3)
  --warmup N           warm-up requests per scheduler, origin delay off (default 4 x N x C, quick 1 x)
  --warmup-max S       cap on one warm-up's time (default 40)
  --connections N      autocannon connections (default 50)
  --schedulers a,b     subset, in order (default ${DEFAULT_SCHEDULERS.join(',')})
  --seed N             seed of the Zipf stream (default 1)
  --body-bytes N       object size (default 200)
  --balance-factor F   chbl balance factor (default 1.25)
  --quick              short run for a smoke check
  --deadline S         hard limit for the whole run (default: planned time + margin)
  --results DIR        where JSON and SVG go (default bench/results-local, git-ignored)`;

export function parseCacheBenchOptions(argv: string[], defaultResultsDir: string): CacheBenchOptions | { help: true } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nodes: { type: 'string' },
      objects: { type: 'string' },
      capacity: { type: 'string' },
      alpha: { type: 'string' },
      'origin-delay': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'warmup-max': { type: 'string' },
      connections: { type: 'string' },
      schedulers: { type: 'string' },
      seed: { type: 'string' },
      'body-bytes': { type: 'string' },
      'balance-factor': { type: 'string' },
      quick: { type: 'boolean' },
      deadline: { type: 'string' },
      results: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return { help: true };
  const quick = values.quick === true;
  const nodes = integer(values.nodes, 8, 'nodes', 1);
  const objects = integer(values.objects, 100_000, 'objects', 1);
  const capacity = integer(values.capacity, Math.max(1, Math.round(objects * 0.03)), 'capacity', 1);
  const schedulers = (values.schedulers ?? DEFAULT_SCHEDULERS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (schedulers.length === 0) throw new Error('--schedulers names no scheduler');
  if (new Set(schedulers).size !== schedulers.length) throw new Error('--schedulers names a scheduler twice');
  for (const name of schedulers) {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`--schedulers: "${name}" is not a scheduler name`);
  }
  const options: CacheBenchOptions = {
    nodes,
    objects,
    capacity,
    alpha: decimal(values.alpha, 1.0, 'alpha', 0),
    originDelayMs: integer(values['origin-delay'], 50, 'origin-delay', 0),
    durationSeconds: decimal(values.duration, quick ? 3 : 8, 'duration', 0.5),
    warmupRequests: integer(values.warmup, (quick ? 1 : 4) * nodes * capacity, 'warmup', 0),
    warmupMaxSeconds: decimal(values['warmup-max'], 40, 'warmup-max', 1),
    connections: integer(values.connections, 50, 'connections', 1),
    schedulers,
    seed: integer(values.seed, 1, 'seed', 0),
    bodyBytes: integer(values['body-bytes'], 200, 'body-bytes', 1),
    balanceFactor: decimal(values['balance-factor'], 1.25, 'balance-factor', 1),
    deadlineSeconds: decimal(values.deadline, 0, 'deadline', 0),
    resultsDir: values.results ?? defaultResultsDir,
    quick,
  };
  if (options.warmupRequests > 0 && options.warmupRequests < options.connections) {
    throw new Error(`--warmup must be 0 or at least --connections (${options.connections})`);
  }
  return options;
}

function integer(raw: string | undefined, fallback: number, what: string, min: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`--${what} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function decimal(raw: string | undefined, fallback: number, what: string, min: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${what} must be a number >= ${min}, got "${raw}"`);
  return value;
}

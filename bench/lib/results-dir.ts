// Where bench runs write: bench/results-local/, which git ignores, so a run
// never rewrites tracked files. The tracked bench/results/ holds named runs,
// the ones the tables of docs/benchmarks.md were copied from by hand; a bench compares
// with its own previous local run, or, on a fresh clone, with the newest
// named run of its kind.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const LOCAL_RESULTS_DIR = path.join(repoRoot, 'bench', 'results-local');
export const NAMED_RESULTS_DIR = path.join(repoRoot, 'bench', 'results');

/** The previous run of `kind` (proxy, workers, cache): `DIR/KIND-latest.json`, else the newest named run. */
export function previousResultFile(kind: string, resultsDir: string): string | null {
  const latest = path.join(resultsDir, `${kind}-latest.json`);
  if (existsSync(latest)) return latest;
  if (!existsSync(NAMED_RESULTS_DIR)) return null;
  // Named runs are KIND-YYYY-MM-DD[...].json: their names sort by date.
  const named = readdirSync(NAMED_RESULTS_DIR)
    .filter((f) => f.startsWith(`${kind}-`) && f.endsWith('.json'))
    .sort();
  return named.length === 0 ? null : path.join(NAMED_RESULTS_DIR, named[named.length - 1]);
}

// "Did you mean ...?" for a misspelt keyword: the nearest word of a parser's
// own keyword table, by edit distance. Used by the KTCPVS parser for keys;
// meant for any parser that knows its words.

/**
 * Edit distance between a and b: insertions, deletions, substitutions and
 * swaps of two neighbouring characters each cost 1 (optimal string alignment),
 * so `sheduler` is 1 from `scheduler` and `sever` 1 from `server`.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rows: the one before the previous (for swaps), the previous, the current.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      current[j] = d;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length];
}

/**
 * The candidate nearest to `word` (case ignored), when it is near enough to
 * be a slip of the keyboard: at most one edit for words up to 4 characters,
 * two up to 8, three beyond. Null when none is, or when two are equally near.
 */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : w.length <= 8 ? 2 : 3;
  let best: string | null = null;
  let bestDistance = Infinity;
  let tie = false;
  for (const candidate of candidates) {
    const d = editDistance(w, candidate.toLowerCase());
    if (d > limit) continue;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance && candidate !== best) {
      tie = true;
    }
  }
  return tie ? null : best;
}

/** `; did you mean 'scheduler'?` for a near miss, '' otherwise: to append to an error message. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const hit = nearest(word, candidates);
  return hit === null ? '' : `; did you mean '${hit}'?`;
}

// What the native and KTCPVS parsers share: the loop over a file's lines, and
// the lists of problems and warnings, reported through one sink type and
// thrown together once the whole file was read.

import { ConfigError, type ConfigProblem, type ProblemSink } from './errors.ts';
import type { ConfigWarning } from './model.ts';
import { sortProblems, tokenizeLine, type Token } from './tokenize.ts';

/**
 * Hands each line's tokens to `statement`, skipping blank and comment lines;
 * a line the tokenizer rejects is reported, named by its first word, and
 * skipped. `specials` are characters that are tokens by themselves ('{}=' in
 * KTCPVS files).
 */
export function readStatements(
  text: string,
  specials: string,
  problem: ProblemSink,
  statement: (line: number, tokens: Token[]) => void,
): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const { tokens, error } = tokenizeLine(lines[i], specials);
    if (error !== null) {
      problem(line, tokens.length > 0 ? tokens[0].text : 'syntax', error);
      continue;
    }
    if (tokens.length === 0) continue;
    statement(line, tokens);
  }
}

/** One file's problems and warnings. */
export class FileProblems {
  readonly file: string;
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigWarning[] = [];
  readonly problem: ProblemSink;
  readonly warn: ProblemSink;

  constructor(file: string) {
    this.file = file;
    this.problem = (line, field, message) => void this.problems.push({ file, line, field, message });
    this.warn = (line, field, message) => void this.warnings.push({ file, line, field, message });
  }

  /** Every problem at once, in line order: a half-built config is never returned. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw new ConfigError(sortProblems(this.problems));
  }

  sortedWarnings(): ConfigWarning[] {
    return sortProblems(this.warnings);
  }
}

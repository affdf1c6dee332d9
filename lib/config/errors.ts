// A config error names the file, the line and the field at fault.
export interface ConfigProblem {
  file: string;
  line: number;
  field: string;
  message: string;
}

/**
 * Where parsers and the validator report a problem (or a warning): the line
 * of the file at fault (0: none), the field, and the message.
 */
export type ProblemSink = (line: number, field: string, message: string) => void;

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}: ${p.field}: ${p.message}`;
}

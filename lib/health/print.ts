// A group's health statements written back as a config says them, every
// default filled in (for `tcpvs check`). Apart from spec.ts, which the
// config model imports: printing needs the config's tokenizer, and the
// model must not import what imports it.
import { formatDuration, quoteToken, regexText } from '../config/tokenize.ts';
import type { CheckTiming, HealthSpec, StatusRange } from './spec.ts';

export function formatExpect(expect: readonly StatusRange[]): string {
  return expect.map((r) => (r.lo === r.hi ? String(r.lo) : `${r.lo / 100}xx`)).join(',');
}

function formatTiming(c: CheckTiming): string {
  let out = ` interval ${formatDuration(c.intervalMs)} timeout ${formatDuration(c.timeoutMs)} rise ${c.rise} fall ${c.fall}`;
  if (c.port !== null) out += ` port ${c.port}`;
  return out;
}

/** The group's health statements as they would be written, with every default filled in (for `tcpvs check`). */
export function formatHealth(h: HealthSpec): string[] {
  const lines: string[] = [];
  const c = h.check;
  if (c !== undefined) {
    if (c.kind === 'http') {
      const body = c.body === null ? '' : ` body ${quoteToken(regexText(c.body), true)}`;
      lines.push(`check http ${c.method} ${quoteToken(c.path)} expect ${formatExpect(c.expect)}${body}${formatTiming(c)}`);
    } else lines.push(`check tcp${formatTiming(c)}`);
  }
  const e = h.eject;
  if (e !== undefined) {
    lines.push(`eject after ${e.failures} failures backoff ${formatDuration(e.backoffMs)} max-backoff ${formatDuration(e.maxBackoffMs)}`);
  }
  if (h.slowStartMs !== undefined) lines.push(`slow-start ${formatDuration(h.slowStartMs)}`);
  const a = h.agent;
  if (a !== undefined) lines.push(`agent ${a.port} interval ${formatDuration(a.intervalMs)} timeout ${formatDuration(a.timeoutMs)}`);
  return lines;
}

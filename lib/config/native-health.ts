// The native format's health statements, each once per group, after its
// `group` line:
//
//   check http [METHOD] PATH [expect STATUS[,STATUS...]|2xx|3xx] [body REGEX]
//              [interval D] [timeout D] [rise N] [fall N] [port P]
//   check tcp [interval D] [timeout D] [rise N] [fall N] [port P]
//   eject after N failures [backoff D] [max-backoff D]
//   slow-start D
//   agent PORT [interval D] [timeout D]
//
// native.ts finds the group (and reports a statement outside one or given
// twice); everything else about these lines is checked here.
import type { GroupSpec } from './model.ts';
import type { ProblemSink } from './errors.ts';
import { compileRegex, formatDuration, parseDuration, parseInteger, parsePort, type Parsed, type Token } from './tokenize.ts';
import {
  DEFAULT_EJECT_BACKOFF_MS,
  DEFAULT_EJECT_MAX_BACKOFF_MS,
  DEFAULT_EXPECT,
  DEFAULT_FALL,
  DEFAULT_INTERVAL_MS,
  DEFAULT_RISE,
  type ActiveCheckSpec,
  type HealthSpec,
  type StatusRange,
} from '../health/spec.ts';

// Problems of the one line being read.
type Report = (field: string, message: string) => void;

const MAX_COUNT = 1000; // rise, fall, eject failures: more is a typo
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// A request target as it goes on the wire: visible ASCII, no spaces.
const TARGET_RE = /^(?:\/[\x21-\x7e]*|\*)$/;

const HTTP_USAGE =
  'check http [METHOD] PATH [expect STATUS[,STATUS...]|2xx|3xx] [body REGEX] [interval D] [timeout D] [rise N] [fall N] [port P]';
const TCP_USAGE = 'check tcp [interval D] [timeout D] [rise N] [fall N] [port P]';
const EJECT_USAGE = 'eject after N failures [backoff D] [max-backoff D]';
const AGENT_USAGE = 'agent PORT [interval D] [timeout D]';

/**
 * One health statement (`check`, `eject`, `slow-start`, `agent`) into the
 * group's spec. `group` is null when native.ts already reported that the
 * line has no group or repeats a statement.
 */
export function healthStatement(group: { spec: GroupSpec } | null, line: number, tokens: readonly Token[], sink: ProblemSink): void {
  if (group === null) return;
  const report: Report = (field, message) => sink(line, field, message);
  // Each statement writes its part only once the whole line is good, so no
  // half-read check ever runs.
  const health: HealthSpec = group.spec.health ?? {};
  let ok: boolean;
  switch (tokens[0].text) {
    case 'check':
      ok = checkStatement(health, tokens, report);
      break;
    case 'eject':
      ok = ejectStatement(health, tokens, report);
      break;
    case 'slow-start':
      ok = slowStartStatement(health, tokens, report);
      break;
    case 'agent':
      ok = agentStatement(health, tokens, report);
      break;
    default:
      throw new Error(`not a health statement: ${tokens[0].text}`);
  }
  if (ok) group.spec.health = health;
}

/** `NAME VALUE` pairs from tokens[from]; each name once. False after reporting. */
function options(
  tokens: readonly Token[],
  from: number,
  prefix: string,
  usage: string,
  parsers: Record<string, (text: string) => Parsed<unknown>>,
  report: Report,
): Map<string, unknown> | null {
  const values = new Map<string, unknown>();
  let ok = true;
  for (let i = from; i < tokens.length; i += 2) {
    const name = tokens[i].text;
    const parse = Object.hasOwn(parsers, name) && !tokens[i].quoted ? parsers[name] : undefined;
    if (parse === undefined) {
      report(prefix, `unexpected '${name}': usage: ${usage}`);
      return null;
    }
    const field = `${prefix}.${name}`;
    if (values.has(name)) {
      report(field, `'${name}' is given twice`);
      ok = false;
      continue;
    }
    const text = tokens[i + 1]?.text;
    if (text === undefined) {
      report(field, `missing value after '${name}': usage: ${usage}`);
      return null;
    }
    const parsed = parse(text);
    if (!parsed.ok) {
      report(field, parsed.message);
      ok = false;
      continue;
    }
    values.set(name, parsed.value);
  }
  return ok ? values : null;
}

function count(what: string): (text: string) => Parsed<number> {
  return (text) => {
    const n = parseInteger(text, 1, MAX_COUNT);
    return n === null ? { ok: false, message: `bad ${what} '${text}': must be an integer 1..${MAX_COUNT}` } : { ok: true, value: n };
  };
}

function port(text: string): Parsed<number> {
  const n = parsePort(text);
  return n === null ? { ok: false, message: `bad port '${text}': must be 1..65535` } : { ok: true, value: n };
}

function regex(text: string): Parsed<RegExp> {
  return compileRegex(text);
}

/** `200`, `2xx`, `200,204,3xx`. */
export function parseExpect(text: string): Parsed<StatusRange[]> {
  const ranges: StatusRange[] = [];
  for (const part of text.split(',')) {
    const cls = /^([1-5])xx$/i.exec(part);
    if (cls !== null) {
      const lo = Number(cls[1]) * 100;
      ranges.push({ lo, hi: lo + 99 });
      continue;
    }
    const n = /^\d{3}$/.test(part) ? Number(part) : NaN;
    if (!(n >= 100 && n <= 599)) {
      return { ok: false, message: `bad status '${part}' in '${text}': a status 100..599 or a class 1xx..5xx, comma-separated` };
    }
    ranges.push({ lo: n, hi: n });
  }
  return { ok: true, value: ranges };
}

const TIMING_PARSERS = {
  interval: parseDuration,
  timeout: parseDuration,
  rise: count('rise'),
  fall: count('fall'),
  port,
};

function checkStatement(health: HealthSpec, tokens: readonly Token[], report: Report): boolean {
  const kind = tokens[1];
  let at: number;
  let check: ActiveCheckSpec;
  let values: Map<string, unknown> | null;
  if (kind?.text === 'tcp' && !kind.quoted) {
    values = options(tokens, 2, 'check', TCP_USAGE, TIMING_PARSERS, report);
    if (values === null) return false;
    check = { kind: 'tcp', intervalMs: 0, timeoutMs: 0, rise: 0, fall: 0, port: null };
  } else if (kind?.text === 'http' && !kind.quoted) {
    let method = 'GET';
    at = 2;
    const first = tokens[at];
    if (first === undefined) {
      report('check.path', `missing path: usage: ${HTTP_USAGE}`);
      return false;
    }
    if (!first.quoted && !first.text.startsWith('/') && first.text !== '*') {
      if (!METHOD_RE.test(first.text)) {
        report('check.method', `bad method '${first.text}'`);
        return false;
      }
      method = first.text.toUpperCase();
      at++;
    }
    const path = tokens[at]?.text;
    if (path === undefined) {
      report('check.path', `missing path after '${method}': usage: ${HTTP_USAGE}`);
      return false;
    }
    if (!TARGET_RE.test(path)) {
      report('check.path', `bad path '${path}': must start with '/' and hold no spaces or control characters`);
      return false;
    }
    values = options(tokens, at + 1, 'check', HTTP_USAGE, { ...TIMING_PARSERS, expect: parseExpect, body: regex }, report);
    if (values === null) return false;
    check = {
      kind: 'http',
      method,
      path,
      expect: (values.get('expect') as StatusRange[] | undefined) ?? DEFAULT_EXPECT.map((r) => ({ ...r })),
      body: (values.get('body') as RegExp | undefined) ?? null,
      intervalMs: 0,
      timeoutMs: 0,
      rise: 0,
      fall: 0,
      port: null,
    };
  } else {
    report('check', `expected 'http' or 'tcp' after 'check': usage: ${HTTP_USAGE} | ${TCP_USAGE}`);
    return false;
  }
  check.intervalMs = (values.get('interval') as number | undefined) ?? DEFAULT_INTERVAL_MS;
  check.timeoutMs = (values.get('timeout') as number | undefined) ?? check.intervalMs;
  check.rise = (values.get('rise') as number | undefined) ?? DEFAULT_RISE;
  check.fall = (values.get('fall') as number | undefined) ?? DEFAULT_FALL;
  check.port = (values.get('port') as number | undefined) ?? null;
  health.check = check;
  return true;
}

function ejectStatement(health: HealthSpec, tokens: readonly Token[], report: Report): boolean {
  if (tokens[1]?.text !== 'after' || tokens[3]?.text !== 'failures' || tokens[1].quoted || tokens[3].quoted) {
    report('group.eject', `usage: ${EJECT_USAGE}`);
    return false;
  }
  const failures = count('failure count')(tokens[2].text);
  if (!failures.ok) {
    report('eject.failures', failures.message);
    return false;
  }
  const values = options(tokens, 4, 'eject', EJECT_USAGE, { backoff: parseDuration, 'max-backoff': parseDuration }, report);
  if (values === null) return false;
  const backoffMs = (values.get('backoff') as number | undefined) ?? DEFAULT_EJECT_BACKOFF_MS;
  const maxBackoffMs = (values.get('max-backoff') as number | undefined) ?? Math.max(DEFAULT_EJECT_MAX_BACKOFF_MS, backoffMs);
  if (maxBackoffMs < backoffMs) {
    report('eject.max-backoff', `max-backoff ${formatDuration(maxBackoffMs)} is shorter than the backoff ${formatDuration(backoffMs)}`);
    return false;
  }
  health.eject = { failures: failures.value, backoffMs, maxBackoffMs };
  return true;
}

function slowStartStatement(health: HealthSpec, tokens: readonly Token[], report: Report): boolean {
  if (tokens.length !== 2) {
    report('group.slow-start', `${tokens.length < 2 ? 'missing argument' : `unexpected '${tokens[2].text}'`}: usage: slow-start DURATION`);
    return false;
  }
  const d = parseDuration(tokens[1].text);
  if (!d.ok) {
    report('group.slow-start', d.message);
    return false;
  }
  health.slowStartMs = d.value;
  return true;
}

function agentStatement(health: HealthSpec, tokens: readonly Token[], report: Report): boolean {
  const portText = tokens[1]?.text;
  if (portText === undefined) {
    report('group.agent', `missing port: usage: ${AGENT_USAGE}`);
    return false;
  }
  const agentPort = port(portText);
  if (!agentPort.ok) {
    report('agent.port', agentPort.message);
    return false;
  }
  const values = options(tokens, 2, 'agent', AGENT_USAGE, { interval: parseDuration, timeout: parseDuration }, report);
  if (values === null) return false;
  const intervalMs = (values.get('interval') as number | undefined) ?? DEFAULT_INTERVAL_MS;
  health.agent = { port: agentPort.value, intervalMs, timeoutMs: (values.get('timeout') as number | undefined) ?? intervalMs };
  return true;
}

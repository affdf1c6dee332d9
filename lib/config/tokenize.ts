// Lexing and value parsing shared by the native and the KTCPVS config formats:
// line tokens, addresses, durations, sizes, regexes, and the checks that span
// services (listen conflicts). Everything returns a message instead of throwing
// so the parsers can collect every problem of a file in one pass.

import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint } from './model.ts';
import type { ConfigProblem } from './errors.ts';

export interface Token {
  text: string;
  quoted: boolean; // quoted tokens are never keywords, and may be empty
}

export interface TokenizedLine {
  tokens: Token[];
  error: string | null;
}

/**
 * Split one line into tokens. `#` starts a comment outside quotes. Inside
 * double quotes only `\"` and `\\` are escapes; any other backslash stays, so
 * regexes such as "\.png$" need no doubling. Each character of `specials`
 * (KTCPVS uses `{}=`) is a token of its own when unquoted.
 */
export function tokenizeLine(line: string, specials = ''): TokenizedLine {
  const tokens: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === '"') {
      let text = '';
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const d = line[j];
        if (d === '\\' && j + 1 < n && (line[j + 1] === '"' || line[j + 1] === '\\')) {
          text += line[j + 1];
          j += 2;
          continue;
        }
        if (d === '"') {
          closed = true;
          j++;
          break;
        }
        text += d;
        j++;
      }
      if (!closed) return { tokens, error: 'unterminated quoted string' };
      if (j < n && !isBoundary(line[j], specials)) {
        return { tokens, error: 'text directly after a closing quote (add a space)' };
      }
      tokens.push({ text, quoted: true });
      i = j;
      continue;
    }
    if (specials.includes(c)) {
      tokens.push({ text: c, quoted: false });
      i++;
      continue;
    }
    let j = i;
    while (j < n && !isBoundary(line[j], specials) && line[j] !== '"') j++;
    if (j < n && line[j] === '"') {
      return { tokens, error: 'a quote inside a word (quote the whole value)' };
    }
    tokens.push({ text: line.slice(i, j), quoted: false });
    i = j;
  }
  return { tokens, error: null };
}

function isBoundary(c: string, specials: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '#' || specials.includes(c);
}

/** Inverse of the tokenizer's quoting: bare when safe, else a quoted string. */
export function quoteToken(text: string, forceQuotes = false): string {
  if (!forceQuotes && text !== '' && /^[^\s"#\\{}=]+$/.test(text)) return text;
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') out += '\\"';
    else if (c === '\\') {
      const next = text[i + 1];
      // A lone backslash survives unescaped; only one the tokenizer would read
      // as an escape (or one before the closing quote) needs doubling.
      out += next === undefined || next === '"' || next === '\\' ? '\\\\' : '\\';
    } else out += c;
  }
  return out + '"';
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Service, group and route names: what the rule table prints and logs carry. */
export function checkName(name: string): string | null {
  return NAME_RE.test(name) ? null : `bad name '${name}': use letters, digits, '_', '.', '-'`;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * `host:port` or `[v6]:port`; port 1..65535. A listen address may use port 0
 * (`ephemeral`): the kernel picks a free port and tcpvs prints it, which is
 * what tests and side-by-side benches need.
 */
export function parseEndpoint(text: string, ephemeral = false): Parsed<Endpoint> {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return { ok: false, message: `bad address '${text}': missing ']'` };
    host = text.slice(1, close);
    if (text[close + 1] !== ':') return { ok: false, message: `bad address '${text}': expected [IPv6]:PORT` };
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return { ok: false, message: `bad address '${text}': '${host}' is not an IPv6 address` };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return { ok: false, message: `bad address '${text}': expected HOST:PORT` };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      return { ok: false, message: `bad address '${text}': write IPv6 addresses in brackets, e.g. [::1]:8080` };
    }
    if (host === '') return { ok: false, message: `bad address '${text}': missing host` };
    if (/^[\d.]+$/.test(host) ? !isIPv4(host) : !HOSTNAME_RE.test(host)) {
      return { ok: false, message: `bad address '${text}': '${host}' is not an IPv4 address or host name` };
    }
  }
  const port = ephemeral && portText === '0' ? 0 : parsePort(portText);
  if (port === null) {
    const range = ephemeral ? '1..65535, or 0 for any free port' : '1..65535';
    return { ok: false, message: `bad port '${portText}' in '${text}': must be ${range}` };
  }
  return { ok: true, value: { host: host.toLowerCase(), port } };
}

export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** Integer in [min, max] written in plain decimal digits. */
export function parseInteger(text: string, min: number, max: number): number | null {
  if (!/^\d{1,10}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

// setTimeout clamps anything above 2^31-1 ms to 1 ms, which would turn a long
// timeout into an instant one.
const MAX_TIMER_MS = 2 ** 31 - 1;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `10s`, `1.5s`, `2m`, `24h` into milliseconds; a unit is required. */
export function parseDuration(text: string): Parsed<number> {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (m === null) {
    const hint = /^\d+(?:\.\d+)?$/.test(text) ? ' (a unit is required: ms, s, m or h)' : ' (use e.g. 500ms, 10s, 2m, 24h)';
    return { ok: false, message: `bad duration '${text}'${hint}` };
  }
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
  if (ms < 1) return { ok: false, message: `bad duration '${text}': must be at least 1ms` };
  if (ms > MAX_TIMER_MS) return { ok: false, message: `bad duration '${text}': at most ${MAX_TIMER_MS}ms (about 24 days)` };
  return { ok: true, value: ms };
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 * 1024 };
const MAX_SIZE = 1024 * 1024 * 1024;

/** `8192`, `8k`, `1m` (k = 1024) into bytes; 1 byte .. 1 GiB. */
export function parseSize(text: string): Parsed<number> {
  const m = /^(\d{1,10})([kKmM]?)$/.exec(text);
  if (m === null) return { ok: false, message: `bad size '${text}' (use e.g. 8192, 8k, 1m)` };
  const bytes = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
  if (bytes < 1 || bytes > MAX_SIZE) return { ok: false, message: `bad size '${text}': must be 1 .. 1024m` };
  return { ok: true, value: bytes };
}

export function formatSize(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}

// RegExp#source escapes `/` (and newlines); the rule table prints what the
// user wrote instead.
const writtenSource = new WeakMap<RegExp, string>();

export function compileRegex(source: string): Parsed<RegExp> {
  if (source === '') return { ok: false, message: 'empty regular expression' };
  try {
    // No flags: without `g`/`y` a shared RegExp keeps no lastIndex state
    // between requests.
    const re = new RegExp(source);
    writtenSource.set(re, source);
    return { ok: true, value: re };
  } catch (err) {
    return { ok: false, message: `bad regular expression ${quoteToken(source, true)}: ${(err as Error).message}` };
  }
}

/** The regex as written in the config (RegExp#source for others). */
export function regexText(re: RegExp): string {
  return writtenSource.get(re) ?? re.source;
}

/** Number of capture groups in a regex. */
export function captureCount(re: RegExp): number {
  // An empty alternative makes the regex match '' so exec reports every group.
  return (new RegExp(`${re.source}|`).exec('') as RegExpExecArray).length - 1;
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export interface ListenSite {
  service: string;
  listen: Endpoint;
  file: string;
  line: number; // of the listen statement
}

/**
 * Two services may not bind the same address, and a wildcard bind (0.0.0.0, ::)
 * takes its port on every address of its family (and on Linux `::` takes IPv4
 * too), so it conflicts with any other service on that port.
 */
export function checkListenConflicts(sites: readonly ListenSite[], problems: ConfigProblem[]): void {
  for (let i = 0; i < sites.length; i++) {
    const a = sites[i];
    for (let j = 0; j < i; j++) {
      const b = sites[j];
      if (a.listen.port !== b.listen.port || a.listen.port === 0) continue;
      const same = a.listen.host === b.listen.host;
      if (!same && !isWildcardHost(a.listen.host) && !isWildcardHost(b.listen.host)) continue;
      problems.push({
        file: a.file,
        line: a.line,
        field: 'listen',
        message: same
          ? `${formatEndpoint(a.listen)} is already the listen address of service '${b.service}' (line ${b.line})`
          : `${formatEndpoint(a.listen)} overlaps ${formatEndpoint(b.listen)} of service '${b.service}' (line ${b.line})`,
      });
      break;
    }
  }
}

/** Problems in file order; the parsers find some only at the end of a block. */
export function sortProblems<T extends { line: number }>(items: T[]): T[] {
  return items
    .map((p, i) => ({ p, i }))
    .sort((x, y) => x.p.line - y.p.line || x.i - y.i)
    .map((e) => e.p);
}

// A route line's matchers: how each is written (parseMatcher, shared by the
// config parser and tcpvsadm's `route add`) and which one supplies a submatch
// key (keyedRegexIndex, shared by the parser's checks and the router). Pure:
// it imports nothing of the data path, so the tcpvsadm client may load it.
import type { Matcher } from './model.ts';
import { compileRegex, type Token } from './tokenize.ts';
import { normalisePath } from '../route/normalise.ts';

/**
 * Which matcher of a rule supplies a submatch key: its first url-regex, else
 * its first path-regex; -1 when it has neither. The config checks capture
 * groups against the same matcher.
 */
export function keyedRegexIndex(matchers: readonly Matcher[]): number {
  const url = matchers.findIndex((m) => m.kind === 'url-regex');
  return url !== -1 ? url : matchers.findIndex((m) => m.kind === 'path-regex');
}

type MatcherResult =
  | { matcher: Matcher; problem: null; next: number }
  | { matcher: null; problem: { field: string; message: string }; next: number }; // next < 0: cannot resync

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOST_RE = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*)$/;

/**
 * One matcher starting at tokens[i], reading no further than `end`. Matchers
 * have fixed arity, so after a bad value the next matcher is still found.
 */
export function parseMatcher(tokens: readonly Token[], i: number, end: number): MatcherResult {
  const kind = tokens[i].text;
  const fail = (field: string, message: string, next: number): MatcherResult => ({ matcher: null, problem: { field, message }, next });
  const arg = i + 1 < end ? tokens[i + 1].text : undefined;
  if (tokens[i].quoted) return fail('route', `expected a matcher, found the quoted string "${kind}"`, -1);
  switch (kind) {
    case 'path':
    case 'prefix': {
      if (arg === undefined) return fail(kind, `missing value: usage: ${kind} /PATH`, -1);
      if (!arg.startsWith('/')) return fail(kind, `'${arg}' must start with '/'`, i + 2);
      // Requests are matched on their normalised path: a value in another form could never match.
      const normal = normalisePath(arg);
      if (typeof normal !== 'string') return fail(kind, `'${arg}' can never match: ${normal.error}`, i + 2);
      if (normal !== arg)
        return fail(
          kind,
          `'${arg}' can never match a normalised path (write '${normal}'; see Path and host normalisation in docs/configuration.md)`,
          i + 2,
        );
      return { matcher: { kind, value: arg }, problem: null, next: i + 2 };
    }
    case 'path-regex':
    case 'url-regex': {
      if (arg === undefined) return fail(kind, `missing value: usage: ${kind} REGEX`, -1);
      const re = compileRegex(arg);
      if (!re.ok) return fail(kind, re.message, i + 2);
      return { matcher: { kind, re: re.value, text: arg }, problem: null, next: i + 2 };
    }
    case 'sni':
    case 'host': {
      if (arg === undefined) return fail(kind, `missing value: usage: ${kind} NAME | ${kind} *.DOMAIN`, -1);
      const host = arg.toLowerCase();
      const wildcard = host.startsWith('*.');
      const name = wildcard ? host.slice(2) : host;
      if (!HOST_RE.test(name) || (kind === 'sni' && name.startsWith('['))) {
        const hint = /:\d+$/.test(name) ? ' (no port: the port is ignored when matching)' : '';
        return fail(kind, `bad host name '${arg}'${hint}`, i + 2);
      }
      return { matcher: { kind, value: wildcard ? host.slice(1) : host, wildcard }, problem: null, next: i + 2 };
    }
    case 'method': {
      if (arg === undefined) return fail(kind, 'missing value: usage: method GET,HEAD', -1);
      const values = arg.split(',').map((m) => m.toUpperCase());
      const bad = values.find((m) => !METHOD_RE.test(m));
      if (bad !== undefined) return fail(kind, `bad method list '${arg}' (comma-separated, no spaces)`, i + 2);
      return { matcher: { kind, values: [...new Set(values)] }, problem: null, next: i + 2 };
    }
    case 'header':
    case 'cookie':
    case 'query': {
      const usage = `usage: ${kind} NAME present | ${kind} NAME = VALUE | ${kind} NAME ~ REGEX`;
      if (arg === undefined) return fail(kind, `missing name: ${usage}`, -1);
      let name = arg;
      if (kind === 'header') {
        if (!HEADER_NAME_RE.test(arg)) return fail(kind, `bad header name '${arg}'`, -1);
        name = arg.toLowerCase();
      } else if (arg === '') return fail(kind, `empty ${kind} name`, -1);
      const op = i + 2 < end ? tokens[i + 2] : undefined;
      if (op === undefined || op.quoted) return fail(kind, `missing test after '${arg}': ${usage}`, -1);
      if (op.text === 'present') return { matcher: { kind, name, op: 'present' }, problem: null, next: i + 3 };
      if (op.text !== '=' && op.text !== '~') return fail(kind, `unknown test '${op.text}': ${usage}`, -1);
      const value = i + 3 < end ? tokens[i + 3].text : undefined;
      if (value === undefined) return fail(kind, `missing value after '${op.text}': ${usage}`, -1);
      if (op.text === '=') return { matcher: { kind, name, op: 'equals', value }, problem: null, next: i + 4 };
      const re = compileRegex(value);
      if (!re.ok) return fail(kind, re.message, i + 4);
      return { matcher: { kind, name, op: 'regex', re: re.value }, problem: null, next: i + 4 };
    }
    default:
      return fail(
        'route',
        `unknown matcher '${kind}' (expected path, prefix, path-regex, url-regex, host, method, header, cookie, query or sni)`,
        -1,
      );
  }
}

// Per-group session affinity ("persistence"), as the config model carries it
// (GroupSpec.affinity). Three kinds:
// - source: requests from one client address (or one masked network) stick to
//   one server for a while, as `ipvsadm -p TIMEOUT -M NETMASK`;
// - cookie: a cookie names the server, as HAProxy's `cookie NAME insert |
//   rewrite | prefix`;
// - header: the value of a request header (X-Session-Id, ...) sticks to one
//   server for a while, in a table like source persistence.
// `withAffinityDefaults` fills the defaults, `affinityProblems` lists what is
// wrong with a spec; the parsers call both and report problems with file:line.

export interface SourceAffinitySpec {
  kind: 'source';
  timeoutMs: number; // a pin lives this long after its last use (ipvsadm -p, default 300 s)
  netmaskV4: number; // prefix bits of an IPv4 client address that count (ipvsadm -M), default 32
  netmaskV6: number; // the same for IPv6, default 128
  maxEntries: number; // bound of the table; least recently used pins go first
}

export type CookieMode = 'insert' | 'rewrite' | 'prefix';

export interface CookieAffinitySpec {
  kind: 'cookie';
  mode: CookieMode;
  name: string; // the cookie's name, case-sensitive as cookies are
  // Attributes of the cookie tcpvs sets in insert mode (ignored otherwise:
  // rewrite and prefix keep the application's own attributes).
  path?: string; // default "/"
  domain?: string;
  maxAgeSec?: number; // undefined: a browser-session cookie
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'Strict' | 'Lax' | 'None';
  // Key of the HMAC that turns a server name into its opaque cookie id.
  // Default: derived from the group name (see docs/affinity.md#cookie-modes, "The secret").
  secret?: string;
}

export interface HeaderAffinitySpec {
  kind: 'header';
  name: string; // request header, lower-case
  timeoutMs: number; // default 300 s
  maxEntries: number; // default 65536
}

export type AffinitySpec = SourceAffinitySpec | CookieAffinitySpec | HeaderAffinitySpec;

/** What a parser may hand in: everything but the kind (and a cookie's name and mode) optional. */
export type AffinityInput =
  | ({ kind: 'source' } & Partial<Omit<SourceAffinitySpec, 'kind'>>)
  | CookieAffinitySpec
  | ({ kind: 'header'; name: string } & Partial<Omit<HeaderAffinitySpec, 'kind' | 'name'>>);

export const DEFAULT_AFFINITY_TIMEOUT_MS = 300_000; // ipvsadm's default persistence timeout
export const DEFAULT_AFFINITY_MAX_ENTRIES = 65_536;
export const DEFAULT_NETMASK_V4 = 32;
export const DEFAULT_NETMASK_V6 = 128;

export function withAffinityDefaults(input: AffinityInput): AffinitySpec {
  switch (input.kind) {
    case 'source':
      return {
        kind: 'source',
        timeoutMs: input.timeoutMs ?? DEFAULT_AFFINITY_TIMEOUT_MS,
        netmaskV4: input.netmaskV4 ?? DEFAULT_NETMASK_V4,
        netmaskV6: input.netmaskV6 ?? DEFAULT_NETMASK_V6,
        maxEntries: input.maxEntries ?? DEFAULT_AFFINITY_MAX_ENTRIES,
      };
    case 'header':
      return {
        kind: 'header',
        name: input.name.toLowerCase(),
        timeoutMs: input.timeoutMs ?? DEFAULT_AFFINITY_TIMEOUT_MS,
        maxEntries: input.maxEntries ?? DEFAULT_AFFINITY_MAX_ENTRIES,
      };
    case 'cookie':
      return { ...input };
  }
}

export interface AffinityProblem {
  field: string; // "affinity.timeout", "affinity.name", ...
  message: string;
}

// RFC 9110 token characters: what a cookie name and a header name may hold.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A cookie attribute value may not hold ';' or control characters (RFC 6265 §4.1.1).
const ATTRIBUTE_VALUE = /^[\x20-\x3a\x3c-\x7e]+$/;

/** What is wrong with a (defaulted) spec; empty when it is usable. */
export function affinityProblems(spec: AffinitySpec): AffinityProblem[] {
  const problems: AffinityProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field: 'affinity.' + field, message });
  const positiveInteger = (field: string, v: number) => {
    if (!Number.isSafeInteger(v) || v <= 0) bad(field, `must be a positive integer, not ${v}`);
  };
  switch (spec.kind) {
    case 'source':
      positiveInteger('timeout', spec.timeoutMs);
      positiveInteger('max-entries', spec.maxEntries);
      if (!Number.isInteger(spec.netmaskV4) || spec.netmaskV4 < 0 || spec.netmaskV4 > 32)
        bad('netmask', `IPv4 prefix length must be 0..32, not ${spec.netmaskV4}`);
      if (!Number.isInteger(spec.netmaskV6) || spec.netmaskV6 < 0 || spec.netmaskV6 > 128)
        bad('netmask6', `IPv6 prefix length must be 0..128, not ${spec.netmaskV6}`);
      break;
    case 'header':
      positiveInteger('timeout', spec.timeoutMs);
      positiveInteger('max-entries', spec.maxEntries);
      if (!TOKEN.test(spec.name)) bad('name', `"${spec.name}" is not a header name`);
      break;
    case 'cookie':
      if (spec.mode !== 'insert' && spec.mode !== 'rewrite' && spec.mode !== 'prefix')
        bad('mode', `must be insert, rewrite or prefix, not "${spec.mode}"`);
      if (!TOKEN.test(spec.name)) bad('name', `"${spec.name}" is not a cookie name`);
      if (spec.path !== undefined && !ATTRIBUTE_VALUE.test(spec.path)) bad('path', 'may not be empty or hold ";" or control characters');
      if (spec.domain !== undefined && !ATTRIBUTE_VALUE.test(spec.domain))
        bad('domain', 'may not be empty or hold ";" or control characters');
      if (spec.maxAgeSec !== undefined && (!Number.isSafeInteger(spec.maxAgeSec) || spec.maxAgeSec < 0))
        bad('max-age', `must be a whole number of seconds, not ${spec.maxAgeSec}`);
      if (spec.sameSite !== undefined && spec.sameSite !== 'Strict' && spec.sameSite !== 'Lax' && spec.sameSite !== 'None')
        bad('same-site', `must be Strict, Lax or None, not "${spec.sameSite}"`);
      // Browsers drop a SameSite=None cookie that is not Secure.
      if (spec.sameSite === 'None' && spec.secure !== true) bad('same-site', 'SameSite=None needs secure');
      if (spec.secret !== undefined && spec.secret.length === 0) bad('secret', 'may not be empty');
      break;
  }
  return problems;
}

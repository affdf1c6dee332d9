// The compiled configuration: what the parsers (native and KTCPVS) produce and
// what the data path consumes. Nothing here is parsed again per request.

export interface Endpoint {
  host: string; // IPv4 literal, IPv6 literal without brackets, or a name
  port: number;
}

export interface ServerSpec extends Endpoint {
  weight: number; // 0 = quiescent: no new requests, running ones finish
}

export interface GroupSpec {
  name: string;
  scheduler: string; // rr | wrr | lc | wlc | hhttp (KTCPVS)
  servers: ServerSpec[];
  // For hashing schedulers (KTCPVS hhttp): which submatch of the rule's regex is the key.
  hashSubmatch?: number;
}

export type MatchOp =
  | { op: 'present' }
  | { op: 'equals'; value: string }
  | { op: 'regex'; re: RegExp };

export type Matcher =
  | { kind: 'path'; value: string } // exact path, query excluded
  | { kind: 'prefix'; value: string } // path prefix
  | { kind: 'path-regex'; re: RegExp } // tested against the path (or path+query for KTCPVS, see `target`)
  | { kind: 'url-regex'; re: RegExp } // tested against the whole request target (KTCPVS patterns)
  | { kind: 'host'; value: string; wildcard: boolean } // lower-case; wildcard: value is the suffix ".example.com"
  | { kind: 'method'; values: string[] } // upper-case
  | ({ kind: 'header'; name: string } & MatchOp) // name lower-case
  | ({ kind: 'cookie'; name: string } & MatchOp)
  | ({ kind: 'query'; name: string } & MatchOp);

export interface RuleSpec {
  name: string;
  matchers: Matcher[]; // all must hold
  group: string;
  file: string;
  line: number;
}

export interface Timeouts {
  clientHeaderMs: number; // whole head must arrive within this (slowloris): 408
  clientIdleMs: number; // keep-alive idle between requests
  connectMs: number; // upstream connect: 504
  responseMs: number; // upstream response must start within this: 504
  upstreamIdleMs: number; // idle pooled upstream connection is closed after this
}

export interface Limits {
  maxUriBytes: number; // 414 above
  maxHeaderBytes: number; // 431 above (whole head)
  poolMaxIdlePerServer: number; // idle upstream connections kept per real server
}

export interface ServiceSpec {
  name: string;
  listen: Endpoint;
  groups: GroupSpec[];
  rules: RuleSpec[];
  defaultGroup: string | null; // null: 404 when nothing matches
  timeouts: Timeouts;
  limits: Limits;
  file: string;
  line: number;
}

export interface LogSpec {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  destination: string; // 'stdout' | 'stderr' | a file path
}

export interface Config {
  format: 'native' | 'ktcpvs';
  file: string;
  services: ServiceSpec[];
  log: LogSpec;
  warnings: ConfigWarning[];
}

export interface ConfigWarning {
  file: string;
  line: number;
  field: string;
  message: string;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  clientHeaderMs: 10_000,
  clientIdleMs: 60_000,
  connectMs: 5_000,
  responseMs: 60_000,
  // Shorter than the usual backend keep-alive (Node 5 s, nginx 75 s) so we
  // rarely reuse a connection the backend is about to close.
  upstreamIdleMs: 4_000,
};

export const DEFAULT_LIMITS: Limits = {
  maxUriBytes: 8192,
  maxHeaderBytes: 16384,
  poolMaxIdlePerServer: 64,
};

export const DEFAULT_LOG: LogSpec = { level: 'info', destination: 'stdout' };

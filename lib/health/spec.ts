// What a group's health statements compile to (GroupSpec.health): an active
// check (HTTP or TCP), passive ejection, slow start and an agent check. The
// defaults are HAProxy's where HAProxy has one.

/** Inclusive range of HTTP statuses a check accepts: 200..299 for `2xx`, 204..204 for `204`. */
export interface StatusRange {
  lo: number;
  hi: number;
}

export interface CheckTiming {
  intervalMs: number; // between the starts of two checks of one server
  timeoutMs: number; // one check, connect included
  rise: number; // consecutive successes that bring a down server up
  fall: number; // consecutive failures that take an up server down
  port: number | null; // null: the server's own port
}

export interface HttpCheckSpec extends CheckTiming {
  kind: 'http';
  method: string;
  path: string;
  expect: StatusRange[];
  body: RegExp | null; // tested against the first BODY_LIMIT bytes of the response body
}

export interface TcpCheckSpec extends CheckTiming {
  kind: 'tcp';
}

export type ActiveCheckSpec = HttpCheckSpec | TcpCheckSpec;

export interface EjectSpec {
  failures: number; // consecutive failed requests that eject a server
  backoffMs: number; // first ejection; doubles on each re-ejection
  maxBackoffMs: number; // bound of the doubling; also how long a server must stay admitted for the doubling to start over
}

/**
 * A group without `eject` still takes out a server that refuses or times
 * out a connect, for 10 s, as nginx does by default (max_fails=1
 * fail_timeout=10s): its requests are retried elsewhere anyway (`retries`),
 * and without this each of them would pay the failed connect first. Only
 * connect failures count (lib/proxy/passive.ts); a 5xx or a broken response
 * does not.
 */
export const DEFAULT_CONNECT_EJECT: EjectSpec = { failures: 1, backoffMs: 10_000, maxBackoffMs: 10_000 };

/** The ejection a group runs: its own, or the default one for connect failures. */
export function ejectionOf(health: HealthSpec | undefined): { spec: EjectSpec; connectOnly: boolean } {
  const eject = health?.eject;
  return eject === undefined ? { spec: DEFAULT_CONNECT_EJECT, connectOnly: true } : { spec: eject, connectOnly: false };
}

export interface AgentSpec {
  port: number;
  intervalMs: number;
  timeoutMs: number;
}

export interface HealthSpec {
  check?: ActiveCheckSpec;
  eject?: EjectSpec;
  slowStartMs?: number;
  agent?: AgentSpec;
}

// HAProxy: `inter 2s`, `rise 2`, `fall 3`; the check timeout defaults to inter.
export const DEFAULT_INTERVAL_MS = 2_000;
export const DEFAULT_RISE = 2;
export const DEFAULT_FALL = 3;
// HAProxy's default http-check accepts 2xx and 3xx.
export const DEFAULT_EXPECT: readonly StatusRange[] = [
  { lo: 200, hi: 299 },
  { lo: 300, hi: 399 },
];
export const DEFAULT_EJECT_FAILURES = 5;
export const DEFAULT_EJECT_BACKOFF_MS = 10_000;
export const DEFAULT_EJECT_MAX_BACKOFF_MS = 300_000;
/** Bytes of a response body an HTTP check reads for its `body` regex (HAProxy reads one buffer, 16k). */
export const BODY_LIMIT = 16_384;

export function statusAccepted(expect: readonly StatusRange[], status: number): boolean {
  for (const r of expect) if (status >= r.lo && status <= r.hi) return true;
  return false;
}

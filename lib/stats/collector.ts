// Statistics, read by the control plane. The data path of every worker
// counts connections and requests per service, group and real server in its
// own stripe of shared counters (shared-counters.ts); a snapshot adds the
// stripes up, so it is one balancer's numbers whatever the worker count, and
// asks no worker anything. Counters belong to the registry's services,
// groups and servers (lib/control/registry.ts), so they carry on across
// config changes for as long as their service, group or server stays. What is
// live state rather than history (a server's up/down, weight, requests in
// flight) is read from the servers' shared records.
import { WINDOW_SECONDS } from './histogram.ts';

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];
/**
 * How a request ended, as the data path reports it (lib/proxy/observer.ts
 * says what each means). Listed here, not imported from the data path, so
 * that statistics do not depend on it; test/layout/import-cycles.test.ts
 * holds the two equal.
 */
export const OUTCOMES = ['ok', 'refused', 'connect-failed', 'upstream-failed', 'aborted'] as const;
export type RequestOutcome = (typeof OUTCOMES)[number];

/** 0..4 for 1xx..5xx; 5 ('other') for 0 (nothing sent: aborted, failed) and anything odd. */
export function statusClassIndex(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
}

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  minMs: number | null;
  maxMs: number | null;
}

export interface RequestStats {
  total: number;
  /** Completed requests per second over the recent window. */
  perSecond: number;
  bytesIn: number;
  bytesOut: number;
  status: Record<StatusClass, number>;
  outcomes: Record<RequestOutcome, number>;
  /** Since the start. */
  latency: LatencySummary & { meanMs: number | null };
  /** Over the recent window (windowSeconds). */
  recentLatency: LatencySummary;
  /**
   * When asked for: bucket counts since the start and over the recent window
   * (not cumulative; the last bucket is the overflow), and the sum since the
   * start. Enough to export a histogram.
   */
  histogram?: { counts: number[]; recentCounts: number[]; sumSeconds: number };
}

export interface ServerSnapshot {
  name: string; // "host:port"
  up: boolean;
  weight: number;
  activeRequests: number;
  /** The most requests in flight at once since the server joined. */
  peakRequests: number;
  /** When it last went up or down (epoch ms), or joined. */
  changedAt: number;
  /** The last active check: passed or not, and what it saw; null without checks or before the first. */
  lastCheck: { ok: boolean; reason: string; at: number } | null;
  requests: RequestStats;
}

export interface GroupSnapshot {
  name: string;
  scheduler: string;
  activeRequests: number;
  serversUp: number;
  requests: RequestStats;
  servers: ServerSnapshot[];
  /** Requests routed here that found no usable server (503); null when none. */
  noServer: RequestStats | null;
}

export interface ServiceSnapshot {
  name: string;
  listen: string; // the bound address
  connections: { active: number; total: number; perSecond: number };
  activeRequests: number;
  requests: RequestStats;
  groups: GroupSnapshot[];
  /** Requests answered before a group was chosen (bad input, no route: 400, 404...); null when none. */
  noGroup: RequestStats | null;
}

export interface StatsSnapshot {
  generatedAt: number; // epoch ms
  startedAt: number; // epoch ms
  windowSeconds: number;
  /** Upper bounds of the histogram buckets in ms, when histograms were asked for. */
  bucketUpperMs?: readonly number[];
  services: ServiceSnapshot[];
}

export interface SnapshotOptions {
  /** Include each entity's bucket counts (for /metrics). */
  histograms?: boolean;
}

/** Where the admin listener gets its numbers: one collector, or the merge of every worker's. */
export interface StatsSource {
  snapshot(options?: SnapshotOptions): StatsSnapshot | Promise<StatsSnapshot>;
}

export interface Stats extends StatsSource {
  snapshot(options?: SnapshotOptions): StatsSnapshot;
}

/**
 * Events per second over the window: its full seconds plus the part of the
 * current one, or less when the stats are younger than that (never under 1 s,
 * so the first requests do not read as a burst).
 */
export function ratePerSecond(events: number, nowMs: number, startedAtMs: number): number {
  const windowSpan = WINDOW_SECONDS - 1 + (nowMs % 1000) / 1000;
  const span = Math.max(1, Math.min(windowSpan, (nowMs - startedAtMs) / 1000));
  return events / span;
}

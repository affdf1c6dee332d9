// One snapshot out of several: with --workers N every worker counts its own
// connections and requests, and the admin listener (in the primary) shows
// their sum. Counters and rates add up; latency percentiles are computed
// again from the added bucket counts, so they are those of all the requests,
// not an average of percentiles. Live state: a server is shown up only when
// every worker has it up (health checks run per worker), and requests in
// flight add up.
import { BUCKET_COUNT, WINDOW_SECONDS, quantileOf } from './histogram.ts';
import {
  OUTCOMES,
  STATUS_CLASSES,
  type GroupSnapshot,
  type LatencySummary,
  type RequestStats,
  type ServerSnapshot,
  type ServiceSnapshot,
  type SnapshotOptions,
  type StatsSnapshot,
} from './collector.ts';
import type { RequestOutcome } from '../proxy/observer.ts';

/** Items of several lists grouped by name, in the order names first appear. */
function byName<T extends { name: string }>(lists: ReadonlyArray<readonly T[]>): T[][] {
  const groups = new Map<string, T[]>();
  for (const list of lists)
    for (const item of list) {
      const g = groups.get(item.name);
      if (g === undefined) groups.set(item.name, [item]);
      else g.push(item);
    }
  return [...groups.values()];
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  let n = 0;
  for (const item of items) n += value(item);
  return n;
}

function addCounts(parts: ReadonlyArray<readonly number[]>): number[] {
  const out = new Array<number>(BUCKET_COUNT).fill(0);
  for (const counts of parts) for (let i = 0; i < BUCKET_COUNT; i++) out[i] += counts[i];
  return out;
}

function latencyOf(counts: readonly number[], parts: readonly LatencySummary[]): LatencySummary {
  const count = sum(parts, (p) => p.count);
  const mins = parts.flatMap((p) => (p.minMs === null ? [] : [p.minMs]));
  const maxes = parts.flatMap((p) => (p.maxMs === null ? [] : [p.maxMs]));
  const minMs = mins.length > 0 ? Math.min(...mins) : null;
  const maxMs = maxes.length > 0 ? Math.max(...maxes) : null;
  const q = (p: number) => (minMs === null || maxMs === null ? null : quantileOf(counts, count, p, minMs, maxMs));
  return { count, p50Ms: q(0.5), p99Ms: q(0.99), minMs, maxMs };
}

function mergeRequests(parts: readonly RequestStats[], histograms: boolean): RequestStats {
  const buckets = parts.map((p) => {
    if (p.histogram === undefined) throw new Error('mergeSnapshots needs snapshots taken with histograms');
    return p.histogram;
  });
  const counts = addCounts(buckets.map((h) => h.counts));
  const recentCounts = addCounts(buckets.map((h) => h.recentCounts));
  const sumSeconds = sum(buckets, (h) => h.sumSeconds);
  const latency = latencyOf(
    counts,
    parts.map((p) => p.latency),
  );
  const merged: RequestStats = {
    total: sum(parts, (p) => p.total),
    perSecond: sum(parts, (p) => p.perSecond),
    bytesIn: sum(parts, (p) => p.bytesIn),
    bytesOut: sum(parts, (p) => p.bytesOut),
    status: Object.fromEntries(STATUS_CLASSES.map((k) => [k, sum(parts, (p) => p.status[k])])) as RequestStats['status'],
    outcomes: Object.fromEntries(OUTCOMES.map((k) => [k, sum(parts, (p) => p.outcomes[k])])) as Record<RequestOutcome, number>,
    latency: { ...latency, meanMs: latency.count > 0 ? (sumSeconds * 1000) / latency.count : null },
    recentLatency: latencyOf(
      recentCounts,
      parts.map((p) => p.recentLatency),
    ),
  };
  if (histograms) merged.histogram = { counts, recentCounts, sumSeconds };
  return merged;
}

function mergeOptional(parts: ReadonlyArray<RequestStats | null>, histograms: boolean): RequestStats | null {
  const present = parts.filter((p): p is RequestStats => p !== null);
  return present.length === 0 ? null : mergeRequests(present, histograms);
}

function mergeServers(parts: readonly ServerSnapshot[], histograms: boolean): ServerSnapshot {
  return {
    name: parts[0].name,
    up: parts.every((p) => p.up),
    weight: parts[0].weight,
    activeRequests: sum(parts, (p) => p.activeRequests),
    requests: mergeRequests(
      parts.map((p) => p.requests),
      histograms,
    ),
  };
}

function mergeGroups(parts: readonly GroupSnapshot[], histograms: boolean): GroupSnapshot {
  const servers = byName(parts.map((p) => p.servers)).map((same) => mergeServers(same, histograms));
  return {
    name: parts[0].name,
    scheduler: parts[0].scheduler,
    activeRequests: sum(parts, (p) => p.activeRequests),
    serversUp: servers.filter((s) => s.up).length,
    requests: mergeRequests(
      parts.map((p) => p.requests),
      histograms,
    ),
    servers,
    noServer: mergeOptional(
      parts.map((p) => p.noServer),
      histograms,
    ),
  };
}

function mergeServices(parts: readonly ServiceSnapshot[], histograms: boolean): ServiceSnapshot {
  return {
    name: parts[0].name,
    listen: parts[0].listen,
    connections: {
      active: sum(parts, (p) => p.connections.active),
      total: sum(parts, (p) => p.connections.total),
      perSecond: sum(parts, (p) => p.connections.perSecond),
    },
    activeRequests: sum(parts, (p) => p.activeRequests),
    requests: mergeRequests(
      parts.map((p) => p.requests),
      histograms,
    ),
    groups: byName(parts.map((p) => p.groups)).map((same) => mergeGroups(same, histograms)),
    noGroup: mergeOptional(
      parts.map((p) => p.noGroup),
      histograms,
    ),
  };
}

/**
 * The sum of several snapshots, each taken with `{ histograms: true }`.
 * Services, groups and servers are matched by name. The result carries
 * histograms only when `options.histograms` asks for them.
 */
export function mergeSnapshots(parts: readonly StatsSnapshot[], options: SnapshotOptions = {}): StatsSnapshot {
  const histograms = options.histograms === true;
  if (parts.length === 0) {
    const now = Date.now();
    return { generatedAt: now, startedAt: now, windowSeconds: WINDOW_SECONDS, services: [] };
  }
  const merged: StatsSnapshot = {
    generatedAt: Math.max(...parts.map((p) => p.generatedAt)),
    startedAt: Math.min(...parts.map((p) => p.startedAt)),
    windowSeconds: parts[0].windowSeconds,
    services: byName(parts.map((p) => p.services)).map((same) => mergeServices(same, histograms)),
  };
  if (histograms) {
    const bounds = parts.find((p) => p.bucketUpperMs !== undefined)?.bucketUpperMs;
    if (bounds !== undefined) merged.bucketUpperMs = bounds;
  }
  return merged;
}

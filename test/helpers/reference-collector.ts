// The statistics collector tcpvs had before its counters moved to shared
// memory, kept as a plain reference for the tests: an observer that counts in
// ordinary objects, simple enough to trust. Statistics: a ServiceObserver on every service that counts connections and
// requests per service, group and real server. Counters are keyed by names,
// not by runtime objects, so a hot reload (which builds new runtimes) keeps
// them: attach() the new services and the numbers carry on. What is live
// state rather than history (a server's up/down, weight, requests in flight)
// is read from the current runtimes when a snapshot is taken.
import type { GroupRuntime } from '../../lib/proxy/group.ts';
import type { RequestOutcome, RequestRecord, ServiceObserver } from '../../lib/proxy/observer.ts';
import type { ServiceRuntime } from '../../lib/proxy/service.ts';
import type { RealServer } from '../../lib/sched/scheduler.ts';
import { W_ACTIVE, W_PEAK, W_STATUS, W_WEIGHT, statusUp } from '../../lib/state/server-share.ts';
import { BUCKET_COUNT, BUCKET_UPPER_MS, Histogram, RecentWindow, WINDOW_SECONDS, bucketOf, quantileOf } from '../../lib/stats/histogram.ts';
import {
  OUTCOMES,
  STATUS_CLASSES,
  ratePerSecond,
  statusClassIndex,
  type GroupSnapshot,
  type RequestStats,
  type ServerSnapshot,
  type ServiceSnapshot,
  type SnapshotOptions,
  type StatsSnapshot,
  type StatusClass,
  type StatsSource,
} from '../../lib/stats/collector.ts';

const OUTCOME_INDEX = new Map<RequestOutcome, number>(OUTCOMES.map((o, i) => [o, i]));

export interface ReferenceStats extends StatsSource {
  readonly observer: ServiceObserver;
  /** Observes these services (again after a reload, with the new ones); counters carry on by name. */
  attach(services: readonly ServiceRuntime[]): void;
  snapshot(options?: SnapshotOptions): StatsSnapshot;
}

interface StatsOptions {
  /** Epoch milliseconds; tests inject a clock. */
  now?: () => number;
}

/** Where a record goes in every counter it updates, worked out once per request. */
interface RecordPlace {
  second: number;
  bucket: number;
  statusClass: number;
  outcome: number;
}

/** Counters of requests that ended on one entity (service, group, server). */
class RequestCounters {
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly statusClasses = new Float64Array(STATUS_CLASSES.length);
  readonly outcomes = new Float64Array(OUTCOMES.length);
  readonly latency = new Histogram();
  readonly recent = new RecentWindow(true);

  record(r: RequestRecord, at: RecordPlace): void {
    this.total++;
    this.bytesIn += r.bytesIn;
    this.bytesOut += r.bytesOut;
    this.statusClasses[at.statusClass]++;
    this.outcomes[at.outcome]++;
    this.latency.recordIn(at.bucket, r.durationMs);
    this.recent.recordIn(at.second, at.bucket, r.durationMs);
  }
}

class ServerCounters {
  readonly requests = new RequestCounters();
}

class GroupCounters {
  readonly requests = new RequestCounters();
  readonly servers = new Map<string, ServerCounters>();
  readonly noServer = new RequestCounters();

  server(name: string): ServerCounters {
    let s = this.servers.get(name);
    if (s === undefined) this.servers.set(name, (s = new ServerCounters()));
    return s;
  }
}

class ServiceCounters {
  readonly requests = new RequestCounters();
  readonly groups = new Map<string, GroupCounters>();
  readonly noGroup = new RequestCounters();
  connectionsActive = 0;
  connectionsTotal = 0;
  readonly connectionsRecent = new RecentWindow(false);

  group(name: string): GroupCounters {
    let g = this.groups.get(name);
    if (g === undefined) this.groups.set(name, (g = new GroupCounters()));
    return g;
  }
}

export function createStats(options: StatsOptions = {}): ReferenceStats {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const byService = new Map<string, ServiceCounters>();
  // Runtime objects resolve to their counters once; a reload's new objects
  // resolve to the same counters by name.
  const groupCounters = new WeakMap<GroupRuntime, GroupCounters>();
  const serverCounters = new WeakMap<RealServer, ServerCounters>();
  let attached: readonly ServiceRuntime[] = [];
  const scratch = new Float64Array(BUCKET_COUNT);
  const place: RecordPlace = { second: 0, bucket: 0, statusClass: 0, outcome: 0 }; // reused: records are handled one at a time

  function service(name: string): ServiceCounters {
    let s = byService.get(name);
    if (s === undefined) byService.set(name, (s = new ServiceCounters()));
    return s;
  }

  const observer: ServiceObserver = {
    connectionOpened(name) {
      const s = service(name);
      s.connectionsActive++;
      s.connectionsTotal++;
      s.connectionsRecent.count(Math.floor(now() / 1000));
    },
    connectionClosed(name) {
      const s = service(name);
      if (s.connectionsActive > 0) s.connectionsActive--;
    },
    requestEnded(r) {
      const at = place;
      at.second = Math.floor(now() / 1000);
      at.bucket = bucketOf(r.durationMs);
      at.statusClass = statusClassIndex(r.status);
      at.outcome = OUTCOME_INDEX.get(r.outcome) ?? 0;
      const s = service(r.service);
      s.requests.record(r, at);
      const g = r.group;
      if (g === null) {
        s.noGroup.record(r, at);
        return;
      }
      let gc = groupCounters.get(g);
      if (gc === undefined) groupCounters.set(g, (gc = s.group(g.name)));
      gc.requests.record(r, at);
      const server = r.server;
      if (server === null) {
        gc.noServer.record(r, at);
        return;
      }
      let sc = serverCounters.get(server);
      if (sc === undefined) serverCounters.set(server, (sc = gc.server(server.name)));
      sc.requests.record(r, at);
    },
  };

  function attach(services: readonly ServiceRuntime[]): void {
    for (const svc of services) {
      if (!svc.observers.includes(observer)) svc.observers.push(observer);
      // Create the entries now so the page lists servers that have had no request yet.
      const s = service(svc.spec.name);
      for (const g of svc.groups.values()) {
        const gc = s.group(g.name);
        for (const server of g.servers) gc.server(server.name);
      }
    }
    attached = services;
  }

  function requestStats(c: RequestCounters, nowMs: number, histograms: boolean): RequestStats {
    const nowSecond = Math.floor(nowMs / 1000);
    const recent = c.recent.collect(nowSecond, scratch);
    const h = c.latency;
    const stats: RequestStats = {
      total: c.total,
      perSecond: ratePerSecond(recent.count, nowMs, startedAt),
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      status: Object.fromEntries(STATUS_CLASSES.map((k, i) => [k, c.statusClasses[i]])) as Record<StatusClass, number>,
      outcomes: Object.fromEntries(OUTCOMES.map((k, i) => [k, c.outcomes[i]])) as Record<RequestOutcome, number>,
      latency: {
        count: h.count,
        p50Ms: h.quantile(0.5),
        p99Ms: h.quantile(0.99),
        minMs: h.count > 0 ? h.minMs : null,
        maxMs: h.count > 0 ? h.maxMs : null,
        meanMs: h.count > 0 ? h.sumMs / h.count : null,
      },
      recentLatency: {
        count: recent.count,
        p50Ms: quantileOf(scratch, recent.count, 0.5, recent.minMs, recent.maxMs),
        p99Ms: quantileOf(scratch, recent.count, 0.99, recent.minMs, recent.maxMs),
        minMs: recent.count > 0 ? recent.minMs : null,
        maxMs: recent.count > 0 ? recent.maxMs : null,
      },
    };
    if (histograms) stats.histogram = { counts: Array.from(h.counts), recentCounts: Array.from(scratch), sumSeconds: h.sumMs / 1000 };
    return stats;
  }

  function snapshot(opts: SnapshotOptions = {}): StatsSnapshot {
    const nowMs = now();
    const histograms = opts.histograms === true;
    const services: ServiceSnapshot[] = [];
    for (const svc of attached) {
      const s = service(svc.spec.name);
      const groups: GroupSnapshot[] = [];
      let serviceActive = 0;
      for (const g of svc.groups.values()) {
        const gc = s.group(g.name);
        const servers: ServerSnapshot[] = [];
        let groupActive = 0;
        let up = 0;
        for (const server of g.servers) {
          // Live state from the server's shared record: the data path's own
          // copy is only brought up to date by its next request.
          const words = server.share;
          const serverUp = statusUp(Atomics.load(words, W_STATUS));
          const active = Atomics.load(words, W_ACTIVE);
          groupActive += active;
          if (serverUp) up++;
          servers.push({
            name: server.name,
            up: serverUp,
            weight: Atomics.load(words, W_WEIGHT),
            activeRequests: active,
            peakRequests: Atomics.load(words, W_PEAK),
            changedAt: 0,
            lastCheck: null,
            requests: requestStats(gc.server(server.name).requests, nowMs, histograms),
          });
        }
        serviceActive += groupActive;
        groups.push({
          name: g.name,
          scheduler: g.scheduler.name,
          activeRequests: groupActive,
          serversUp: up,
          requests: requestStats(gc.requests, nowMs, histograms),
          servers,
          noServer: gc.noServer.total > 0 ? requestStats(gc.noServer, nowMs, histograms) : null,
        });
      }
      const address = svc.address;
      const listen = address !== null ? { host: address.address, port: address.port } : svc.spec.listen;
      services.push({
        name: svc.spec.name,
        listen: listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`,
        connections: {
          active: s.connectionsActive,
          total: s.connectionsTotal,
          perSecond: ratePerSecond(s.connectionsRecent.total(Math.floor(nowMs / 1000)), nowMs, startedAt),
        },
        activeRequests: serviceActive,
        requests: requestStats(s.requests, nowMs, histograms),
        groups,
        noGroup: s.noGroup.total > 0 ? requestStats(s.noGroup, nowMs, histograms) : null,
      });
    }
    const result: StatsSnapshot = { generatedAt: nowMs, startedAt, windowSeconds: WINDOW_SECONDS, services };
    if (histograms) result.bucketUpperMs = BUCKET_UPPER_MS;
    return result;
  }

  return { observer, attach, snapshot };
}

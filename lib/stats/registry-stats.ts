// The statistics of what runs, read through the control plane's read-only
// view of its registry (lib/control/runtime-view.ts): every service, group
// and server with its shared counters, added up over every worker's stripe
// into one snapshot (the types in collector.ts).
import type { RuntimeView } from '../control/runtime-view.ts';
import { BUCKET_UPPER_MS, WINDOW_SECONDS } from './histogram.ts';
import type { GroupSnapshot, ServerSnapshot, ServiceSnapshot, SnapshotOptions, Stats, StatsSnapshot } from './collector.ts';

export interface StatsOptions {
  /** Epoch milliseconds; tests inject a clock. */
  now?: () => number;
}

/** The statistics of everything `registry` runs. */
export function registryStats(registry: RuntimeView, options: StatsOptions = {}): Stats {
  const now = options.now ?? Date.now;
  // Rates divide by the stats' age while it is under the window: from the
  // node's start, or from now on an injected clock.
  const startedAt = options.now === undefined ? registry.startedAt : now();

  function snapshot(opts: SnapshotOptions = {}): StatsSnapshot {
    const nowMs = now();
    const histograms = opts.histograms === true;
    const services: ServiceSnapshot[] = [];
    for (const svc of registry.services()) {
      const groups: GroupSnapshot[] = [];
      let serviceActive = 0;
      for (const g of svc.groups) {
        const servers: ServerSnapshot[] = [];
        let groupActive = 0;
        let up = 0;
        for (const server of g.servers) {
          const active = server.active;
          groupActive += active;
          const serverUp = server.up;
          if (serverUp) up++;
          servers.push({
            name: server.name,
            up: serverUp,
            weight: server.weight,
            activeRequests: active,
            peakRequests: server.peak,
            changedAt: server.changedAt,
            lastCheck: server.lastCheck,
            requests: server.requests.read(nowMs, startedAt, histograms),
          });
        }
        serviceActive += groupActive;
        groups.push({
          name: g.name,
          scheduler: g.spec.scheduler,
          activeRequests: groupActive,
          serversUp: up,
          requests: g.requests.read(nowMs, startedAt, histograms),
          servers,
          noServer: g.noServer.total() > 0 ? g.noServer.read(nowMs, startedAt, histograms) : null,
        });
      }
      const listen = svc.bound !== null ? { host: svc.bound.address, port: svc.bound.port } : svc.spec.listen;
      services.push({
        name: svc.name,
        listen: listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`,
        connections: svc.connections.read(nowMs, startedAt),
        activeRequests: serviceActive,
        requests: svc.requests.read(nowMs, startedAt, histograms),
        groups,
        noGroup: svc.noGroup.total() > 0 ? svc.noGroup.read(nowMs, startedAt, histograms) : null,
      });
    }
    const result: StatsSnapshot = { generatedAt: nowMs, startedAt, windowSeconds: WINDOW_SECONDS, services };
    if (histograms) result.bucketUpperMs = BUCKET_UPPER_MS;
    return result;
  }

  return { snapshot };
}

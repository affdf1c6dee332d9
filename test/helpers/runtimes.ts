// Data path services built as the control plane builds them, never listening:
// for tests that feed records or read state by hand.
import pino from 'pino';
import { parseConfigText } from '../../lib/config/load.ts';
import { Registry } from '../../lib/control/registry.ts';
import { ServiceRuntime } from '../../lib/proxy/service.ts';
import type { RequestRecord } from '../../lib/proxy/observer.ts';
import type { Stats } from '../../lib/stats/collector.ts';
import { registryStats } from '../../lib/stats/registry-stats.ts';
import { STATUS_UP, W_STATUS, W_WEIGHT } from '../../lib/state/server-share.ts';

export function buildRuntimes(text: string, file = 'test.tcpvs'): ServiceRuntime[] {
  return buildNode(text, file).services;
}

/** A registry, one data path's services over it (not listening), its statistics, and ways to feed them. */
export interface TestNode {
  readonly registry: Registry;
  services: ServiceRuntime[];
  readonly stats: Stats;
  /** A config change, applied as the control plane applies it (services kept by name, updated in place). */
  apply(text: string): void;
  /** Counts a request's end as the data path does, at the clock's time. */
  feed(r: RequestRecord): void;
  opened(service: string): void;
  closed(service: string): void;
}

export function buildNode(text: string, file = 'test.tcpvs', now: () => number = Date.now): TestNode {
  const registry = new Registry(1);
  const log = pino({ level: 'silent' });
  const all = new Map<string, ServiceRuntime>();
  const node: TestNode = {
    registry,
    services: [],
    stats: registryStats(registry, { now }),
    apply(next) {
      const pending = registry.prepare(parseConfigText(next, file));
      pending.commit();
      node.services = pending.plan.services.map((plan) => {
        const existing = all.get(plan.spec.name);
        if (existing !== undefined && node.services.includes(existing)) {
          existing.commitUpdate(plan);
          return existing;
        }
        const created = new ServiceRuntime(plan, log);
        all.set(plan.spec.name, created);
        return created;
      });
    },
    feed(r) {
      all.get(r.service)!.countRequest(r.group, r.server, r.status, r.bytesIn, r.bytesOut, r.durationMs, r.outcome, now());
    },
    opened(service) {
      all.get(service)!.countConnectionOpened(now());
    },
    closed(service) {
      all.get(service)!.countConnectionClosed();
    },
  };
  node.apply(text);
  return node;
}

/** Writes a server's status and weight to its shared record, as the control plane does. */
export function setServerState(server: { share: Int32Array }, state: { up?: boolean; weight?: number }): void {
  if (state.up !== undefined) Atomics.store(server.share, W_STATUS, state.up ? STATUS_UP : 0);
  if (state.weight !== undefined) Atomics.store(server.share, W_WEIGHT, state.weight);
}

// Health checks for the running services: what the control plane starts
// after it builds (or hot-swaps) its services, and stops before the next.
import type { Logger } from '../log/logger.ts';
import type { GroupRuntime } from '../proxy/group.ts';
import type { RequestRecord, ServiceObserver } from '../proxy/observer.ts';
import type { ServiceRuntime } from '../proxy/service.ts';
import { GroupHealth, type ServerHealthStatus } from './group-health.ts';

export interface RunningHealth {
  /** Every server of every group that has health statements. */
  status(): ServerHealthStatus[];
  /** Ends every timer, probe, socket and observer; server states stay as they are. */
  stop(): void;
}

/**
 * Starts the health statements of every group of `services` (GroupSpec.health,
 * matched to the runtime group by name). Groups without them cost nothing.
 */
export function startHealth(services: readonly ServiceRuntime[], log: Logger): RunningHealth {
  const stopAll = new AbortController();
  const groups: GroupHealth[] = [];
  const observers: Array<{ service: ServiceRuntime; observer: ServiceObserver }> = [];
  for (const service of services) {
    const ejecting = new Map<GroupRuntime, GroupHealth>();
    for (const spec of service.spec.groups) {
      const health = spec.health;
      const runtime = service.groups.get(spec.name);
      if (health === undefined || runtime === undefined) continue;
      const group = new GroupHealth(service.spec.name, runtime, health, spec.servers, log, stopAll.signal);
      groups.push(group);
      if (health.eject !== undefined) ejecting.set(runtime, group);
    }
    if (ejecting.size === 0) continue;
    const observer: ServiceObserver = {
      connectionOpened() {},
      connectionClosed() {},
      requestEnded(r: RequestRecord) {
        if (r.group !== null) ejecting.get(r.group)?.requestEnded(r);
      },
    };
    service.observers.push(observer);
    observers.push({ service, observer });
  }
  for (const g of groups) g.start();
  if (groups.length > 0) log.info({ groups: groups.length }, 'health checks started');
  let stopped = false;
  return {
    status: () => groups.flatMap((g) => g.status()),
    stop() {
      if (stopped) return;
      stopped = true;
      stopAll.abort();
      for (const g of groups) g.stop();
      for (const { service, observer } of observers) {
        const at = service.observers.indexOf(observer);
        if (at !== -1) service.observers.splice(at, 1);
      }
    },
  };
}

export type { ServerHealthStatus } from './group-health.ts';
export type { HealthSpec } from './spec.ts';

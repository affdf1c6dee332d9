// Health checks for the running services, in the control plane: one checker
// per server whatever the number of workers. sync() follows every config
// change: groups that keep their health statements keep their state (see
// group-health.ts), new ones start, and groups that lose them are released
// (every server up at its configured weight).
import type { Logger } from '../log/logger.ts';
import type { GroupState, Registry } from '../control/registry.ts';
import { GroupHealth, type ServerHealthStatus } from './group-health.ts';
import { ejectionOf } from './spec.ts';

export class HealthChecks {
  private readonly log: Logger;
  private readonly stopAll = new AbortController();
  private readonly groups = new Map<GroupState, GroupHealth>();
  private stopped = false;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Brings the checks in line with the registry's groups (after a commit). */
  sync(registry: Registry): void {
    if (this.stopped) return;
    const seen = new Set<GroupState>();
    let started = 0;
    for (const service of registry.services()) {
      for (const group of service.groups) {
        // Every group ejects on connect failures at least (spec.ts DEFAULT_CONNECT_EJECT).
        const spec = { ...group.spec.health, eject: ejectionOf(group.spec.health).spec };
        seen.add(group);
        const existing = this.groups.get(group);
        if (existing !== undefined) {
          existing.update(spec);
          continue;
        }
        const health = new GroupHealth(service.name, group, spec, this.log, this.stopAll.signal);
        this.groups.set(group, health);
        health.start();
        started++;
      }
    }
    for (const [group, health] of this.groups) {
      if (seen.has(group)) continue;
      this.groups.delete(group);
      // Still in the config without health statements: its servers are up again.
      if (registry.service(group.service.name)?.group(group.name) === group) health.release();
      else health.stop();
    }
    if (started > 0) this.log.info({ groups: started }, 'health checks started');
  }

  /** The data path ejected a server (lib/proxy/passive.ts). */
  serverEjected(registry: Registry, uid: number, reason: string): void {
    const server = registry.server(uid);
    if (server === undefined) return;
    this.groups.get(server.group)?.ejected(server, reason);
  }

  /** Every server of every group that has health statements. */
  status(): ServerHealthStatus[] {
    return [...this.groups.values()].flatMap((g) => g.status());
  }

  /** Ends every timer, probe and socket; server states stay as they are. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopAll.abort();
    for (const g of this.groups.values()) g.stop();
  }
}

export type { ServerHealthStatus } from './group-health.ts';
export type { HealthSpec } from './spec.ts';

// tcpvs programs its L4 core: at start it makes the configured vips exist
// with this tcpvs's own services among their real servers; on a graceful stop
// it quiesces itself (weight 0), lets its connections finish, then removes
// itself. Optionally its weight follows its own load. This is control plane:
// the data path never waits on any of it.
import { performance } from 'node:perf_hooks';
import type { L4Spec, VipRealSpec, VipSpec } from '../config/model.ts';
import { L4Error, serviceId, type L4Core, type RealServerConfig, type ServiceKey, type VirtualServiceConfig } from '../l4/model.ts';
import { createUserspaceCore, type UserspaceCore } from '../l4/userspace/core.ts';
import { createIpvsCore } from '../l4/ipvs/driver.ts';
import { openAdminClient } from '../admin/client.ts';
import { reconnectingRemoteL4Core } from '../admin/l4.ts';
import type { Logger } from '../log/logger.ts';
import { L4HealthChecks } from './l4-health.ts';
import { DirectorSync } from './director-sync.ts';
import { TableSync } from './table-sync.ts';
import type { Registry } from './registry.ts';
import type { SyncSample } from '../stats/prometheus.ts';
import { Notifier } from './notify.ts';
/** What L4 control needs of a local service: the control plane's view of it (every worker's connections). */
export interface L4Node {
  readonly spec: { readonly name: string };
  readonly address: { address: string; port: number } | null;
  readonly connections: number;
  drainConnections(): void;
}

export interface L4Control {
  readonly core: L4Core;
  /** The cluster's state changes: logged, counted, handed to `notify COMMAND`. */
  readonly notifier: Notifier;
  /** State sync with the other director, null without `sync`. */
  syncStatus(): SyncSample | null;
  /** Quiesce this node, wait for its connections (up to the drain timeout), then deregister it. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface L4ControlOptions {
  spec: L4Spec;
  services: () => readonly L4Node[]; // as they run now (a change may add or remove some)
  log: Logger;
  remoteAdmin: string | null; // driver remote: the admin socket of the tcpvs whose L4 core this node joins
  registry?: Registry; // with `sync`: the groups' tables to sync with the peer
  loadSampleMs?: number; // weight-follows-load period, default 2 s
  registerCheckMs?: number; // driver remote: how often the node checks that the director still has it, default 2 s
}

interface SelfEntry {
  key: ServiceKey;
  server: RealServerConfig;
  baseWeight: number;
  followsLoad: boolean;
}

export function vipKey(vip: VipSpec): ServiceKey {
  return { protocol: vip.protocol, address: vip.address, port: vip.port, fwmark: 0, family: vip.address.includes(':') ? 6 : 4 };
}

export async function startL4Control(options: L4ControlOptions): Promise<L4Control> {
  const { spec, log } = options;
  const selfServer = (real: Extract<VipRealSpec, { kind: 'self' }>): RealServerConfig => {
    const runtime = options.services().find((s) => s.spec.name === real.service);
    const address = runtime?.address;
    if (address === undefined || address === null) throw new Error(`service '${real.service}' is not listening`);
    // The user-space core tells a service of this tcpvs whom a connection is
    // from with a PROXY header (the service trusts its own address for it).
    const proxyProtocol = real.sendProxy ?? (spec.driver === 'userspace' && vip(real)?.protocol === 'tcp' ? 2 : undefined);
    const server: RealServerConfig = {
      address: address.address,
      port: address.port,
      weight: real.weight,
      method: 'masq',
      upperThreshold: 0,
      lowerThreshold: 0,
    };
    if (proxyProtocol !== undefined) server.proxyProtocol = proxyProtocol;
    return server;
  };
  const vip = (real: VipRealSpec): VipSpec | undefined => spec.vips.find((v) => v.reals.includes(real));
  const selves: SelfEntry[] = [];
  const desired: VirtualServiceConfig[] = spec.vips.map((vip) => {
    const key = vipKey(vip);
    const realServers = vip.reals.map((r): RealServerConfig => {
      if (r.kind === 'address')
        return {
          address: r.address,
          port: r.port,
          weight: r.weight,
          method: r.method,
          upperThreshold: 0,
          lowerThreshold: 0,
          ...(r.sendProxy === undefined ? {} : { proxyProtocol: r.sendProxy }),
        };
      const server = selfServer(r);
      selves.push({ key, server, baseWeight: r.weight, followsLoad: vip.weightFollowsLoad });
      return server;
    });
    return { key, scheduler: vip.scheduler, persistence: vip.persistence, realServers };
  });

  let core: L4Core;
  let checks: L4HealthChecks | null = null;
  const notifier = new Notifier(spec.notify ?? null, log);
  let sync: DirectorSync | null = null;
  let userspace: UserspaceCore | null = null;
  if (spec.driver === 'remote') {
    if (options.remoteAdmin === null) throw new Error('driver remote needs the admin socket of the tcpvs that runs the L4 core');
    core = await reconnectingRemoteL4Core(options.remoteAdmin, (path) => openAdminClient(path, undefined, spec.adminToken));
    // A node registers only itself, in vips the director defines.
    for (const self of selves) await upsertRealServer(core, self.key, self.server);
  } else {
    userspace = spec.driver === 'ipvs' ? null : createUserspaceCore({ log });
    core = userspace ?? createIpvsCore();
    await core.apply(desired);
    const checked = spec.vips.flatMap((v) => (v.check === undefined ? [] : [{ name: v.name, key: vipKey(v), check: v.check }]));
    if (checked.length > 0) {
      checks = new L4HealthChecks(core, checked, log, (change) => notifier.changed(change));
      checks.start();
    }
  }
  // State sync with the other director: the user-space core's templates
  // (the ipvs driver's are the kernel sync daemon's) and the groups' tables.
  if (spec.sync !== undefined) {
    sync = new DirectorSync(userspace, options.registry === undefined ? null : new TableSync(options.registry), spec.sync, log);
    try {
      await sync.start();
    } catch (err) {
      checks?.close();
      await core.close();
      throw err;
    }
  }
  // Nothing to say where the config has no L4 part (the core is there, empty, for tcpvs ipvsadm).
  if (spec.vips.length > 0 || spec.driver !== 'userspace')
    log.info({ driver: core.driver, vips: spec.vips.map((v) => v.name), registered: selves.length }, 'l4 core programmed');

  // Weight follows load: the event loop's utilisation over the last period
  // scales this node's configured weight (never below 1 while it runs).
  let loadTimer: NodeJS.Timeout | null = null;
  if (selves.some((s) => s.followsLoad)) {
    let last = performance.eventLoopUtilization();
    loadTimer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const busy = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      for (const self of selves) {
        if (!self.followsLoad) continue;
        const weight = Math.max(1, Math.round(self.baseWeight * (1 - busy)));
        if (weight === self.server.weight) continue;
        self.server = { ...self.server, weight };
        core.editRealServer(self.key, self.server).catch((err: unknown) => log.warn({ err }, 'l4: weight update failed'));
      }
    }, options.loadSampleMs ?? 2000);
    loadTimer.unref();
  }

  // A director that restarts or reloads forgets the nodes that registered in
  // it: each node looks for itself in its vips every few seconds and
  // registers again where it is missing.
  let drained = false;
  let registerTimer: NodeJS.Timeout | null = null;
  if (spec.driver === 'remote') {
    let unreachable = '';
    let checking = false;
    registerTimer = setInterval(() => {
      if (drained || checking) return;
      checking = true;
      // After a good round the connection kept to the director may be to one
      // that has restarted since: a failure then gets a second try at once, on
      // a new connection (else the nodes came back a round later, after a
      // warning that the director, already back, could not be reached).
      registerAgain(core, selves, log)
        .catch((err: unknown) => {
          if (unreachable !== '') throw err;
          return registerAgain(core, selves, log);
        })
        .then(() => {
          if (unreachable !== '') log.info('l4: the director answers again');
          unreachable = '';
        })
        .catch((err: unknown) => {
          const message = (err as Error).message;
          if (message !== unreachable) log.warn({ reason: message }, 'l4: cannot reach the director to register; trying again');
          unreachable = message;
        })
        .finally(() => (checking = false));
    }, options.registerCheckMs ?? 2000);
    registerTimer.unref();
  }
  return {
    core,
    notifier,
    syncStatus: () => sync?.status() ?? null,
    async drain() {
      if (drained) return;
      drained = true;
      if (loadTimer !== null) clearInterval(loadTimer);
      if (registerTimer !== null) clearInterval(registerTimer);
      // Not in any vip: nothing to leave (the data path's own drain follows).
      if (selves.length === 0) return;
      for (const self of selves) {
        self.server = { ...self.server, weight: 0 };
        await ignoreMissing(core.editRealServer(self.key, self.server));
      }
      log.info({ timeoutMs: spec.drainTimeoutMs }, 'l4: quiesced (weight 0), waiting for connections to finish');
      for (const s of options.services()) s.drainConnections();
      const deadline = Date.now() + spec.drainTimeoutMs;
      while (Date.now() < deadline && options.services().some((s) => s.connections > 0)) await sleep(50);
      const left = options.services().reduce((n, s) => n + s.connections, 0);
      for (const self of selves) await ignoreMissing(core.deleteRealServer(self.key, self.server.address, self.server.port));
      log.info({ connectionsLeft: left }, 'l4: removed this node from its vips');
    },
    async close() {
      if (loadTimer !== null) clearInterval(loadTimer);
      if (registerTimer !== null) clearInterval(registerTimer);
      checks?.close();
      sync?.close();
      await core.close();
    },
  };
}

/** Registers each of this node's entries that its vip in the director no longer has. */
async function registerAgain(core: L4Core, selves: readonly SelfEntry[], log: Logger): Promise<void> {
  const listed = await core.list();
  for (const self of selves) {
    const vip = listed.find((s) => serviceId(s.key) === serviceId(self.key));
    if (vip?.realServers.some((r) => r.address === self.server.address && r.port === self.server.port) === true) continue;
    await upsertRealServer(core, self.key, self.server);
    log.info({ vip: serviceId(self.key), real: `${self.server.address}:${self.server.port}` }, 'l4: registered again in the director');
  }
}

async function upsertRealServer(core: L4Core, key: ServiceKey, server: RealServerConfig): Promise<void> {
  try {
    await core.addRealServer(key, server);
  } catch (err) {
    if (err instanceof L4Error && err.code === 'exists') await core.editRealServer(key, server);
    else throw err;
  }
}

/** A node that is already gone from a vip has nothing left to do there. */
async function ignoreMissing(op: Promise<void>): Promise<void> {
  try {
    await op;
  } catch (err) {
    if (!(err instanceof L4Error && (err.code === 'no-dest' || err.code === 'no-service'))) throw err;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

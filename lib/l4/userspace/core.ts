// The embedded user-space L4 core (driver 'userspace'): IPVS's virtual
// services, real servers, schedulers, persistence and connection table, in
// one Node process and without privileges.
//
// Where user space differs from the kernel:
// - Every forwarding method proxies. `route` (-g) and `tunnel` (-i) need the
//   kernel's packet path; the method is kept and reported as given, but the
//   traffic is forwarded as with `masq`: the real server sees the core's
//   address as the client's.
// - Firewall-mark services need netfilter: addService refuses them.
// - A "packet" is one socket read or one datagram, and a TCP entry leaves the
//   table when both sockets close (no TIME_WAIT entry lingers).
// - Deleting a TCP service stops its listener but, as in IPVS, its open
//   connections run on until they end; deleting a UDP service closes its
//   flows, since their replies leave through the service's socket.
// - Persistence follows IPVS's default: a client's template keeps sending it
//   to a quiescent (weight 0) or overloaded real server while the template
//   lives (sysctl expire_quiescent_template=0; the option
//   expireQuiescentTemplate turns that off). A deleted real server's
//   templates are dropped, and its clients are scheduled afresh.
// - Schedulers get one RealServer record per real server whose `active` is
//   every open connection in any state (IPVS's lc/wlc weigh established ones
//   most; here half-closed ones are short-lived). Thresholds (-x/-y) count
//   the same total, as IPVS's ip_vs_dest_totalconns does; without -y a server
//   is readmitted below 3/4 of -x. ActiveConn in list() is ESTABLISHED TCP,
//   InActConn every other state and UDP flows, as ipvsadm shows them.
// - Services need a real port: the tests find a free one first rather than
//   passing port 0, so a service's key never changes after it is added.
//
// Imperative calls are serialised, so two callers cannot both pass an
// "exists" check before either binds.

import net from 'node:net';
import pino from 'pino';
import type { Logger } from '../../log/logger.ts';
import { knownSchedulers } from '../../sched/index.ts';
import type {
  ConnectionEntry,
  L4Core,
  Persistence,
  RealServerConfig,
  ServiceKey,
  SyncDaemon,
  VirtualServiceConfig,
  VirtualServiceStatus,
} from '../model.ts';
import { L4Error, serviceId } from '../model.ts';
import { ConnectionTable, endpointLabel, secondsLeft } from './conn-table.ts';
import { DEFAULT_MAX_TEMPLATES, TemplateTable, formatIPv6, parseIPv6, parseNetmask, type PersistenceTemplate } from './persistence.ts';
import { ESTIMATOR_INTERVAL_MS } from './stats.ts';
import { TcpForwarder } from './tcp-forwarder.ts';
import { UdpForwarder } from './udp-forwarder.ts';
import { type RealServerRuntime, VirtualServiceRuntime } from './virtual-service.ts';
import type { CoreEnvironment } from './virtual-service.ts';

export interface UserspaceCoreOptions {
  log?: Logger;
  /** Open TCP connections and UDP flows, all services together; new clients beyond are refused. Default 10000. */
  maxConnections?: number;
  /** A UDP flow without a datagram this long expires (IPVS's udp timeout). Default 300 s. */
  udpIdleMs?: number;
  /** A half-closed TCP connection idle this long is closed (IPVS's tcpfin timeout). Default 120 s. */
  tcpFinTimeoutMs?: number;
  /** An established TCP connection idle this long is closed (IPVS's tcp timeout). Default 900 s. */
  tcpTimeoutMs?: number;
  /** Connecting to a real server may take this long (IPVS's SYN_RECV timeout). Default 60 s. */
  tcpConnectTimeoutMs?: number;
  /** Bound of the persistence templates, all services together. Default 65536. */
  maxTemplates?: number;
  /** IPVS's expire_quiescent_template sysctl: a template to a weight-0 server is dropped. Default false. */
  expireQuiescentTemplate?: boolean;
}

/** A persistence template as directors exchange it (state sync). */
export interface SyncedTemplate {
  service: string; // serviceId of the vip, e.g. "TCP:10.0.0.1:80"
  client: string; // the masked client address
  address: string; // the real server
  port: number;
  timeoutMs: number;
  expiresInMs: number; // from when it was sent
}

export interface UserspaceCore extends L4Core {
  readonly driver: 'userspace';
  /** Takes a rate sample now instead of at the next 2 s tick (tests). */
  sampleRates(): void;
  /** Tells `listener` of every template this core makes or refreshes for its own clients; null stops it. */
  watchTemplates(listener: ((t: SyncedTemplate) => void) | null): void;
  /** The live templates now, as sync sends them. */
  templateSnapshot(): SyncedTemplate[];
  /** Templates from another director; those naming a vip or real server this core lacks are skipped. Returns how many were taken. */
  adoptTemplates(templates: readonly SyncedTemplate[]): number;
}

/** What --start-daemon and --stop-daemon say to the user-space core. */
export const USERSPACE_SYNC_DAEMON =
  "the user-space L4 core has no kernel sync daemon (--start-daemon and --stop-daemon are for 'l4 driver ipvs'); " +
  'it syncs its persistence templates with the other director itself: set that up in the config file with ' +
  "'sync listen ADDR:PORT', 'sync peer ADDR:PORT' and 'sync secret TEXT'";

export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_UDP_IDLE_MS = 300_000;
export const DEFAULT_TCP_FIN_TIMEOUT_MS = 120_000;
export const DEFAULT_TCP_TIMEOUT_MS = 900_000;
export const DEFAULT_TCP_CONNECT_TIMEOUT_MS = 60_000;

const FORWARD_METHODS: ReadonlySet<string> = new Set(['masq', 'route', 'tunnel']);
// ipvsadm takes a weight up to INT_MAX.
const MAX_WEIGHT = 2_147_483_647;

function synced(template: PersistenceTemplate<RealServerRuntime>, nowMs: number): SyncedTemplate {
  const config = template.target.config;
  return {
    service: template.serviceId,
    client: template.maskedAddress,
    address: config.address,
    port: config.port,
    timeoutMs: template.timeoutMs,
    expiresInMs: template.controlled > 0 ? template.timeoutMs : Math.max(0, template.expiresAtMs - nowMs),
  };
}

export function createUserspaceCore(options: UserspaceCoreOptions = {}): UserspaceCore {
  return new UserspaceL4Core(options);
}

class UserspaceL4Core implements UserspaceCore {
  readonly driver = 'userspace' as const;
  private readonly env: CoreEnvironment;
  private readonly services = new Map<string, VirtualServiceRuntime>();
  private readonly owned = new Set<string>(); // ids of the services apply() created
  private queue: Promise<unknown> = Promise.resolve();
  private readonly estimator: NodeJS.Timeout;
  private lastSampleMs = Date.now();
  private closed = false;

  constructor(options: UserspaceCoreOptions) {
    this.env = {
      log: options.log ?? pino({ enabled: false }),
      table: new ConnectionTable(positive(options.maxConnections, DEFAULT_MAX_CONNECTIONS, 'maxConnections')),
      templates: new TemplateTable<RealServerRuntime>(positive(options.maxTemplates, DEFAULT_MAX_TEMPLATES, 'maxTemplates')),
      udpIdleMs: positive(options.udpIdleMs, DEFAULT_UDP_IDLE_MS, 'udpIdleMs'),
      tcpTimeoutMs: positive(options.tcpTimeoutMs, DEFAULT_TCP_TIMEOUT_MS, 'tcpTimeoutMs'),
      tcpFinTimeoutMs: positive(options.tcpFinTimeoutMs, DEFAULT_TCP_FIN_TIMEOUT_MS, 'tcpFinTimeoutMs'),
      tcpConnectTimeoutMs: positive(options.tcpConnectTimeoutMs, DEFAULT_TCP_CONNECT_TIMEOUT_MS, 'tcpConnectTimeoutMs'),
      expireQuiescentTemplate: options.expireQuiescentTemplate ?? false,
    };
    this.estimator = setInterval(() => this.sampleRates(), ESTIMATOR_INTERVAL_MS);
    this.estimator.unref();
  }

  watchTemplates(listener: ((t: SyncedTemplate) => void) | null): void {
    this.env.templates.onTouched =
      listener === null
        ? null
        : (template) => {
            const nowMs = Date.now();
            listener(synced(template, nowMs));
          };
  }

  templateSnapshot(): SyncedTemplate[] {
    const nowMs = Date.now();
    const out: SyncedTemplate[] = [];
    for (const [template] of this.env.templates.live(nowMs)) out.push(synced(template, nowMs));
    return out;
  }

  adoptTemplates(templates: readonly SyncedTemplate[]): number {
    const nowMs = Date.now();
    let taken = 0;
    for (const t of templates) {
      const service = this.services.get(t.service);
      const server = service?.findServer(t.address, t.port);
      if (server === undefined || server.removed) continue;
      this.env.templates.adopt(t.service, t.client, server, t.timeoutMs, t.expiresInMs, nowMs);
      taken++;
    }
    return taken;
  }

  sampleRates(): void {
    const nowMs = Date.now();
    const elapsedSec = (nowMs - this.lastSampleMs) / 1000;
    if (elapsedSec <= 0) return;
    this.lastSampleMs = nowMs;
    for (const service of this.services.values()) {
      service.stats.sample(elapsedSec);
      for (const server of service.servers) server.stats.sample(elapsedSec);
    }
    this.env.templates.sweep(nowMs);
  }

  async list(): Promise<VirtualServiceStatus[]> {
    return [...this.services.values()].map((service) => service.status());
  }

  async connections(): Promise<ConnectionEntry[]> {
    const nowMs = Date.now();
    const entries = this.env.table.list(nowMs);
    // Templates as `ipvsadm -L -c` shows them: state NONE, client port 0.
    for (const [template, secondsToGo] of this.env.templates.live(nowMs)) {
      const server = template.target;
      if (server.removed) continue;
      const service = server.service;
      entries.push({
        protocol: service.key.protocol === 'udp' ? 'udp' : 'tcp',
        state: 'NONE',
        expiresInSec: secondsLeft(secondsToGo * 1000),
        source: endpointLabel(template.maskedAddress, 0),
        virtual: service.label,
        destination: server.label,
      });
    }
    return entries;
  }

  addService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void> {
    return this.serialize(async () => {
      const checked = checkServiceConfig(config);
      await this.addServiceNow(checked);
    });
  }

  editService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void> {
    return this.serialize(async () => {
      const checked = checkServiceConfig(config);
      const service = this.requireService(checked.key, 'No such service');
      service.reconfigure(checked.scheduler, checked.persistence);
    });
  }

  deleteService(key: ServiceKey): Promise<void> {
    return this.serialize(async () => {
      const service = this.requireService(checkServiceKey(key), 'No such service');
      await this.deleteServiceNow(service);
    });
  }

  clear(): Promise<void> {
    return this.serialize(async () => {
      for (const service of [...this.services.values()]) await this.deleteServiceNow(service);
    });
  }

  addRealServer(key: ServiceKey, server: RealServerConfig): Promise<void> {
    return this.serialize(async () => {
      const service = this.requireService(checkServiceKey(key), 'Service not defined');
      const checked = checkRealServer(server);
      if (service.findServer(checked.address, checked.port) !== undefined) {
        throw new L4Error('exists', 'Destination already exists');
      }
      service.addServer(checked);
    });
  }

  editRealServer(key: ServiceKey, server: RealServerConfig): Promise<void> {
    return this.serialize(async () => {
      const service = this.requireService(checkServiceKey(key), 'Service not defined');
      const checked = checkRealServer(server);
      const existing = service.findServer(checked.address, checked.port);
      if (existing === undefined) throw new L4Error('no-dest', 'No such destination');
      service.editServer(existing, checked);
    });
  }

  deleteRealServer(key: ServiceKey, address: string, port: number): Promise<void> {
    return this.serialize(async () => {
      const service = this.requireService(checkServiceKey(key), 'Service not defined');
      const existing = service.findServer(normalizeAddress(address), port);
      if (existing === undefined) throw new L4Error('no-dest', 'No such destination');
      service.removeServer(existing);
    });
  }

  /**
   * Services in `desired` end up exactly as described; services an earlier
   * apply() created and `desired` no longer has are deleted. A service this
   * core has that apply() did not create is never touched: naming one in
   * `desired` is refused before anything changes.
   */
  apply(desired: VirtualServiceConfig[]): Promise<void> {
    return this.serialize(async () => {
      const wanted = new Map<string, VirtualServiceConfig>();
      for (const config of desired) {
        const checked = checkServiceConfig(config);
        const servers = config.realServers.map(checkRealServer);
        const seen = new Set<string>();
        for (const server of servers) {
          const serverId = `${server.address} ${server.port}`;
          if (seen.has(serverId)) {
            throw new L4Error(
              'invalid',
              `${serviceId(checked.key)}: destination ${endpointLabel(server.address, server.port)} listed twice`,
            );
          }
          seen.add(serverId);
        }
        const id = serviceId(checked.key);
        if (wanted.has(id)) throw new L4Error('invalid', `${id} listed twice`);
        if (this.services.has(id) && !this.owned.has(id)) {
          throw new L4Error('exists', `Service already exists: ${id} was not created by apply`);
        }
        wanted.set(id, { ...checked, realServers: servers });
      }

      // Deletions first: a port given up by one service may be taken by another.
      for (const id of [...this.owned]) {
        const service = this.services.get(id);
        if (service === undefined) this.owned.delete(id);
        else if (!wanted.has(id)) await this.deleteServiceNow(service);
      }

      const failures: string[] = [];
      for (const [id, config] of wanted) {
        let service = this.services.get(id);
        if (service === undefined) {
          try {
            service = await this.addServiceNow(config);
          } catch (err) {
            failures.push((err as Error).message);
            continue;
          }
          this.owned.add(id);
        } else if (service.scheduler !== config.scheduler || !samePersistence(service.persistence, config.persistence)) {
          service.reconfigure(config.scheduler, config.persistence);
        }
        syncRealServers(service, config.realServers);
      }
      if (failures.length > 0) throw new L4Error('failed', failures.join('; '));
    });
  }

  // IPVS's sync daemon is a kernel thread. This core syncs its persistence
  // templates itself, to the peer the config file names (lib/control/director-sync.ts),
  // which is not a multicast daemon with a syncid: -L --daemon lists none, and
  // --start-daemon/--stop-daemon say where that sync is set up.
  async startDaemon(): Promise<void> {
    throw new L4Error('unavailable', USERSPACE_SYNC_DAEMON);
  }

  async stopDaemon(): Promise<void> {
    throw new L4Error('unavailable', USERSPACE_SYNC_DAEMON);
  }

  async daemons(): Promise<SyncDaemon[]> {
    return [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.estimator);
    await this.queue.catch(() => undefined);
    for (const service of this.services.values()) {
      if (service.forwarder !== null) await service.forwarder.close(true);
    }
    this.env.table.abortAll();
    this.env.templates.clear();
    this.services.clear();
    this.owned.clear();
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new L4Error('unavailable', 'The L4 core is closed');
      return operation();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private requireService(key: ServiceKey, message: string): VirtualServiceRuntime {
    const service = this.services.get(serviceId(key));
    if (service === undefined) throw new L4Error('no-service', message);
    return service;
  }

  private async addServiceNow(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<VirtualServiceRuntime> {
    const id = serviceId(config.key);
    if (this.services.has(id)) throw new L4Error('exists', 'Service already exists');
    const service = new VirtualServiceRuntime(config.key, config.scheduler, config.persistence, this.env);
    const forwarder = config.key.protocol === 'udp' ? new UdpForwarder(service) : new TcpForwarder(service);
    await forwarder.listen();
    service.forwarder = forwarder;
    this.services.set(id, service);
    this.env.log.info({ service: id, scheduler: config.scheduler }, 'l4 service added');
    return service;
  }

  private async deleteServiceNow(service: VirtualServiceRuntime): Promise<void> {
    this.services.delete(service.id);
    this.owned.delete(service.id);
    for (const server of service.servers) server.removed = true;
    this.env.templates.dropWhere((template) => template.serviceId === service.id);
    if (service.forwarder !== null) await service.forwarder.close(false);
    this.env.log.info({ service: service.id }, 'l4 service deleted');
  }
}

/** Makes a real server list match `desired`: adds, edits and deletes, leaving unchanged servers (and their counters) be. */
function syncRealServers(service: VirtualServiceRuntime, desired: RealServerConfig[]): void {
  const keep = new Set<RealServerRuntime>();
  for (const config of desired) {
    const existing = service.findServer(config.address, config.port);
    if (existing === undefined) {
      service.addServer(config);
      continue;
    }
    keep.add(existing);
    const current = existing.config;
    if (
      current.weight !== config.weight ||
      current.method !== config.method ||
      current.upperThreshold !== config.upperThreshold ||
      current.lowerThreshold !== config.lowerThreshold ||
      current.proxyProtocol !== config.proxyProtocol
    ) {
      service.editServer(existing, config);
    }
  }
  for (const server of [...service.servers]) {
    if (!keep.has(server) && !desired.some((c) => c.address === server.config.address && c.port === server.config.port)) {
      service.removeServer(server);
    }
  }
}

function samePersistence(a: Persistence | null, b: Persistence | null): boolean {
  if (a === null || b === null) return a === b;
  return a.timeoutSec === b.timeoutSec && a.netmask === b.netmask;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new L4Error('invalid', `${name} must be above 0`);
  return value;
}

/** IPv6 in one canonical text form, so "::1" and "0::1" name the same service or server. */
function normalizeAddress(address: string): string {
  if (!net.isIPv6(address)) return address;
  const groups = parseIPv6(address);
  return groups === null ? address : formatIPv6(groups);
}

function checkServiceKey(key: ServiceKey): ServiceKey {
  if (key.protocol === 'fwmark') throw new L4Error('invalid', 'firewall-mark services need the ipvs driver');
  if (key.protocol !== 'tcp' && key.protocol !== 'udp') {
    throw new L4Error('invalid', `Unknown protocol "${String(key.protocol)}"`);
  }
  const family = net.isIP(key.address);
  if (family === 0) throw new L4Error('invalid', `Invalid service address "${key.address}"`);
  if (family !== key.family) throw new L4Error('invalid', `Service address ${key.address} is not IPv${key.family}`);
  if (!Number.isInteger(key.port) || key.port < 1 || key.port > 65535) {
    throw new L4Error('invalid', `Invalid service port ${key.port}`);
  }
  return { protocol: key.protocol, address: normalizeAddress(key.address), port: key.port, fwmark: 0, family };
}

function checkServiceConfig(config: Omit<VirtualServiceConfig, 'realServers'>): Omit<VirtualServiceConfig, 'realServers'> {
  const key = checkServiceKey(config.key);
  if (!knownSchedulers().includes(config.scheduler)) {
    throw new L4Error('invalid', `Scheduler not found: "${config.scheduler}"`);
  }
  let persistence: Persistence | null = null;
  if (config.persistence !== null) {
    const { timeoutSec, netmask } = config.persistence;
    if (!Number.isInteger(timeoutSec) || timeoutSec < 1) {
      throw new L4Error('invalid', `Illegal persistence timeout ${timeoutSec}`);
    }
    parseNetmask(netmask, key.family);
    persistence = { timeoutSec, netmask };
  }
  return { key, scheduler: config.scheduler, persistence };
}

function checkRealServer(server: RealServerConfig): RealServerConfig {
  if (net.isIP(server.address) === 0) throw new L4Error('invalid', `Invalid destination address "${server.address}"`);
  if (!Number.isInteger(server.port) || server.port < 0 || server.port > 65535) {
    throw new L4Error('invalid', `Invalid destination port ${server.port}`);
  }
  if (!Number.isInteger(server.weight) || server.weight < 0 || server.weight > MAX_WEIGHT) {
    throw new L4Error('invalid', `Illegal weight ${server.weight}`);
  }
  if (!FORWARD_METHODS.has(server.method)) throw new L4Error('invalid', `Unknown forwarding method "${server.method}"`);
  for (const [name, value] of [
    ['upper', server.upperThreshold],
    ['lower', server.lowerThreshold],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_WEIGHT) {
      throw new L4Error('invalid', `Illegal ${name} threshold ${value}`);
    }
  }
  if (server.proxyProtocol !== undefined && server.proxyProtocol !== 1 && server.proxyProtocol !== 2) {
    throw new L4Error('invalid', `Unknown PROXY protocol version ${String(server.proxyProtocol)}: 1 or 2`);
  }
  // As the kernel's check: a lower threshold needs an upper one at least as high.
  if (server.lowerThreshold > server.upperThreshold) {
    throw new L4Error('invalid', 'Lower threshold must not be above the upper threshold');
  }
  return { ...server, address: normalizeAddress(server.address) };
}

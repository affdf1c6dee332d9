// The run-time state of one virtual service and its real servers: the
// scheduler over RealServer records, persistence, thresholds and counters.
// The forwarders (tcp-forwarder.ts, udp-forwarder.ts) ask `schedule()` for a
// real server per new connection and hand the assignment back when the
// connection ends.

import type { Logger } from '../../log/logger.ts';
import { createScheduler, localRealServer } from '../../sched/index.ts';
import { setServerState, type PickContext, type RealServer, type Scheduler } from '../../sched/index.ts';
import type { Persistence, RealServerConfig, RealServerStatus, ServiceKey, VirtualServiceStatus } from '../model.ts';
import { serviceId } from '../model.ts';
import { endpointLabel } from './conn-table.ts';
import type { ConnectionTable } from './conn-table.ts';
import { maskAddress, parseNetmask } from './persistence.ts';
import type { MaskSpec, PersistenceTemplate, TemplateTable, TemplateTarget } from './persistence.ts';
import { TrafficStats } from './stats.ts';

/** What every service shares: the tables, the timeouts and the log. */
export interface CoreEnvironment {
  readonly log: Logger;
  readonly table: ConnectionTable;
  readonly templates: TemplateTable<RealServerRuntime>;
  readonly udpIdleMs: number;
  readonly tcpTimeoutMs: number;
  readonly tcpFinTimeoutMs: number;
  readonly tcpConnectTimeoutMs: number;
  readonly expireQuiescentTemplate: boolean;
}

/** A service's listener: a TCP server or a UDP socket. */
export interface Forwarder {
  listen(): Promise<void>;
  /** Stops taking new clients; `abortConnections` also tears down the open ones. */
  close(abortConnections: boolean): Promise<void>;
}

export class RealServerRuntime implements TemplateTarget {
  config: RealServerConfig;
  readonly service: VirtualServiceRuntime;
  /** Where connections go: port 0 means the virtual port, as in IPVS. */
  readonly targetPort: number;
  readonly label: string;
  readonly stats = new TrafficStats();
  activeConns = 0; // ESTABLISHED TCP
  inactiveConns = 0; // other TCP states and UDP flows
  persistentConns = 0; // templates pinning this server
  total = 0;
  overloaded = false; // IPVS's IP_VS_DEST_F_OVERLOAD, from the thresholds
  removed = false;
  /** The scheduler's record; replaced when the service's server list changes. */
  record: RealServer;

  constructor(service: VirtualServiceRuntime, config: RealServerConfig) {
    this.service = service;
    this.config = { ...config };
    this.targetPort = config.port === 0 ? service.key.port : config.port;
    this.label = endpointLabel(config.address, this.targetPort);
    this.record = this.makeRecord(0);
  }

  makeRecord(id: number): RealServer {
    const record = localRealServer(id, this.config.address, this.targetPort, this.config.weight);
    record.up = !this.overloaded;
    record.active = this.activeConns + this.inactiveConns;
    record.total = this.total;
    this.record = record;
    return record;
  }

  /** IPVS counts every connection, in any state, against the thresholds (ip_vs_dest_totalconns). */
  openConns(): number {
    return this.activeConns + this.inactiveConns;
  }

  connectionOpened(established: boolean): void {
    if (established) this.activeConns++;
    else this.inactiveConns++;
    this.total++;
    this.stats.conns++;
    this.record.active++;
    this.record.total++;
    const upper = this.config.upperThreshold;
    if (upper > 0 && !this.overloaded && this.openConns() >= upper) this.setOverloaded(true);
  }

  stateChanged(wasEstablished: boolean, isEstablished: boolean): void {
    if (wasEstablished === isEstablished) return;
    if (isEstablished) {
      this.inactiveConns--;
      this.activeConns++;
    } else {
      this.activeConns--;
      this.inactiveConns++;
    }
  }

  connectionClosed(wasEstablished: boolean): void {
    if (wasEstablished) this.activeConns--;
    else this.inactiveConns--;
    this.record.active--;
    if (this.overloaded && this.belowReadmitMark()) this.setOverloaded(false);
  }

  /** IPVS's ip_vs_unbind_dest: below -y, or below 3/4 of -x when no -y is set. */
  private belowReadmitMark(): boolean {
    const { lowerThreshold, upperThreshold } = this.config;
    if (lowerThreshold > 0) return this.openConns() < lowerThreshold;
    if (upperThreshold > 0) return this.openConns() * 4 < upperThreshold * 3;
    return true;
  }

  /** Weight and thresholds from an edit (address and port identify the server and do not change). */
  reconfigure(config: RealServerConfig): void {
    const previousUpper = this.config.upperThreshold;
    this.config = { ...config };
    // As IPVS's __ip_vs_update_dest: a raised or removed upper threshold lifts
    // the overload at once; a lowered one takes effect at once too, rather
    // than at the next connection.
    let overloaded = this.overloaded;
    if (config.upperThreshold === 0 || config.upperThreshold > previousUpper) overloaded = false;
    if (config.upperThreshold > 0 && this.openConns() >= config.upperThreshold) overloaded = true;
    this.overloaded = overloaded;
    this.service.setRecordState(this, !overloaded, config.weight);
  }

  private setOverloaded(overloaded: boolean): void {
    this.overloaded = overloaded;
    this.service.setRecordState(this, !overloaded, this.config.weight);
  }

  status(): RealServerStatus {
    return {
      ...this.config,
      activeConns: this.activeConns,
      inactiveConns: this.inactiveConns,
      persistentConns: this.persistentConns,
      stats: this.stats.counters(),
      rates: this.stats.currentRates(),
    };
  }
}

/** A scheduled connection: its real server, and the template that pinned it if the service is persistent. */
export interface Assignment {
  readonly server: RealServerRuntime;
  readonly template: PersistenceTemplate<RealServerRuntime> | null;
}

export class VirtualServiceRuntime {
  readonly key: ServiceKey;
  readonly id: string;
  readonly label: string; // "addr:port" of the virtual service, for the connection table
  readonly env: CoreEnvironment;
  scheduler: string;
  persistence: Persistence | null;
  servers: RealServerRuntime[] = [];
  readonly stats = new TrafficStats();
  forwarder: Forwarder | null = null;

  private mask: MaskSpec | null;
  private schedulerImpl: Scheduler;
  private readonly pickContext: PickContext = { key: undefined, clientAddress: '' };

  constructor(key: ServiceKey, scheduler: string, persistence: Persistence | null, env: CoreEnvironment) {
    this.key = { ...key };
    this.id = serviceId(key);
    this.label = endpointLabel(key.address, key.port);
    this.env = env;
    this.scheduler = scheduler;
    this.persistence = persistence === null ? null : { ...persistence };
    this.mask = persistence === null ? null : parseNetmask(persistence.netmask, key.family);
    this.schedulerImpl = createScheduler(scheduler, [], {});
  }

  /** -E: scheduler and persistence. A new scheduler starts fresh, as IPVS binds a new one. */
  reconfigure(scheduler: string, persistence: Persistence | null): void {
    this.mask = persistence === null ? null : parseNetmask(persistence.netmask, this.key.family);
    this.persistence = persistence === null ? null : { ...persistence };
    if (scheduler !== this.scheduler) {
      this.scheduler = scheduler;
      this.rebuildScheduler();
    }
  }

  findServer(address: string, port: number): RealServerRuntime | undefined {
    return this.servers.find((s) => s.config.address === address && s.config.port === port);
  }

  addServer(config: RealServerConfig): void {
    this.servers.push(new RealServerRuntime(this, config));
    this.rebuildScheduler();
  }

  editServer(server: RealServerRuntime, config: RealServerConfig): void {
    server.reconfigure(config);
  }

  /** -d: the server takes no new connections; its open ones run on until they end, as in IPVS. */
  removeServer(server: RealServerRuntime): void {
    server.removed = true;
    this.servers = this.servers.filter((s) => s !== server);
    this.env.templates.dropWhere((template) => template.target === server);
    this.rebuildScheduler();
  }

  /** Writes a server's status and weight into its record and tells the scheduler (none once it was removed). */
  setRecordState(server: RealServerRuntime, up: boolean, weight: number): void {
    if (server.removed) {
      server.record.up = up;
      server.record.weight = weight;
      return;
    }
    setServerState(this.schedulerImpl, server.record, up, weight);
  }

  private rebuildScheduler(): void {
    const records = this.servers.map((server, id) => server.makeRecord(id));
    this.schedulerImpl = createScheduler(this.scheduler, records, {});
  }

  /**
   * The real server for a new connection from `clientAddress`, accounted as
   * opened; null when none is usable. A live persistence template wins over
   * quiescence and overload, as in IPVS with expire_quiescent_template off.
   */
  schedule(clientAddress: string, established: boolean, nowMs: number): Assignment | null {
    const persistence = this.persistence;
    let template: PersistenceTemplate<RealServerRuntime> | null = null;
    let server: RealServerRuntime | null = null;
    let masked = '';
    if (persistence !== null && this.mask !== null) {
      masked = maskAddress(clientAddress, this.mask);
      const found = this.env.templates.find(this.id, masked, nowMs);
      if (found !== undefined) {
        if (found.target.removed || (this.env.expireQuiescentTemplate && found.target.config.weight === 0)) {
          this.env.templates.drop(found);
        } else {
          template = found;
          server = found.target;
        }
      }
    }
    if (server === null) {
      server = this.pick(clientAddress);
      if (server === null) return null;
      if (persistence !== null) {
        template = this.env.templates.create(this.id, masked, server, persistence.timeoutSec * 1000, nowMs);
      }
    }
    if (template !== null && persistence !== null) {
      this.env.templates.attach(template, persistence.timeoutSec * 1000, nowMs);
    }
    this.stats.conns++;
    server.connectionOpened(established);
    return { server, template };
  }

  private pick(clientAddress: string): RealServerRuntime | null {
    const ctx = this.pickContext;
    // Key-using schedulers (sh, dh, mh, ...) hash the client address, as IPVS's do.
    ctx.key = clientAddress;
    ctx.clientAddress = clientAddress;
    const record = this.schedulerImpl.pick(ctx);
    return record === null ? null : this.servers[record.id];
  }

  /** The connection scheduled by `assignment` has ended. */
  release(assignment: Assignment, wasEstablished: boolean, nowMs: number): void {
    assignment.server.connectionClosed(wasEstablished);
    if (assignment.template !== null) this.env.templates.release(assignment.template, nowMs);
  }

  status(): VirtualServiceStatus {
    return {
      key: { ...this.key },
      scheduler: this.scheduler,
      persistence: this.persistence === null ? null : { ...this.persistence },
      realServers: this.servers.map((s) => s.status()),
      stats: this.stats.counters(),
      rates: this.stats.currentRates(),
    };
  }
}

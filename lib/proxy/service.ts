// A virtual service: one listener, its rule table and its server groups.
// This is the data path's root; the data path (data-path.ts) builds it from a
// plan and updates it in place on every config change.
//
// In place: the rule table is rebuilt (it holds no state), limits and
// timeouts are replaced and hold for every new request, on connections
// already open too, and groups are updated by name (group.ts says what they
// keep). A request in flight finishes with the group and server it started
// on. A service whose listen address changes binds the new one first and
// then closes the old one; its open connections carry on.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServiceSpec } from '../config/model.ts';
import type { ServicePlan } from '../control/registry.ts';
import { HeadParser } from '../http/llhttp.ts';
import { AccessLog } from '../log/access-log.ts';
import { RequestView } from '../route/request-view.ts';
import { Router } from '../route/router.ts';
import type { PickContext, RealServer } from '../sched/scheduler.ts';
import type { RequestOutcome } from './observer.ts';
import { bucketOf } from '../stats/histogram.ts';
import { statusClassIndex } from '../stats/collector.ts';
import type { Logger } from '../log/logger.ts';
import { GroupRuntime } from './group.ts';
import { ClientSession } from './client-session.ts';
import { TlsListener } from './tls-listener.ts';
import { PassthroughListener } from './tls-passthrough.ts';
import type { ProxyAddresses } from '../net/proxy-protocol.ts';
import type { ServiceObserver } from './observer.ts';
import type { SessionContext } from './session-context.ts';
import type { DataPathEvents } from './passive.ts';
import {
  ConnectionCounterBlock,
  RequestCounterBlock,
  outcomeIndex,
  type ConnectionCounterWriter,
  type RequestCounterWriter,
} from '../stats/shared-counters.ts';

/** Free request parsers kept per service for new connections. */
const MAX_FREE_PARSERS = 256;

export interface ListenOptions {
  /** Worker threads: each binds its own socket to the address (SO_REUSEPORT). */
  reusePort: boolean;
}

export class ServiceRuntime implements SessionContext {
  spec: ServiceSpec;
  readonly log: Logger;
  readonly accessLog: AccessLog | null; // null when the level is above info
  router: Router;
  readonly groups = new Map<string, GroupRuntime>();
  // Scratch objects reused by every request: routing and picking run to
  // completion synchronously, so one of each is enough.
  readonly requestView = new RequestView();
  readonly pickContext: PickContext = { key: undefined, clientAddress: '' };
  /** Told of every connection and request end (for tests and tools; statistics are counted below). */
  readonly observers: ServiceObserver[] = [];
  // This thread's stripe of the service's counters (lib/stats/shared-counters.ts).
  readonly requestStats: RequestCounterWriter;
  readonly noGroupStats: RequestCounterWriter;
  private readonly connectionStats: ConnectionCounterWriter;

  private server: net.Server;
  /** A second listener, bound for a listen address change that is not committed yet. */
  private nextServer: net.Server | null = null;
  private readonly sessions = new Set<ClientSession>();
  private retired = false;
  private finalized = false;
  private readonly freeParsers: HeadParser[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepEveryMs = 0;
  private poolSweepAt = 0;
  private readonly stripe: number;
  private readonly events: DataPathEvents;
  /** `listen ... tls`: the handshake before the session (tls-listener.ts); null for plain HTTP. */
  private tls: TlsListener | null = null;
  readonly handshakes = new Set<TLSSocket>();
  /** The TLS listener of a prepared change (a new one when the certificates change; null: plain HTTP). */
  private nextTls: TlsListener | null = null;
  /** `mode tls-passthrough`: connections routed by SNI, never decrypted (tls-passthrough.ts); null for HTTP. */
  private passthrough: PassthroughListener | null = null;

  constructor(plan: ServicePlan, log: Logger, stripe = 0, events: DataPathEvents = NO_EVENTS) {
    this.spec = plan.spec;
    this.log = log;
    this.stripe = stripe;
    this.events = events;
    this.accessLog = log.isLevelEnabled('info') ? new AccessLog(log) : null;
    this.requestStats = RequestCounterBlock.attach(plan.requests).writer(stripe);
    this.noGroupStats = RequestCounterBlock.attach(plan.noGroup).writer(stripe);
    this.connectionStats = ConnectionCounterBlock.attach(plan.connections).writer(stripe);
    this.router = new Router(plan.spec.rules, plan.spec.defaultGroup, plan.spec.groups);
    this.updateGroups(plan);
    if (plan.spec.tls !== undefined) this.tls = new TlsListener(plan.spec.tls, this);
    if (plan.spec.mode === 'tls-passthrough') this.passthrough = new PassthroughListener(this);
    this.server = this.createServer();
  }

  private readonly onConnection = (socket: net.Socket): void => this.accept(socket);
  private readonly onListenerError = (err: Error): void => this.log.error({ err, service: this.spec.name }, 'listener error');

  private createServer(): net.Server {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }); // see client-reads.ts
    server.on('connection', this.onConnection);
    server.on('error', this.onListenerError);
    return server;
  }

  /**
   * Counts a request that ended in this thread's stripe of the service's,
   * group's and server's counters (no group: answered before routing; no
   * server: routed, nothing usable).
   */
  countRequest(
    group: GroupRuntime | null,
    server: RealServer | null,
    status: number,
    bytesIn: number,
    bytesOut: number,
    durationMs: number,
    outcome: RequestOutcome,
    nowMs: number,
  ): void {
    const second = Math.floor(nowMs / 1000);
    const bucket = bucketOf(durationMs);
    const statusClass = statusClassIndex(status);
    const outcomeAt = outcomeIndex(outcome);
    this.requestStats.record(second, bucket, durationMs, statusClass, outcomeAt, bytesIn, bytesOut);
    if (group === null) {
      this.noGroupStats.record(second, bucket, durationMs, statusClass, outcomeAt, bytesIn, bytesOut);
      return;
    }
    group.requestStats.record(second, bucket, durationMs, statusClass, outcomeAt, bytesIn, bytesOut);
    const stats = server === null ? group.noServerStats : group.statsOf(server);
    stats?.record(second, bucket, durationMs, statusClass, outcomeAt, bytesIn, bytesOut);
  }

  /** Counts a connection accepted (or, for tests, one at a given time). */
  countConnectionOpened(nowMs: number): void {
    this.connectionStats.opened(Math.floor(nowMs / 1000));
  }

  countConnectionClosed(): void {
    this.connectionStats.closed();
  }

  private accept(socket: net.Socket): void {
    if (this.passthrough !== null) return this.passthrough.accept(socket);
    if (this.tls !== null) return this.tls.accept(socket);
    this.startSession(socket);
  }

  /** A client connection ready for HTTP: as accepted, or once its TLS handshake is done (`proxied`: its PROXY header, read before). */
  startSession(socket: net.Socket, proxied?: ProxyAddresses | null): void {
    this.countConnectionOpened(Date.now());
    const session = new ClientSession(this, socket, proxied);
    this.sessions.add(session);
  }

  takeRequestParser(): HeadParser {
    const p = this.freeParsers.pop();
    if (p !== undefined) {
      p.reset();
      return p;
    }
    return new HeadParser('request', this.spec.limits.maxHeaderBytes);
  }

  forget(session: ClientSession, parser: HeadParser): void {
    if (this.sessions.delete(session)) this.connectionStats.closed();
    if (this.freeParsers.length < MAX_FREE_PARSERS && parser.limit === this.spec.limits.maxHeaderBytes) this.freeParsers.push(parser);
    else parser.close();
    if (this.retired && this.sessions.size === 0) this.finalize();
  }

  /** Binds the listener. Resolves with the bound address (port 0 picks one). */
  listen(options: ListenOptions = { reusePort: false }): Promise<net.AddressInfo> {
    return bind(this.server, this.spec.listen, options).then((address) => {
      this.startSweep();
      return address;
    });
  }

  /**
   * The first half of a config change: binds the new listen address when it
   * changes, so a change that cannot listen is refused before anything else
   * moves. commitUpdate() or abortUpdate() follows.
   */
  async prepareUpdate(plan: ServicePlan, options: ListenOptions): Promise<void> {
    // New certificates need no new socket: connections accepted after the
    // commit get the new listener's, those in their handshake keep theirs.
    const tls = plan.spec.tls;
    this.nextTls = tls === undefined ? null : this.tls?.serves(tls) ? this.tls : new TlsListener(tls, this);
    const next = plan.spec.listen;
    const now = this.spec.listen;
    if (next.host === now.host && next.port === now.port) return;
    const server = this.createServer();
    await bind(server, next, options);
    this.nextServer = server;
  }

  abortUpdate(): Promise<void> {
    this.nextTls = null;
    const server = this.nextServer;
    this.nextServer = null;
    return server === null ? Promise.resolve() : closeListener(server);
  }

  /** The second half: the new spec, rule table, limits, timeouts and groups take over. */
  commitUpdate(plan: ServicePlan): void {
    const before = this.spec;
    this.spec = plan.spec;
    this.router = new Router(plan.spec.rules, plan.spec.defaultGroup, plan.spec.groups);
    this.updateGroups(plan);
    this.tls = this.nextTls;
    this.nextTls = null;
    if (plan.spec.mode !== 'tls-passthrough')
      this.passthrough = null; // its open connections carry on
    else if (this.passthrough === null) this.passthrough = new PassthroughListener(this);
    else this.passthrough.update(plan.spec);
    if (before.limits.maxHeaderBytes !== plan.spec.limits.maxHeaderBytes) {
      for (const p of this.freeParsers) p.close();
      this.freeParsers.length = 0;
    }
    if (this.nextServer !== null) {
      const old = this.server;
      this.server = this.nextServer;
      this.nextServer = null;
      void closeListener(old);
    }
    if (this.sweepTimer !== null && this.sweepInterval() !== this.sweepEveryMs) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
      this.startSweep();
    }
  }

  private updateGroups(plan: ServicePlan): void {
    const left = new Set(this.groups.keys());
    plan.spec.groups.forEach((spec, i) => {
      left.delete(spec.name);
      const existing = this.groups.get(spec.name);
      if (existing !== undefined) existing.update(spec, plan.spec, plan.groups[i]);
      else this.groups.set(spec.name, new GroupRuntime(spec, plan.spec, plan.groups[i], this.stripe, this.events));
    });
    for (const name of left) {
      this.groups.get(name)!.retire();
      this.groups.delete(name);
    }
  }

  private sweepInterval(): number {
    const t = this.spec.timeouts;
    const shortest = Math.min(t.clientHeaderMs, t.clientIdleMs, t.connectMs, t.responseMs, t.upstreamIdleMs);
    return Math.max(10, Math.min(500, Math.floor(shortest / 10)));
  }

  // Deadlines are checked by one sweep instead of a timer per request, so
  // the hot path only stores a number (deadline.ts).
  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepEveryMs = this.sweepInterval();
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions) {
      if (s.deadline.due(now)) s.expire();
    }
    if (now >= this.poolSweepAt) {
      this.poolSweepAt = now + 250;
      for (const g of this.groups.values()) g.sweep(now);
    }
  }

  get address(): net.AddressInfo | null {
    return this.server.address() as net.AddressInfo | null;
  }

  /** Where it will listen once a prepared change is committed. */
  get preparedAddress(): net.AddressInfo | null {
    return (this.nextServer ?? this.server).address() as net.AddressInfo | null;
  }

  get connections(): number {
    return this.sessions.size + (this.passthrough?.connections ?? 0);
  }

  /** For a graceful stop: idle keep-alive connections close now, busy ones after their response. */
  drainConnections(): void {
    this.closeHandshakes();
    for (const s of this.sessions) s.closeWhenDone();
  }

  /** Closes the connections still in their TLS handshake (a stop, a drain, the service leaving). */
  private closeHandshakes(): void {
    for (const s of this.handshakes) s.destroy();
    this.handshakes.clear();
  }

  /** Stops accepting connections; the ones already here carry on. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stops accepting, closes every connection and pool. */
  close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.closeHandshakes();
    for (const s of this.sessions) s.destroy();
    this.passthrough?.close();
    for (const g of this.groups.values()) g.close();
    void this.abortUpdate();
    return closeListener(this.server);
  }

  /** The service left the config: stop accepting, finish the connections it has, then close its pools. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    void closeListener(this.server);
    this.closeHandshakes();
    for (const session of this.sessions) session.closeWhenDone();
    if (this.sessions.size === 0) this.finalize();
  }

  /** A service built for a change that was then refused: release what it built. */
  discard(): Promise<void> {
    this.retired = true;
    this.finalize();
    return closeListener(this.server);
  }

  private finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const g of this.groups.values()) g.close();
  }
}

const NO_EVENTS: DataPathEvents = { serverEjected() {} };

/**
 * Listens on `endpoint`. With `reusePort` every worker thread binds its own
 * socket to the same address (SO_REUSEPORT) and the kernel spreads new
 * connections over them.
 */
function bind(server: net.Server, endpoint: { host: string; port: number }, options: ListenOptions): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: endpoint.host, port: endpoint.port, backlog: 1024, reusePort: options.reusePort }, () => {
      server.off('error', onError);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/** server.close() on a listener already closed waits for a 'close' that has come and gone: only wait when it listens. */
function closeListener(server: net.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

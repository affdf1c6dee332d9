// A virtual service: one listener, its rule table and its server groups.
// This is the data path's root; the control plane builds it from a ServiceSpec.
//
// A hot reload builds a new ServiceRuntime (a new generation) and hands it the
// listener. Sessions between requests move to it at once; a session in the
// middle of a request finishes it on the old generation and moves at its next
// request. The old generation closes its pools when its last session left.
import net from 'node:net';
import type { ServiceSpec } from '../config/model.ts';
import { HeadParser } from '../http/llhttp.ts';
import { RequestView } from '../route/request-view.ts';
import { Router } from '../route/router.ts';
import type { PickContext } from '../sched/scheduler.ts';
import type { Logger } from '../log/logger.ts';
import { GroupRuntime } from './group.ts';
import { ClientSession } from './client-session.ts';
import type { ServiceObserver } from './observer.ts';

export class ServiceRuntime {
  readonly spec: ServiceSpec;
  readonly log: Logger;
  readonly accessLog: boolean;
  readonly router: Router;
  readonly groups = new Map<string, GroupRuntime>();
  // Scratch objects reused by every request: routing and picking run to
  // completion synchronously, so one of each is enough.
  readonly requestView = new RequestView();
  readonly pickContext: PickContext = { key: undefined, clientAddress: '' };
  /** Told of every connection and request end (statistics, passive health checks). */
  readonly observers: ServiceObserver[] = [];

  private server: net.Server;
  private readonly sessions = new Set<ClientSession>();
  /** The generation that replaced this one (hot reload); sessions follow it. */
  successor: ServiceRuntime | null = null;
  private retired = false;
  private finalized = false;
  private readonly freeParsers: HeadParser[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private poolSweepAt = 0;

  constructor(spec: ServiceSpec, log: Logger) {
    this.spec = spec;
    this.log = log;
    this.accessLog = log.isLevelEnabled('info');
    for (const g of spec.groups) this.groups.set(g.name, new GroupRuntime(g, spec));
    this.router = new Router(spec.rules, spec.defaultGroup, spec.groups);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true });
    this.listenOn(this.server);
  }

  private readonly onConnection = (socket: net.Socket): void => this.accept(socket);
  private readonly onListenerError = (err: Error): void => this.log.error({ err, service: this.spec.name }, 'listener error');

  private listenOn(server: net.Server): void {
    server.on('connection', this.onConnection);
    server.on('error', this.onListenerError);
  }

  private accept(socket: net.Socket): void {
    const session = new ClientSession(this, socket);
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
    this.sessions.delete(session);
    if (this.freeParsers.length < 256) this.freeParsers.push(parser);
    else parser.close();
    if (this.retired && this.sessions.size === 0) this.finalize();
  }

  /** Binds the listener. Resolves with the bound address (port 0 picks one). */
  /**
   * Binds the listener. With `reusePort` every worker process binds its own
   * socket to the same address (SO_REUSEPORT) and the kernel spreads new
   * connections over them; `exclusive` keeps cluster from sharing one handle.
   */
  listen(reusePort = false): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      const { host, port } = this.spec.listen;
      this.server.listen({ host, port, backlog: 1024, reusePort, exclusive: reusePort }, () => {
        this.server.off('error', onError);
        this.startSweep();
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  // Deadlines are checked by one sweep instead of a timer per request, so
  // the hot path only stores a number.
  startSweep(): void {
    if (this.sweepTimer !== null) return;
    const t = this.spec.timeouts;
    const shortest = Math.min(t.clientHeaderMs, t.clientIdleMs, t.connectMs, t.responseMs, t.upstreamIdleMs);
    const every = Math.max(10, Math.min(500, Math.floor(shortest / 10)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions) {
      if (s.hasDeadline() && now >= s.deadline) s.expire();
    }
    if (now >= this.poolSweepAt) {
      this.poolSweepAt = now + 250;
      for (const g of this.groups.values()) g.sweep(now);
    }
  }

  get address(): net.AddressInfo | null {
    return this.server.address() as net.AddressInfo | null;
  }

  get connections(): number {
    return this.sessions.size;
  }

  /** For a graceful stop: idle keep-alive connections close now, busy ones after their response. */
  drainConnections(): void {
    for (const s of this.sessions) s.closeWhenDone();
  }

  /** Stops accepting connections; the ones already here carry on. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stops accepting, closes every connection and pool. */
  close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const s of this.sessions) s.destroy();
    for (const g of this.groups.values()) g.close();
    // server.close() on a listener that is already closed waits for a 'close'
    // event that has come and gone: only wait when it is still listening.
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The newest generation, following hot reloads. */
  latest(): ServiceRuntime {
    let g: ServiceRuntime = this;
    while (g.successor !== null) g = g.successor;
    return g;
  }

  /** A session moves from this (older) generation to `next`. */
  moveSession(session: ClientSession, next: ServiceRuntime): void {
    this.sessions.delete(session);
    next.sessions.add(session);
    if (this.retired && this.sessions.size === 0) this.finalize();
  }

  /**
   * Hot reload: `next` (not yet listening) takes over this generation's
   * listener and, at once, every session that is between requests; the rest
   * follow at their next request. This generation retires when they are gone.
   */
  handOver(next: ServiceRuntime): void {
    const server = this.server;
    server.off('connection', this.onConnection);
    server.off('error', this.onListenerError);
    next.server = server;
    next.listenOn(server);
    next.startSweep();
    this.successor = next;
    for (const session of [...this.sessions]) session.followSuccessor();
    this.retire(false);
  }

  /** Stops taking connections (unless handed over) and finishes the ones it has, then closes its pools. */
  retire(closeListener = true): void {
    if (this.retired) return;
    this.retired = true;
    if (closeListener) {
      this.server.close();
      for (const session of this.sessions) session.closeWhenDone();
    }
    if (this.sessions.size === 0) this.finalize();
  }

  /** A generation built for a reload that was then refused: release what it built. */
  discard(): void {
    this.retired = true;
    this.finalize();
  }

  private finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const g of this.groups.values()) g.close();
  }
}

// TLS passthrough (`mode tls-passthrough`, docs/tls.md): each accepted
// connection's ClientHello is read in the clear, without terminating TLS
// (lib/tls/client-hello.ts); its server name picks a group (sni-router.ts),
// the group's scheduler and source persistence pick a server, and the bytes
// read so far go to it unchanged, then everything else both ways. A
// ClientHello the reader refuses, one over its size limit, or one not
// complete within `timeout client-header` closes the connection with one
// warn line and never reaches a server. Nothing is counted per request:
// there are none; the server's active connections are (begin/end).
import net from 'node:net';
import type { ServiceSpec } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { RequestView } from '../route/request-view.ts';
import { SniRouter } from '../route/sni-router.ts';
import type { PickContext, RealServer } from '../sched/scheduler.ts';
import { clientHelloBufferLimit, readClientHello } from '../tls/client-hello.ts';
import type { GroupRuntime } from './group.ts';
import { acceptsProxy } from './proxy-trust.ts';
import { ClientProxy, PROXY_DONE, PROXY_WAIT } from './client-proxy.ts';

/** What the listener needs of its service. */
export interface PassthroughService {
  readonly spec: ServiceSpec;
  readonly log: Logger;
  readonly groups: ReadonlyMap<string, GroupRuntime>;
  // Scratch objects: routing and picking run to completion synchronously.
  readonly requestView: RequestView;
  readonly pickContext: PickContext;
  countConnectionOpened(nowMs: number): void;
  countConnectionClosed(): void;
}

const HELLO_LIMIT = clientHelloBufferLimit();
const NO_HEADERS: string[] = [];

export class PassthroughListener {
  private router: SniRouter;
  private readonly service: PassthroughService;
  /** Every client connection, from accept to close, so that a stop can close them. */
  private readonly clients = new Set<net.Socket>();

  constructor(service: PassthroughService) {
    this.service = service;
    this.router = new SniRouter(service.spec.rules, service.spec.defaultGroup);
  }

  /** The service's spec changed: new connections follow its rules; open ones keep their server. */
  update(spec: ServiceSpec): void {
    this.router = new SniRouter(spec.rules, spec.defaultGroup);
  }

  get connections(): number {
    return this.clients.size;
  }

  /** A new connection (paused): read its ClientHello within `timeout client-header`. */
  accept(client: net.Socket): void {
    this.clients.add(client);
    this.service.countConnectionOpened(Date.now());
    client.once('close', () => {
      this.clients.delete(client);
      this.service.countConnectionClosed();
    });
    client.on('error', () => client.destroy());
    let bytes: Buffer | null = null;
    // A PROXY header comes first when the service reads them (`accept-proxy`,
    // or a `real self` of the L4 core); it is read, checked and dropped.
    const proxy = acceptsProxy(this.service.spec) ? new ClientProxy() : null;
    let proxyPending = proxy !== null;
    let clientAddress = client.remoteAddress ?? '';
    const refuse = (reason: string): void => {
      clearTimeout(timer);
      client.off('data', onData);
      this.service.log.warn({ service: this.service.spec.name, client: clientAddress, reason }, 'TLS passthrough refused');
      client.destroy();
    };
    const timer = setTimeout(
      () => refuse('no complete ClientHello within timeout client-header'),
      this.service.spec.timeouts.clientHeaderMs,
    );
    timer.unref();
    const onData = (chunk: Buffer): void => {
      if (proxyPending) {
        // The same reading and trust rule as an HTTP session's (client-proxy.ts); every refusal is logged here.
        const verdict = proxy!.read(chunk, false, client, this.service.spec, false);
        if (verdict === PROXY_WAIT) return;
        if (verdict !== PROXY_DONE) return refuse(proxy!.reason);
        proxyPending = false;
        if (proxy!.received !== null) clientAddress = proxy!.clientAddress;
        if (proxy!.rest === null) return;
        chunk = proxy!.rest;
      }
      bytes = bytes === null ? chunk : Buffer.concat([bytes, chunk]);
      const read = readClientHello(bytes);
      if (read.kind === 'incomplete') {
        if (bytes.length > HELLO_LIMIT) refuse(`a ClientHello over ${HELLO_LIMIT} bytes`);
        return;
      }
      if (read.kind === 'refused') return refuse(`bad ClientHello: ${read.reason}`);
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
      client.pause();
      this.forward(client, bytes, read.sni, clientAddress);
    };
    const onEnd = (): void => refuse('the client closed before its ClientHello was complete');
    client.on('data', onData);
    client.once('end', onEnd);
    client.resume();
  }

  /** Routes by `sni`, picks a server, connects and sends it `hello` (the bytes read so far), then pipes both ways. */
  private forward(client: net.Socket, hello: Buffer, sni: string | null, clientAddress: string): void {
    const service = this.service;
    const route = this.router.route(sni);
    const group = route === null ? undefined : service.groups.get(route.group);
    if (group === undefined) {
      service.log.warn({ service: service.spec.name, client: clientAddress, sni }, 'TLS passthrough refused: no route for the server name');
      client.destroy();
      return;
    }
    this.connect(client, hello, group, sni, clientAddress, service.spec.limits.retries, null);
  }

  /**
   * Picks a server (never `failed`, the one whose connect just failed) and
   * connects. A failed connect reached no server: it is ejected at once
   * (passive.ts) and the connection goes to another server of the group,
   * at most `retries` times, as an HTTP request would.
   */
  private connect(
    client: net.Socket,
    hello: Buffer,
    group: GroupRuntime,
    sni: string | null,
    clientAddress: string,
    retries: number,
    failed: RealServer | null,
  ): void {
    const service = this.service;
    group.sync();
    const server = this.pick(group, sni, clientAddress);
    if (server === null || server === failed) {
      service.log.warn({ service: service.spec.name, group: group.name, sni }, 'TLS passthrough: no usable server');
      client.destroy();
      return;
    }
    server.begin();
    const upstream = net.connect({ host: server.host, port: server.port, allowHalfOpen: true, noDelay: true });
    let connected = false;
    let ended = false;
    const done = (): void => {
      if (ended) return;
      ended = true;
      server.end();
      client.destroy();
      upstream.destroy();
    };
    const connectFailed = (reason: string): void => {
      clearTimeout(connectTimer);
      if (ended) return;
      ended = true;
      upstream.destroy();
      server.end();
      client.off('close', onClientClose);
      client.setTimeout(0);
      group.passive?.connectFailed(server, reason);
      if (retries > 0 && !client.destroyed) return this.connect(client, hello, group, sni, clientAddress, retries - 1, server);
      service.log.warn({ service: service.spec.name, server: server.name, reason }, 'TLS passthrough: server connection failed');
      client.destroy();
    };
    const connectTimer = setTimeout(() => connectFailed('connect timed out'), service.spec.timeouts.connectMs);
    connectTimer.unref();
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      connected = true;
      upstream.write(hello);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (err) => {
      if (!connected) return connectFailed(err.message);
      done();
    });
    // Half-closes are passed on by pipe(): a side that closed cleanly leaves
    // the other to flush what it was ended with; its own close finishes.
    const closed =
      (other: net.Socket) =>
      (hadError: boolean): void => {
        if (hadError || other.destroyed || !other.writableEnded) done();
      };
    const onClientClose = closed(upstream);
    upstream.once('close', (hadError: boolean) => {
      if (connected) closed(client)(hadError);
    });
    client.once('close', onClientClose);
    client.setTimeout(service.spec.timeouts.clientIdleMs, done);
  }

  /** Source persistence first (it reads only the client address), else the scheduler, keyed by the server name. */
  private pick(group: GroupRuntime, sni: string | null, clientAddress: string): RealServer | null {
    const affinity = group.affinity;
    const view = this.service.requestView;
    if (affinity !== null) {
      view.reset('', '', NO_HEADERS, clientAddress);
      const pinned = affinity.lookup(view);
      if (pinned !== null) return pinned;
    }
    const ctx = this.service.pickContext;
    ctx.key = group.scheduler.usesKey ? (sni ?? '') : undefined;
    ctx.clientAddress = clientAddress;
    const server = group.scheduler.pick(ctx);
    if (server === null || affinity === null) return server;
    return affinity.pin(view, server);
  }

  /** Closes every connection (a stop, or the service leaving). */
  close(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
  }
}

// One client connection: parse each request head with llhttp, route it,
// schedule a real server, and splice the bytes both ways. Requests on one
// connection are handled one after another, so pipelined responses keep their
// order; bytes of later requests wait (with the socket paused) until the
// current response is done.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HeadParser, HeadParseError } from '../http/llhttp.ts';
import { BodyFramer, type FramingError, FRAME_CLOSE, FRAME_NONE } from '../http/body-framer.ts';
import {
  buildRequestHead,
  buildResponseHead,
  judgeResponseTransferEncoding,
  judgeTransferEncoding,
  scanHeaders,
  headerValue,
  type RequestFacts,
} from '../http/head-rewrite.ts';
import { localResponse } from '../http/local-response.ts';
import { readClient } from './client-reads.ts';
import { encodeProxyHeader, parseProxyHeader, proxyAddresses, type ProxyAddresses } from '../net/proxy-protocol.ts';
import { acceptsProxy, proxySourceTrusted } from './proxy-trust.ts';
import type { ServerPool, UpstreamConnection, UpstreamOwner } from '../upstream/pool.ts';
import type { RealServer } from '../sched/scheduler.ts';
import type { GroupRuntime } from './group.ts';
import type { ServiceRuntime } from './service.ts';
import type { RequestOutcome, RequestRecord } from './observer.ts';
import { performance } from 'node:perf_hooks';
import { misdirectedRequest } from './strict-sni.ts';

const P_IDLE = 0; // waiting for the first byte of a request
const P_HEAD = 1; // part of a request head received
const P_EXCHANGE = 2; // request dispatched, response not finished
const P_TUNNEL = 3; // after 101 Switching Protocols
const P_CLOSED = 4;
const P_PROXY = 5; // a service that accepts PROXY headers: before the first byte decides

// What the timer sweep does when `deadline` passes.
const D_NONE = 0;
const D_IDLE = 1; // keep-alive idle: close quietly
const D_HEAD = 2; // slowloris: 408
const D_CONNECT = 3; // upstream connect: 504
const D_RESPONSE = 4; // upstream response (or transfer stalled): 504 or close
const D_BODY = 5; // the request body, all of it (timeout client-body): 408 or close

// After tcpvs has sent its FIN, how long a client may keep its side open.
const CLIENT_FIN_TIMEOUT_MS = 5000;

// Heads travel with up to this many body bytes in one buffer.
const COALESCE_LIMIT = 16384;
// A client read is at most 64 KiB (client-reads.ts).
const BODY_COPY_BYTES = 65536;

// Body bytes kept for a retry while a connect is under way: what the socket
// buffers before it pushes back (its high-water mark) and a read or two.
const RESEND_LIMIT = 1 << 20;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class ClientSession implements UpstreamOwner {
  private readonly svc: ServiceRuntime;
  private readonly socket: net.Socket;
  // Chunks are lent from a buffer shared by all connections (client-reads.ts): copy what is kept.
  private readonly lent: boolean;
  clientAddress: string; // the peer's, or the one its PROXY header gives
  clientPort: number; // likewise
  private proxyBytes: Buffer | null = null; // a PROXY header's first bytes, while incomplete
  private bodyCopy: Buffer | null = null; // request body bytes copied for the server, reused (writeBodyUpstream)
  private received: ProxyAddresses | null = null; // the addresses of the PROXY header the client sent, if any
  // For servers with send-proxy: the headers naming this client (made once),
  // and the idle connection to such a server that only this session may reuse.
  private sendProxyV1: Buffer | null = null;
  private sendProxyV2: Buffer | null = null;
  private parked: UpstreamConnection | null = null;
  private readonly parser: HeadParser;
  private readonly proto: 'http' | 'https'; // for X-Forwarded-Proto
  private readonly sniName: string | null; // the SNI name a `strict-sni` service holds requests to; else null
  private phase = P_IDLE;
  private forgotten = false;

  deadline = 0;
  private deadlineKind = D_NONE;

  // Bytes that arrived for later requests while one is in progress.
  private queued: Buffer | null = null;
  private pausedForQueue = false;
  private pausedForUpstream = false;
  private clientEnded = false; // the client half-closed
  private headBytes = 0; // of the head being received
  private sawRequestLine = false;

  // The exchange in progress.
  private readonly facts: RequestFacts = { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: null };
  private readonly resFacts: RequestFacts = { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: null };
  private readonly reqBody: BodyFramer;
  private readonly resBody: BodyFramer;
  private group: GroupRuntime | null = null;
  private server: RealServer | null = null;
  private pool: ServerPool | null = null; // the server's, chosen with it
  private pinned: RealServer | null = null; // what affinity returned for this request
  private conn: UpstreamConnection | null = null;
  private ruleName = '';
  private serverName = '';
  private clientMinor = 1;
  private method = '';
  private url = '';
  private reqHead = '';
  private upgradeReq: string | null = null;
  private isHeadRequest = false;
  private closeAfter = false;
  private http10KeepAlive = false;
  private retryable = false;
  private retried = false;
  // A failed connect goes to another server (limits.retries): nothing was
  // sent, and the body bytes sent before the connect are kept to send again.
  private connectRetries = 0;
  private pickKey: string | undefined = undefined; // the scheduler's key for this request
  private resendBody: Buffer | null = null;
  private resendLost = false; // more body went out before the connect than is kept
  private bodyDeadline = 0; // epoch ms: the request body must be complete by then (0: no body)
  private pendingHead: string | null = null; // a de-chunked response's head, until its first data
  private resStarted = false; // any response byte received from upstream
  private resHeadDone = false;
  private resSent = false; // any response byte sent to the client
  private status = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private startedAt = 0; // performance.now()
  private upstreamConnected = false; // the current exchange's upstream connection is established
  private requestOpen = false; // a request has started and endRequest has not run for it
  private serverForRecord: RealServer | null = null; // kept after releaseServer, for the record
  private readonly record: RequestRecord;

  /** `proxied`: a PROXY header read before TLS (tls-listener.ts), or null for none; undefined: this session reads any itself. */
  constructor(svc: ServiceRuntime, accepted: net.Socket, proxied?: ProxyAddresses | null) {
    this.svc = svc;
    const reads = readClient(accepted, (chunk: Buffer) => {
      try {
        this.onClientData(chunk);
      } catch (err) {
        this.fail(err);
      }
    });
    const socket = reads.socket;
    this.socket = socket;
    this.lent = reads.lent;
    const addr = socket.remoteAddress ?? '';
    this.clientAddress = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
    this.clientPort = socket.remotePort ?? 0;
    const secure = (socket as TLSSocket).encrypted === true; // tls-listener.ts
    this.proto = secure ? 'https' : 'http';
    this.sniName = secure && svc.spec.tls?.strictSni === true ? (socket as TLSSocket).servername || '' : null;
    if (proxied !== undefined) {
      if (proxied !== null) this.useProxyAddresses(proxied);
    } else if (acceptsProxy(svc.spec)) this.phase = P_PROXY;
    this.parser = svc.takeRequestParser();
    this.reqBody = new BodyFramer(svc.spec.limits.maxHeaderBytes);
    this.resBody = new BodyFramer(svc.spec.limits.maxHeaderBytes);
    this.record = { service: svc.spec.name, group: null, server: null, status: 0, bytesIn: 0, bytesOut: 0, durationMs: 0, outcome: 'ok' };
    for (const o of svc.observers) o.connectionOpened(svc.spec.name);
    socket.setNoDelay(true);
    socket.on('end', () => this.guard(() => this.onClientEnd()));
    socket.on('drain', () => this.onClientDrain());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.setDeadline(D_IDLE, svc.spec.timeouts.clientIdleMs);
  }

  // A bug in one session must never take the process down with it.
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.svc.log.error({ err, client: this.clientAddress }, 'session failed');
    this.destroy();
  }

  private setDeadline(kind: number, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = Date.now() + ms;
  }

  // ---- client side -------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    switch (this.phase) {
      case P_PROXY:
        this.readProxyHeader(chunk);
        return;
      case P_IDLE:
      case P_HEAD:
        this.processInput(chunk);
        return;
      case P_EXCHANGE:
        if (!this.reqBody.done) {
          const end = this.forwardRequestBody(chunk, 0);
          if (end !== -1 && end < chunk.length) this.enqueue(chunk.subarray(end));
        } else this.enqueue(chunk);
        return;
      case P_TUNNEL:
        this.bytesIn += chunk.length;
        if (this.conn !== null && !this.conn.socket.write(this.keep(chunk))) this.pauseClientForUpstream();
        return;
    }
  }

  /**
   * The first bytes of a connection to a service that accepts PROXY headers:
   * a header from a trusted source sets the client's address; from any other
   * source, or malformed, it closes the connection. Bytes that cannot begin
   * a header are the first request.
   */
  private readProxyHeader(chunk: Buffer): void {
    const buf = this.proxyBytes === null ? chunk : Buffer.concat([this.proxyBytes, chunk]);
    const parsed = parseProxyHeader(buf);
    if (parsed.kind === 'incomplete') {
      this.proxyBytes = buf === chunk ? this.keep(chunk) : buf;
      this.setDeadline(D_HEAD, this.svc.spec.timeouts.clientHeaderMs);
      return;
    }
    this.proxyBytes = null;
    if (parsed.kind === 'none') {
      this.phase = P_IDLE;
      this.processInput(buf);
      return;
    }
    if (parsed.kind === 'error') return this.refuseProxy(parsed.message);
    if (!this.proxyTrusted()) {
      // A connection reset before it was accepted has no peer address left
      // (the L4 core's checks send a header, then a reset): nobody to refuse.
      if (this.clientAddress === '') return this.destroy();
      return this.refuseProxy('a PROXY header from a source that accept-proxy does not name');
    }
    if (parsed.addresses !== null) this.useProxyAddresses(parsed.addresses);
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.svc.spec.timeouts.clientIdleMs);
    if (parsed.length < buf.length) this.processInput(buf.subarray(parsed.length));
  }

  private useProxyAddresses(addresses: ProxyAddresses): void {
    const source = addresses.sourceAddress;
    this.clientAddress = source.startsWith('::ffff:') && source.includes('.') ? source.slice(7) : source;
    this.clientPort = addresses.sourcePort;
    this.received = addresses;
  }

  private proxyTrusted(): boolean {
    return proxySourceTrusted(this.svc.spec, this.socket);
  }

  private refuseProxy(reason: string): void {
    this.svc.log.warn({ client: this.clientAddress, reason }, 'refused');
    this.destroy();
  }

  /** `chunk` as a buffer of its own, when it was only lent. */
  private keep(chunk: Buffer): Buffer {
    return this.lent ? Buffer.from(chunk) : chunk;
  }

  private enqueue(chunk: Buffer): void {
    this.queued = this.queued === null ? this.keep(chunk) : Buffer.concat([this.queued, chunk]);
    if (!this.pausedForQueue) {
      this.pausedForQueue = true;
      this.socket.pause();
    }
    // A client may pipeline only so much before being told to wait.
    if (this.queued.length > this.svc.spec.limits.maxHeaderBytes * 4) this.socket.pause();
  }

  /** Handles request heads (and what follows them) in `buf`. */
  private processInput(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length && (this.phase === P_IDLE || this.phase === P_HEAD)) {
      if (this.phase === P_IDLE) {
        // A new request: the limits in force now hold for it (a config
        // change may have set new ones since the last request).
        const limit = this.svc.spec.limits.maxHeaderBytes;
        if (this.parser.limit !== limit) {
          this.parser.setLimit(limit);
          this.reqBody.maxTrailerBytes = limit;
          this.resBody.maxTrailerBytes = limit;
        }
        this.phase = P_HEAD;
        this.headBytes = 0;
        this.sawRequestLine = false;
        this.setDeadline(D_HEAD, this.svc.spec.timeouts.clientHeaderMs);
      }
      const slice = offset === 0 ? buf : buf.subarray(offset);
      let n: number;
      try {
        n = this.parser.feed(slice);
      } catch (err) {
        this.refuseMalformed(err as HeadParseError, slice);
        return;
      }
      if (n === -1) {
        this.headBytes += slice.length;
        if (!this.sawRequestLine) {
          if (slice.indexOf(10) !== -1) this.sawRequestLine = true;
          else if (this.headBytes > this.svc.spec.limits.maxUriBytes + 32) {
            this.refuse(414, 'request line over the URI limit');
            return;
          }
        }
        return;
      }
      this.headBytes += n;
      offset += n;
      offset = this.startExchange(buf, offset);
      if (offset === -1) return; // refused and closed, or waiting for the body
    }
    if (offset < buf.length && this.phase !== P_CLOSED) this.enqueue(offset === 0 ? buf : buf.subarray(offset));
  }

  /**
   * A complete head has been parsed; `offset` is where its body (if any)
   * starts in `buf`. Returns the offset after this request when it was
   * answered locally and the connection stays open, else -1.
   */
  private startExchange(buf: Buffer, offset: number): number {
    const p = this.parser;
    const svc = this.svc;
    this.startedAt = performance.now();
    this.requestOpen = true;
    this.serverForRecord = null;
    this.method = p.method;
    this.url = p.url;
    this.bytesIn = this.headBytes;
    this.bytesOut = 0;
    this.ruleName = '';
    this.serverName = '';
    this.clientMinor = p.versionMinor;
    this.group = null;
    this.server = null;
    this.status = 0;
    this.resStarted = false;
    this.resHeadDone = false;
    this.resSent = false;
    this.retried = false;
    this.connectRetries = 0;
    this.resendBody = null;
    this.resendLost = false;
    this.isHeadRequest = p.method === 'HEAD';
    this.closeAfter = !p.keepAlive;
    this.http10KeepAlive = p.versionMinor === 0 && p.keepAlive;
    this.upgradeReq = null;

    if (p.url.length > svc.spec.limits.maxUriBytes) return this.refuse(414, 'URI over the limit');
    if (p.versionMajor !== 1) {
      // llhttp reads a bare "GET /" as HTTP/0.9; nothing but HTTP/1.x is forwarded.
      return p.versionMajor === 0
        ? this.refuse(400, 'HTTP/0.9 request')
        : this.refuse(505, `HTTP/${p.versionMajor}.${p.versionMinor} request`);
    }
    if (p.method === 'CONNECT') return this.refuse(405, 'CONNECT is not supported');
    // Each field costs every hop: HAProxy stops at 101, tcpvs at `limit header-count`.
    if (p.headers.length > 2 * svc.spec.limits.maxHeaderCount)
      return this.refuse(431, `more than ${svc.spec.limits.maxHeaderCount} header fields`);
    scanHeaders(p.headers, this.facts);
    const f = this.facts;
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1; two could route on one and serve the other.
    if (f.hostCount > 1) return this.refuse(400, 'more than one Host field');
    if (f.hostCount === 0 && p.versionMinor >= 1) return this.refuse(400, 'HTTP/1.1 request without Host');
    if (f.contentLength > Number.MAX_SAFE_INTEGER) return this.refuse(400, 'Content-Length too large');
    if (f.transferEncoding !== null) {
      if (p.versionMinor === 0) return this.refuse(400, 'Transfer-Encoding in an HTTP/1.0 request');
      const verdict = judgeTransferEncoding(f.transferEncoding);
      if (verdict.status !== 0) return this.refuse(verdict.status, verdict.reason);
      f.transferEncoding = verdict.normalized; // forwarded in the one form judged
      this.reqBody.chunked();
    } else if (f.contentLength > 0) this.reqBody.length(f.contentLength);
    else this.reqBody.none();
    this.bodyDeadline = this.reqBody.mode === FRAME_NONE ? 0 : Date.now() + svc.spec.timeouts.clientBodyMs;
    if (p.upgrade) this.upgradeReq = headerValue(p.headers, 'upgrade') ?? null;

    // Validate the body bytes already here before anything goes upstream, so
    // a malformed chunked body is refused without the backend seeing it.
    let bodyEnd = offset;
    if (this.reqBody.mode !== FRAME_NONE) {
      try {
        bodyEnd = this.reqBody.advance(buf, offset);
      } catch (err) {
        return this.refuse(400, (err as FramingError).message);
      }
    }
    const firstBody = bodyEnd === -1 ? buf.subarray(offset) : buf.subarray(offset, bodyEnd);

    const view = svc.requestView;
    view.reset(p.method, p.url, p.headers, this.clientAddress);
    // One host and one path, read one way by rules, keys and upstream (RFC 9112 §3.2; lib/route/normalise.ts).
    const invalidTarget = view.check(f.host);
    if (invalidTarget !== null) return this.refuse(400, invalidTarget);
    if (this.sniName !== null) {
      const misdirected = misdirectedRequest(this.sniName, view.host());
      if (misdirected !== null) return this.refuse(421, misdirected);
    }
    const route = svc.router.route(view);
    if (route === null) return this.refuse(404, 'no rule matches', bodyEnd !== offset) === -1 ? -1 : bodyEnd;
    this.ruleName = route.rule === null ? 'default' : route.rule.name;
    const group = svc.groups.get(route.group)!;
    this.group = group;
    group.sync();
    // A pinned session goes to its server; everyone else is scheduled (and pinned).
    const affinity = group.affinity;
    const pinned = affinity === null ? null : affinity.lookup(view);
    let server = pinned;
    if (server === null) {
      const pickCtx = svc.pickContext;
      pickCtx.key = this.pickKey = group.scheduler.usesKey ? group.keyOf(view, route.key) : undefined;
      pickCtx.clientAddress = this.clientAddress;
      server = group.scheduler.pick(pickCtx);
      if (server === null) return this.refuse(503, 'no usable server in group', bodyEnd !== offset) === -1 ? -1 : bodyEnd;
      if (affinity !== null) server = affinity.pin(view, server);
    }
    this.pinned = pinned;
    this.server = server;
    this.pool = group.pools[server.id];
    this.serverForRecord = server;
    this.serverName = server.name;
    server.begin();

    this.reqHead = buildRequestHead({
      method: p.method,
      url: view.forwardTarget(svc.spec.forwardNormalizedPath === true),
      authority: view.targetAuthority(),
      versionMinor: p.versionMinor,
      headers: affinity?.rewritesRequest ? affinity.rewriteRequestHeaders(p.headers) : p.headers,
      facts: f,
      clientAddress: this.clientAddress,
      proto: this.proto,
      upgrade: this.upgradeReq,
    });
    this.retryable = this.reqBody.mode === FRAME_NONE && IDEMPOTENT.has(p.method) && this.upgradeReq === null;
    this.phase = P_EXCHANGE;
    this.bytesIn += firstBody.length;
    this.dispatch(false, firstBody);
    if (bodyEnd === -1) return -1; // more body to come
    if (bodyEnd < buf.length) this.enqueue(buf.subarray(bodyEnd));
    return -1;
  }

  /** Sends the request head (and the body bytes at hand) to a server of the group. */
  private dispatch(fresh: boolean, body: Buffer | null): void {
    const pool = this.pool!;
    // This session's own idle connection to a send-proxy server, else the pool's.
    const parked = this.parked;
    let conn: UpstreamConnection;
    if (parked !== null && parked.pool === pool && !fresh) {
      this.parked = null;
      conn = pool.reclaim(parked, this) ? parked : pool.acquire(this, fresh);
    } else conn = pool.acquire(this, fresh);
    this.conn = conn;
    this.upstreamConnected = conn.connected;
    if (conn.connected) this.armWaitDeadline();
    else {
      this.setDeadline(D_CONNECT, this.svc.spec.timeouts.connectMs);
      // Lost if the connect fails: keep a copy to send to the next server.
      if (body !== null && body.length > 0) this.keepForResend(body);
    }
    const s = conn.socket;
    let ok: boolean;
    const head = this.reqHead;
    // A new connection to a send-proxy server: the PROXY header first, in the same write.
    if (conn.sendProxy !== 0 && !conn.reused) ok = this.writeWithProxyHeader(s, conn.sendProxy, head, body);
    else if (body === null || body.length === 0) ok = s.write(head, 'latin1');
    else if (body.length <= COALESCE_LIMIT) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      body.copy(out, head.length);
      ok = s.write(out);
    } else {
      s.cork();
      s.write(head, 'latin1');
      ok = s.write(this.keep(body));
      s.uncork();
    }
    if (!ok) this.pauseClientForUpstream();
  }

  /** The PROXY header, the request head and the body bytes at hand (up to COALESCE_LIMIT of them) in one write. */
  private writeWithProxyHeader(s: net.Socket, version: 1 | 2, head: string, body: Buffer | null): boolean {
    const header = this.proxyHeader(version);
    const bodyLength = body === null || body.length > COALESCE_LIMIT ? 0 : body.length;
    const out = Buffer.allocUnsafe(header.length + head.length + bodyLength);
    header.copy(out, 0);
    out.write(head, header.length, 'latin1');
    if (bodyLength > 0) body!.copy(out, header.length + head.length);
    if (body === null || bodyLength === body.length) return s.write(out);
    s.cork();
    s.write(out);
    const ok = s.write(this.keep(body));
    s.uncork();
    return ok;
  }

  /**
   * The header naming this client, for a send-proxy server: its address and
   * port, and where it connected to (the PROXY header's destination when it
   * sent one, else this socket's own address).
   */
  private proxyHeader(version: 1 | 2): Buffer {
    const made = version === 1 ? this.sendProxyV1 : this.sendProxyV2;
    if (made !== null) return made;
    const r = this.received;
    const addresses = proxyAddresses(
      this.clientAddress,
      this.clientPort,
      r !== null ? r.destinationAddress : this.socket.localAddress,
      r !== null ? r.destinationPort : this.socket.localPort,
    );
    const header = encodeProxyHeader(version, addresses);
    if (version === 1) this.sendProxyV1 = header;
    else this.sendProxyV2 = header;
    return header;
  }

  /** Forwards raw body bytes from `start`; returns the body's end offset or -1. */
  private forwardRequestBody(buf: Buffer, start: number): number {
    let end: number;
    try {
      end = this.reqBody.advance(buf, start);
    } catch (err) {
      // The head already went upstream: abort that request so the backend
      // never sees the bytes that broke framing.
      this.abortUpstream();
      this.refuse(400, (err as FramingError).message);
      return -1;
    }
    const stop = end === -1 ? buf.length : end;
    if (stop > start && this.conn !== null) {
      this.bytesIn += stop - start;
      if (!this.upstreamConnected) this.keepForResend(buf.subarray(start, stop));
      // `limit body-rate R`: each R bytes buy the body one more second.
      const rate = this.svc.spec.limits.bodyMinRate;
      if (rate > 0 && this.bodyDeadline !== 0) {
        this.bodyDeadline += ((stop - start) * 1000) / rate;
        if (this.deadlineKind === D_BODY) this.deadline = this.bodyDeadline;
      }
      if (!this.writeBodyUpstream(this.conn.socket, buf, start, stop)) this.pauseClientForUpstream();
      // The whole body has one deadline (a byte a second cannot hold a server
      // for ever); once it is in, the server's answer has its own.
      if (end !== -1 && this.deadlineKind === D_BODY) this.armWaitDeadline();
    }
    return end;
  }

  /**
   * Request body bytes to the server. Lent bytes must be copied; the copy
   * goes into a buffer of this session's, reused while the server's socket
   * takes each write at once (nothing left pending), so a fast upload makes
   * no garbage: a fresh 64 KiB copy per read made a 100 MB upload's RSS
   * climb towards V8's 64 MB external-memory GC trigger.
   */
  private writeBodyUpstream(s: net.Socket, buf: Buffer, start: number, stop: number): boolean {
    if (!this.lent) return s.write(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    const n = stop - start;
    let copy = this.bodyCopy;
    // Bytes still pending on the socket may point into the spare buffer: it is only free when none are.
    if (copy === null || copy.length < n || s.writableLength > 0) copy = Buffer.allocUnsafeSlow(Math.max(n, BODY_COPY_BYTES));
    buf.copy(copy, 0, start, stop);
    const ok = s.write(copy.length === n ? copy : copy.subarray(0, n));
    this.bodyCopy = s.writableLength > 0 ? null : copy;
    return ok;
  }

  private pauseClientForUpstream(): void {
    if (!this.pausedForUpstream) {
      this.pausedForUpstream = true;
      this.socket.pause();
    }
  }

  private onClientDrain(): void {
    // The client caught up: let the upstream send more.
    if (this.conn?.socket.isPaused()) this.conn.socket.resume();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.phase === P_TUNNEL) {
      this.conn?.socket.end();
      return;
    }
    if (this.phase === P_EXCHANGE) {
      if (!this.reqBody.done) {
        // The client went away mid-upload: nothing sensible can follow.
        this.destroy();
        return;
      }
      // Answer, then close, unless pipelined requests are still waiting:
      // `printf '...' | nc` sends them all and then a FIN.
      if (this.queued === null) this.closeAfter = true;
      return;
    }
    if (this.phase === P_HEAD && this.headBytes > 0) {
      this.refuse(400, 'connection closed inside a request head');
      return;
    }
    this.endClient();
  }

  // ---- upstream side -----------------------------------------------------

  onUpstreamConnect(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    this.upstreamConnected = true;
    this.resendBody = null;
    this.armWaitDeadline();
  }

  /** Connected: the rest of the request body is due by its deadline, then the server's answer within `timeout response`. */
  private armWaitDeadline(): void {
    if (this.bodyDeadline !== 0 && !this.reqBody.done) {
      this.deadlineKind = D_BODY;
      this.deadline = this.bodyDeadline;
    } else this.setDeadline(D_RESPONSE, this.svc.spec.timeouts.responseMs);
  }

  /** Body bytes written before the connect is up: kept (copied) for another server, up to RESEND_LIMIT. */
  private keepForResend(bytes: Buffer): void {
    if (this.resendLost) return;
    const had = this.resendBody === null ? 0 : this.resendBody.length;
    if (had + bytes.length > RESEND_LIMIT) {
      this.resendLost = true;
      this.resendBody = null;
      return;
    }
    const copy = Buffer.allocUnsafe(had + bytes.length);
    if (this.resendBody !== null) this.resendBody.copy(copy, 0);
    bytes.copy(copy, had);
    this.resendBody = copy;
  }

  /**
   * The connect to the chosen server failed (refused, reset or timed out
   * before it was up): nothing reached it, so the request goes to another
   * server of the group, as HAProxy's `retries` with `redispatch` and
   * nginx's proxy_next_upstream do, for every method. The server is ejected
   * at once (passive.ts), so this request and the next ones skip it. False
   * when no retry is left or possible.
   */
  private redispatch(reason: string): boolean {
    const group = this.group;
    const failed = this.server;
    if (group === null || failed === null || this.resStarted || this.upstreamConnected || this.resendLost) return false;
    if (this.connectRetries >= this.svc.spec.limits.retries) return false;
    this.connectRetries++;
    group.passive?.connectFailed(failed, reason);
    this.releaseServer();
    group.sync();
    // The service's request view is shared: set it to this request again.
    const view = this.svc.requestView;
    const p = this.parser;
    view.reset(p.method, p.url, p.headers, this.clientAddress);
    const affinity = group.affinity;
    const pinned = affinity === null ? null : affinity.lookup(view);
    let server = pinned;
    if (server === null) {
      const pickCtx = this.svc.pickContext;
      pickCtx.key = this.pickKey;
      pickCtx.clientAddress = this.clientAddress;
      server = group.scheduler.pick(pickCtx);
      if (server === null || server === failed) return false;
      if (affinity !== null) server = affinity.pin(view, server);
    }
    this.svc.log.debug(
      { client: this.clientAddress, failed: failed.name, server: server.name, reason },
      'connect failed; retrying on another server',
    );
    this.pinned = pinned;
    this.server = server;
    this.pool = group.pools[server.id];
    this.serverForRecord = server;
    this.serverName = server.name;
    server.begin();
    const body = this.resendBody;
    this.resendBody = null;
    this.dispatch(false, body);
    return true;
  }

  onUpstreamDrain(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    if (this.pausedForUpstream) {
      this.pausedForUpstream = false;
      if (!this.pausedForQueue) this.socket.resume();
    }
  }

  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (conn !== this.conn) return;
    try {
      this.upstreamData(conn, chunk);
    } catch (err) {
      this.fail(err);
    }
    // `chunk` lives in the connection's read buffer. Bytes the client socket
    // has not taken yet still point into it, so the next read needs another
    // buffer. (When write() said "wait" the upstream is paused until the
    // client drains; this is for a partial write that left less than the
    // high-water mark behind.)
    if (this.socket.writableLength > 0) conn.keepReadBuffer();
  }

  private upstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    this.setDeadline(D_RESPONSE, this.svc.spec.timeouts.responseMs);
    if (this.phase === P_TUNNEL) {
      this.bytesOut += chunk.length;
      if (!this.socket.write(chunk)) conn.socket.pause();
      return;
    }
    this.resStarted = true;
    let offset = 0;
    let head: string | null = null;
    while (!this.resHeadDone) {
      const slice = offset === 0 ? chunk : chunk.subarray(offset);
      let n: number;
      try {
        n = conn.parser.feed(slice);
      } catch (err) {
        this.badGateway(`malformed response: ${(err as HeadParseError).message}`);
        return;
      }
      if (n === -1) return;
      offset += n;
      const p = conn.parser;
      // llhttp reads any major version; HTTP/1.1 syntax carries only 1 (RFC 9112 §2.3).
      if (p.versionMajor !== 1) {
        this.badGateway(`response in HTTP/${p.versionMajor}.${p.versionMinor}`);
        return;
      }
      if (p.statusCode === 101) {
        this.startTunnel(conn, chunk, offset);
        return;
      }
      if (p.statusCode >= 100 && p.statusCode < 200) {
        // Interim responses (100 Continue, 103 Early Hints) pass through to
        // HTTP/1.1 clients (RFC 9110 §15.2); the final one follows.
        if (this.clientMinor >= 1) {
          scanHeaders(p.headers, this.resFacts);
          this.writeClient(buildResponseHead(this.responseRewrite(p, null), this.resFacts));
        }
        continue;
      }
      head = this.startResponse(p);
      if (head === null) return;
    }
    this.relayResponseBody(chunk, offset, head);
  }

  private responseRewrite(p: HeadParser, connection: 'close' | 'keep-alive' | 'upgrade' | null, headers = p.headers) {
    return {
      statusCode: p.statusCode,
      statusMessage: p.statusMessage,
      versionMinor: p.versionMinor,
      headers,
      connection,
      upgrade: connection === 'upgrade' ? this.upgradeReq : null,
    };
  }

  /** Sets up body framing and returns the final response head to send; null when refused. */
  private startResponse(p: HeadParser): string | null {
    this.resHeadDone = true;
    this.status = p.statusCode;
    // Peek at framing fields before rewriting: buildResponseHead fills resFacts.
    const status = p.statusCode;
    const noBody = this.isHeadRequest || status === 204 || status === 304;
    const rf = this.resFacts;
    scanHeaders(p.headers, rf);
    if (rf.contentLength > Number.MAX_SAFE_INTEGER) {
      this.badGateway('response Content-Length too large');
      return null;
    }
    const chunked = rf.transferEncoding !== null;
    let dechunk = false;
    if (chunked) {
      // Chunked last, in one reading only, or 502 (RFC 9112 §6.1, §6.3; head-rewrite.ts).
      const te = judgeResponseTransferEncoding(rf.transferEncoding!, p.versionMinor, this.clientMinor);
      if (te.status !== 0) {
        this.badGateway(te.reason);
        return null;
      }
      rf.transferEncoding = te.normalized; // sent on in this form; none to an HTTP/1.0 client
      dechunk = te.dechunk;
    }
    if (noBody) this.resBody.none();
    else if (chunked) this.resBody.chunked(dechunk ? this.dechunkSink : null);
    else if (rf.contentLength >= 0) this.resBody.length(rf.contentLength);
    else this.resBody.untilClose();
    // A de-chunked body has no length: the close delimits it.
    if (this.resBody.mode === FRAME_CLOSE || this.resBody.dechunking || !this.reqBody.done) this.closeAfter = true;
    // The client has half-closed and sent nothing more: this is the last answer.
    if (this.clientEnded && this.queued === null) this.closeAfter = true;
    const connection = this.closeAfter ? 'close' : this.http10KeepAlive ? 'keep-alive' : null;
    const affinity = this.group!.affinity;
    const headers = affinity?.rewritesResponse ? affinity.rewriteResponseHeaders(p.headers, this.server!, this.pinned) : p.headers;
    return buildResponseHead(this.responseRewrite(p, connection, headers), rf);
  }

  /** Sends `head` (when the response starts in this chunk) and the body bytes of `buf` from `start`. */
  private relayResponseBody(buf: Buffer, start: number, head: string | null): void {
    if (this.resBody.dechunking) {
      this.relayDechunked(buf, start, head);
      return;
    }
    let end: number;
    try {
      end = this.resBody.advance(buf, start);
    } catch (err) {
      this.badUpstreamFraming(head !== null, (err as Error).message);
      return;
    }
    const stop = end === -1 ? buf.length : end;
    if (head !== null) this.writeHeadAndBody(head, buf, start, stop);
    else if (stop > start) this.writeClient(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    if (end === -1) return;
    // Bytes after the end of the response were never asked for: do not reuse.
    this.finishExchange(end === buf.length);
  }

  /** A chunked response to an HTTP/1.0 client: the data only, the head before the first of it. */
  private relayDechunked(buf: Buffer, start: number, head: string | null): void {
    this.pendingHead = head;
    let end: number;
    try {
      end = this.resBody.advance(buf, start); // data goes out through dechunkSink
    } catch (err) {
      const unsent = this.pendingHead !== null;
      this.pendingHead = null;
      this.badUpstreamFraming(unsent, (err as Error).message);
      return;
    }
    if (this.pendingHead !== null) {
      this.writeClient(this.pendingHead);
      this.pendingHead = null;
    }
    if (end === -1) return;
    this.finishExchange(end === buf.length);
  }

  private readonly dechunkSink = (buf: Buffer, start: number, end: number): void => {
    const head = this.pendingHead;
    if (head === null) this.writeClient(buf.subarray(start, end));
    else {
      this.pendingHead = null;
      this.writeHeadAndBody(head, buf, start, end);
    }
  };

  /** A response body that breaks its framing: 502 while its head is unsent, else the client is cut off. */
  private badUpstreamFraming(headUnsent: boolean, reason: string): void {
    if (headUnsent) {
      this.badGateway(`bad upstream framing: ${reason}`);
      return;
    }
    // The response has begun: cut the client off rather than let a broken body look complete.
    this.svc.log.warn({ client: this.clientAddress, server: this.server?.name, reason }, 'bad upstream framing');
    this.destroy();
  }

  /**
   * A head and the body bytes that came with it go out in one write: one
   * small copy is cheaper than a writev of a string and a buffer.
   */
  private writeHeadAndBody(head: string, buf: Buffer, start: number, stop: number): void {
    const bodyLength = stop - start;
    if (bodyLength === 0) this.writeClient(head);
    else if (bodyLength <= COALESCE_LIMIT) {
      const out = Buffer.allocUnsafe(head.length + bodyLength);
      out.write(head, 0, 'latin1');
      buf.copy(out, head.length, start, stop);
      this.writeClient(out);
    } else {
      this.socket.cork();
      this.writeClient(head);
      this.writeClient(buf.subarray(start, stop));
      this.socket.uncork();
    }
  }

  private writeClient(data: Buffer | string): void {
    this.resSent = true;
    let ok: boolean;
    if (typeof data === 'string') {
      this.bytesOut += data.length;
      ok = this.socket.write(data, 'latin1');
    } else {
      this.bytesOut += data.length;
      ok = this.socket.write(data);
    }
    // A slow client: stop reading from the upstream until it drains.
    if (!ok && this.conn !== null) this.conn.socket.pause();
  }

  onUpstreamEnd(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    this.guard(() => {
      if (this.phase === P_TUNNEL) {
        this.socket.end();
        return;
      }
      if (this.resHeadDone && this.resBody.mode === FRAME_CLOSE) {
        this.finishExchange(false); // a close-delimited body just ended
        return;
      }
      this.upstreamFailed(conn, 'upstream closed the connection');
    });
  }

  onUpstreamError(conn: UpstreamConnection, err: Error): void {
    if (conn !== this.conn) return;
    this.guard(() => {
      if (this.phase === P_TUNNEL) {
        this.endClient(); // flush what the upstream sent before it went
        return;
      }
      if (this.resHeadDone && this.resBody.mode === FRAME_CLOSE) {
        this.finishExchange(false);
        return;
      }
      this.upstreamFailed(conn, err.message);
    });
  }

  private upstreamFailed(conn: UpstreamConnection, reason: string): void {
    this.conn = null;
    conn.owner = null;
    conn.destroy();
    if (!conn.connected && this.redispatch(reason)) return;
    // A pooled connection the server had already closed: try once more on a
    // fresh one, when the request can safely be sent twice.
    if (!this.resStarted && conn.reused && this.retryable && !this.retried) {
      this.retried = true;
      this.dispatch(true, null);
      return;
    }
    // Nothing reached the client yet (at most part of a head arrived): 502.
    if (!this.resSent) {
      this.badGateway(reason);
      return;
    }
    // The response had begun: never let a truncated response look complete.
    this.svc.log.warn({ client: this.clientAddress, server: this.server?.name, reason }, 'upstream failed mid-response');
    this.releaseServer();
    this.endRequest('upstream-failed');
    this.destroy();
  }

  private badGateway(reason: string): void {
    if (this.resSent) {
      this.releaseServer();
      this.destroy();
      return;
    }
    const outcome = this.upstreamConnected ? 'upstream-failed' : 'connect-failed';
    this.abortUpstream();
    this.refuse(502, reason, true, outcome);
  }

  private startTunnel(conn: UpstreamConnection, chunk: Buffer, offset: number): void {
    if (this.upgradeReq === null) {
      this.badGateway('101 Switching Protocols without an upgrade request');
      return;
    }
    this.resHeadDone = true;
    this.status = 101;
    this.phase = P_TUNNEL;
    this.deadlineKind = D_NONE;
    scanHeaders(conn.parser.headers, this.resFacts);
    this.writeClient(buildResponseHead(this.responseRewrite(conn.parser, 'upgrade'), this.resFacts));
    if (offset < chunk.length) this.writeClient(chunk.subarray(offset));
    this.endRequest('ok');
    if (this.queued !== null) {
      const q = this.queued;
      this.queued = null;
      this.bytesIn += q.length;
      conn.socket.write(q);
    }
    if (this.pausedForQueue) {
      this.pausedForQueue = false;
      this.socket.resume();
    }
  }

  // ---- ending things -----------------------------------------------------

  private releaseServer(): void {
    if (this.server !== null) {
      this.server.end();
      this.server = null;
    }
  }

  /** Drops the upstream connection of the current exchange without reusing it. */
  private abortUpstream(): void {
    const conn = this.conn;
    if (conn === null) return;
    this.conn = null;
    conn.owner = null;
    conn.destroy();
  }

  private finishExchange(cleanEnd: boolean): void {
    const conn = this.conn!;
    this.conn = null;
    const reusable = cleanEnd && this.reqBody.done && this.resBody.mode !== FRAME_CLOSE && conn.parser.keepAlive && !conn.closed;
    if (conn.socket.isPaused()) conn.socket.resume();
    if (reusable && conn.sendProxy !== 0) this.park(conn);
    else if (reusable) conn.pool.release(conn);
    else {
      conn.owner = null;
      conn.destroy();
    }
    this.releaseServer();
    this.endRequest('ok');
    this.nextRequest();
  }

  /** Keeps a send-proxy connection for this session's next request to its server (one such connection at most). */
  private park(conn: UpstreamConnection): void {
    this.parked?.destroy();
    this.parked = conn.pool.park(conn) ? conn : null;
  }

  /** After a response: close, or go back to reading requests (queued ones first). */
  private nextRequest(): void {
    if (this.closeAfter || !this.reqBody.done) {
      this.endClient();
      return;
    }
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.svc.spec.timeouts.clientIdleMs);
    const q = this.queued;
    this.queued = null;
    if (this.pausedForQueue) {
      this.pausedForQueue = false;
      if (!this.pausedForUpstream) this.socket.resume();
    }
    if (q !== null) this.processInput(q);
    if (!this.clientEnded || this.phase === P_CLOSED || this.phase === P_EXCHANGE) return;
    // The client half-closed: nothing more can arrive for a partial head.
    if (this.phase === P_HEAD) this.refuse(400, 'connection closed inside a request head');
    else this.endClient();
  }

  /**
   * Answers the current request locally (an error, or 404). Returns -1 when
   * the connection closes, 0 when it stays open for the next request.
   */
  private refuse(status: number, reason: string, bodyPending = false, outcome: RequestOutcome = 'refused'): number {
    this.status = status;
    if (status >= 400 && status !== 404) {
      this.svc.log.warn({ client: this.clientAddress, status, reason, method: this.method, url: this.url }, 'refused');
    }
    // Only a 404 or 503 for a request without a body leaves the stream in
    // step; after anything else (or with a body pending) the connection closes.
    if ((status !== 404 && status !== 503) || bodyPending) this.closeAfter = true;
    if (this.phase === P_CLOSED) return -1;
    const res = localResponse(status, this.closeAfter, this.isHeadRequest);
    this.resSent = true;
    this.bytesOut += res.length;
    this.socket.write(res);
    this.releaseServer();
    if (this.method !== '') this.endRequest(outcome);
    if (this.closeAfter) {
      this.endClient();
      return -1;
    }
    // 404/503 without a body: the connection stays usable.
    this.reqBody.none();
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.svc.spec.timeouts.clientIdleMs);
    return 0;
  }

  private refuseMalformed(err: HeadParseError, slice: Buffer): void {
    let status = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // Still inside the request line: the URI is what is too long.
      status = this.sawRequestLine || slice.subarray(0, err.offset).indexOf(10) !== -1 ? 431 : 414;
    } else if (err.code === 'HPE_INVALID_METHOD' || err.code === 'HPE_INVALID_URL' || err.code === 'HPE_INVALID_VERSION') status = 400;
    this.method = '';
    this.isHeadRequest = false;
    this.refuse(status, `${err.code}: ${err.message}`);
  }

  /** Once per request, at its end: the access log line and the observers' record. */
  private endRequest(outcome: RequestOutcome): void {
    if (!this.requestOpen) return;
    this.requestOpen = false;
    const durationMs = performance.now() - this.startedAt;
    const group = this.group;
    const server = this.serverForRecord;
    if (group !== null && server !== null && group.passive !== null) group.passive.requestEnded(server, outcome, this.status);
    const now = Date.now();
    this.svc.countRequest(group, server, this.status, this.bytesIn, this.bytesOut, durationMs, outcome, now);
    if (this.svc.observers.length > 0) {
      const r = this.record;
      r.group = this.group;
      r.server = this.serverForRecord;
      r.status = this.status;
      r.bytesIn = this.bytesIn;
      r.bytesOut = this.bytesOut;
      r.durationMs = durationMs;
      r.outcome = outcome;
      for (const o of this.svc.observers) o.requestEnded(r);
    }
    const accessLog = this.svc.accessLog;
    if (accessLog !== null) {
      const q = this.url.indexOf('?');
      accessLog.write(
        now,
        this.clientAddress,
        this.method,
        q === -1 ? this.url : this.url.slice(0, q),
        this.ruleName,
        this.group?.name ?? '',
        this.serverName,
        this.status,
        this.bytesIn,
        this.bytesOut,
        Math.round(durationMs * 1000) / 1000,
      );
    }
  }

  /** Called by the service's timer sweep when `deadline` has passed. */
  expire(): void {
    this.guard(() => {
      switch (this.deadlineKind) {
        case D_IDLE:
          this.endClient();
          return;
        case D_HEAD:
          if (this.phase === P_PROXY) this.refuseProxy('PROXY header not received in time');
          else this.refuse(408, 'request head not received in time');
          return;
        case D_BODY:
          if (this.resSent) {
            this.releaseServer();
            this.destroy();
            return;
          }
          this.abortUpstream();
          this.refuse(408, 'request body not received in time', true);
          return;
        case D_CONNECT:
        case D_RESPONSE: {
          if (this.resSent) {
            this.svc.log.warn({ client: this.clientAddress, server: this.server?.name }, 'transfer stalled');
            this.releaseServer();
            this.destroy();
            return;
          }
          const outcome = this.deadlineKind === D_CONNECT ? 'connect-failed' : 'upstream-failed';
          this.abortUpstream();
          if (outcome === 'connect-failed' && this.redispatch('connect timed out')) return;
          this.refuse(504, outcome === 'connect-failed' ? 'upstream connect timed out' : 'upstream response timed out', true, outcome);
          return;
        }
      }
    });
  }

  /** Closes the connection now if it is between requests, else after the current response. */
  closeWhenDone(): void {
    this.guard(() => {
      if (this.phase === P_IDLE || this.phase === P_PROXY) this.endClient();
      else this.closeAfter = true;
    });
  }

  hasDeadline(): boolean {
    return this.deadlineKind !== D_NONE;
  }

  private endClient(): void {
    if (this.phase === P_CLOSED) return;
    this.phase = P_CLOSED;
    this.deadlineKind = D_NONE;
    const socket = this.socket;
    socket.end();
    // A client that never closes its side after our FIN would hold the
    // socket forever (we accept half-closed clients): give it a few seconds.
    socket.setTimeout(CLIENT_FIN_TIMEOUT_MS, () => socket.destroy());
    this.cleanup();
  }

  destroy(): void {
    if (this.phase !== P_CLOSED) this.phase = P_CLOSED;
    this.deadlineKind = D_NONE;
    this.socket.destroy();
    this.cleanup();
  }

  private cleanup(): void {
    this.endRequest('aborted');
    this.abortUpstream();
    if (this.parked !== null) {
      this.parked.destroy();
      this.parked = null;
    }
    this.releaseServer();
    this.queued = null;
    if (!this.forgotten) {
      this.forgotten = true;
      for (const o of this.svc.observers) o.connectionClosed(this.svc.spec.name);
      this.svc.forget(this, this.parser);
    }
  }
}

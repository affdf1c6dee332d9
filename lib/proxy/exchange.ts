// One request and its response with a real server: the request head and
// body sent on a pooled connection, a failed connect retried on another
// server, a reused connection that failed retried once on a fresh one, the
// response relayed (response.ts) or the connection switched to a tunnel
// (tunnel.ts). One object per client session, reused request after request:
// begin() resets the request's state in one place.
import type net from 'node:net';
import type { Admission } from './admission.ts';
import { retryable } from './admission.ts';
import { BodyFramer, FRAME_CHUNKED, FRAME_CLOSE, FRAME_LENGTH, FRAME_NONE, type FramingError } from '../http/body-framer.ts';
import { buildRequestHead, headerValue } from '../http/head-rewrite.ts';
import type { HeadParser } from '../http/llhttp.ts';
import type { UpstreamConnection, UpstreamOwner } from '../upstream/pool.ts';
import { Choice } from './choice.ts';
import { writeHead } from './coalesce.ts';
import type { RequestOutcome } from './observer.ts';
import { RequestState } from './request-state.ts';
import { newFacts, ResponseRelay, type ResponseEvents } from './response.ts';
import type { SessionContext } from './session-context.ts';
import { Tunnel } from './tunnel.ts';
import { Upload } from './upload.ts';

/** What the exchange asks of the client session it serves (client-session.ts). */
export interface ExchangeSession {
  readonly clientAddress: string;
  /** The PROXY header naming this client, for a send-proxy server. */
  proxyHeader(version: 1 | 2): Buffer;
  awaitConnect(): void;
  awaitResponse(): void;
  /** The request body is due by `at` (epoch ms). */
  awaitBody(at: number): void;
  waitingForBody(): boolean;
  /** The server pushes back: stop reading the client. */
  pauseForUpstream(): void;
  /** The server drained. */
  resumeFromUpstream(): void;
  /** Answers the request locally; -1 when the connection closes. */
  refuse(status: number, reason: string, bodyPending?: boolean, outcome?: RequestOutcome): number;
  /** The response is done: the next request, or the end of the connection. */
  nextRequest(): void;
  tunnelOpened(tunnel: Tunnel): void;
  lastAnswer(): boolean;
  endClient(): void;
  destroy(): void;
  fail(err: unknown): void;
}

export class Exchange implements UpstreamOwner, ResponseEvents {
  readonly state: RequestState;
  readonly choice = new Choice();
  readonly facts = newFacts();
  readonly requestBody: BodyFramer;
  readonly response: ResponseRelay;
  /** The upstream connection of this exchange; null between exchanges. */
  conn: UpstreamConnection | null = null;
  /** After a 101: the connection is a tunnel. */
  tunnel: Tunnel | null = null;
  private readonly ctx: SessionContext;
  private readonly session: ExchangeSession;
  private readonly socket: net.Socket;
  private readonly lent: boolean;
  private readonly parser: HeadParser; // the session's: it holds the request head while the exchange runs
  private readonly upload = new Upload();
  // An idle send-proxy connection that only this session may reuse (pool.ts).
  private parked: UpstreamConnection | null = null;
  private requestHead = '';
  private retryable = false;
  private retried = false; // on a fresh connection, after a reused one failed
  // A failed connect goes to another server (limits.retries): nothing was
  // sent, and the body bytes sent before the connect are kept to send again.
  private connectRetries = 0;
  private upstreamConnected = false;

  constructor(ctx: SessionContext, session: ExchangeSession, socket: net.Socket, lent: boolean, parser: HeadParser) {
    this.ctx = ctx;
    this.session = session;
    this.socket = socket;
    this.lent = lent;
    this.parser = parser;
    const limit = ctx.spec.limits.maxHeaderBytes;
    this.state = new RequestState(ctx.spec.name);
    this.requestBody = new BodyFramer(limit);
    this.response = new ResponseRelay(socket, this.state, this.choice, this.requestBody, this, limit);
  }

  /** A new head size limit (a config change), for trailers as for heads. */
  setHeadLimit(limit: number): void {
    this.requestBody.maxTrailerBytes = limit;
    this.response.body.maxTrailerBytes = limit;
  }

  /** A request head of `headBytes` was parsed (the parser holds it): all per-request state starts afresh. */
  begin(headBytes: number): void {
    this.state.begin(this.parser, headBytes);
    this.choice.reset();
    this.response.reset();
    this.upload.reset(0);
    this.retried = false;
    this.connectRetries = 0;
  }

  /** The request was admitted: its body's framing, deadline and upgrade. */
  frame(admission: Admission): void {
    const body = this.requestBody;
    if (admission.framing === FRAME_CHUNKED) body.chunked();
    else if (admission.framing === FRAME_LENGTH) body.length(admission.contentLength);
    else body.none();
    this.upload.deadline = body.mode === FRAME_NONE ? 0 : Date.now() + this.ctx.spec.timeouts.clientBodyMs;
    if (this.parser.upgrade) this.state.upgrade = headerValue(this.parser.headers, 'upgrade') ?? null;
  }

  /** Sends the request (routed, in the service's request view) with the body bytes at hand. */
  send(firstBody: Buffer): void {
    const p = this.parser;
    const view = this.ctx.requestView;
    const affinity = this.choice.group!.affinity;
    this.requestHead = buildRequestHead({
      method: p.method,
      url: view.forwardTarget(this.ctx.spec.forwardNormalizedPath === true),
      authority: view.targetAuthority(),
      versionMinor: p.versionMinor,
      headers: affinity?.rewritesRequest ? affinity.rewriteRequestHeaders(p.headers) : p.headers,
      facts: this.facts,
      clientAddress: this.session.clientAddress,
      proto: 'http',
      upgrade: this.state.upgrade,
    });
    this.retryable = retryable(p.method, this.requestBody.mode, this.state.upgrade);
    this.state.bytesIn += firstBody.length;
    this.dispatch(false, firstBody);
  }

  /** Sends the request head (and the body bytes at hand) on a connection to the chosen server. */
  private dispatch(fresh: boolean, body: Buffer | null): void {
    const pool = this.choice.pool!;
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
      this.session.awaitConnect();
      // Lost if the connect fails: keep a copy to send to the next server.
      if (body !== null && body.length > 0) this.upload.keepForResend(body);
    }
    // A new connection to a send-proxy server: the PROXY header first, in the same write.
    const prefix = conn.sendProxy !== 0 && !conn.reused ? this.session.proxyHeader(conn.sendProxy) : null;
    if (!writeHead(conn.socket, prefix, this.requestHead, body, 0, body === null ? 0 : body.length, this.lent))
      this.session.pauseForUpstream();
  }

  /** Forwards raw body bytes from `start`; returns the body's end offset or -1. */
  forwardBody(buf: Buffer, start: number): number {
    let end: number;
    try {
      end = this.requestBody.advance(buf, start);
    } catch (err) {
      // The head already went upstream: abort that request so the backend
      // never sees the bytes that broke framing.
      this.abortUpstream();
      this.session.refuse(400, (err as FramingError).message);
      return -1;
    }
    const stop = end === -1 ? buf.length : end;
    const conn = this.conn;
    if (stop > start && conn !== null) {
      const upload = this.upload;
      this.state.bytesIn += stop - start;
      if (!this.upstreamConnected) upload.keepForResend(buf.subarray(start, stop));
      // `limit body-rate R`: each R bytes buy the body one more second.
      const rate = this.ctx.spec.limits.bodyMinRate;
      if (rate > 0 && upload.deadline !== 0) {
        upload.deadline += ((stop - start) * 1000) / rate;
        if (this.session.waitingForBody()) this.session.awaitBody(upload.deadline);
      }
      if (!upload.write(conn.socket, buf, start, stop, this.lent)) this.session.pauseForUpstream();
      // The whole body has one deadline (a byte a second cannot hold a server
      // for ever); once it is in, the server's answer has its own.
      if (end !== -1 && this.session.waitingForBody()) this.armWaitDeadline();
    }
    return end;
  }

  /** Connected: the rest of the request body is due by its deadline, then the server's answer within `timeout response`. */
  private armWaitDeadline(): void {
    if (this.upload.deadline !== 0 && !this.requestBody.done) this.session.awaitBody(this.upload.deadline);
    else this.session.awaitResponse();
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
    const choice = this.choice;
    const group = choice.group;
    const failed = choice.server;
    if (group === null || failed === null || this.response.started || this.upstreamConnected || this.upload.resendLost) return false;
    if (this.connectRetries >= this.ctx.spec.limits.retries) return false;
    this.connectRetries++;
    group.passive?.connectFailed(failed, reason);
    choice.release();
    // The service's request view is shared: set it to this request again.
    const p = this.parser;
    const client = this.session.clientAddress;
    this.ctx.requestView.reset(p.method, p.url, p.headers, client);
    if (!choice.chooseAgain(this.ctx, client, failed)) return false;
    this.ctx.log.debug({ client, failed: failed.name, server: choice.server!.name, reason }, 'connect failed; retrying on another server');
    this.dispatch(false, this.upload.takeResend());
    return true;
  }

  // ---- upstream events (UpstreamOwner) -------------------------------------

  onUpstreamConnect(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    this.upstreamConnected = true;
    this.upload.takeResend(); // nothing more to send again
    this.armWaitDeadline();
  }

  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (conn !== this.conn) return;
    try {
      this.session.awaitResponse();
      if (this.tunnel !== null) this.tunnel.fromServer(chunk);
      else this.response.read(conn, chunk);
    } catch (err) {
      this.session.fail(err);
    }
    // `chunk` lives in the connection's read buffer. Bytes the client socket
    // has not taken yet still point into it, so the next read needs another
    // buffer. (When write() said "wait" the upstream is paused until the
    // client drains; this is for a partial write that left less than the
    // high-water mark behind.)
    if (this.socket.writableLength > 0) conn.keepReadBuffer();
  }

  onUpstreamEnd(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    try {
      if (this.tunnel !== null) this.tunnel.serverEnded();
      else if (this.response.headDone && this.response.body.mode === FRAME_CLOSE)
        this.responseEnded(false); // a close-delimited body just ended
      else this.upstreamFailed(conn, 'upstream closed the connection');
    } catch (err) {
      this.session.fail(err);
    }
  }

  onUpstreamError(conn: UpstreamConnection, err: Error): void {
    if (conn !== this.conn) return;
    try {
      if (this.tunnel !== null)
        this.session.endClient(); // flush what the upstream sent before it went
      else if (this.response.headDone && this.response.body.mode === FRAME_CLOSE) this.responseEnded(false);
      else this.upstreamFailed(conn, err.message);
    } catch (e) {
      this.session.fail(e);
    }
  }

  onUpstreamDrain(conn: UpstreamConnection): void {
    if (conn === this.conn) this.session.resumeFromUpstream();
  }

  /** The client caught up: let the upstream send more. */
  clientDrained(): void {
    if (this.conn?.socket.isPaused()) this.conn.socket.resume();
  }

  private upstreamFailed(conn: UpstreamConnection, reason: string): void {
    this.conn = null;
    conn.owner = null;
    conn.destroy();
    if (!conn.connected && this.redispatch(reason)) return;
    // A pooled connection the server had already closed: try once more on a
    // fresh one, when the request can safely be sent twice.
    if (!this.response.started && conn.reused && this.retryable && !this.retried) {
      this.retried = true;
      this.dispatch(true, null);
      return;
    }
    // Nothing reached the client yet (at most part of a head arrived): 502.
    if (!this.state.sent) {
      this.badGateway(reason);
      return;
    }
    // The response had begun: never let a truncated response look complete.
    this.ctx.log.warn({ client: this.session.clientAddress, server: this.choice.server?.name, reason }, 'upstream failed mid-response');
    this.choice.release();
    this.end('upstream-failed');
    this.session.destroy();
  }

  // ---- response events (ResponseEvents) ------------------------------------

  badGateway(reason: string): void {
    if (this.state.sent) {
      this.choice.release();
      this.session.destroy();
      return;
    }
    const outcome = this.upstreamConnected ? 'upstream-failed' : 'connect-failed';
    this.abortUpstream();
    this.session.refuse(502, reason, true, outcome);
  }

  brokenFraming(reason: string): void {
    // The response has begun: cut the client off rather than let a broken body look complete.
    this.ctx.log.warn({ client: this.session.clientAddress, server: this.choice.server?.name, reason }, 'bad upstream framing');
    this.session.destroy();
  }

  responseEnded(cleanEnd: boolean): void {
    const conn = this.conn!;
    this.conn = null;
    const reusable = cleanEnd && this.requestBody.done && this.response.body.mode !== FRAME_CLOSE && conn.parser.keepAlive && !conn.closed;
    if (conn.socket.isPaused()) conn.socket.resume();
    if (reusable && conn.sendProxy !== 0) this.park(conn);
    else if (reusable) conn.pool.release(conn);
    else {
      conn.owner = null;
      conn.destroy();
    }
    this.choice.release();
    this.end('ok');
    this.session.nextRequest();
  }

  switchingProtocols(conn: UpstreamConnection, chunk: Buffer, offset: number): void {
    if (this.state.upgrade === null) {
      this.badGateway('101 Switching Protocols without an upgrade request');
      return;
    }
    this.tunnel = new Tunnel(this.socket, conn, this.lent);
    this.response.switchProtocols(conn.parser, chunk, offset);
    this.end('ok');
    this.session.tunnelOpened(this.tunnel);
  }

  lastAnswer(): boolean {
    return this.session.lastAnswer();
  }

  // ---- deadlines -------------------------------------------------------------

  /** The request body did not arrive in time: 408, or the client is cut off when the response has begun. */
  bodyTimedOut(): void {
    if (this.state.sent) {
      this.choice.release();
      this.session.destroy();
      return;
    }
    this.abortUpstream();
    this.session.refuse(408, 'request body not received in time', true);
  }

  /** The server did not connect, answer or send on in time: another server, or 504, or the client is cut off. */
  serverTimedOut(connecting: boolean): void {
    if (this.state.sent) {
      this.ctx.log.warn({ client: this.session.clientAddress, server: this.choice.server?.name }, 'transfer stalled');
      this.choice.release();
      this.session.destroy();
      return;
    }
    const outcome = connecting ? 'connect-failed' : 'upstream-failed';
    this.abortUpstream();
    if (connecting && this.redispatch('connect timed out')) return;
    this.session.refuse(504, connecting ? 'upstream connect timed out' : 'upstream response timed out', true, outcome);
  }

  // ---- ending ----------------------------------------------------------------

  /** Once per request, at its end: statistics, observers, access log. */
  end(outcome: RequestOutcome): void {
    this.state.end(this.ctx, this.session.clientAddress, this.choice, outcome);
  }

  /** Drops the upstream connection of the current exchange without reusing it. */
  abortUpstream(): void {
    const conn = this.conn;
    if (conn === null) return;
    this.conn = null;
    conn.owner = null;
    conn.destroy();
  }

  /** Keeps a send-proxy connection for this session's next request to its server (one such connection at most). */
  private park(conn: UpstreamConnection): void {
    this.parked?.destroy();
    this.parked = conn.pool.park(conn) ? conn : null;
  }

  /** The session closed: the request (if any) ended as aborted, and every connection it held goes. */
  close(): void {
    this.end('aborted');
    this.abortUpstream();
    if (this.parked !== null) {
      this.parked.destroy();
      this.parked = null;
    }
    this.choice.release();
  }
}

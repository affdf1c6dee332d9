// The request of an exchange on its way to the server: a connection (the
// pool's, or this session's parked one), the head and the body written on
// it, and the retries: a failed connect goes to another server with the body
// bytes kept meanwhile, a reused connection that failed is tried once more on
// a fresh one. At the end the connection goes back to the pool. One object
// per session, reset for each request.
import type net from 'node:net';
import type { Admission } from './admission.ts';
import { retryable } from './admission.ts';
import { BodyFramer, FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE } from '../http/body-framer.ts';
import { buildRequestHead, headerValue, newFacts, type RequestFacts, type RequestRewrite } from '../http/head-rewrite.ts';
import type { HeadParser } from '../http/llhttp.ts';
import type { UpstreamConnection, UpstreamOwner } from '../upstream/pool.ts';
import type { Choice } from './choice.ts';
import { writeHead } from './coalesce.ts';
import { D_BODY, D_CONNECT, D_RESPONSE, type Deadline } from './deadline.ts';
import type { RequestState } from './request-state.ts';
import type { ExchangeSession, SessionContext } from './session-context.ts';

// Body bytes kept for a retry while a connect is under way: what the socket
// buffers before it pushes back (its high-water mark) and a read or two.
const RESEND_LIMIT = 1 << 20;
// A client read is at most 64 KiB (client-reads.ts).
const BODY_COPY_BYTES = 65536;

/** What a sender works with: the session's parts it shares with the rest of the exchange. */
export interface SenderParts {
  ctx: SessionContext;
  session: ExchangeSession;
  owner: UpstreamOwner; // told of the connection's events
  parser: HeadParser; // holds the request head
  state: RequestState;
  choice: Choice;
  deadline: Deadline;
  lent: boolean; // client chunks are borrowed (client-reads.ts)
}

export class RequestSender {
  readonly body: BodyFramer;
  /** The connection of this request; null between requests. */
  conn: UpstreamConnection | null = null;
  /** The connection is established. */
  connected = false;
  private readonly p: SenderParts;
  // An idle send-proxy connection that only this session may reuse (pool.ts).
  private parked: UpstreamConnection | null = null;
  private head = '';
  // What buildRequestHead reads, one object reused for every request.
  private readonly rewrite: RequestRewrite;
  private retryable = false;
  private retried = false; // on a fresh connection, after a reused one failed
  // A failed connect goes to another server (limits.retries): nothing was
  // sent, and the body bytes sent before the connect are kept to send again.
  private connectRetries = 0;
  private resend: Buffer | null = null;
  private resendLost = false; // more body went out before the connect than is kept
  private bodyDeadline = 0; // epoch ms: the whole body is due by then (0: no body)
  private copy: Buffer | null = null; // lent body bytes copied for the server, reused (writeBody)

  constructor(parts: SenderParts, maxHeaderBytes: number) {
    this.p = parts;
    this.body = new BodyFramer(maxHeaderBytes);
    this.rewrite = {
      method: '',
      url: '',
      versionMinor: 1,
      headers: [],
      facts: newFacts(),
      clientAddress: '',
      proto: 'http',
      upgrade: null,
      authority: null,
    };
  }

  reset(): void {
    this.retried = false;
    this.connectRetries = 0;
    this.resend = null;
    this.resendLost = false;
    this.bodyDeadline = 0;
  }

  /** The request was admitted: its body's framing and deadline, and its upgrade. */
  frame(admission: Admission): void {
    const body = this.body;
    if (admission.framing === FRAME_CHUNKED) body.chunked();
    else if (admission.framing === FRAME_LENGTH) body.length(admission.contentLength);
    else body.none();
    this.bodyDeadline = body.mode === FRAME_NONE ? 0 : Date.now() + this.p.ctx.spec.timeouts.clientBodyMs;
    const parser = this.p.parser;
    if (parser.upgrade) this.p.state.upgrade = headerValue(parser.headers, 'upgrade') ?? null;
  }

  /** Sends the request (routed, in the service's request view) with the body bytes at hand. */
  send(facts: RequestFacts, firstBody: Buffer): void {
    const { ctx, parser: h, state } = this.p;
    const view = ctx.requestView;
    const affinity = this.p.choice.group!.affinity;
    const r = this.rewrite;
    r.method = h.method;
    r.url = view.forwardTarget(ctx.spec.forwardNormalizedPath === true);
    r.authority = view.targetAuthority();
    r.versionMinor = h.versionMinor;
    r.headers = affinity?.rewritesRequest ? affinity.rewriteRequestHeaders(h.headers) : h.headers;
    r.facts = facts;
    r.clientAddress = this.p.session.clientAddress;
    r.proto = this.p.session.proto;
    r.upgrade = state.upgrade;
    this.head = buildRequestHead(r);
    this.retryable = retryable(h.method, this.body.mode, state.upgrade);
    state.bytesIn += firstBody.length;
    this.dispatch(false, firstBody);
  }

  /** Sends the request head (and the body bytes at hand) on a connection to the chosen server. */
  private dispatch(fresh: boolean, body: Buffer | null): void {
    const { owner, session } = this.p;
    const pool = this.p.choice.pool!;
    // This session's own idle connection to a send-proxy server, else the pool's.
    const parked = this.parked;
    let conn: UpstreamConnection;
    if (parked !== null && parked.pool === pool && !fresh) {
      this.parked = null;
      conn = pool.reclaim(parked, owner) ? parked : pool.acquire(owner, fresh);
    } else conn = pool.acquire(owner, fresh);
    this.conn = conn;
    this.connected = conn.connected;
    if (conn.connected) this.awaitAnswer();
    else {
      this.p.deadline.set(D_CONNECT, this.p.ctx.spec.timeouts.connectMs);
      // Lost if the connect fails: keep a copy to send to the next server.
      if (body !== null && body.length > 0) this.keepForResend(body);
    }
    // A new connection to a send-proxy server: the PROXY header first, in the same write.
    const prefix = conn.sendProxy !== 0 && !conn.reused ? session.proxyHeader(conn.sendProxy) : null;
    if (!writeHead(conn.socket, prefix, this.head, body, 0, body === null ? 0 : body.length, this.p.lent)) session.pauseForUpstream();
  }

  /** Body bytes buf[start, stop) to the server (framed by the caller). */
  forward(buf: Buffer, start: number, stop: number, bodyEnded: boolean): void {
    const conn = this.conn;
    if (stop <= start || conn === null) return;
    const deadline = this.p.deadline;
    this.p.state.bytesIn += stop - start;
    if (!this.connected) this.keepForResend(buf.subarray(start, stop));
    // `limit body-rate R`: each R bytes buy the body one more second.
    const rate = this.p.ctx.spec.limits.bodyMinRate;
    if (rate > 0 && this.bodyDeadline !== 0) {
      this.bodyDeadline += ((stop - start) * 1000) / rate;
      if (deadline.kind === D_BODY) deadline.at = this.bodyDeadline;
    }
    if (!this.writeBody(conn.socket, buf, start, stop)) this.p.session.pauseForUpstream();
    // The whole body has one deadline (a byte a second cannot hold a server
    // for ever); once it is in, the server's answer has its own.
    if (bodyEnded && deadline.kind === D_BODY) this.awaitAnswer();
  }

  /**
   * Lent bytes must be copied; the copy goes into a buffer of this session's,
   * reused while the server's socket takes each write at once (nothing left
   * pending), so a fast upload makes no garbage: a fresh 64 KiB copy per read
   * made a 100 MB upload's RSS climb towards V8's 64 MB external-memory GC trigger.
   */
  private writeBody(s: net.Socket, buf: Buffer, start: number, stop: number): boolean {
    if (!this.p.lent) return s.write(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    const n = stop - start;
    let copy = this.copy;
    // Bytes still pending on the socket may point into the spare buffer: it is only free when none are.
    if (copy === null || copy.length < n || s.writableLength > 0) copy = Buffer.allocUnsafeSlow(Math.max(n, BODY_COPY_BYTES));
    buf.copy(copy, 0, start, stop);
    const ok = s.write(copy.length === n ? copy : copy.subarray(0, n));
    this.copy = s.writableLength > 0 ? null : copy;
    return ok;
  }

  /** Body bytes written before the connect is up: kept (copied) for another server, up to RESEND_LIMIT. */
  private keepForResend(bytes: Buffer): void {
    if (this.resendLost) return;
    const had = this.resend === null ? 0 : this.resend.length;
    if (had + bytes.length > RESEND_LIMIT) {
      this.resendLost = true;
      this.resend = null;
      return;
    }
    const copy = Buffer.allocUnsafe(had + bytes.length);
    if (this.resend !== null) this.resend.copy(copy, 0);
    bytes.copy(copy, had);
    this.resend = copy;
  }

  /** Connected: the rest of the request body is due by its deadline, then the server's answer within `timeout response`. */
  private awaitAnswer(): void {
    if (this.bodyDeadline !== 0 && !this.body.done) this.p.deadline.setAt(D_BODY, this.bodyDeadline);
    else this.p.deadline.set(D_RESPONSE, this.p.ctx.spec.timeouts.responseMs);
  }

  /** The connection is up: nothing more to keep for another server. */
  onConnected(): void {
    this.connected = true;
    this.resend = null;
    this.awaitAnswer();
  }

  /**
   * The connection failed (it is closed by now) before any response byte
   * arrived: sent again when that is safe. A failed connect goes to another
   * server (redispatch); a reused connection the server had already closed
   * is tried once more on a fresh one, when the request can be sent twice.
   */
  retry(conn: UpstreamConnection, reason: string, responseStarted: boolean): boolean {
    if (!conn.connected && this.redispatch(reason, responseStarted)) return true;
    if (responseStarted || !conn.reused || !this.retryable || this.retried) return false;
    this.retried = true;
    this.dispatch(true, null);
    return true;
  }

  /**
   * The connect to the chosen server failed (refused, reset or timed out
   * before it was up): nothing reached it, so the request goes to another
   * server of the group, as HAProxy's `retries` with `redispatch` and
   * nginx's proxy_next_upstream do, for every method. The server is ejected
   * at once (passive.ts), so this request and the next ones skip it. False
   * when no retry is left or possible.
   */
  redispatch(reason: string, responseStarted: boolean): boolean {
    const { ctx, choice, parser: h } = this.p;
    const group = choice.group;
    const failed = choice.server;
    if (group === null || failed === null || responseStarted || this.connected || this.resendLost) return false;
    if (this.connectRetries >= ctx.spec.limits.retries) return false;
    this.connectRetries++;
    group.passive?.connectFailed(failed, reason);
    choice.release();
    // The service's request view is shared: set it to this request again.
    const client = this.p.session.clientAddress;
    ctx.requestView.reset(h.method, h.url, h.headers, client);
    if (!choice.chooseAgain(ctx, client, failed)) return false;
    ctx.log.debug({ client, failed: failed.name, server: choice.server!.name, reason }, 'connect failed; retrying on another server');
    const body = this.resend;
    this.resend = null;
    this.dispatch(false, body);
    return true;
  }

  /** The response is complete: the connection goes back to the pool (or to this session) when it can carry another. */
  finish(reusable: boolean): void {
    const conn = this.conn!;
    this.conn = null;
    if (conn.socket.isPaused()) conn.socket.resume();
    if (!reusable || !conn.parser.keepAlive || conn.closed) {
      conn.owner = null;
      conn.destroy();
    } else if (conn.sendProxy === 0) conn.pool.release(conn);
    else {
      // Kept for this session's next request to its server (one such connection at most).
      this.parked?.destroy();
      this.parked = conn.pool.park(conn) ? conn : null;
    }
  }

  /** Drops the connection of the current request without reusing it. */
  abort(): void {
    const conn = this.conn;
    if (conn === null) return;
    this.conn = null;
    conn.owner = null;
    conn.destroy();
  }

  /** The session closed: every connection it held goes. */
  close(): void {
    this.abort();
    if (this.parked !== null) {
      this.parked.destroy();
      this.parked = null;
    }
  }
}

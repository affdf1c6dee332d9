// One request and its response with a real server. The request is admitted
// (admission.ts), its server chosen (choice.ts), sent and retried
// (request-sender.ts); the response is relayed (response.ts) or the
// connection becomes a tunnel (tunnel.ts). Here every way it can end is
// decided: complete, answered locally, failed, timed out. One object per
// client session, reused request after request: start() resets the
// request's state in one place.
import type net from 'node:net';
import { FRAME_CLOSE, FRAME_NONE, type FramingError } from '../http/body-framer.ts';
import { newFacts } from '../http/head-rewrite.ts';
import type { HeadParser } from '../http/llhttp.ts';
import { localResponse } from '../http/local-response.ts';
import type { UpstreamConnection, UpstreamOwner } from '../upstream/pool.ts';
import { admitRequest, newAdmission, refusalCloses } from './admission.ts';
import { Choice } from './choice.ts';
import { D_RESPONSE, type Deadline } from './deadline.ts';
import type { RequestOutcome } from './observer.ts';
import { RequestSender } from './request-sender.ts';
import { RequestState } from './request-state.ts';
import { ResponseRelay, type ResponseEvents } from './response.ts';
import type { ExchangeSession, SessionContext } from './session-context.ts';
import { Tunnel } from './tunnel.ts';
import { misdirectedRequest } from './strict-sni.ts';

const NO_BYTES = Buffer.alloc(0);

export class Exchange implements UpstreamOwner, ResponseEvents {
  readonly state: RequestState;
  readonly choice = new Choice();
  readonly sender: RequestSender;
  readonly response: ResponseRelay;
  /** After a 101: the connection is a tunnel. */
  tunnel: Tunnel | null = null;
  private readonly facts = newFacts();
  private readonly admission = newAdmission();
  private readonly ctx: SessionContext;
  private readonly session: ExchangeSession;
  private readonly socket: net.Socket;
  private readonly lent: boolean;
  private readonly parser: HeadParser; // the session's: it holds the request head while the exchange runs
  private readonly deadline: Deadline; // the session's

  constructor(ctx: SessionContext, session: ExchangeSession, socket: net.Socket, lent: boolean, parser: HeadParser, deadline: Deadline) {
    this.ctx = ctx;
    this.session = session;
    this.socket = socket;
    this.lent = lent;
    this.parser = parser;
    this.deadline = deadline;
    const limit = ctx.spec.limits.maxHeaderBytes;
    this.state = new RequestState(ctx.spec.name);
    const { choice, state } = this;
    this.sender = new RequestSender({ ctx, session, owner: this, parser, state, choice, deadline, lent }, limit);
    this.response = new ResponseRelay(socket, state, choice, this.sender.body, this, limit);
  }

  /** A new head size limit (a config change), for trailers as for heads. */
  setHeadLimit(limit: number): void {
    this.sender.body.maxTrailerBytes = limit;
    this.response.body.maxTrailerBytes = limit;
  }

  /**
   * A complete head of `headBytes` has been parsed; `offset` is where its
   * body (if any) starts in `buf`. Returns the offset after this request
   * when it was answered locally with the connection kept, or sent with its
   * whole body; else -1 (closed, or more body to come).
   */
  start(buf: Buffer, offset: number, headBytes: number): number {
    const { ctx, parser: p, session } = this;
    // All per-request state starts afresh, here.
    this.state.begin(p, headBytes);
    this.choice.reset();
    this.sender.reset();
    this.response.reset();
    const admission = admitRequest(p, ctx.spec.limits, this.facts, this.admission);
    if (admission.status !== 0) return session.refuse(admission.status, admission.reason);
    const body = this.sender.body;
    this.sender.frame(admission);
    // Validate the body bytes already here before anything goes upstream, so
    // a malformed chunked body is refused without the backend seeing it.
    let bodyEnd = offset;
    if (body.mode !== FRAME_NONE) {
      try {
        bodyEnd = body.advance(buf, offset);
      } catch (err) {
        return session.refuse(400, (err as FramingError).message);
      }
    }
    const view = ctx.requestView;
    view.reset(p.method, p.url, p.headers, session.clientAddress);
    view.sni = session.serverName;
    // One host and one path, read one way by rules, keys and upstream (RFC 9112 §3.2; lib/route/normalise.ts).
    const invalidTarget = view.check(this.facts.host);
    if (invalidTarget !== null) return session.refuse(400, invalidTarget);
    if (session.sniName !== null) {
      const misdirected = misdirectedRequest(session.sniName, view.host());
      if (misdirected !== null) return session.refuse(421, misdirected);
    }
    const status = this.choice.choose(ctx, session.clientAddress);
    if (status !== 0) {
      const reason = status === 404 ? 'no rule matches' : 'no usable server in group';
      return session.refuse(status, reason, bodyEnd !== offset) === -1 ? -1 : bodyEnd;
    }
    // Most requests have no body bytes here: no view of none.
    const firstBody = bodyEnd === offset ? NO_BYTES : bodyEnd === -1 ? buf.subarray(offset) : buf.subarray(offset, bodyEnd);
    this.sender.send(this.facts, firstBody);
    return bodyEnd;
  }

  /** More request body from the client, from `start`; returns the body's end offset or -1. */
  forwardBody(buf: Buffer, start: number): number {
    let end: number;
    try {
      end = this.sender.body.advance(buf, start);
    } catch (err) {
      // The head already went upstream: abort that request so the backend
      // never sees the bytes that broke framing.
      this.sender.abort();
      this.session.refuse(400, (err as FramingError).message);
      return -1;
    }
    this.sender.forward(buf, start, end === -1 ? buf.length : end, end !== -1);
    return end;
  }

  /**
   * The request answered by tcpvs itself (an error, 404 or 503), unless the
   * connection has `closed` already. True when the connection closes after
   * it: only a 404 or 503 for a request without a body keeps it.
   */
  answer(status: number, reason: string, bodyPending: boolean, outcome: RequestOutcome, closed: boolean): boolean {
    const state = this.state;
    state.status = status;
    if (status >= 400 && status !== 404) {
      this.ctx.log.warn({ client: this.session.clientAddress, status, reason, method: state.method, url: state.url }, 'refused');
    }
    if (refusalCloses(status, bodyPending)) state.closeAfter = true;
    if (closed) return true;
    const res = localResponse(status, state.closeAfter, state.isHeadRequest);
    state.sent = true;
    state.bytesOut += res.length;
    this.socket.write(res);
    this.choice.release();
    if (state.method !== '') this.end(outcome);
    if (!state.closeAfter) this.sender.body.none(); // the connection stays usable
    return state.closeAfter;
  }

  // ---- upstream events (UpstreamOwner) -------------------------------------

  onUpstreamConnect(conn: UpstreamConnection): void {
    if (conn === this.sender.conn) this.sender.onConnected();
  }

  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (conn !== this.sender.conn) return;
    try {
      this.deadline.set(D_RESPONSE, this.ctx.spec.timeouts.responseMs);
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
    this.upstreamGone(conn, 'upstream closed the connection', false);
  }

  onUpstreamError(conn: UpstreamConnection, err: Error): void {
    this.upstreamGone(conn, err.message, true);
  }

  onUpstreamDrain(conn: UpstreamConnection): void {
    if (conn === this.sender.conn) this.session.resumeFromUpstream();
  }

  /** The client caught up: let the upstream send more. */
  clientDrained(): void {
    const conn = this.sender.conn;
    if (conn?.socket.isPaused()) conn.socket.resume();
  }

  private upstreamGone(conn: UpstreamConnection, reason: string, failed: boolean): void {
    if (conn !== this.sender.conn) return;
    try {
      if (this.tunnel !== null) {
        if (failed)
          this.session.endClient(); // flush what the upstream sent before it went
        else this.tunnel.serverEnded();
      } else if (this.response.headDone && this.response.body.mode === FRAME_CLOSE) {
        this.responseEnded(false); // a close-delimited body just ended
      } else this.upstreamFailed(conn, reason);
    } catch (err) {
      this.session.fail(err);
    }
  }

  private upstreamFailed(conn: UpstreamConnection, reason: string): void {
    this.sender.abort();
    if (this.sender.retry(conn, reason, this.response.started)) return;
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
    const outcome = this.sender.connected ? 'upstream-failed' : 'connect-failed';
    this.sender.abort();
    this.session.refuse(502, reason, true, outcome);
  }

  brokenFraming(reason: string): void {
    // The response has begun: cut the client off rather than let a broken body look complete.
    this.ctx.log.warn({ client: this.session.clientAddress, server: this.choice.server?.name, reason }, 'bad upstream framing');
    this.session.destroy();
  }

  responseEnded(cleanEnd: boolean): void {
    this.sender.finish(cleanEnd && this.sender.body.done && this.response.body.mode !== FRAME_CLOSE);
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
    this.sender.abort();
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
    this.sender.abort();
    if (connecting && this.sender.redispatch('connect timed out', this.response.started)) return;
    this.session.refuse(504, connecting ? 'upstream connect timed out' : 'upstream response timed out', true, outcome);
  }

  // ---- ending ----------------------------------------------------------------

  /** Once per request, at its end: statistics, observers, access log. */
  end(outcome: RequestOutcome): void {
    this.state.end(this.ctx, this.session.clientAddress, this.choice, outcome);
  }

  /** The session closed: the request (if any) ended as aborted, and every connection it held goes. */
  close(): void {
    this.end('aborted');
    this.sender.close();
    this.choice.release();
  }
}

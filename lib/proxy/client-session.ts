// One client connection: read request heads with llhttp, admit each one
// (admission.ts), choose its server (choice.ts) and hand it to the exchange
// (exchange.ts), which sends it and relays the response. Requests on one
// connection are handled one after another, so pipelined responses keep
// their order; bytes of later requests wait (with the socket paused) until
// the current response is done. The session keeps the connection loop, that
// queue, backpressure and deadlines.
import type net from 'node:net';
import type { HeadParser, HeadParseError } from '../http/llhttp.ts';
import { FRAME_NONE, type FramingError } from '../http/body-framer.ts';
import { localResponse } from '../http/local-response.ts';
import { readClient } from './client-reads.ts';
import { encodeProxyHeader, parseProxyHeader, proxyAddresses, type ProxyAddresses } from '../net/proxy-protocol.ts';
import { inNetworks } from '../net/networks.ts';
import { admitRequest, malformedHeadStatus, newAdmission, refusalCloses, requestLineTooLong } from './admission.ts';
import { Exchange, type ExchangeSession } from './exchange.ts';
import type { RequestOutcome } from './observer.ts';
import type { SessionContext } from './session-context.ts';
import type { Tunnel } from './tunnel.ts';

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

export class ClientSession implements ExchangeSession {
  clientAddress: string; // the peer's, or the one its PROXY header gives
  clientPort: number; // likewise
  deadline = 0;
  private deadlineKind = D_NONE;
  private readonly ctx: SessionContext;
  private readonly socket: net.Socket;
  // Chunks are lent from a buffer shared by all connections (client-reads.ts): copy what is kept.
  private readonly lent: boolean;
  private readonly parser: HeadParser;
  private readonly exchange: Exchange;
  private readonly admission = newAdmission();
  private phase = P_IDLE;
  private forgotten = false;
  private proxyBytes: Buffer | null = null; // a PROXY header's first bytes, while incomplete
  private received: ProxyAddresses | null = null; // the addresses of the PROXY header the client sent, if any
  // For servers with send-proxy: the headers naming this client (made once).
  private sendProxyV1: Buffer | null = null;
  private sendProxyV2: Buffer | null = null;
  // Bytes that arrived for later requests while one is in progress.
  private queued: Buffer | null = null;
  private pausedForQueue = false;
  private pausedForUpstream = false;
  private clientEnded = false; // the client half-closed
  private headBytes = 0; // of the head being received
  private sawRequestLine = false;

  constructor(ctx: SessionContext, accepted: net.Socket) {
    this.ctx = ctx;
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
    if (ctx.spec.acceptProxy !== undefined || ctx.spec.acceptProxyFromL4 === true) this.phase = P_PROXY;
    this.parser = ctx.takeRequestParser();
    this.exchange = new Exchange(ctx, this, socket, this.lent, this.parser);
    for (const o of ctx.observers) o.connectionOpened(ctx.spec.name);
    socket.setNoDelay(true);
    socket.on('end', () => this.guard(() => this.onClientEnd()));
    socket.on('drain', () => this.exchange.clientDrained());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.setDeadline(D_IDLE, ctx.spec.timeouts.clientIdleMs);
  }

  // A bug in one session must never take the process down with it.
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err: unknown): void {
    this.ctx.log.error({ err, client: this.clientAddress }, 'session failed');
    this.destroy();
  }

  // ---- deadlines: checked by the service's sweep, so the hot path only stores a number

  private setDeadline(kind: number, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = Date.now() + ms;
  }

  awaitConnect(): void {
    this.setDeadline(D_CONNECT, this.ctx.spec.timeouts.connectMs);
  }

  awaitResponse(): void {
    this.setDeadline(D_RESPONSE, this.ctx.spec.timeouts.responseMs);
  }

  awaitBody(at: number): void {
    this.deadlineKind = D_BODY;
    this.deadline = at;
  }

  waitingForBody(): boolean {
    return this.deadlineKind === D_BODY;
  }

  hasDeadline(): boolean {
    return this.deadlineKind !== D_NONE;
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
          this.exchange.bodyTimedOut();
          return;
        case D_CONNECT:
        case D_RESPONSE:
          this.exchange.serverTimedOut(this.deadlineKind === D_CONNECT);
          return;
      }
    });
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
        if (!this.exchange.requestBody.done) {
          const end = this.exchange.forwardBody(chunk, 0);
          if (end !== -1 && end < chunk.length) this.enqueue(chunk.subarray(end));
        } else this.enqueue(chunk);
        return;
      case P_TUNNEL:
        if (!this.exchange.tunnel!.fromClient(chunk)) this.pauseForUpstream();
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
      this.setDeadline(D_HEAD, this.ctx.spec.timeouts.clientHeaderMs);
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
    if (parsed.addresses !== null) {
      const source = parsed.addresses.sourceAddress;
      this.clientAddress = source.startsWith('::ffff:') && source.includes('.') ? source.slice(7) : source;
      this.clientPort = parsed.addresses.sourcePort;
      this.received = parsed.addresses;
    }
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
    if (parsed.length < buf.length) this.processInput(buf.subarray(parsed.length));
  }

  /** A source in `accept-proxy from`, or this host's own address for a service that is a real self of the L4 core. */
  private proxyTrusted(): boolean {
    const spec = this.ctx.spec;
    const peer = this.socket.remoteAddress ?? '';
    if (spec.acceptProxy !== undefined && inNetworks(peer, spec.acceptProxy)) return true;
    return spec.acceptProxyFromL4 === true && peer !== '' && peer === this.socket.localAddress;
  }

  private refuseProxy(reason: string): void {
    this.ctx.log.warn({ client: this.clientAddress, reason }, 'refused');
    this.destroy();
  }

  /**
   * The header naming this client, for a send-proxy server: its address and
   * port, and where it connected to (the PROXY header's destination when it
   * sent one, else this socket's own address).
   */
  proxyHeader(version: 1 | 2): Buffer {
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
    if (this.queued.length > this.ctx.spec.limits.maxHeaderBytes * 4) this.socket.pause();
  }

  /** Handles request heads (and what follows them) in `buf`. */
  private processInput(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length && (this.phase === P_IDLE || this.phase === P_HEAD)) {
      if (this.phase === P_IDLE) {
        // A new request: the limits in force now hold for it (a config
        // change may have set new ones since the last request).
        const limit = this.ctx.spec.limits.maxHeaderBytes;
        if (this.parser.limit !== limit) {
          this.parser.setLimit(limit);
          this.exchange.setHeadLimit(limit);
        }
        this.phase = P_HEAD;
        this.headBytes = 0;
        this.sawRequestLine = false;
        this.setDeadline(D_HEAD, this.ctx.spec.timeouts.clientHeaderMs);
      }
      const slice = offset === 0 ? buf : buf.subarray(offset);
      let n: number;
      try {
        n = this.parser.feed(slice);
      } catch (err) {
        const e = err as HeadParseError;
        this.exchange.state.malformed();
        const inRequestLine = !this.sawRequestLine && slice.subarray(0, e.offset).indexOf(10) === -1;
        this.refuse(malformedHeadStatus(e.code, inRequestLine), `${e.code}: ${e.message}`);
        return;
      }
      if (n === -1) {
        this.headBytes += slice.length;
        if (!this.sawRequestLine) {
          if (slice.indexOf(10) !== -1) this.sawRequestLine = true;
          else if (requestLineTooLong(this.headBytes, this.ctx.spec.limits)) {
            this.refuse(414, 'request line over the URI limit');
            return;
          }
        }
        return;
      }
      this.headBytes += n;
      offset += n;
      offset = this.startRequest(buf, offset);
      if (offset === -1) return; // refused and closed, or waiting for the body
    }
    if (offset < buf.length && this.phase !== P_CLOSED) this.enqueue(offset === 0 ? buf : buf.subarray(offset));
  }

  /**
   * A complete head has been parsed; `offset` is where its body (if any)
   * starts in `buf`. Returns the offset after this request when it was
   * answered locally and the connection stays open, else -1.
   */
  private startRequest(buf: Buffer, offset: number): number {
    const ctx = this.ctx;
    const p = this.parser;
    const x = this.exchange;
    x.begin(this.headBytes);
    const admission = admitRequest(p, ctx.spec.limits, x.facts, this.admission);
    if (admission.status !== 0) return this.refuse(admission.status, admission.reason);
    x.frame(admission);
    // Validate the body bytes already here before anything goes upstream, so
    // a malformed chunked body is refused without the backend seeing it.
    let bodyEnd = offset;
    if (x.requestBody.mode !== FRAME_NONE) {
      try {
        bodyEnd = x.requestBody.advance(buf, offset);
      } catch (err) {
        return this.refuse(400, (err as FramingError).message);
      }
    }
    const view = ctx.requestView;
    view.reset(p.method, p.url, p.headers, this.clientAddress);
    // One host and one path, read one way by rules, keys and upstream (RFC 9112 §3.2; lib/route/normalise.ts).
    const invalidTarget = view.check(x.facts.host);
    if (invalidTarget !== null) return this.refuse(400, invalidTarget);
    const status = x.choice.choose(ctx, this.clientAddress);
    if (status !== 0) {
      const reason = status === 404 ? 'no rule matches' : 'no usable server in group';
      return this.refuse(status, reason, bodyEnd !== offset) === -1 ? -1 : bodyEnd;
    }
    this.phase = P_EXCHANGE;
    x.send(bodyEnd === -1 ? buf.subarray(offset) : buf.subarray(offset, bodyEnd));
    if (bodyEnd === -1) return -1; // more body to come
    if (bodyEnd < buf.length) this.enqueue(buf.subarray(bodyEnd));
    return -1;
  }

  pauseForUpstream(): void {
    if (!this.pausedForUpstream) {
      this.pausedForUpstream = true;
      this.socket.pause();
    }
  }

  resumeFromUpstream(): void {
    if (this.pausedForUpstream) {
      this.pausedForUpstream = false;
      if (!this.pausedForQueue) this.socket.resume();
    }
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.phase === P_TUNNEL) {
      this.exchange.tunnel!.clientEnded();
      return;
    }
    if (this.phase === P_EXCHANGE) {
      if (!this.exchange.requestBody.done) {
        // The client went away mid-upload: nothing sensible can follow.
        this.destroy();
        return;
      }
      // Answer, then close, unless pipelined requests are still waiting:
      // `printf '...' | nc` sends them all and then a FIN.
      if (this.queued === null) this.exchange.state.closeAfter = true;
      return;
    }
    if (this.phase === P_HEAD && this.headBytes > 0) {
      this.refuse(400, 'connection closed inside a request head');
      return;
    }
    this.endClient();
  }

  /** The client has half-closed and sent nothing more: the response now is the last answer. */
  lastAnswer(): boolean {
    return this.clientEnded && this.queued === null;
  }

  /** After a 101: what the client sent after its upgrade request goes to the server, and reading resumes. */
  tunnelOpened(tunnel: Tunnel): void {
    this.phase = P_TUNNEL;
    this.deadlineKind = D_NONE;
    if (this.queued !== null) {
      tunnel.flush(this.queued);
      this.queued = null;
    }
    if (this.pausedForQueue) {
      this.pausedForQueue = false;
      this.socket.resume();
    }
  }

  /** After a response: close, or go back to reading requests (queued ones first). */
  nextRequest(): void {
    if (this.exchange.state.closeAfter || !this.exchange.requestBody.done) {
      this.endClient();
      return;
    }
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
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
  refuse(status: number, reason: string, bodyPending = false, outcome: RequestOutcome = 'refused'): number {
    const x = this.exchange;
    const state = x.state;
    state.status = status;
    if (status >= 400 && status !== 404) {
      this.ctx.log.warn({ client: this.clientAddress, status, reason, method: state.method, url: state.url }, 'refused');
    }
    if (refusalCloses(status, bodyPending)) state.closeAfter = true;
    if (this.phase === P_CLOSED) return -1;
    const res = localResponse(status, state.closeAfter, state.isHeadRequest);
    state.sent = true;
    state.bytesOut += res.length;
    this.socket.write(res);
    x.choice.release();
    if (state.method !== '') x.end(outcome);
    if (state.closeAfter) {
      this.endClient();
      return -1;
    }
    // 404/503 without a body: the connection stays usable.
    x.requestBody.none();
    this.phase = P_IDLE;
    this.setDeadline(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
    return 0;
  }

  // ---- ending things -----------------------------------------------------

  /** Closes the connection now if it is between requests, else after the current response. */
  closeWhenDone(): void {
    this.guard(() => {
      if (this.phase === P_IDLE || this.phase === P_PROXY) this.endClient();
      else this.exchange.state.closeAfter = true;
    });
  }

  endClient(): void {
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
    this.exchange.close();
    this.queued = null;
    if (!this.forgotten) {
      this.forgotten = true;
      for (const o of this.ctx.observers) o.connectionClosed(this.ctx.spec.name);
      this.ctx.forget(this, this.parser);
    }
  }
}

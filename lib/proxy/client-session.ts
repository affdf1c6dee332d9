// One client connection: read request heads with llhttp, admit each one
// (admission.ts), choose its server (choice.ts) and hand it to the exchange
// (exchange.ts), which sends it and relays the response. Requests on one
// connection are handled one after another, so pipelined responses keep
// their order; bytes of later requests wait (with the socket paused) until
// the current response is done. The session keeps the connection loop, that
// queue, backpressure and deadlines.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyAddresses } from '../net/proxy-protocol.ts';
import { acceptsProxy } from './proxy-trust.ts';
import { normalizeName } from '../tls/certificate-names.ts';
import type { HeadParser, HeadParseError } from '../http/llhttp.ts';
import { readClient } from './client-reads.ts';
import { ClientProxy, PROXY_DROP, PROXY_REFUSE, PROXY_WAIT } from './client-proxy.ts';
import { D_BODY, D_CONNECT, D_HEAD, D_IDLE, D_RESPONSE, Deadline } from './deadline.ts';
import { malformedHeadStatus, requestLineTooLong } from './admission.ts';
import { Exchange } from './exchange.ts';
import type { RequestOutcome } from './observer.ts';
import type { ExchangeSession, SessionContext } from './session-context.ts';
import type { Tunnel } from './tunnel.ts';

const P_IDLE = 0; // waiting for the first byte of a request
const P_HEAD = 1; // part of a request head received
const P_EXCHANGE = 2; // request dispatched, response not finished
const P_TUNNEL = 3; // after 101 Switching Protocols
const P_CLOSED = 4;
const P_PROXY = 5; // a service that accepts PROXY headers: before the first byte decides

// After tcpvs has sent its FIN, how long a client may keep its side open.
const CLIENT_FIN_TIMEOUT_MS = 5000;

export class ClientSession implements ExchangeSession {
  clientAddress: string; // the peer's, or the one its PROXY header gives
  clientPort: number; // likewise
  /** Checked by the service's sweep, which calls expire() when it is due. */
  readonly deadline = new Deadline();
  private readonly ctx: SessionContext;
  private readonly socket: net.Socket;
  // Chunks are lent from a buffer shared by all connections (client-reads.ts): copy what is kept.
  private readonly lent: boolean;
  private readonly parser: HeadParser;
  private readonly exchange: Exchange;
  private phase = P_IDLE;
  private forgotten = false;
  private proxy: ClientProxy | null = null; // made when PROXY headers are read or sent
  // Bytes that arrived for later requests while one is in progress.
  private queued: Buffer | null = null;
  private pausedForQueue = false;
  private pausedForUpstream = false;
  private clientEnded = false; // the client half-closed
  private headBytes = 0; // of the head being received
  private sawRequestLine = false;

  /** 'https' on a TLS connection: X-Forwarded-Proto. */
  readonly proto: 'http' | 'https';
  /** The SNI name a `strict-sni` service holds requests to (421 otherwise); null: no such rule. */
  readonly sniName: string | null;
  /** The SNI name of a TLS connection, as `sni` matchers read it; '' otherwise. */
  readonly serverName: string;

  /** `proxied`: a PROXY header read before TLS (tls-listener.ts), or null for none; undefined: this session reads any itself. */
  constructor(ctx: SessionContext, accepted: net.Socket, proxied?: ProxyAddresses | null) {
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
    const secure = (socket as TLSSocket).encrypted === true; // tls-listener.ts
    this.proto = secure ? 'https' : 'http';
    this.serverName = secure ? normalizeName((socket as TLSSocket).servername || '') : '';
    this.sniName = secure && ctx.spec.tls?.strictSni === true ? this.serverName : null;
    if (proxied != null) {
      const proxy = new ClientProxy();
      proxy.adopt(proxied);
      this.proxy = proxy;
      this.clientAddress = proxy.clientAddress;
      this.clientPort = proxied.sourcePort;
    } else if (proxied === undefined && acceptsProxy(ctx.spec)) {
      this.phase = P_PROXY;
      this.proxy = new ClientProxy();
    }
    this.parser = ctx.takeRequestParser();
    this.exchange = new Exchange(ctx, this, socket, this.lent, this.parser, this.deadline);
    for (const o of ctx.observers) o.connectionOpened(ctx.spec.name);
    socket.setNoDelay(true);
    socket.on('end', () => this.guard(() => this.onClientEnd()));
    socket.on('drain', () => this.exchange.clientDrained());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.deadline.set(D_IDLE, ctx.spec.timeouts.clientIdleMs);
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

  /** Called by the service's timer sweep when `deadline` has passed. */
  expire(): void {
    this.guard(() => {
      switch (this.deadline.kind) {
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
          this.exchange.serverTimedOut(this.deadline.kind === D_CONNECT);
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
        if (!this.exchange.sender.body.done) {
          const end = this.exchange.forwardBody(chunk, 0);
          if (end !== -1 && end < chunk.length) this.enqueue(chunk.subarray(end));
        } else this.enqueue(chunk);
        return;
      case P_TUNNEL:
        if (!this.exchange.tunnel!.fromClient(chunk)) this.pauseForUpstream();
        return;
    }
  }

  /** The first bytes of a connection to a service that accepts PROXY headers (client-proxy.ts). */
  private readProxyHeader(chunk: Buffer): void {
    const proxy = this.proxy!;
    const verdict = proxy.read(chunk, this.lent, this.socket, this.ctx.spec, this.clientAddress === '');
    if (verdict === PROXY_WAIT) return this.deadline.set(D_HEAD, this.ctx.spec.timeouts.clientHeaderMs);
    if (verdict === PROXY_REFUSE) return this.refuseProxy(proxy.reason);
    if (verdict === PROXY_DROP) return this.destroy();
    if (proxy.received !== null) {
      this.clientAddress = proxy.clientAddress;
      this.clientPort = proxy.received.sourcePort;
    }
    this.phase = P_IDLE;
    this.deadline.set(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
    const rest = proxy.rest;
    proxy.rest = null;
    if (rest !== null) this.processInput(rest);
  }

  private refuseProxy(reason: string): void {
    this.ctx.log.warn({ client: this.clientAddress, reason }, 'refused');
    this.destroy();
  }

  proxyHeader(version: 1 | 2): Buffer {
    this.proxy ??= new ClientProxy();
    return this.proxy.header(version, this.clientAddress, this.clientPort, this.socket);
  }

  private enqueue(chunk: Buffer): void {
    // A lent chunk is copied to be kept.
    if (this.queued !== null) this.queued = Buffer.concat([this.queued, chunk]);
    else this.queued = this.lent ? Buffer.from(chunk) : chunk;
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
        this.deadline.set(D_HEAD, this.ctx.spec.timeouts.clientHeaderMs);
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
      this.phase = P_EXCHANGE; // until it is answered locally
      offset = this.exchange.start(buf, offset, this.headBytes);
      if (offset === -1) return; // refused and closed, or waiting for the body
    }
    if (offset < buf.length && this.phase !== P_CLOSED) this.enqueue(offset === 0 ? buf : buf.subarray(offset));
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
      if (!this.exchange.sender.body.done) {
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
    this.deadline.clear();
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
    if (this.exchange.state.closeAfter || !this.exchange.sender.body.done) {
      this.endClient();
      return;
    }
    this.phase = P_IDLE;
    this.deadline.set(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
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
    if (this.exchange.answer(status, reason, bodyPending, outcome, this.phase === P_CLOSED)) {
      this.endClient();
      return -1;
    }
    this.phase = P_IDLE;
    this.deadline.set(D_IDLE, this.ctx.spec.timeouts.clientIdleMs);
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
    this.deadline.clear();
    const socket = this.socket;
    socket.end();
    // A client that never closes its side after our FIN would hold the
    // socket forever (we accept half-closed clients): give it a few seconds.
    socket.setTimeout(CLIENT_FIN_TIMEOUT_MS, () => socket.destroy());
    this.cleanup();
  }

  destroy(): void {
    if (this.phase !== P_CLOSED) this.phase = P_CLOSED;
    this.deadline.clear();
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

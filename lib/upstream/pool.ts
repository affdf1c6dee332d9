// Keep-alive connections to one real server. The pool knows nothing of rules
// or schedulers: it hands out connections and takes them back.
//
// A server with send-proxy gets a PROXY header first on every connection,
// naming one client: such a connection is private to the client session that
// opened it (HAProxy marks them so). The pool never hands one to anyone
// else: between requests it is parked, and only the session that parked it
// reclaims it; the session closes it when it ends. The pool still sweeps,
// counts and closes parked connections like idle ones.
//
// A server with `tls` gets TLS connections through its pool's connector
// (lib/tls/upstream.ts), which resumes the last session; a connection counts
// as connected once its handshake is done, so a failed verification is a
// failed connect (retried on another server, else 502) and its reason, in
// words, is the error its owner gets.
import net from 'node:net';
import type { ServerTlsSpec } from '../config/model.ts';
import { describeUpstreamTlsError, sameServerTls, UpstreamTlsConnector } from '../tls/upstream.ts';
import { HeadParser } from '../http/llhttp.ts';
import { currentTurn, enterRead, leaveRead, readingNow, thisTurn } from '../net/loop-turn.ts';

/** Whoever is using a connection right now receives its events. */
export interface UpstreamOwner {
  onUpstreamConnect(conn: UpstreamConnection): void;
  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void;
  onUpstreamEnd(conn: UpstreamConnection): void;
  onUpstreamError(conn: UpstreamConnection, err: Error): void;
  onUpstreamDrain(conn: UpstreamConnection): void;
}

// The upstream connections of a thread read into one buffer they share,
// reused read after read: no allocation per read, and no external memory for
// the GC to chase (with a fresh 64 KiB buffer per read, 64 KiB responses set
// off a major GC every few hundred requests). A chunk is lent: the session
// writes it to its client before it returns, and when the client socket
// keeps some of it, keepReadBuffer() leaves that buffer to the write and the
// next read gets a new one. 128 KiB takes a 64 KiB body and its head in one
// read, so the client gets it in one write: 4 syscalls per 64 KiB exchange
// instead of 6. Shared, it costs 128 KiB per thread, not per connection.
export const READ_BUFFER_BYTES = 128 * 1024;
let sharedReadBuffer: Buffer | null = null;

// A server may write bytes after a complete response (a body after a 204 or
// a HEAD response, a second response nobody asked for). Read while the
// connection idles, they close it (onRead). What they must never become is
// the response to the next request sent on that connection, and two races
// allow it, both within one turn of the event loop (lib/net/loop-turn.ts):
//  - a connection released and handed out again in the same turn (the
//    client's next request was already waiting: pipelined) was never read
//    in between: bytes the server sent since are still in the kernel. So a
//    connection is not handed out in the turn it was released (acquire).
//  - a connection handed out from a socket read in a later turn may have
//    had bytes waiting when this turn's epoll_wait returned, listed after
//    the client's request. A read on it in that same turn is of bytes the
//    server sent before it could have seen our request: the connection is
//    closed and the request fails as on a connection the server had closed
//    (retried once on a fresh one when safe, else 502). A connection handed
//    out elsewhere (from a timer) is not judged so: the poll phase that
//    follows in the same turn could read a genuine answer.
// Bytes that arrive after epoll_wait returned and before our request went
// out cannot be told from an answer by anyone (HAProxy and nginx neither).

export class UpstreamConnection {
  readonly socket: net.Socket;
  readonly pool: ServerPool;
  /** Response heads on this connection; it lives as long as the connection. */
  readonly parser: HeadParser;
  owner: UpstreamOwner | null = null;
  /** The PROXY header version its first bytes carry (its pool's send-proxy when it opened); 0: none. */
  readonly sendProxy: 0 | 1 | 2;
  /** The TLS connector it was opened through (its pool's when it opened); null: plain TCP. */
  readonly tls: UpstreamTlsConnector | null;
  connected = false;
  /** True once the connection has carried a request before the current one. */
  reused = false;
  idleSince = 0;
  closed = false;
  /** The event loop turn it went idle in (a released one waits for the next turn). */
  idleTurn = -1;
  /** The turn it was last handed out in from a socket read (-1: fresh, elsewhere, or read from since). */
  handedOutTurn = -1;

  /** The buffer of this connection's read in progress. */
  private readBuffer: Buffer | null = null;

  constructor(pool: ServerPool, maxHeaderBytes: number) {
    this.pool = pool;
    this.parser = new HeadParser('response', maxHeaderBytes);
    const { host, port, sendProxy } = pool.options;
    this.sendProxy = sendProxy;
    const onread = { buffer: () => this.nextReadBuffer(), callback: (n: number) => this.onRead(n) };
    const connector = pool.tls;
    this.tls = connector;
    let socket: net.Socket;
    if (connector === null) socket = net.connect({ host, port, noDelay: true, onread });
    else {
      socket = connector.connect(undefined, onread);
      socket.setNoDelay(true);
    }
    this.socket = socket;
    // Listeners are set once per socket and dispatch to the current owner,
    // so handing a connection to the next request costs no listener churn.
    socket.on(connector === null ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.owner?.onUpstreamConnect(this);
    });
    socket.on('end', () => {
      if (this.owner !== null) this.owner.onUpstreamEnd(this);
      else this.destroy();
    });
    socket.on('error', (err: Error) => {
      const owner = this.owner;
      this.destroy();
      if (connector !== null && !this.connected) {
        // The handshake failed (or the connect under it): say why in the words of describeUpstreamTlsError.
        connector.forgetSession();
        err = new Error(describeUpstreamTlsError(err, connector));
      }
      owner?.onUpstreamError(this, err);
    });
    socket.on('close', () => {
      const owner = this.owner;
      this.markClosed();
      owner?.onUpstreamError(this, new Error('upstream closed'));
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
  }

  // Bytes land in the buffer nextReadBuffer handed out last.
  private onRead(n: number): boolean {
    const owner = this.owner;
    if (owner === null) {
      this.destroy(); // bytes on an idle connection: never a response to anything we will send
      return true;
    }
    if (this.handedOutTurn !== -1) {
      if (this.handedOutTurn === currentTurn()) {
        // Handed out in this turn's poll phase: these bytes were sent before our request.
        this.destroy();
        owner.onUpstreamError(this, new Error('upstream sent bytes on an idle connection'));
        return true;
      }
      this.handedOutTurn = -1;
    }
    enterRead();
    try {
      owner.onUpstreamData(this, this.readBuffer!.subarray(0, n));
    } finally {
      leaveRead();
    }
    return true;
  }

  /**
   * The owner kept (part of) the last chunk beyond its data callback, e.g. a
   * write to a client that did not go out at once: the next read must go
   * into another buffer.
   */
  keepReadBuffer(): void {
    if (sharedReadBuffer === this.readBuffer) sharedReadBuffer = null;
  }

  private nextReadBuffer(): Buffer {
    sharedReadBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    this.readBuffer = sharedReadBuffer;
    return sharedReadBuffer;
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner = null;
    this.pool.forget(this);
    this.parser.close();
  }

  destroy(): void {
    this.markClosed();
    this.socket.destroy();
  }
}

export interface PoolOptions {
  host: string;
  port: number;
  maxIdle: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  sendProxy: 0 | 1 | 2; // the PROXY header version new connections begin with; 0: none
  tls?: ServerTlsSpec; // connections speak TLS
}

/** A connector for the server's TLS, or null for plain TCP. */
function tlsConnector(options: PoolOptions): UpstreamTlsConnector | null {
  const spec = options.tls;
  if (spec === undefined) return null;
  const verify = spec.verify === 'ca' ? { caFile: spec.caFile!, caPem: spec.caPem! } : spec.verify;
  return new UpstreamTlsConnector(options.host, options.port, { verify, sni: spec.sni, line: spec.line });
}

export class ServerPool {
  options: PoolOptions;
  /** The server's TLS connector (its options and last session); null: plain TCP. */
  tls: UpstreamTlsConnector | null;
  private readonly idle: UpstreamConnection[] = [];
  /** Idle connections of a send-proxy server, each private to the session that parked it. */
  private readonly parked: UpstreamConnection[] = [];
  /** Connections open now, idle or busy. */
  open = 0;
  /** Its server left the config: connections close when their request ends. */
  private retired = false;

  constructor(options: PoolOptions) {
    this.options = options;
    this.tls = tlsConnector(options);
  }

  /** New limits and timeouts (a config change); connections already open keep their parsers' limit. */
  configure(options: PoolOptions): void {
    const sendProxyChanged = options.sendProxy !== this.options.sendProxy;
    const tlsChanged = !sameServerTls(options.tls, this.options.tls);
    this.options = options;
    if (tlsChanged) this.tls = tlsConnector(options);
    // Idle connections began with the old header (or none), or speak the old TLS: the server expects the new.
    if (sendProxyChanged || tlsChanged) this.closeAll();
  }

  /** An idle connection (most recently used first) or a new one. */
  acquire(owner: UpstreamOwner, fresh = false): UpstreamConnection {
    if (!fresh) {
      const now = Date.now();
      const current = currentTurn();
      // Most recently used first, skipping those released in this turn (see the top).
      for (let i = this.idle.length - 1; i >= 0; i--) {
        const conn = this.idle[i];
        if (conn.idleTurn === current) continue;
        this.idle.splice(i, 1);
        if (now - conn.idleSince >= this.options.idleTimeoutMs || conn.socket.destroyed) {
          conn.destroy();
          continue;
        }
        this.handOut(conn, owner);
        return conn;
      }
    }
    const conn = new UpstreamConnection(this, this.options.maxHeaderBytes);
    conn.owner = owner;
    this.open++;
    return conn;
  }

  private handOut(conn: UpstreamConnection, owner: UpstreamOwner): void {
    conn.owner = owner;
    conn.reused = true;
    conn.handedOutTurn = readingNow() ? thisTurn() : -1;
    conn.parser.setLimit(this.options.maxHeaderBytes);
    conn.socket.resume();
  }

  /**
   * Takes a connection back for anyone's reuse, or closes it when the pool
   * is full. A send-proxy connection is never shared: park() it instead.
   */
  release(conn: UpstreamConnection): void {
    conn.owner = null;
    if (conn.closed) return;
    // A connection that speaks the TLS of before a config change is not kept either.
    if (
      this.retired ||
      conn.sendProxy !== 0 ||
      this.options.sendProxy !== 0 ||
      conn.tls !== this.tls ||
      this.idle.length >= this.options.maxIdle
    ) {
      conn.destroy();
      return;
    }
    conn.idleSince = Date.now();
    conn.idleTurn = thisTurn();
    this.idle.push(conn);
  }

  /**
   * Keeps a send-proxy connection idle for the session that used it, which
   * alone may reclaim() it. False when it was closed instead (the pool is
   * full or retired, or the server's send-proxy changed since it opened).
   */
  park(conn: UpstreamConnection): boolean {
    conn.owner = null;
    if (conn.closed) return false;
    if (this.retired || conn.sendProxy !== this.options.sendProxy || conn.tls !== this.tls || this.parked.length >= this.options.maxIdle) {
      conn.destroy();
      return false;
    }
    conn.idleSince = Date.now();
    conn.idleTurn = thisTurn();
    this.parked.push(conn);
    return true;
  }

  /** A connection `owner` parked, back to it; false when it has closed or expired since (then open another). */
  reclaim(conn: UpstreamConnection, owner: UpstreamOwner): boolean {
    const i = this.parked.indexOf(conn);
    if (i === -1) return false; // closed (or swept) meanwhile
    this.parked.splice(i, 1);
    // Parked in this very turn: it has not been read since (see the top), and there is no other to skip to.
    if (conn.idleTurn === currentTurn() || Date.now() - conn.idleSince >= this.options.idleTimeoutMs || conn.socket.destroyed) {
      conn.destroy();
      return false;
    }
    this.handOut(conn, owner);
    return true;
  }

  /** Called when a connection closes, idle or not. */
  forget(conn: UpstreamConnection): void {
    this.open--;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.parked.length !== 0) {
      const j = this.parked.indexOf(conn);
      if (j !== -1) this.parked.splice(j, 1);
    }
  }

  /** Closes idle connections older than the idle timeout. */
  sweep(now: number): void {
    // Both stacks are ordered by idleSince, oldest at the bottom.
    const timeout = this.options.idleTimeoutMs;
    while (this.idle.length > 0 && now - this.idle[0].idleSince >= timeout) this.idle[0].destroy();
    while (this.parked.length > 0 && now - this.parked[0].idleSince >= timeout) this.parked[0].destroy();
  }

  closeAll(): void {
    while (this.idle.length > 0) this.idle[0].destroy();
    while (this.parked.length > 0) this.parked[0].destroy();
  }

  /** Closes the idle connections now and the busy ones as their requests end. */
  retire(): void {
    this.retired = true;
    this.closeAll();
  }
}

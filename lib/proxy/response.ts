// The response of an exchange, from the server to the client: its head read
// with the connection's parser, interim (1xx) responses passed on, the final
// head rewritten and its body framed and relayed (de-chunked for an HTTP/1.0
// client). One object per session, reset for each request.
import type net from 'node:net';
import { BodyFramer, FRAME_CLOSE } from '../http/body-framer.ts';
import { buildResponseHead, newFacts, type ResponseRewrite, scanHeaders } from '../http/head-rewrite.ts';
import { judgeResponseTransferEncoding } from '../http/transfer-encoding.ts';
import type { HeadParser, HeadParseError } from '../http/llhttp.ts';
import type { UpstreamConnection } from '../upstream/pool.ts';
import type { Choice } from './choice.ts';
import { writeHead } from './coalesce.ts';
import type { RequestState } from './request-state.ts';

/** What the relay tells the exchange it belongs to. */
export interface ResponseEvents {
  /** The response cannot be relayed; nothing of it reached the client yet (502). */
  badGateway(reason: string): void;
  /** The body broke its framing after the response began: the client must be cut off. */
  brokenFraming(reason: string): void;
  /** The response is complete; `cleanEnd`: nothing followed it in the last read. */
  responseEnded(cleanEnd: boolean): void;
  /** A 101: the head ends at `offset` of `chunk`. */
  switchingProtocols(conn: UpstreamConnection, chunk: Buffer, offset: number): void;
  /** The client half-closed and sent nothing more: this response is its last. */
  lastAnswer(): boolean;
}

export class ResponseRelay {
  readonly facts = newFacts();
  readonly body: BodyFramer;
  /** Any response byte received from the server. */
  started = false;
  /** The final head is in (or the connection switched protocols). */
  headDone = false;
  private pendingHead: string | null = null; // a de-chunked response's head, until its first data
  private conn: UpstreamConnection | null = null; // the one being read, paused while the client is slow
  // What buildResponseHead reads, one object reused for every head.
  private readonly rewrite: ResponseRewrite = {
    statusCode: 0,
    statusMessage: '',
    versionMinor: 1,
    headers: [],
    connection: null,
    upgrade: null,
  };
  private readonly socket: net.Socket;
  private readonly state: RequestState;
  private readonly choice: Choice;
  private readonly requestBody: BodyFramer;
  private readonly events: ResponseEvents;

  constructor(
    socket: net.Socket,
    state: RequestState,
    choice: Choice,
    requestBody: BodyFramer,
    events: ResponseEvents,
    maxHeaderBytes: number,
  ) {
    this.socket = socket;
    this.state = state;
    this.choice = choice;
    this.requestBody = requestBody;
    this.events = events;
    this.body = new BodyFramer(maxHeaderBytes);
  }

  reset(): void {
    this.started = false;
    this.headDone = false;
    this.pendingHead = null;
    this.conn = null;
  }

  /** Bytes the server sent: head(s) first, then the body. */
  read(conn: UpstreamConnection, chunk: Buffer): void {
    this.conn = conn;
    this.started = true;
    let offset = 0;
    let head: string | null = null;
    while (!this.headDone) {
      const slice = offset === 0 ? chunk : chunk.subarray(offset);
      let n: number;
      try {
        n = conn.parser.feed(slice);
      } catch (err) {
        this.events.badGateway(`malformed response: ${(err as HeadParseError).message}`);
        return;
      }
      if (n === -1) return;
      offset += n;
      const p = conn.parser;
      // llhttp reads any major version; HTTP/1.1 syntax carries only 1 (RFC 9112 §2.3).
      if (p.versionMajor !== 1) {
        this.events.badGateway(`response in HTTP/${p.versionMajor}.${p.versionMinor}`);
        return;
      }
      if (p.statusCode === 101) {
        this.events.switchingProtocols(conn, chunk, offset);
        return;
      }
      if (p.statusCode >= 100 && p.statusCode < 200) {
        // Interim responses (100 Continue, 103 Early Hints) pass through to
        // HTTP/1.1 clients (RFC 9110 §15.2); the final one follows.
        if (this.state.clientMinor >= 1) {
          scanHeaders(p.headers, this.facts);
          this.write(buildResponseHead(this.rewriteOf(p, p.headers, null, null), this.facts));
        }
        continue;
      }
      head = this.startResponse(p);
      if (head === null) return;
    }
    this.relayBody(chunk, offset, head);
  }

  /** Sets up body framing and returns the final response head to send; null when refused. */
  private startResponse(p: HeadParser): string | null {
    const state = this.state;
    this.headDone = true;
    state.status = p.statusCode;
    // Peek at framing fields before rewriting: buildResponseHead reads them from facts.
    const status = p.statusCode;
    const noBody = state.isHeadRequest || status === 204 || status === 304;
    const rf = this.facts;
    scanHeaders(p.headers, rf);
    if (rf.contentLength > Number.MAX_SAFE_INTEGER) {
      this.events.badGateway('response Content-Length too large');
      return null;
    }
    const chunked = rf.transferEncoding !== null;
    let dechunk = false;
    if (chunked) {
      // Chunked last, in one reading only, or 502 (RFC 9112 §6.1, §6.3; transfer-encoding.ts).
      const te = judgeResponseTransferEncoding(rf.transferEncoding!, p.versionMinor, state.clientMinor);
      if (te.status !== 0) {
        this.events.badGateway(te.reason);
        return null;
      }
      rf.transferEncoding = te.normalized; // sent on in this form; none to an HTTP/1.0 client
      dechunk = te.dechunk;
    }
    const body = this.body;
    if (noBody) body.none();
    else if (chunked) body.chunked(dechunk ? this.dechunkSink : null);
    else if (rf.contentLength >= 0) body.length(rf.contentLength);
    else body.untilClose();
    // A de-chunked body has no length: the close delimits it.
    if (body.mode === FRAME_CLOSE || body.dechunking || !this.requestBody.done) state.closeAfter = true;
    if (this.events.lastAnswer()) state.closeAfter = true;
    const connection = state.closeAfter ? 'close' : state.http10KeepAlive ? 'keep-alive' : null;
    const affinity = this.choice.group!.affinity;
    const headers = affinity?.rewritesResponse
      ? affinity.rewriteResponseHeaders(p.headers, this.choice.server!, this.choice.pinned)
      : p.headers;
    return buildResponseHead(this.rewriteOf(p, headers, connection, null), rf);
  }

  /** Sends `head` (when the response starts in this chunk) and the body bytes of `buf` from `start`. */
  private relayBody(buf: Buffer, start: number, head: string | null): void {
    if (this.body.dechunking) this.pendingHead = head;
    let end: number;
    try {
      end = this.body.advance(buf, start); // de-chunked data goes out through dechunkSink
    } catch (err) {
      const unsent = head !== null && (!this.body.dechunking || this.pendingHead !== null);
      this.pendingHead = null;
      if (unsent) this.events.badGateway(`bad upstream framing: ${(err as Error).message}`);
      else this.events.brokenFraming((err as Error).message);
      return;
    }
    if (this.body.dechunking) {
      if (this.pendingHead !== null) {
        this.write(this.pendingHead);
        this.pendingHead = null;
      }
    } else {
      const stop = end === -1 ? buf.length : end;
      if (head !== null) this.writeWithBody(head, buf, start, stop);
      else if (stop > start) this.write(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    }
    if (end === -1) return;
    // Bytes after the end of the response were never asked for: do not reuse.
    this.events.responseEnded(end === buf.length);
  }

  private readonly dechunkSink = (buf: Buffer, start: number, end: number): void => {
    const head = this.pendingHead;
    if (head === null) this.write(buf.subarray(start, end));
    else {
      this.pendingHead = null;
      this.writeWithBody(head, buf, start, end);
    }
  };

  /** The 101 head for a tunnel, with what followed it in `chunk`. */
  switchProtocols(p: HeadParser, chunk: Buffer, offset: number): void {
    this.headDone = true;
    this.state.status = 101;
    scanHeaders(p.headers, this.facts);
    this.write(buildResponseHead(this.rewriteOf(p, p.headers, 'upgrade', this.state.upgrade), this.facts));
    if (offset < chunk.length) this.write(chunk.subarray(offset));
  }

  private writeWithBody(head: string, buf: Buffer, start: number, stop: number): void {
    this.state.sent = true;
    this.state.bytesOut += head.length + stop - start;
    // The server's read buffer is only lent too, but onUpstreamData keeps it when the client has not taken it all.
    if (!writeHead(this.socket, null, head, buf, start, stop, false)) this.pauseServer();
  }

  write(data: Buffer | string): void {
    this.state.sent = true;
    this.state.bytesOut += data.length;
    const ok = typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
    if (!ok) this.pauseServer();
  }

  // A slow client: stop reading from the server until it drains.
  private pauseServer(): void {
    if (this.conn !== null) this.conn.socket.pause();
  }

  private rewriteOf(p: HeadParser, headers: string[], connection: ResponseRewrite['connection'], upgrade: string | null): ResponseRewrite {
    const r = this.rewrite;
    r.statusCode = p.statusCode;
    r.statusMessage = p.statusMessage;
    r.versionMinor = p.versionMinor;
    r.headers = headers;
    r.connection = connection;
    r.upgrade = upgrade;
    return r;
  }
}

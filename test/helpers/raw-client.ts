// A raw-socket HTTP/1.x client for tests: the test writes exact bytes and
// reads back exact responses, one after another on one connection, so
// keep-alive, pipelining and framing are observable byte for byte.
import net from 'node:net';
import { fieldValue, fieldValues, parseChunkedAt, parseHeadAt } from './http-bytes.ts';
import { quietFor } from './wait.ts';

export interface RawResponse {
  version: string; // "HTTP/1.1"
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  rawHead: string;
  /** The decoded body. */
  body: Buffer;
  /** The body bytes exactly as framed on the wire (chunk sizes, trailers). */
  rawBody: Buffer;
  trailers: Array<[string, string]>;
  /** 1xx responses that came before this one (not 101). */
  interim: RawResponse[];
  /** How the body was delimited. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  header(name: string): string | undefined;
  headerAll(name: string): string[];
}

export interface ReadOptions {
  /** The request was HEAD: no body whatever the head says. */
  head?: boolean;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class RawClient {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private closed = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.notify();
    });
  }

  /** `localAddress` picks the client's source address (any 127.x works on loopback). */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, allowHalfOpen: true, localAddress });
      socket.setNoDelay(true);
      const client = new RawClient(socket);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(client);
      });
      socket.once('error', reject);
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  write(data: string | Buffer): void {
    if (typeof data === 'string') this.socket.write(data, 'latin1');
    else this.socket.write(data);
  }

  /** Bytes received and not yet consumed by a read. */
  get pending(): Buffer {
    return this.buf;
  }

  get peerEnded(): boolean {
    return this.ended;
  }

  /** Waits until `ready` holds or the deadline passes; `ready` is re-checked on every event. */
  private async until(ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (ready()) return;
      if (this.error !== null) throw new Error(`${what}: socket error ${this.error.message}; have ${this.describe()}`);
      if (this.ended) throw new Error(`${what}: connection ended; have ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timed out after ${timeoutMs} ms; have ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private describe(): string {
    const text = this.buf.toString('latin1', 0, Math.min(this.buf.length, 300));
    return `${this.buf.length} bytes ${JSON.stringify(text)}`;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Waits for exactly `n` bytes and consumes them. */
  async readBytes(n: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Buffer> {
    await this.until(() => this.buf.length >= n, `reading ${n} bytes`, timeoutMs);
    return this.take(n);
  }

  /** Reads one response (1xx interim responses are collected into `interim`). */
  async readResponse(opts: ReadOptions = {}): Promise<RawResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const interim: RawResponse[] = [];
    for (let n = 0; n < 20; n++) {
      const res = await this.readOne(opts.head === true, timeoutMs);
      if (res.status >= 100 && res.status < 200 && res.status !== 101) {
        interim.push(res);
        continue;
      }
      res.interim = interim;
      return res;
    }
    throw new Error('more than 20 interim responses');
  }

  /** Reads one message head only (for 1xx and 101 handling by hand). */
  async readHead(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawResponse> {
    let parsed: ReturnType<typeof parseHeadAt> = null;
    await this.until(() => (parsed = parseHeadAt(this.buf, 0)) !== null, 'reading a response head', timeoutMs);
    const { head, end } = parsed!;
    this.take(end);
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(head.startLine);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(head.startLine)}`);
    return makeResponse(m[1], Number(m[2]), m[3] ?? '', head.headers, head.raw);
  }

  private async readOne(headRequest: boolean, timeoutMs: number): Promise<RawResponse> {
    const res = await this.readHead(timeoutMs);
    const te = res.header('transfer-encoding');
    const cl = res.header('content-length');
    if (headRequest || res.status < 200 || res.status === 204 || res.status === 304) {
      res.framing = 'none';
    } else if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
      res.framing = 'chunked';
      let chunked: ReturnType<typeof parseChunkedAt> = null;
      await this.until(() => (chunked = parseChunkedAt(this.buf, 0)) !== null, 'reading a chunked body', timeoutMs);
      const c = chunked!;
      res.rawBody = Buffer.from(this.take(c.end));
      res.body = c.data;
      res.trailers = c.trailers;
    } else if (cl !== undefined) {
      res.framing = 'length';
      const n = Number(cl);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad Content-Length ${cl}`);
      res.body = Buffer.from(await this.readBytes(n, timeoutMs));
      res.rawBody = res.body;
    } else {
      res.framing = 'close';
      // Close-delimited: everything until the server ends the connection.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (this.ended) break;
        if (this.error !== null) throw this.error;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`close-delimited body: no end after ${timeoutMs} ms; have ${this.describe()}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      res.body = Buffer.from(this.take(this.buf.length));
      res.rawBody = res.body;
    }
    return res;
  }

  /** Waits for the server to end the connection; true if it did in time and nothing extra arrived. */
  async waitEnd(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.ended) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Stays quiet for `ms`: true when the connection neither ended nor received bytes. */
  async staysOpen(ms: number): Promise<boolean> {
    await quietFor(ms, 'bytes or an end on the connection');
    return !this.ended && this.buf.length === 0;
  }

  close(): void {
    this.socket.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function makeResponse(version: string, status: number, reason: string, headers: Array<[string, string]>, rawHead: string): RawResponse {
  return {
    version,
    status,
    reason,
    headers,
    rawHead,
    body: Buffer.alloc(0),
    rawBody: Buffer.alloc(0),
    trailers: [],
    interim: [],
    framing: 'none',
    header: (name) => fieldValue(headers, name),
    headerAll: (name) => fieldValues(headers, name),
  };
}

/** A request head from a start line and fields; a Host field is added when absent. */
export function requestHead(method: string, target: string, fields: Array<[string, string]> = [], version = 'HTTP/1.1'): string {
  const hasHost = fields.some(([n]) => n.toLowerCase() === 'host');
  const all: Array<[string, string]> = hasHost || version === 'HTTP/1.0' ? fields : [['Host', 'test.local'], ...fields];
  return `${method} ${target} ${version}\r\n` + all.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n';
}

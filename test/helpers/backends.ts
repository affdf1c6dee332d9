// Small real servers for the proxy tests: an identity backend (node:http)
// that says who it is and records what it saw, and a raw backend (node:net)
// whose replies a test scripts byte for byte.
import http from 'node:http';
import net from 'node:net';
import { parseChunkedAt, parseHeadAt, fieldValue, type ParsedHead } from './http-bytes.ts';

export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: Array<[string, string]>;
  body: Buffer;
  connection: number; // 1-based id of the backend connection it came on
  indexOnConnection: number; // 0 for the first request on its connection
}

export interface IdentityBackend {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
  readonly requests: SeenRequest[];
  /** Connections accepted so far. */
  connections(): number;
  /** Connections open now. */
  openConnections(): number;
  header(req: SeenRequest, name: string): string | undefined;
  close(): Promise<void>;
}

export interface IdentityOptions {
  keepAliveTimeoutMs?: number;
  /** Replaces the default reply; the request body has been read into `seen.body`. */
  handler?: (seen: SeenRequest, req: http.IncomingMessage, res: http.ServerResponse) => void;
}

const MAX_DELAY_MS = 5000;

/**
 * A node:http server that answers `NAME METHOD URL\n` with X-Backend: NAME.
 * `?delay=MS` in the URL holds the answer back (at most 5 s).
 */
export async function startIdentityBackend(name: string, opts: IdentityOptions = {}): Promise<IdentityBackend> {
  const requests: SeenRequest[] = [];
  let connectionCount = 0;
  const connIds = new WeakMap<net.Socket, { id: number; served: number }>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const conn = connIds.get(req.socket) ?? { id: 0, served: 0 };
      const rawHeaders: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders,
        body: Buffer.concat(chunks),
        connection: conn.id,
        indexOnConnection: conn.served++,
      };
      requests.push(seen);
      if (opts.handler !== undefined) {
        opts.handler(seen, req, res);
        return;
      }
      const delay = Math.min(MAX_DELAY_MS, Number(new URL(seen.url, 'http://x').searchParams.get('delay') ?? 0) || 0);
      const reply = () => {
        const body = `${name} ${seen.method} ${seen.url}\n`;
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
  });
  server.on('connection', (socket: net.Socket) => {
    connIds.set(socket, { id: ++connectionCount, served: 0 });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  if (opts.keepAliveTimeoutMs !== undefined) {
    server.keepAliveTimeout = opts.keepAliveTimeoutMs;
    // Node adds this much on top of keepAliveTimeout (1 s by default); tests want the timeout as set.
    (server as http.Server & { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer = 0;
  }
  const port = await listen(server);
  return {
    name,
    port,
    server,
    requests,
    connections: () => connectionCount,
    openConnections: () => sockets.size,
    header: (req, h) => fieldValue(req.rawHeaders, h),
    close: () => closeServer(server, sockets),
  };
}

export interface RawRequest {
  head: ParsedHead;
  method: string;
  url: string;
  /** Body bytes exactly as framed on the wire (for chunked: sizes, extensions, trailers). */
  rawBody: Buffer;
  connection: number;
  indexOnConnection: number;
}

export interface RawBackend {
  readonly port: number;
  readonly requests: RawRequest[];
  connections(): number;
  /** Connections open now (the peer has not ended them). */
  open(): number;
  close(): Promise<void>;
}

/**
 * A node:net server that parses request heads (and Content-Length or
 * chunked bodies) itself and lets the test write any bytes back.
 * `onHead`, when given, sees each head as soon as it arrives, before the body.
 */
export async function startRawBackend(
  onRequest: (req: RawRequest, socket: net.Socket) => void,
  onHead?: (head: ParsedHead, socket: net.Socket, indexOnConnection: number) => 'stop' | undefined,
): Promise<RawBackend> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connectionCount = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const id = ++connectionCount;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    let served = 0;
    let pendingHead: { head: ParsedHead; end: number } | null = null;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let guard = 0; guard < 1000 && !socket.destroyed; guard++) {
        if (pendingHead === null) {
          pendingHead = parseHeadAt(buf, 0);
          if (pendingHead === null) return;
          if (onHead?.(pendingHead.head, socket, served) === 'stop') return;
        }
        const { head, end } = pendingHead;
        const te = fieldValue(head.headers, 'transfer-encoding');
        const cl = fieldValue(head.headers, 'content-length');
        let bodyEnd = end;
        if (te !== undefined) {
          const c = parseChunkedAt(buf, end);
          if (c === null) return;
          bodyEnd = c.end;
        } else if (cl !== undefined) {
          if (buf.length < end + Number(cl)) return;
          bodyEnd = end + Number(cl);
        }
        const [method, url] = head.startLine.split(' ');
        const req: RawRequest = {
          head,
          method,
          url,
          rawBody: Buffer.from(buf.subarray(end, bodyEnd)),
          connection: id,
          indexOnConnection: served++,
        };
        buf = buf.subarray(bodyEnd);
        pendingHead = null;
        requests.push(req);
        onRequest(req, socket);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    requests,
    connections: () => connectionCount,
    open: () => [...sockets].filter((s) => !s.readableEnded).length,
    close: () => closeServer(server, sockets),
  };
}

export function listen(server: net.Server | http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Stops listening and destroys every open connection, so close() never waits on keep-alive. */
export function closeServer(server: net.Server | http.Server, sockets: Set<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
    if (server instanceof http.Server) server.closeAllConnections();
  });
}

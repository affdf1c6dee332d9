// The admin socket server: JSON-lines RPC on a Unix socket that only its
// owner may use (mode 0600). Methods come from a handler table, so the L4
// core (l4.*) and later tcpvsadm's methods share one socket.
import net from 'node:net';
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConnectionGuard } from './guard.ts';
import {
  ADMIN_ERROR,
  AdminError,
  LineSplitter,
  MAX_REQUEST_LINE,
  errorBody,
  type AdminHandlers,
  type AdminId,
  type AdminResponse,
} from './protocol.ts';

export interface AdminServerOptions {
  path: string;
  handlers: AdminHandlers;
  log?: Pick<Logger, 'debug' | 'warn'>;
  /** Longest request line in bytes; default 1 MiB. */
  maxLine?: number;
  /** A connection with no traffic for this long is closed; default 10 minutes. */
  idleTimeoutMs?: number;
  /** At most this many connections at once; default 64. */
  maxConnections?: number;
}

export interface AdminServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Requests a connection may have waiting before tcpvs stops reading from it. */
const MAX_QUEUED_REQUESTS = 32;
/** How long the stale-socket probe waits for a connect to succeed or fail. */
const PROBE_TIMEOUT_MS = 2000;

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { path, handlers } = options;
  const maxLine = options.maxLine ?? MAX_REQUEST_LINE;
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  prepareDirectory(dirname(path));
  await removeStaleSocket(path);

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => serveAdminConnection(socket, sockets, handlers, options, maxLine, idleTimeoutMs, null, null));
  server.maxConnections = options.maxConnections ?? 64;

  await listenPrivately(server, path);
  server.on('error', (err) => options.log?.warn({ err, path }, 'admin socket error'));

  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        // libuv unlinks the socket file when the listening handle closes.
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Creates the socket's directory (0700) if missing; refuses one owned by another non-root user. */
function prepareDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.();
  if (uid === undefined) return;
  const st = statSync(dir);
  if (st.uid !== uid && st.uid !== 0) {
    throw new AdminError('unsafe-path', `admin socket directory ${dir} belongs to uid ${st.uid}, not to this user (${uid})`);
  }
}

/** Removes a socket file nobody listens on; refuses a live one or a non-socket file. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new AdminError('unsafe-path', `${path} exists and is not a socket; not replacing it`);
  const state = await probeSocket(path, PROBE_TIMEOUT_MS);
  if (state === 'live') throw new AdminError('in-use', `another process is listening on admin socket ${path}`);
  if (state === 'stale') {
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Whether something accepts connections on a Unix socket path. */
export function probeSocket(path: string, timeoutMs: number): Promise<'live' | 'stale' | 'absent'> {
  return new Promise((resolve, reject) => {
    const probe = net.connect(path);
    const timer = setTimeout(() => {
      probe.destroy();
      // A listener too busy to accept is still a listener.
      resolve('live');
    }, timeoutMs);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve('live');
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('absent');
      else reject(err);
    });
  });
}

/** Listens with a umask that creates the socket file 0600, then chmods it to be sure. */
function listenPrivately(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    let previous: number | null = null;
    try {
      previous = process.umask(0o177);
    } catch {
      // Worker threads cannot change the umask; the chmod below still runs before 'listening' resolves.
    }
    try {
      // For a path, bind() happens synchronously inside listen(), so the umask covers exactly this call.
      server.listen({ path, exclusive: true }, () => {
        server.off('error', onError);
        try {
          chmodSync(path, 0o600);
        } catch (err) {
          server.close();
          reject(err);
          return;
        }
        resolve();
      });
    } finally {
      if (previous !== null) process.umask(previous);
    }
  });
}

/**
 * One admin connection: JSON lines in, answers in request order out. With
 * `tokenDigest`, every request must carry the token (`"token": "..."`), the
 * guard holds the connection to its deadline until the first one does, and
 * a request without it is answered and the connection closed.
 */
function serveAdminConnection(
  socket: net.Socket,
  sockets: Set<net.Socket>,
  handlers: AdminHandlers,
  options: { log?: Pick<Logger, 'debug' | 'warn'> },
  maxLine: number,
  idleTimeoutMs: number,
  tokenDigest: Buffer | null,
  guard: ConnectionGuard | null,
): void {
  sockets.add(socket);
  guard?.track(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', (err) => options.log?.debug({ err }, 'admin connection error'));
  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  const splitter = new LineSplitter(maxLine);
  let chain: Promise<void> = Promise.resolve();
  let hangUp = false;
  let queued = 0;

  const send = (response: AdminResponse): void => {
    if (socket.destroyed || !socket.writable) return;
    let line: string;
    try {
      line = JSON.stringify(response);
    } catch (err) {
      line = JSON.stringify({
        id: response.id,
        error: { code: ADMIN_ERROR.failed, message: `cannot encode result: ${(err as Error).message}` },
      });
    }
    socket.write(line + '\n');
  };

  const onData = (chunk: Buffer): void => {
    const lines = splitter.push(chunk);
    if (lines === null) {
      // The rest of an oversized line cannot be told from the next request: answer what came before, then hang up.
      socket.off('data', onData);
      socket.pause();
      chain = chain.then(() => {
        send({ id: null, error: { code: ADMIN_ERROR.lineTooLong, message: `request line longer than ${maxLine} bytes` } });
        socket.end();
      });
      return;
    }
    for (const line of lines) {
      if (line.trim() === '') continue;
      queued++;
      if (queued >= MAX_QUEUED_REQUESTS) socket.pause();
      chain = chain.then(async () => {
        if (hangUp) return;
        send(await answer(line));
        if (hangUp) {
          socket.off('data', onData);
          socket.end();
        }
        queued--;
        if (queued < MAX_QUEUED_REQUESTS && socket.isPaused() && socket.listenerCount('data') > 0) socket.resume();
      });
    }
  };
  socket.on('data', onData);

  async function answer(line: string): Promise<AdminResponse> {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      return { id: null, error: { code: ADMIN_ERROR.badRequest, message: 'request is not valid JSON' } };
    }
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      return { id: null, error: { code: ADMIN_ERROR.badRequest, message: 'request must be a JSON object' } };
    }
    const { id, method, params, token } = request as { id?: unknown; method?: unknown; params?: unknown; token?: unknown };
    const replyId: AdminId | null = typeof id === 'number' || typeof id === 'string' ? id : null;
    if (replyId === null) return { id: null, error: { code: ADMIN_ERROR.badRequest, message: 'request needs an "id" (number or string)' } };
    if (tokenDigest !== null) {
      if (typeof token !== 'string' || !timingSafeEqual(digest(token), tokenDigest)) {
        // Nothing more from a connection that guessed wrong: answer, then hang up.
        hangUp = true;
        return { id: replyId, error: { code: 'unauthorized', message: 'the TCP admin listener needs the right "token"' } };
      }
      if (guard !== null && !guard.admit(socket)) return { id: replyId, error: { code: 'busy', message: 'too many admin connections' } };
    }
    if (typeof method !== 'string')
      return { id: replyId, error: { code: ADMIN_ERROR.badRequest, message: 'request needs a "method" string' } };
    if (!Object.hasOwn(handlers, method))
      return { id: replyId, error: { code: ADMIN_ERROR.noMethod, message: `unknown method "${method}"` } };
    try {
      const result = await handlers[method](params ?? {});
      return { id: replyId, result: result === undefined ? null : result };
    } catch (err) {
      options.log?.debug({ err, method }, 'admin method failed');
      return { id: replyId, error: errorBody(err) };
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export interface AdminTcpOptions {
  host: string;
  port: number; // 0: any free port (see `address`)
  token: string;
  handlers: AdminHandlers;
  log?: Pick<Logger, 'debug' | 'warn'>;
  /** Connections without the token yet: deadline and bounds (guard.ts); tests shorten them. */
  guard?: ConnectionGuard;
}

/** The optional TCP admin listener: the same protocol as the Unix socket, every request with the token. */
export async function startAdminTcpServer(options: AdminTcpOptions): Promise<{ address: net.AddressInfo; close(): Promise<void> }> {
  if (options.token === '') throw new AdminError('bad-request', 'the TCP admin listener needs a token');
  const sockets = new Set<net.Socket>();
  const tokenDigest = digest(options.token);
  const guard =
    options.guard ??
    new ConnectionGuard({
      onRefused: (address, reason) => options.log?.debug({ client: address, reason }, 'admin tcp: connection closed'),
    });
  const server = net.createServer((socket) =>
    serveAdminConnection(socket, sockets, options.handlers, options, MAX_REQUEST_LINE, 600_000, tokenDigest, guard),
  );
  server.maxConnections = 1024; // a bound on file descriptors; the guard bounds who holds them
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as net.AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

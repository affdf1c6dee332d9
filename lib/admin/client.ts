// The admin socket client: one connection, calls answered in order. Used by
// `tcpvs ipvsadm` (through the remote L4 core) and by tests; `adminCall` is
// the one-shot form.
import net from 'node:net';
import { ADMIN_ERROR, AdminError, LineSplitter, MAX_RESPONSE_LINE, type AdminResponse } from './protocol.ts';

export interface AdminClient {
  readonly path: string;
  /** Sends one request; resolves with its result, rejects with AdminError on an error answer. */
  call(method: string, params?: unknown, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Connects to the admin socket; rejects with the socket error (ENOENT,
 * ECONNREFUSED, EACCES, ...). `tcp://HOST:PORT` reaches the optional TCP
 * admin listener instead; its token comes from TCPVS_ADMIN_TOKEN.
 */
export function openAdminClient(path: string, connectTimeoutMs = 5000, tcpToken?: string): Promise<AdminClient> {
  return new Promise((resolve, reject) => {
    const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(path);
    const socket = tcp === null ? net.connect(path) : net.connect({ host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2]) });
    const token = tcp === null ? undefined : (tcpToken ?? process.env.TCPVS_ADMIN_TOKEN);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AdminError('timeout', `no connection to admin socket ${path} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(wrap(path, socket, token));
    });
  });
}

function wrap(path: string, socket: net.Socket, token: string | undefined): AdminClient {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failure: Error | null = null;
  const splitter = new LineSplitter(MAX_RESPONSE_LINE);

  const failAll = (err: Error): void => {
    failure ??= err;
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(failure);
    }
  };

  socket.on('data', (chunk: Buffer) => {
    const lines = splitter.push(chunk);
    if (lines === null) {
      socket.destroy();
      failAll(new AdminError(ADMIN_ERROR.lineTooLong, `answer from ${path} longer than ${MAX_RESPONSE_LINE} bytes`));
      return;
    }
    for (const line of lines) {
      let response: AdminResponse;
      try {
        response = JSON.parse(line) as AdminResponse;
      } catch {
        socket.destroy();
        failAll(new AdminError(ADMIN_ERROR.badRequest, `answer from ${path} is not JSON`));
        return;
      }
      if (typeof response.id !== 'number') {
        // An answer without our id (e.g. line-too-long) is about the whole connection.
        const body = 'error' in response ? response.error : { code: ADMIN_ERROR.failed, message: 'answer without id' };
        failAll(new AdminError(body.code, body.message));
        continue;
      }
      const p = pending.get(response.id);
      if (p === undefined) continue;
      pending.delete(response.id);
      clearTimeout(p.timer);
      if ('error' in response) p.reject(new AdminError(response.error.code, response.error.message));
      else p.resolve(response.result);
    }
  });
  socket.on('error', (err) => failAll(new AdminError('closed', `admin socket ${path}: connection lost (${err.message})`)));
  socket.on('close', () => failAll(new AdminError('closed', `admin socket ${path} closed the connection`)));

  return {
    path,
    call(method, params = {}, timeoutMs = 10_000) {
      if (failure !== null) return Promise.reject(failure);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new AdminError('timeout', `${method}: no answer from ${path} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        socket.write(JSON.stringify(token === undefined ? { id, method, params } : { id, method, params, token }) + '\n');
      });
    },
    close() {
      socket.end();
      socket.destroy();
    },
  };
}

/** Connects, makes one call, and disconnects. */
export async function adminCall(path: string, method: string, params: unknown, timeoutMs = 10_000): Promise<unknown> {
  const started = Date.now();
  const client = await openAdminClient(path, timeoutMs);
  try {
    return await client.call(method, params, Math.max(1, timeoutMs - (Date.now() - started)));
  } finally {
    client.close();
  }
}

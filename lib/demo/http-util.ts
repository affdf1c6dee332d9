// Small pieces shared by the demo backends.

import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  server: Server;
  port: number; // the bound port (the real one when 0 was asked for)
  close(): Promise<void>;
}

// close() waits this long for running responses before cutting their sockets.
const CLOSE_GRACE_MS = 2000;

/** Listens and resolves once bound; close() drops idle keep-alive sockets at once. */
export function listen(server: Server, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const bound = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
            cut.unref();
            server.close(() => {
              clearTimeout(cut);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** A complete short text response; the body is omitted for HEAD by node itself. */
export function sendText(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Path and query (without '?') of an origin-form or absolute-form request
 * target; null for any other form. A fragment, never sent by browsers, is dropped.
 */
export function splitTarget(target: string): { path: string; query: string } | null {
  let t = target;
  if (!t.startsWith('/')) {
    const authority = /^https?:\/\/[^/?#]*/i.exec(t);
    if (authority === null) return null;
    t = t.slice(authority[0].length);
    if (!t.startsWith('/')) t = '/' + t;
  }
  const hash = t.indexOf('#');
  if (hash !== -1) t = t.slice(0, hash);
  const q = t.indexOf('?');
  return q === -1 ? { path: t, query: '' } : { path: t.slice(0, q), query: t.slice(q + 1) };
}

// The admin HTTP listener: the stats page (GET / or /stats), the snapshot as
// JSON (/stats.json) and Prometheus metrics (/metrics). Read-only. When a
// token is configured every request must carry it, as `Authorization: Bearer
// TOKEN` or, for a browser, `?token=TOKEN`; it is compared in constant time.
import http from 'node:http';
import type net from 'node:net';
import { hostname } from 'node:os';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import type { StatsSource } from '../stats/collector.ts';
import { PAGE_CSP, renderStatsPage } from '../stats/page.ts';
import { ConnectionGuard } from './guard.ts';
import { ProcessSampler } from '../stats/process.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics, type ClusterSample } from '../stats/prometheus.ts';

export interface AdminHttpOptions {
  host: string;
  port: number; // 0: any free port (see `address`)
  token: string | null;
  /** A collector (createStats()), or anything that gives snapshots, e.g. the merge of every worker's. */
  stats: StatsSource;
  cluster?: () => ClusterSample; // director state changes and state sync, for /metrics
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Connections without a request with the token yet: deadline and bounds (guard.ts); tests shorten them. */
  guard?: ConnectionGuard;
  /** /ready: null when tcpvs takes traffic, else why not (draining, say); absent: always ready. */
  notReady?: () => string | null;
  /** The version /metrics reports in tcpvs_build_info. */
  version?: string;
}

export interface AdminHttp {
  readonly address: net.AddressInfo;
  close(): Promise<void>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares through fixed-length digests, so neither content nor length leaks through timing. */
function tokenMatches(expected: Buffer, given: string | null): boolean {
  if (given === null) return false;
  return timingSafeEqual(expected, digest(given));
}

function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m === null ? null : m[1];
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttp> {
  const { stats, log } = options;
  const expected = options.token === null ? null : digest(options.token);
  const processes = new ProcessSampler(options.version ?? '?');
  const guard =
    options.guard ??
    new ConnectionGuard({ onRefused: (address, reason) => log?.debug({ client: address, reason }, 'admin http: connection closed') });
  const host = hostname();

  function send(
    res: http.ServerResponse,
    head: boolean,
    status: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
  ): void {
    res.writeHead(status, { ...COMMON_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
    res.end(head ? undefined : body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? '';
    const head = method === 'HEAD';
    if (method !== 'GET' && !head) return send(res, false, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n', { allow: 'GET, HEAD' });
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const queryToken = url.searchParams.get('token');
    if (expected !== null && !tokenMatches(expected, bearerToken(req.headers.authorization) ?? queryToken)) {
      log?.debug({ path: url.pathname, client: req.socket.remoteAddress }, 'admin http: refused, no valid token');
      return send(res, head, 401, 'text/plain; charset=utf-8', 'a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n', {
        'www-authenticate': 'Bearer realm="tcpvs"',
        connection: 'close',
      });
    }
    if (!guard.admit(req.socket)) return;
    switch (url.pathname) {
      case '/':
      case '/stats': {
        const linkQuery = queryToken === null ? '' : `?token=${encodeURIComponent(queryToken)}`;
        const page = renderStatsPage(await stats.snapshot(), { hostname: host, pid: process.pid, linkQuery });
        return send(res, head, 200, 'text/html; charset=utf-8', page, { 'content-security-policy': PAGE_CSP });
      }
      case '/stats.json':
        return send(res, head, 200, 'application/json; charset=utf-8', JSON.stringify(await stats.snapshot()) + '\n');
      case '/metrics':
        return send(
          res,
          head,
          200,
          PROMETHEUS_CONTENT_TYPE,
          renderMetrics(await stats.snapshot({ histograms: true }), { ...options.cluster?.(), process: processes.sample() }),
        );
      case '/ready': {
        // For a load balancer or an orchestrator: 200 while tcpvs takes traffic, 503 once it drains.
        const why = options.notReady?.() ?? null;
        return why === null
          ? send(res, head, 200, 'text/plain; charset=utf-8', 'ready\n')
          : send(res, head, 503, 'text/plain; charset=utf-8', `not ready: ${why}\n`);
      }
      default:
        return send(res, head, 404, 'text/plain; charset=utf-8', 'not found: try /, /stats.json, /metrics or /ready\n');
    }
  }

  const server = http.createServer(
    { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 16_384 },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        // No numbers to give (a worker did not answer, say): say so, and keep serving.
        log?.warn({ err }, 'admin http: no snapshot');
        if (!res.headersSent) send(res, false, 503, 'text/plain; charset=utf-8', `statistics unavailable: ${(err as Error).message}\n`);
        else res.destroy();
      });
    },
  );
  server.maxConnections = 1024; // a bound on file descriptors; the guard bounds who holds them
  server.on('connection', (socket: net.Socket) => guard.track(socket));
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log?.warn({ err }, 'admin http listener error'));
  const address = server.address() as net.AddressInfo;
  log?.info({ address: address.address, port: address.port, token: expected !== null }, 'admin http listening');

  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        processes.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

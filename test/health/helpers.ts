// Shared pieces of the health tests: a backend whose health endpoint a test
// flips, a fake agent, a logger that keeps its lines, bounded waiting, and a
// tcpvs started in process with its health checks.
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Test } from 'tap';
import { listen, closeServer } from '../helpers/backends.ts';
import { startTcpvs, type InProcessTcpvs } from '../helpers/tcpvs.ts';
import type { HealthChecks } from '../../lib/health/index.ts';
import type { Logger } from '../../lib/log/logger.ts';

export type HealthMode = 'ok' | 'fail' | 'hang' | 'degraded';

export interface HealthHit {
  at: number;
  mode: HealthMode;
}

export interface FlipBackend {
  readonly name: string;
  readonly port: number;
  mode: HealthMode;
  /** Requests to /health, with the mode each met. */
  readonly hits: HealthHit[];
  /** Requests to anything else (the traffic tcpvs forwards). */
  served: number;
  close(): Promise<void>;
}

/**
 * An HTTP backend: `/health` answers by `mode` (200 "status: ok", 503,
 * never, or 200 "status: degraded"); every other path answers 200 with
 * `X-Backend: NAME`, whatever the mode, so traffic only leaves it because
 * of the health check.
 */
export async function startFlipBackend(t: Test, name: string): Promise<FlipBackend> {
  const sockets = new Set<net.Socket>();
  const backend: FlipBackend = {
    name,
    port: 0,
    mode: 'ok',
    hits: [],
    served: 0,
    close: () => closeServer(server, sockets),
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      const mode = backend.mode;
      backend.hits.push({ at: Date.now(), mode });
      if (mode === 'hang') return; // closed by the checker's timeout
      const [status, body] =
        mode === 'fail' ? [503, 'status: failing\n'] : mode === 'degraded' ? [200, 'status: degraded\n'] : [200, 'status: ok\n'];
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
      return;
    }
    backend.served++;
    const body = `${name}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name, 'content-length': body.length });
    res.end(body);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  (backend as { port: number }).port = await listen(server);
  t.teardown(() => backend.close());
  return backend;
}

export interface FakeAgent {
  readonly port: number;
  line: string;
  connections: number;
  close(): Promise<void>;
}

/** An agent that answers every connection with `line` (a newline is added) and closes. */
export async function startFakeAgent(t: Test, line: string): Promise<FakeAgent> {
  const sockets = new Set<net.Socket>();
  const agent: FakeAgent = { port: 0, line, connections: 0, close: () => closeServer(server, sockets) };
  const server = net.createServer((socket) => {
    agent.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.end(`${agent.line}\n`);
  });
  (agent as { port: number }).port = await listen(server);
  t.teardown(() => agent.close());
  return agent;
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export const WARN = 40;
export const INFO = 30;

/** A pino logger that keeps every line it writes, parsed. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

/** Polls `check` every 5 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - started;
}

/** One GET through tcpvs on a fresh connection: the status and the X-Backend that answered. */
export function get(port: number, path = '/'): Promise<{ status: number; backend: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, backend: res.headers['x-backend'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** `count` requests in sequence; how many each backend answered (by name, or by status when none did). */
export async function spread(port: number, count: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const r = await get(port);
    const key = r.backend ?? `status ${r.status}`;
    seen[key] = (seen[key] ?? 0) + 1;
  }
  return seen;
}

export interface HealthyTcpvs {
  tcpvs: InProcessTcpvs;
  health: HealthChecks;
  lines: LogLine[];
}

/** tcpvs on the given config text, its health checks logging to `lines`; stopped in teardown. */
export async function startWithHealth(t: Test, configText: string): Promise<HealthyTcpvs> {
  const { log, lines } = captureLogger();
  const tcpvs = await startTcpvs(configText, log);
  t.teardown(() => tcpvs.close());
  return { tcpvs, health: tcpvs.running.health, lines };
}

/** A config with one service and one group `g` on 127.0.0.1 ports, followed by `groupLines`. */
export function groupConfig(servers: Array<number | { port: number; weight: number }>, groupLines: string[], scheduler = 'rr'): string {
  const lines = ['log level silent', 'service test', '  listen 127.0.0.1:0', `  group g scheduler ${scheduler}`];
  for (const s of servers)
    lines.push(typeof s === 'number' ? `    server 127.0.0.1:${s}` : `    server 127.0.0.1:${s.port} weight ${s.weight}`);
  for (const l of groupLines) lines.push(`    ${l}`);
  lines.push('  default g');
  return lines.join('\n') + '\n';
}

/** A port nothing listens on (test/helpers/ports.ts). */
export { freePort as closedPort } from '../helpers/ports.ts';

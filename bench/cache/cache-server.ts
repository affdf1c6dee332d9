// The cache cluster: N HTTP cache nodes in one process (one listener each, so
// CPU use stays sane on a small machine). Every node has its own LRU of
// CAPACITY objects and its own keep-alive pool to the origin: a hit is answered
// from memory, a miss is fetched from the origin, stored and answered.
// Concurrent misses for one object are not coalesced: each goes to the origin.
//   node bench/cache/cache-server.ts ORIGIN_PORT CAPACITY PORT...
// Admin paths, per node, not counted: GET /_stats, POST /_reset (counters),
// POST /_flush (counters and contents).
import http from 'node:http';
import { LRUCache } from 'lru-cache';
import { Pool } from 'undici';
import { exitWhenParentGoes, portArg } from '../lib/child-guard.ts';

export interface CacheNodeStats {
  node: number;
  port: number;
  requests: number; // object requests (hits + misses + errors)
  hits: number;
  misses: number;
  errors: number; // origin failures, answered 502
  size: number; // objects cached now
  // Time-averaged requests in flight on this node since the last reset: the
  // "load" that least-connection and bounded-load schedulers balance, as
  // opposed to the request count.
  meanInFlight: number;
}

const USAGE = 'cache-server.ts ORIGIN_PORT CAPACITY PORT...';
const originPort = portArg(0, USAGE);
const capacity = Number(process.argv[3]);
if (!Number.isInteger(capacity) || capacity < 1) {
  process.stderr.write(`usage: ${USAGE}\n`);
  process.exit(2);
}
const ports: number[] = [];
for (let i = 2; 2 + i < process.argv.length; i++) ports.push(portArg(i, USAGE));
if (ports.length === 0) {
  process.stderr.write(`usage: ${USAGE}\n`);
  process.exit(2);
}

const NO_CONTENT: string[] = ['Content-Length', '0'];

class CacheNode {
  readonly stats: CacheNodeStats;
  private readonly objects: LRUCache<string, Buffer>;
  private readonly origin: Pool;
  private inFlight = 0;
  private inFlightArea = 0; // sum of inFlight x elapsed ms since the last reset
  private lastChange = performance.now();
  private resetAt = performance.now();

  constructor(node: number, port: number) {
    this.stats = { node, port, requests: 0, hits: 0, misses: 0, errors: 0, size: 0, meanInFlight: 0 };
    this.objects = new LRUCache<string, Buffer>({ max: capacity });
    // More origin connections than the bench has clients: a miss never queues for a socket.
    this.origin = new Pool(`http://127.0.0.1:${originPort}`, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    if (url.startsWith('/_')) return this.admin(req.method ?? 'GET', url, res);
    this.stats.requests++;
    const cached = this.objects.get(url);
    if (cached !== undefined) {
      // Answered within this tick: no time in flight on this node.
      this.stats.hits++;
      res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(cached.length), 'X-Cache', 'HIT']);
      res.end(cached);
      return;
    }
    this.stats.misses++;
    this.accountInFlight(1);
    this.fetchFromOrigin(url).then(
      (body) => {
        this.accountInFlight(-1);
        this.objects.set(url, body);
        res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(body.length), 'X-Cache', 'MISS']);
        res.end(body);
      },
      () => {
        this.accountInFlight(-1);
        this.stats.errors++;
        res.writeHead(502, NO_CONTENT);
        res.end();
      },
    );
  }

  private accountInFlight(change: number): void {
    const now = performance.now();
    this.inFlightArea += this.inFlight * (now - this.lastChange);
    this.lastChange = now;
    this.inFlight += change;
  }

  private async fetchFromOrigin(path: string): Promise<Buffer> {
    const response = await this.origin.request({ method: 'GET', path, headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = Buffer.from(await response.body.arrayBuffer());
    if (response.statusCode !== 200) throw new Error(`origin answered ${response.statusCode}`);
    return body;
  }

  private admin(method: string, url: string, res: http.ServerResponse): void {
    if (method === 'GET' && url === '/_stats') {
      this.stats.size = this.objects.size;
      this.accountInFlight(0);
      const elapsed = this.lastChange - this.resetAt;
      this.stats.meanInFlight = elapsed > 0 ? this.inFlightArea / elapsed : 0;
      const text = JSON.stringify(this.stats);
      res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(text))]);
      res.end(text);
      return;
    }
    if (method === 'POST' && (url === '/_reset' || url === '/_flush')) {
      if (url === '/_flush') this.objects.clear();
      this.stats.requests = 0;
      this.stats.hits = 0;
      this.stats.misses = 0;
      this.stats.errors = 0;
      this.accountInFlight(0);
      this.inFlightArea = 0;
      this.resetAt = this.lastChange;
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404, NO_CONTENT);
    res.end();
  }
}

ports.forEach((port, node) => {
  const cacheNode = new CacheNode(node, port);
  const server = http.createServer((req, res) => cacheNode.handle(req, res));
  // tcpvs's pooled connections sit idle between schedulers; keep them usable.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.listen(port, '127.0.0.1');
});
exitWhenParentGoes();

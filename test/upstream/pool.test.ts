// The upstream pool (lib/upstream/pool.ts) on its own, against a real TCP
// server on 127.0.0.1: connections opened, handed back and handed out again
// (never in the turn they came back), idle expiry, the idle limit, a server
// that closes or talks on an idle connection, a dead server, and the
// send-proxy connections that are parked for one session; TLS connections
// (up once the handshake is done; a failed verification an error in words;
// a change of TLS closes those of before, idle or busy).
import t from 'tap';
import type { Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { createTestCa, ensureOpenssl } from '../helpers/certs.ts';
import { type PoolOptions, ServerPool, type UpstreamConnection, type UpstreamOwner } from '../../lib/upstream/pool.ts';
import { listen, closeServer } from '../helpers/backends.ts';
import { deadPort } from '../helpers/refuse-helpers.ts';
import { pollUntil } from '../helpers/process.ts';

interface TestServer {
  port: number;
  /** Server-side sockets, in the order they were accepted. */
  accepted: net.Socket[];
  /** Everything each accepted socket received, by accept order. */
  received: string[];
}

async function startServer(t: Test): Promise<TestServer> {
  const accepted: net.Socket[] = [];
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const index = accepted.length;
    accepted.push(socket);
    received.push('');
    sockets.add(socket);
    socket.on('data', (chunk) => (received[index] += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  return { port, accepted, received };
}

/** An owner that writes down what it is told. */
class Recorder implements UpstreamOwner {
  connects = 0;
  data = '';
  ends = 0;
  errors: string[] = [];
  onUpstreamConnect(): void {
    this.connects++;
  }
  onUpstreamData(_conn: UpstreamConnection, chunk: Buffer): void {
    this.data += chunk.toString('latin1');
  }
  onUpstreamEnd(): void {
    this.ends++;
  }
  onUpstreamError(_conn: UpstreamConnection, err: Error): void {
    this.errors.push(err.message);
  }
  onUpstreamDrain(): void {}
}

function options(port: number, overrides: Partial<PoolOptions> = {}): PoolOptions {
  return { host: '127.0.0.1', port, maxIdle: 8, idleTimeoutMs: 60_000, maxHeaderBytes: 16 * 1024, sendProxy: 0, ...overrides };
}

function pool(t: Test, opts: PoolOptions): ServerPool {
  const p = new ServerPool(opts);
  t.teardown(() => p.closeAll());
  return p;
}

/** Resolves in a later turn of the event loop: after the check phase of this one. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function connected(t: Test, conn: UpstreamConnection): Promise<void> {
  t.ok(await pollUntil(() => conn.connected, 5000, 5), 'the connection is up');
}

/** `n` connections from `p`, each owned by a fresh Recorder, once all are up. */
async function openConnected(t: Test, p: ServerPool, n: number): Promise<UpstreamConnection[]> {
  const conns = Array.from({ length: n }, () => p.acquire(new Recorder()));
  for (const c of conns) await connected(t, c);
  return conns;
}

function closedEvent(conn: UpstreamConnection): Promise<void> {
  return new Promise((resolve) => (conn.socket.closed ? resolve() : conn.socket.once('close', () => resolve())));
}

t.test('a new connection: its owner hears connect and data, and the server gets our bytes', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const owner = new Recorder();
  const conn = p.acquire(owner);
  t.equal(p.open, 1, 'counted as open before it connects');
  t.equal(conn.owner, owner);
  t.equal(conn.reused, false);
  await connected(t, conn);
  t.equal(owner.connects, 1);
  conn.socket.write('ping');
  t.ok(await pollUntil(() => server.received[0] === 'ping', 5000, 5), 'the server read what we wrote');
  server.accepted[0].write('pong');
  t.ok(await pollUntil(() => owner.data === 'pong', 5000, 5), 'the owner got what the server wrote');
});

t.test('a released connection is handed out again in a later turn, never in the same one', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const first = p.acquire(new Recorder());
  await connected(t, first);
  p.release(first);
  t.equal(first.owner, null, 'released: nobody owns it');
  const sameTurn = p.acquire(new Recorder());
  t.not(sameTurn, first, 'released in this turn: a new connection instead');
  t.equal(p.open, 2);
  await nextTurn();
  const owner = new Recorder();
  const later = p.acquire(owner);
  t.equal(later, first, 'a later turn: the idle one');
  t.equal(later.reused, true);
  t.equal(later.owner, owner);
  t.equal(p.open, 2, 'no third connection');
  await connected(t, sameTurn);
  t.equal(server.accepted.length, 2, 'the server saw two connections');
});

t.test('the most recently released connection goes out first; fresh=true skips the idle ones', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const [a, b] = await openConnected(t, p, 2);
  p.release(a);
  p.release(b);
  await nextTurn();
  t.equal(p.acquire(new Recorder()), b, 'b went idle last');
  const fresh = p.acquire(new Recorder(), true);
  t.not(fresh, a, 'fresh: a new connection though one is idle');
  t.equal(p.open, 3);
  t.equal(p.acquire(new Recorder()), a, 'a is still there');
});

t.test('an idle connection past the idle timeout is closed, not handed out', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port, { idleTimeoutMs: 0 }));
  const old = p.acquire(new Recorder());
  await connected(t, old);
  p.release(old);
  await nextTurn();
  const next = p.acquire(new Recorder());
  t.not(next, old, 'expired: a new one');
  t.equal(old.closed, true);
  t.equal(p.open, 1, 'the expired one no longer counts');
  await closedEvent(old);
  t.ok(await pollUntil(() => server.accepted[0].readableEnded || server.accepted[0].destroyed, 5000, 5), 'the server saw it close');
});

t.test('sweep closes the idle connections whose time is up, and only those', async (t) => {
  const server = await startServer(t);
  const timeout = 1000;
  const p = pool(t, options(server.port, { idleTimeoutMs: timeout }));
  const [a, b, busy] = await openConnected(t, p, 3);
  p.release(a);
  p.release(b);
  // As if a went idle half a second before b (the clock is passed to sweep, so nothing waits).
  const base = b.idleSince;
  a.idleSince = base - 500;
  p.sweep(base + timeout - 501);
  t.same([a.closed, b.closed], [false, false], 'neither is due');
  p.sweep(base + timeout - 500);
  t.same([a.closed, b.closed], [true, false], 'a is due, b is not');
  p.sweep(base + timeout);
  t.same([a.closed, b.closed, busy.closed], [true, true, false], 'a busy connection is never swept');
  t.equal(p.open, 1);
});

t.test('the idle limit: a connection released to a full pool is closed', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port, { maxIdle: 1 }));
  const [a, b] = await openConnected(t, p, 2);
  p.release(a);
  p.release(b);
  t.same([a.closed, b.closed], [false, true], 'one idle, the second closed');
  t.equal(p.open, 1);
  const none = pool(t, options(server.port, { maxIdle: 0 }));
  const c = none.acquire(new Recorder());
  await connected(t, c);
  none.release(c);
  t.equal(c.closed, true, 'maxIdle 0: no keep-alive at all');
  t.equal(none.open, 0);
});

t.test('a server that closes an idle connection: it is dropped from the pool', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const conn = p.acquire(new Recorder());
  await connected(t, conn);
  p.release(conn);
  server.accepted[0].end();
  t.ok(await pollUntil(() => conn.closed, 5000, 5), 'closed on the server FIN');
  t.equal(p.open, 0);
  await nextTurn();
  const next = p.acquire(new Recorder());
  t.not(next, conn, 'a new connection');
  await connected(t, next);
  t.equal(server.accepted.length, 2);
});

t.test('bytes from the server on an idle connection close it: they answer nothing we will send', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const owner = new Recorder();
  const conn = p.acquire(owner);
  await connected(t, conn);
  p.release(conn);
  server.accepted[0].write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  t.ok(await pollUntil(() => conn.closed, 5000, 5), 'closed');
  t.equal(owner.data, '', 'the last owner heard none of it');
  t.same(owner.errors, [], 'nor was it told of an error');
  t.equal(p.open, 0);
});

t.test('an owner hears the server close a busy connection: end, then the close', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const owner = new Recorder();
  const conn = p.acquire(owner);
  await connected(t, conn);
  server.accepted[0].end();
  await closedEvent(conn);
  t.equal(owner.ends, 1, 'onUpstreamEnd');
  t.same(owner.errors, ['upstream closed'], 'then one onUpstreamError');
  t.equal(conn.closed, true);
  t.equal(conn.owner, null);
  t.equal(p.open, 0);
  p.release(conn);
  t.equal(p.open, 0, 'releasing a closed connection changes nothing');
  await nextTurn();
  t.not(p.acquire(new Recorder()), conn, 'nor puts it back in the pool');
});

t.test('a dead server: the owner gets one error and the pool forgets the connection', async (t) => {
  const p = pool(t, options(await deadPort()));
  const owner = new Recorder();
  const conn = p.acquire(owner);
  await closedEvent(conn);
  t.equal(owner.connects, 0);
  t.equal(owner.errors.length, 1, `one error: ${owner.errors.join(', ')}`);
  t.match(owner.errors[0], /ECONNREFUSED/);
  t.equal(conn.closed, true);
  t.equal(p.open, 0);
});

t.test('send-proxy connections: never shared, parked for the session that used them', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port, { sendProxy: 2 }));
  const conn = p.acquire(new Recorder());
  t.equal(conn.sendProxy, 2);
  await connected(t, conn);
  t.equal(p.park(conn), true);
  t.equal(p.reclaim(conn, new Recorder()), false, 'parked in this turn: not reclaimed, closed');
  t.equal(conn.closed, true);

  const second = p.acquire(new Recorder());
  await connected(t, second);
  t.equal(p.park(second), true);
  await nextTurn();
  t.not(p.acquire(new Recorder()), second, 'a parked connection is not for anyone else');
  const owner = new Recorder();
  t.equal(p.reclaim(second, owner), true, 'the session that parked it gets it back');
  t.equal(second.owner, owner);
  t.equal(second.reused, true);
  t.equal(p.reclaim(second, owner), false, 'reclaimed once only');

  p.release(second);
  t.equal(second.closed, true, 'release() closes a send-proxy connection: it names one client');
});

t.test('a parked connection: closed by the server, expired, or over the limit', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port, { sendProxy: 1, maxIdle: 1 }));
  const [a, b] = await openConnected(t, p, 2);
  t.equal(p.park(a), true);
  t.equal(p.park(b), false, 'the limit counts parked connections');
  t.equal(b.closed, true);
  server.accepted[0].end();
  t.ok(await pollUntil(() => a.closed, 5000, 5));
  t.equal(p.reclaim(a, new Recorder()), false, 'closed meanwhile');

  const expiring = pool(t, options(server.port, { sendProxy: 1, idleTimeoutMs: 0 }));
  const c = expiring.acquire(new Recorder());
  await connected(t, c);
  expiring.park(c);
  await nextTurn();
  t.equal(expiring.reclaim(c, new Recorder()), false, 'expired');
  t.equal(c.closed, true);
});

t.test('configure: a change of send-proxy closes the idle connections, other changes keep them', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const a = p.acquire(new Recorder());
  await connected(t, a);
  p.release(a);
  p.configure(options(server.port, { maxIdle: 4 }));
  t.equal(a.closed, false, 'a new limit alone');
  p.configure(options(server.port, { sendProxy: 1 }));
  t.equal(a.closed, true, 'they began without a PROXY header');
  const b = p.acquire(new Recorder());
  t.equal(b.sendProxy, 1, 'new ones carry the new version');
  await connected(t, b);
  p.configure(options(server.port, { sendProxy: 2 }));
  t.equal(p.park(b), false, 'parked after the version changed: closed');
  t.equal(b.closed, true);
});

t.test('retire: idle connections close now, busy ones when they come back', async (t) => {
  const server = await startServer(t);
  const p = pool(t, options(server.port));
  const [idle, busy] = await openConnected(t, p, 2);
  p.release(idle);
  p.retire();
  t.equal(idle.closed, true);
  t.equal(busy.closed, false, 'a request in flight is not cut');
  p.release(busy);
  t.equal(busy.closed, true);
  t.equal(p.open, 0);
});

const openssl = ensureOpenssl();
const noOpenssl = 'skip' in openssl ? openssl.skip : false;

t.test(
  'tls: up after the handshake; a failed verification says why; a TLS change closes the connections of before',
  { skip: noOpenssl },
  async (t) => {
    const ca = createTestCa((openssl as { path: string }).path);
    t.teardown(() => ca.cleanup());
    const cert = ca.issue('backend', { cn: 'backend', dns: ['backend.example'] });
    const sockets = new Set<net.Socket>();
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('data', (d) => socket.write(`echo ${d}`));
    });
    server.on('tlsClientError', () => {});
    const port = await listen(server);
    t.teardown(() => closeServer(server, sockets as Set<net.Socket>));
    const verified = { verify: 'ca' as const, caFile: ca.caFile, caPem: ca.caPem, sni: 'backend.example', line: 1 };

    const p = pool(t, options(port, { tls: verified }));
    const owner = new Recorder();
    const a = p.acquire(owner);
    t.equal(a.tls, p.tls, "opened through its pool's connector");
    await connected(t, a);
    a.socket.write('hi');
    t.ok(await pollUntil(() => owner.data === 'echo hi', 5000, 5), 'bytes in clear both ways, through the read buffer');
    p.configure(options(port, { tls: { ...verified, line: 7 }, maxIdle: 4 }));
    p.release(a);
    t.equal(a.closed, false, 'the same TLS on another line: kept');
    const b = p.acquire(new Recorder(), true);
    await connected(t, b);
    p.configure(options(port, { tls: { verify: 'no-verify', line: 1 } }));
    t.equal(a.closed, true, 'an idle one of the old TLS closes');
    p.release(b);
    t.equal(b.closed, true, 'a busy one of the old TLS closes when it comes back');

    const failing = pool(t, options(port, { tls: { verify: 'system', sni: 'backend.example', line: 1 } }));
    const refused = new Recorder();
    const c = failing.acquire(refused);
    t.ok(await pollUntil(() => refused.errors.length > 0, 5000, 5), 'the owner hears of the failure');
    t.equal(c.connected, false, 'never up: a failed connect');
    t.match(refused.errors[0], /^TLS to 127\.0\.0\.1:\d+: the server's certificate is not signed by a trusted CA/);
    t.equal(failing.open, 0);
    const plain = pool(t, options(port)).acquire(new Recorder());
    t.equal(plain.tls, null, 'a plain server: no connector');
    plain.destroy();
  },
);

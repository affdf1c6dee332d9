// Upstream connection pooling seen from the backends: reuse, idle expiry,
// what happens when a backend drops a pooled connection (GET retried once,
// POST never), and weight 0 (quiescent) taking effect at run time.
import t from 'tap';
import { setServerState } from '../../lib/sched/scheduler.ts';
import type { Test } from 'tap';
import type net from 'node:net';
import { startIdentityBackend, startRawBackend, type IdentityBackend, type IdentityOptions } from '../helpers/backends.ts';
import type { ParsedHead } from '../helpers/http-bytes.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type InProcessTcpvs, type ServiceDef } from '../helpers/tcpvs.ts';
import { quietFor, waitUntil } from '../helpers/wait.ts';

async function identity(t: Test, name: string, opts?: IdentityOptions): Promise<IdentityBackend> {
  const b = await startIdentityBackend(name, opts);
  t.teardown(() => b.close());
  return b;
}

async function tcpvs(t: Test, def: ServiceDef): Promise<InProcessTcpvs> {
  const s = await startTcpvs(serviceConfig(def));
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

t.test('upstream connections are kept alive and reused', async (t) => {
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  for (let i = 0; i < 100; i++) {
    c.write(requestHead('GET', `/r${i}`));
    const res = await c.readResponse();
    if (res.status !== 200 || res.body.toString() !== `b GET /r${i}\n`) {
      t.fail(`request ${i}: ${res.status} ${JSON.stringify(res.body.toString())}`);
      break;
    }
  }
  t.equal(b.requests.length, 100, '100 requests reached the backend');
  t.ok(b.connections() <= 2, `100 sequential requests used ${b.connections()} upstream connection(s)`);
  // Other client connections, one after another, take the pooled connection too.
  const before = b.connections();
  for (let i = 0; i < 10; i++) {
    const other = await client(t, s.port);
    other.write(requestHead('GET', `/other${i}`, [['Connection', 'close']]));
    t.equal((await other.readResponse()).status, 200);
    t.ok(await other.waitEnd(2000), `client ${i} closed after Connection: close`);
    other.close();
  }
  t.equal(b.connections(), before, 'ten more client connections opened no new upstream connection');
});

t.test('limit pool-idle 0: every request gets its own upstream connection', async (t) => {
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g', extra: ['limit pool-idle 0'] });
  const c = await client(t, s.port);
  for (let i = 0; i < 5; i++) {
    c.write(requestHead('GET', `/n${i}`));
    t.equal((await c.readResponse()).status, 200);
  }
  t.equal(b.connections(), 5, 'five requests, five upstream connections');
  await waitUntil(() => b.openConnections() === 0, 2000, 'upstream connections to close');
  t.pass('none is left open');
});

t.test('timeout upstream-idle closes idle pooled connections', async (t) => {
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g', extra: ['timeout upstream-idle 200ms'] });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/once'));
  t.equal((await c.readResponse()).status, 200);
  t.equal(b.openConnections(), 1, 'the upstream connection is kept after the response');
  await waitUntil(() => b.openConnections() === 0, 2000, 'the idle upstream connection to be closed');
  t.pass('closed by tcpvs after being idle');
  c.write(requestHead('GET', '/again'));
  t.equal((await c.readResponse()).body.toString(), 'b GET /again\n', 'the next request opens a fresh one');
  t.equal(b.connections(), 2);
});

t.test('a pooled connection the backend closed while idle is not used again', async (t) => {
  const b = await identity(t, 'b', { keepAliveTimeoutMs: 200 });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/first'));
  t.equal((await c.readResponse()).status, 200);
  for (const method of ['GET', 'POST']) {
    // The backend's 200 ms keep-alive timeout closes its side; tcpvs must have seen the FIN.
    await waitUntil(() => b.openConnections() === 0, 2000, 'the backend to close the idle connection');
    await waitUntil(() => s.group('g').pools[0].open === 0, 2000, 'tcpvs to drop the connection the backend closed');
    const before = b.connections();
    c.write(
      requestHead(method, `/after-idle-close-${method}`, method === 'POST' ? [['Content-Length', '2']] : []) +
        (method === 'POST' ? 'hi' : ''),
    );
    const res = await c.readResponse();
    t.equal(res.status, 200, `${method} after the backend closed the idle connection`);
    t.equal(res.body.toString(), `b ${method} /after-idle-close-${method}\n`);
    t.equal(b.connections(), before + 1, `${method} went on one fresh connection, the closed one was not tried`);
  }
});

t.test('a response with Connection: close: that upstream connection is not reused', async (t) => {
  // The backend says close but leaves the socket open and ignores anything
  // more on it: reusing the connection would hang the next request.
  const b = await startRawBackend((req, socket) => {
    if (req.indexOnConnection > 0) return;
    const body = `conn ${req.connection}`;
    socket.write(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  t.teardown(() => b.close());
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  for (let i = 1; i <= 3; i++) {
    c.write(requestHead('GET', `/c${i}`));
    const res = await c.readResponse({ timeoutMs: 2000 });
    t.equal(res.body.toString(), `conn ${i}`, `request ${i} went on upstream connection ${i}`);
    t.notMatch(res.header('connection') ?? '', /close/i, 'the client connection itself stays keep-alive');
  }
  t.equal(b.connections(), 3);
});

/**
 * A backend that answers the first request on each connection and drops the
 * connection, unanswered, when a later request arrives on it: a keep-alive
 * connection that dies just as tcpvs reuses it.
 */
async function droppingBackend(t: Test) {
  const heads: Array<{ method: string; url: string; connection: number; index: number }> = [];
  const connIds = new WeakMap<net.Socket, number>();
  let nextId = 0;
  const b = await startRawBackend(
    (req, socket) => {
      const body = `answered ${req.method} ${req.url} on connection ${req.connection}`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    },
    (head: ParsedHead, socket: net.Socket, index: number) => {
      let id = connIds.get(socket);
      if (id === undefined) connIds.set(socket, (id = ++nextId));
      const [method, url] = head.startLine.split(' ');
      heads.push({ method, url, connection: id, index });
      if (index > 0) {
        socket.destroy();
        return 'stop';
      }
      return undefined;
    },
  );
  t.teardown(() => b.close());
  return { b, heads };
}

t.test('a reused connection dropped by the backend: idempotent requests retried once, POST not', async (t) => {
  const { b, heads } = await droppingBackend(t);
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });

  // [method, extra fields, body, retried]
  const cases: Array<[string, Array<[string, string]>, string, boolean]> = [
    ['GET', [], '', true],
    ['DELETE', [], '', true],
    ['POST', [['Content-Length', '7']], 'payload', false],
    ['POST', [['Content-Length', '0']], '', false],
  ];
  for (const [method, fields, body, retried] of cases) {
    const c = await client(t, s.port);
    // Prime the pool: this request leaves one idle connection behind.
    c.write(requestHead('GET', '/prime'));
    t.equal((await c.readResponse()).status, 200, `${method}: priming request`);
    const before = heads.length;
    const target = `/dropped-${method}-${body.length}`;
    c.write(requestHead(method, target, fields) + body);
    const res = await c.readResponse();
    await quietFor(100, 'a late second attempt');
    const attempts = heads.slice(before).filter((h) => h.url === target);
    if (retried) {
      t.equal(res.status, 200, `${method}: answered after a retry`);
      t.match(res.body.toString(), `answered ${method} ${target}`);
      t.equal(attempts.length, 2, `${method}: sent twice, the second time on a fresh connection`);
      t.equal(attempts[1]?.index, 0, `${method}: the retry went on a new connection`);
    } else {
      t.equal(res.status, 502, `${method}${body === '' ? ' without body' : ' with body'}: 502, not retried`);
      t.equal(attempts.length, 1, `${method}: the backend saw it exactly once`);
      t.ok(await c.waitEnd(2000), `${method}: the client connection is closed after the 502`);
    }
    c.close();
  }
});

t.test('weight 0 at run time: the request in flight finishes, new ones go elsewhere', async (t) => {
  const a = await identity(t, 'a');
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', scheduler: 'rr', servers: [a.port, b.port] }], defaultGroup: 'g' });
  const group = s.group('g');

  const slowClient = await client(t, s.port);
  slowClient.write(requestHead('GET', '/slow?delay=700'));
  await waitUntil(() => a.requests.length + b.requests.length === 1, 2000, 'the slow request to reach a backend');
  const busy = a.requests.length === 1 ? a : b;
  const other = busy === a ? b : a;
  const busyIndex = group.servers.findIndex((srv) => srv.port === busy.port);
  t.ok(busyIndex >= 0, `the slow request went to ${busy.name}`);

  setServerState(group.scheduler, group.servers[busyIndex], true, 0);

  const c = await client(t, s.port);
  for (let i = 0; i < 8; i++) {
    c.write(requestHead('GET', `/new${i}`));
    const res = await c.readResponse();
    t.equal(res.header('x-backend'), other.name, `new request ${i} went to ${other.name}`);
  }
  const slow = await slowClient.readResponse();
  t.equal(slow.status, 200, 'the request in flight on the quiescent server completed');
  t.equal(slow.body.toString(), `${busy.name} GET /slow?delay=700\n`);
  t.equal(busy.requests.length, 1, `${busy.name} got nothing new while quiescent`);

  // Every server quiescent: nobody to send to, 503, and the connection stays usable.
  const otherIndex = group.servers.findIndex((srv) => srv.port === other.port);
  setServerState(group.scheduler, group.servers[otherIndex], true, 0);
  c.write(requestHead('GET', '/nobody'));
  const unavailable = await c.readResponse();
  t.equal(unavailable.status, 503, 'all weights 0: 503');
  t.equal(unavailable.body.toString(), '503 Service Unavailable\n');
  setServerState(group.scheduler, group.servers[otherIndex], true, 1);

  // Back to weight 1: it takes requests again.
  setServerState(group.scheduler, group.servers[busyIndex], true, 1);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    c.write(requestHead('GET', `/back${i}`));
    seen.add((await c.readResponse()).header('x-backend') ?? '');
  }
  t.ok(seen.has(busy.name), `${busy.name} takes requests again after its weight is restored`);
});

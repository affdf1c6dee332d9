// The admin HTTP listener on a real socket, before a real tcpvs in this
// process that has served real requests: /metrics parses and its counters
// equal what the backends saw and the clients sent; /stats.json agrees; the
// token is enforced.
import t from 'tap';
import { freePort as deadPort } from '../helpers/ports.ts';
import http from 'node:http';
import net from 'node:net';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type InProcessTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, sleep } from '../helpers/wait.ts';
import type { Stats, StatsSnapshot } from '../../lib/stats/collector.ts';
import { createStats } from '../helpers/reference-collector.ts';
import { startAdminHttp, type AdminHttp } from '../../lib/admin/http.ts';
import { parsePrometheus } from '../stats/prometheus-parse.ts';

const TOKEN = 'test-token-0123456789abcdef';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to the admin listener, on its own connection, bounded in time. */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };

interface Rig {
  tcpvs: InProcessTcpvs;
  admin: AdminHttp;
  stats: Stats;
  a1: IdentityBackend;
  a2: IdentityBackend;
  b: IdentityBackend;
}

async function rig(t: { teardown(fn: () => unknown): void }, token: string | null): Promise<Rig> {
  const a1 = await startIdentityBackend('a1');
  const a2 = await startIdentityBackend('a2');
  const b = await startIdentityBackend('b');
  const dead = await deadPort();
  const tcpvs = await startTcpvs(
    serviceConfig({
      groups: [
        { name: 'alpha', scheduler: 'rr', servers: [a1.port, a2.port] },
        { name: 'beta', servers: [{ port: b.port, weight: 5 }] },
        { name: 'gone', servers: [dead] },
      ],
      routes: ['a prefix /a/ to alpha', 'b prefix /b/ to beta', 'g prefix /gone/ to gone'],
    }),
  );
  const stats = tcpvs.running.stats;
  const admin = await startAdminHttp({ host: '127.0.0.1', port: 0, token, stats });
  t.teardown(async () => {
    await admin.close();
    await tcpvs.close();
    await Promise.all([a1.close(), a2.close(), b.close()]);
  });
  return { tcpvs, admin, stats, a1, a2, b };
}

/** Polls until the stats have seen `total` requests on the service (records land as responses finish). */
async function settled(stats: Stats, total: number): Promise<StatsSnapshot> {
  await pollUntil(() => stats.snapshot().services[0].requests.total >= total, 2000);
  return stats.snapshot();
}

t.test('/metrics and /stats.json count what was sent and served', async (t) => {
  const { tcpvs, admin, stats, a1, a2, b } = await rig(t, TOKEN);

  // Connection 1: 10 GETs to alpha (rr over two servers).
  const c1 = await RawClient.connect(tcpvs.port);
  for (let i = 0; i < 10; i++) {
    c1.write(requestHead('GET', `/a/${i}`));
    t.equal((await c1.readResponse()).status, 200);
  }
  // Connection 2: 6 POSTs with bodies to beta.
  const c2 = await RawClient.connect(tcpvs.port);
  for (let i = 0; i < 6; i++) {
    c2.write(requestHead('POST', `/b/${i}`, [['Content-Length', '11']]) + 'hello world');
    t.equal((await c2.readResponse()).status, 200);
  }
  // Connection 3: 3 requests no route matches (404 from tcpvs itself), 1 to a dead server.
  const c3 = await RawClient.connect(tcpvs.port);
  for (let i = 0; i < 3; i++) {
    c3.write(requestHead('GET', `/nowhere/${i}`));
    t.equal((await c3.readResponse()).status, 404);
  }
  // Connection 4: one request to a dead server; tcpvs answers 502 and closes.
  const c4 = await RawClient.connect(tcpvs.port);
  c4.write(requestHead('GET', '/gone/x'));
  const gone = await c4.readResponse();
  t.equal(gone.status, 502, 'a dead server');
  t.equal(gone.header('connection'), 'close');
  const total = 20;
  await settled(stats, total);
  await pollUntil(() => stats.snapshot().services[0].connections.active === 3, 2000);
  const snap = stats.snapshot();

  // /stats.json
  const jsonReply = await get(admin.address.port, '/stats.json', bearer);
  t.equal(jsonReply.status, 200);
  t.match(jsonReply.headers['content-type'], /^application\/json/);
  t.equal(jsonReply.headers['cache-control'], 'no-store');
  const json = JSON.parse(jsonReply.body) as StatsSnapshot;
  const svc = json.services[0];
  t.equal(svc.name, 'test');
  t.equal(svc.listen, `127.0.0.1:${tcpvs.port}`);
  t.equal(svc.requests.total, total);
  t.equal(svc.connections.total, 4);
  t.equal(svc.connections.active, 3, 'three clients are still connected; tcpvs closed the fourth');
  t.ok(svc.requests.perSecond > 0, 'a rate right after the requests');
  const alpha = svc.groups.find((g) => g.name === 'alpha')!;
  const beta = svc.groups.find((g) => g.name === 'beta')!;
  t.equal(alpha.requests.total, 10);
  t.same(
    alpha.servers.map((s) => s.requests.total),
    [a1.requests.length, a2.requests.length],
    'per server: what each backend saw',
  );
  t.same([a1.requests.length, a2.requests.length], [5, 5]);
  t.equal(beta.requests.total, b.requests.length);
  t.equal(beta.servers[0].weight, 5);
  t.equal(beta.requests.bytesIn, c2.socket.bytesWritten, 'bytes in: what the client wrote');
  t.equal(beta.requests.bytesOut, c2.socket.bytesRead, 'bytes out: what the client read');
  t.equal(alpha.requests.bytesIn, c1.socket.bytesWritten);
  t.equal(alpha.requests.bytesOut, c1.socket.bytesRead);
  t.equal(svc.noGroup?.total, 3);
  t.equal(svc.noGroup?.status['4xx'], 3);
  t.ok(alpha.requests.latency.p50Ms! > 0 && alpha.requests.latency.p99Ms! >= alpha.requests.latency.p50Ms!, 'latency percentiles');
  t.equal(json.services[0].requests.total, snap.services[0].requests.total, 'the JSON is the snapshot');

  // /metrics
  tcpvs.servers('alpha')[1].upByChecks = false; // live state shows on the next scrape
  const metricsReply = await get(admin.address.port, '/metrics', bearer);
  t.equal(metricsReply.status, 200);
  t.equal(metricsReply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const m = parsePrometheus(metricsReply.body);
  const leaf = (group: string, server: number) => ({ service: 'test', group, server: `127.0.0.1:${server}` });
  t.equal(m.sum('tcpvs_requests_total', { service: 'test' }), total, 'all requests, summed over the leaves');
  t.equal(m.sum('tcpvs_requests_total', leaf('alpha', a1.port)), a1.requests.length);
  t.equal(m.sum('tcpvs_requests_total', leaf('alpha', a2.port)), a2.requests.length);
  t.equal(m.value('tcpvs_requests_total', { ...leaf('beta', b.port), code_class: '2xx' }), b.requests.length);
  t.equal(m.value('tcpvs_requests_total', { service: 'test', group: '', server: '', code_class: '4xx' }), 3);
  t.equal(m.sum('tcpvs_requests_total', { service: 'test', group: 'gone', code_class: '5xx' }), 1);
  t.equal(m.sum('tcpvs_bytes_in_total', { group: 'beta' }), c2.socket.bytesWritten);
  t.equal(m.sum('tcpvs_bytes_out_total', { group: 'beta' }), c2.socket.bytesRead);
  const clients = [c1, c2, c3, c4];
  t.equal(
    m.sum('tcpvs_bytes_in_total'),
    clients.reduce((n, c) => n + c.socket.bytesWritten, 0),
    'bytes in: all the clients wrote',
  );
  t.equal(
    m.sum('tcpvs_bytes_out_total'),
    clients.reduce((n, c) => n + c.socket.bytesRead, 0),
    'bytes out: all the clients read',
  );
  t.equal(m.value('tcpvs_request_duration_seconds_count', leaf('alpha', a1.port)), a1.requests.length);
  t.equal(m.value('tcpvs_request_duration_seconds_bucket', { ...leaf('beta', b.port), le: '+Inf' }), b.requests.length);
  t.ok(m.value('tcpvs_request_duration_seconds_sum', leaf('beta', b.port)) > 0);
  t.equal(m.value('tcpvs_server_up', leaf('alpha', a1.port)), 1);
  t.equal(m.value('tcpvs_server_up', leaf('alpha', a2.port)), 0);
  t.equal(m.value('tcpvs_server_weight', leaf('beta', b.port)), 5);
  t.equal(m.value('tcpvs_server_active_requests', leaf('beta', b.port)), 0);
  t.equal(m.value('tcpvs_connections_active', { service: 'test' }), 3);
  t.equal(m.value('tcpvs_connections_total', { service: 'test' }), 4);

  // A request in flight shows as active on its server; closed clients leave the gauge.
  const slow = await RawClient.connect(tcpvs.port);
  slow.write(requestHead('GET', '/b/slow?delay=400'));
  const metric = async (name: string, labels: Record<string, string>) =>
    parsePrometheus((await get(admin.address.port, '/metrics', bearer)).body).value(name, labels);
  await pollUntil(async () => (await metric('tcpvs_server_active_requests', leaf('beta', b.port))) !== 0, 2000);
  t.equal(await metric('tcpvs_server_active_requests', leaf('beta', b.port)), 1, 'the slow request is in flight on beta');
  await slow.readResponse();
  for (const c of [...clients, slow]) c.close();
  await pollUntil(async () => (await metric('tcpvs_connections_active', { service: 'test' })) === 0, 2000);
  t.equal(await metric('tcpvs_connections_active', { service: 'test' }), 0, 'closed connections leave the active gauge');
});

t.test('the token: Bearer header or ?token=, nothing else', async (t) => {
  const { admin } = await rig(t, TOKEN);
  const port = admin.address.port;
  for (const path of ['/', '/stats', '/stats.json', '/metrics']) {
    const none = await get(port, path);
    t.equal(none.status, 401, `${path} without a token`);
    t.equal(none.headers['www-authenticate'], 'Bearer realm="tcpvs"');
    t.notMatch(none.body, /tcpvs_|<table/, 'nothing leaks');
    t.equal((await get(port, path, { authorization: `Bearer ${TOKEN}x` })).status, 401, `${path} with a longer token`);
    t.equal((await get(port, path, { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status, 401, `${path} with a shorter token`);
    t.equal(
      (await get(port, path, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status,
      401,
      `${path} with Basic`,
    );
    t.equal((await get(port, path, bearer)).status, 200, `${path} with the Bearer token`);
    t.equal((await get(port, path, { authorization: `bearer  ${TOKEN}` })).status, 200, `${path}: the scheme is case-insensitive`);
    t.equal((await get(port, `${path}?token=${encodeURIComponent(TOKEN)}`)).status, 200, `${path} with ?token=`);
    t.equal((await get(port, `${path}?token=wrong`)).status, 401, `${path} with a wrong ?token=`);
  }
  t.equal(
    (await get(port, `/?token=${TOKEN}`, { authorization: 'Bearer wrong' })).status,
    401,
    'a wrong header is not rescued by the query',
  );
  const page = await get(port, `/?token=${TOKEN}`);
  t.match(page.body, new RegExp(`href="metrics\\?token=${TOKEN}"`), 'the page links carry the token on');
  t.match(page.headers['content-security-policy'], /default-src 'none'/);
  t.equal(page.headers['referrer-policy'], 'no-referrer');
});

t.test('methods, paths and HEAD; no token configured: open', async (t) => {
  const { admin } = await rig(t, null);
  const port = admin.address.port;
  const page = await get(port, '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<section data-service="test">/);
  t.match(page.body, /data-group="alpha"/);
  t.equal((await get(port, '/stats')).status, 200);
  const head = await get(port, '/metrics', {}, 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.ok(Number(head.headers['content-length']) > 100, 'HEAD gives the length of the body it leaves out');
  const post = await get(port, '/metrics', {}, 'POST');
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.equal((await get(port, '/nothing')).status, 404);
  t.equal((await get(port, '/metrics?x=1')).status, 200, 'a query does not change the path');
});

t.test('a taken address is refused at start', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const { port } = blocker.address() as net.AddressInfo;
  await t.rejects(startAdminHttp({ host: '127.0.0.1', port, token: null, stats: createStats() }), { code: 'EADDRINUSE' });
});

t.test('an asynchronous source, and one that fails: 503', async (t) => {
  const { stats, tcpvs, a1, a2 } = await rig(t, null);
  const c = await RawClient.connect(tcpvs.port);
  for (let i = 0; i < 4; i++) {
    c.write(requestHead('GET', `/a/${i}`));
    await c.readResponse();
  }
  c.close();
  await settled(stats, 4);
  const merged = await startAdminHttp({
    host: '127.0.0.1',
    port: 0,
    token: null,
    stats: {
      async snapshot(options) {
        await sleep(5);
        return stats.snapshot(options);
      },
    },
  });
  t.teardown(() => merged.close());
  const m = parsePrometheus((await get(merged.address.port, '/metrics')).body);
  t.equal(m.sum('tcpvs_requests_total', { service: 'test' }), 4);
  t.equal(m.sum('tcpvs_requests_total', { server: `127.0.0.1:${a1.port}` }), a1.requests.length);
  t.equal(m.sum('tcpvs_request_duration_seconds_count', { server: `127.0.0.1:${a2.port}` }), a2.requests.length);
  const json = JSON.parse((await get(merged.address.port, '/stats.json')).body) as StatsSnapshot;
  t.equal(json.services[0].requests.total, 4);
  t.equal(json.services[0].requests.histogram, undefined, 'the JSON leaves the buckets out');
  t.match((await get(merged.address.port, '/')).body, /data-stat="req-total">4</);

  const failing = await startAdminHttp({
    host: '127.0.0.1',
    port: 0,
    token: null,
    stats: {
      snapshot: () => Promise.reject(new Error('worker 2 did not answer')),
    },
  });
  t.teardown(() => failing.close());
  const reply = await get(failing.address.port, '/metrics');
  t.equal(reply.status, 503);
  t.match(reply.body, /worker 2 did not answer/);
  t.equal((await get(failing.address.port, '/stats.json')).status, 503, 'and the listener keeps serving');
});

t.test('/ready says whether tcpvs takes traffic; /metrics has the process and the build', async (t) => {
  const stats: Stats = createStats();
  let why: string | null = null;
  const admin = await startAdminHttp({ host: '127.0.0.1', port: 0, token: null, stats, notReady: () => why, version: '9.9.9' });
  t.teardown(() => admin.close());
  const port = admin.address.port;
  const ready = await get(port, '/ready');
  t.same([ready.status, ready.body], [200, 'ready\n']);
  why = 'draining';
  const draining = await get(port, '/ready');
  t.same([draining.status, draining.body], [503, 'not ready: draining\n']);
});

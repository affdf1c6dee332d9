// TLS to the servers end to end (docs/tls.md, "TLS to the servers"), against
// a Node https backend with a CA this test makes: `tls verify CA-FILE` works
// and keep-alive requests share one TLS connection; Node's bundled CAs do not
// trust the test CA, so verification fails: 502, and the log says why;
// `no-verify` connects; the backend sees the `sni NAME` as its servername; a
// failed verification is a failed connect, redispatched to another server;
// http health checks of a tls server speak TLS and verify alike; a reload
// that changes a server's TLS closes its pooled connections; worker threads
// build their connectors from the CA text the main thread read.
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { pino } from 'pino';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';
import { type InProcessTcpvs, spawnTcpvs, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`upstream TLS tests skipped: ${skip}`);

let ca: TestCa;
let cert: IssuedCert;
if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  cert = ca.issue('backend', { cn: 'backend', dns: ['backend.example'] });
}

interface TlsBackend {
  port: number;
  handshakes: number; // TLS connections completed
  servernames: Array<string | false>; // the SNI each one sent
}

/** An https server that answers every request with its name and counts its TLS connections. */
async function startTlsBackend(t: Test, name: string): Promise<TlsBackend> {
  const backend: TlsBackend = { port: 0, handshakes: 0, servernames: [] };
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem, keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`${name} ${req.url}`));
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    backend.handshakes++;
    backend.servernames.push((socket as tls.TLSSocket & { servername: string | false }).servername);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return backend;
}

/** tcpvs in this process with the given server lines in group a; its log lines are kept. */
const configText = (servers: string[], group = 'group a'): string =>
  ['service web', '  listen 127.0.0.1:0', `  ${group}`, ...servers.map((s) => `    ${s}`), '  default a'].join('\n');

async function startProxy(t: Test, servers: string[], group = 'group a'): Promise<{ port: number; log: string[]; tcpvs: InProcessTcpvs }> {
  const log: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void log.push(s) });
  const tcpvs = await startTcpvs(configText(servers, group), logger);
  t.teardown(() => tcpvs.close());
  return { port: tcpvs.port, log, tcpvs };
}

/** Sequential GETs over one keep-alive client connection. */
async function getAll(port: number, paths: string[]): Promise<Array<{ status: number; body: string }>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const out: Array<{ status: number; body: string }> = [];
  try {
    for (const path of paths) {
      out.push(
        await new Promise((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return out;
}

t.test('verify CA-FILE: requests go over TLS, keep-alive reuses one connection, the SNI is sni NAME', { skip }, async (t) => {
  const backend = await startTlsBackend(t, 'A');
  const { port } = await startProxy(t, [`server 127.0.0.1:${backend.port} tls verify ${ca.caFile} sni backend.example`]);
  const replies = await getAll(port, ['/one', '/two', '/three']);
  t.same(
    replies.map((r) => `${r.status} ${r.body}`),
    ['200 A /one', '200 A /two', '200 A /three'],
  );
  t.equal(backend.handshakes, 1, 'the three requests shared one TLS connection to the server');
  t.same(backend.servernames, ['backend.example'], 'the backend saw the configured SNI name');
});

t.test("verify against the system CAs fails for the test CA's certificate: 502, and the log says why", { skip }, async (t) => {
  const backend = await startTlsBackend(t, 'A');
  const { port, log } = await startProxy(t, [`server 127.0.0.1:${backend.port} tls sni backend.example`]);
  const [reply] = await getAll(port, ['/']);
  t.equal(reply.status, 502);
  const refused = log.map((l) => JSON.parse(l)).find((l) => l.msg === 'refused');
  t.match(refused?.reason, /^TLS to 127\.0\.0\.1:\d+: the server's certificate is not signed by a trusted CA .*tls verify CA-FILE/);
  t.equal(backend.handshakes, 0, 'no TLS connection completed');
});

t.test('no-verify connects to a server whose certificate nobody checks', { skip }, async (t) => {
  const backend = await startTlsBackend(t, 'A');
  const { port } = await startProxy(t, [`server 127.0.0.1:${backend.port} tls no-verify`]);
  const replies = await getAll(port, ['/x', '/y']);
  t.same(
    replies.map((r) => `${r.status} ${r.body}`),
    ['200 A /x', '200 A /y'],
  );
  t.same(backend.servernames, [false], 'an IP address is never sent as SNI');
});

t.test('a failed verification is a failed connect: the request goes to the next server', { skip }, async (t) => {
  const bad = await startTlsBackend(t, 'bad');
  const good = await startTlsBackend(t, 'good');
  // rr tries the first server first; its verification fails (no `verify`: the system CAs).
  const { port, log } = await startProxy(
    t,
    [`server 127.0.0.1:${bad.port} tls sni backend.example`, `server 127.0.0.1:${good.port} tls verify ${ca.caFile} sni backend.example`],
    'group a scheduler rr',
  );
  const replies = await getAll(port, ['/a', '/b']);
  t.same(
    replies.map((r) => `${r.status} ${r.body}`),
    ['200 good /a', '200 good /b'],
  );
  const retried = log.map((l) => JSON.parse(l)).find((l) => l.msg === 'connect failed; retrying on another server');
  t.match(retried?.reason, /not signed by a trusted CA/);
});

t.test('http checks of a tls server speak TLS and verify as requests do', { skip }, async (t) => {
  const bad = await startTlsBackend(t, 'bad');
  const good = await startTlsBackend(t, 'good');
  const { tcpvs } = await startProxy(t, [
    `server 127.0.0.1:${good.port} tls verify ${ca.caFile} sni backend.example`,
    `server 127.0.0.1:${bad.port} tls sni backend.example`,
    'check http /health interval 100ms timeout 1s rise 1 fall 1',
  ]);
  t.ok(await pollUntil(() => tcpvs.servers('a').every((s) => s.lastCheck !== null), 5000), 'both servers checked');
  const [g, b] = tcpvs.servers('a').map((s) => s.lastCheck!);
  t.same([g.ok, g.reason], [true, 'status 200']);
  t.equal(b.ok, false);
  t.match(b.reason, /certificate/i);
});

t.test("a reload that changes a server's tls closes its idle connections; the next ones use the new settings", { skip }, async (t) => {
  const backend = await startTlsBackend(t, 'A');
  const { port, tcpvs } = await startProxy(t, [`server 127.0.0.1:${backend.port} tls no-verify`]);
  t.same(
    (await getAll(port, ['/1', '/2'])).map((r) => r.status),
    [200, 200],
  );
  t.same(backend.servernames, [false]);
  await tcpvs.running.control.reload(
    'test.tcpvs',
    configText([`server 127.0.0.1:${backend.port} tls verify ${ca.caFile} sni backend.example`]),
  );
  t.same(
    (await getAll(port, ['/3', '/4'])).map((r) => r.status),
    [200, 200],
  );
  t.same(backend.servernames, [false, 'backend.example'], 'one new connection, with the new SNI');
  await tcpvs.running.control.reload('test.tcpvs', configText([`server 127.0.0.1:${backend.port} tls sni backend.example`]));
  t.same(
    (await getAll(port, ['/5'])).map((r) => r.status),
    [502],
    'the idle verified connection is not reused once verification would fail',
  );
  await tcpvs.running.control.reload(
    'test.tcpvs',
    configText([`server 127.0.0.1:${backend.port} tls verify ${ca.caFile} sni backend.example`]),
  );
  await tcpvs.running.control.reload(
    'test.tcpvs',
    configText([`server 127.0.0.1:${backend.port} tls verify ${ca.caFile} sni backend.example`]),
  );
  const before = backend.handshakes;
  t.same(
    (await getAll(port, ['/6', '/7'])).map((r) => r.status),
    [200, 200],
  );
  t.equal(backend.handshakes, before + 1, 'an unchanged reload keeps the settings: one connection for both requests');
});

t.test('--workers 2: each worker builds its connector from the CA text in the plan', { skip }, async (t) => {
  const backend = await startTlsBackend(t, 'A');
  const tcpvs = await spawnTcpvs(
    ['log level warn', configText([`server 127.0.0.1:${backend.port} tls verify ${ca.caFile} sni backend.example`])].join('\n'),
    20_000,
    1,
    2,
  );
  t.teardown(() => tcpvs.stop());
  const replies = await Promise.all([0, 1, 2, 3].map((i) => getAll(tcpvs.port, [`/w${i}`])));
  t.same(
    replies.map(([r]) => r.status),
    [200, 200, 200, 200],
  );
  t.ok(backend.servernames.length > 0 && backend.servernames.every((n) => n === 'backend.example'));
});

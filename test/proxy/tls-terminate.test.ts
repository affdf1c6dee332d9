// TLS termination end to end (docs/tls.md), with certificates this test makes
// (test/helpers/certs.ts): SNI picks the certificate (checked by fingerprint,
// with Node's client and once with `openssl s_client`), requests over TLS
// are routed, refused and forwarded exactly as over plain HTTP (with
// X-Forwarded-Proto: https), strict-sni answers 421, a stalled handshake is
// cut at timeout client-header, a reload swaps the certificates while an
// open connection keeps its own, a bad certificate on reload changes
// nothing, and --workers 2 with SIGHUP does the same.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { ConfigError } from '../../lib/config/errors.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch, type RunningSwitch } from '../../lib/control/switch.ts';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`TLS termination tests skipped: ${skip}`);

let ca: TestCa;
const certs: Record<string, IssuedCert> = {};
if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  certs.www = ca.issue('www', { cn: 'www', dns: ['www.example.com'] });
  certs.wild = ca.issue('wild', { cn: 'wild', dns: ['*.example.org'] });
  certs.next = ca.issue('next', { cn: 'next', dns: ['www.example.com'] });
  certs.stray = { ...certs.www, keyFile: ca.strayKey('stray') };
}

const fingerprint = (c: IssuedCert): string => new X509Certificate(c.certPem).fingerprint256;

interface TlsReply {
  fingerprint: string;
  alpn: string | false | null;
  status: number;
  head: string;
  body: string;
}

/** One TLS connection: connects, sends `request` (which should close the connection), reads to the end. */
function tlsExchange(port: number, servername: string | undefined, request: string): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ca: ca.caPem,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    let bytes = '';
    socket.setEncoding('latin1');
    socket.on('secureConnect', () => socket.write(request));
    socket.on('data', (d: string) => (bytes += d));
    socket.on('error', reject);
    socket.on('end', () => {
      const at = bytes.indexOf('\r\n\r\n');
      resolve({
        fingerprint: socket.getPeerCertificate().fingerprint256,
        alpn: socket.alpnProtocol,
        status: Number(bytes.slice(9, 12)),
        head: bytes.slice(0, at),
        body: bytes.slice(at + 4),
      });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no reply within 5 s')));
  });
}

const get = (path: string, host = 'www.example.com', extra: string[] = []): string =>
  [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...extra, 'Connection: close', '', ''].join('\r\n');

/** A directory with the files the config names, so a test can swap their contents. */
function certDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function place(dir: string, name: string, cert: IssuedCert): void {
  copyFileSync(cert.certFile, join(dir, `${name}.pem`));
  copyFileSync(cert.keyFile, join(dir, `${name}.key`));
}

async function backends(t: Test): Promise<[IdentityBackend, IdentityBackend]> {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return [a, b];
}

function configText(dir: string, a: IdentityBackend, b: IdentityBackend, extra: string[] = []): string {
  return [
    'log level silent',
    'service web',
    '  listen 127.0.0.1:0 tls',
    `  certificate ${join(dir, 'www.pem')} key ${join(dir, 'www.key')}`,
    `  certificate ${join(dir, 'wild.pem')} key ${join(dir, 'wild.key')}`,
    '  timeout client-header 300ms',
    ...extra,
    '  group a',
    `    server 127.0.0.1:${a.port}`,
    '  group b',
    `    server 127.0.0.1:${b.port}`,
    '  route images prefix /images/ to b',
    '  default a',
    'service plain',
    '  listen 127.0.0.1:0',
    '  group a',
    `    server 127.0.0.1:${a.port}`,
    '  default a',
    '',
  ].join('\n');
}

async function start(t: Test, text: string, file: string): Promise<{ running: RunningSwitch; port: number; plainPort: number }> {
  writeFileSync(file, text);
  const running = await startSwitch(parseConfigText(text, file));
  t.teardown(() => running.close());
  const [web, plain] = running.services;
  return { running, port: web.address!.port, plainPort: plain.address!.port };
}

/** The same bytes over plain TCP, to the plain service: its reply's status. */
function plainStatus(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let bytes = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (bytes += d));
    socket.on('end', () => resolve(Number(bytes.slice(9, 12))));
    socket.on('error', reject);
  });
}

t.test('SNI picks the certificate; requests are routed and forwarded as over plain HTTP', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const { port } = await start(t, configText(dir, a, b), join(dir, 'web.tcpvs'));

  const www = await tlsExchange(port, 'www.example.com', get('/'));
  t.equal(www.fingerprint, fingerprint(certs.www), 'www.example.com: its certificate');
  t.equal(www.alpn, 'http/1.1', 'ALPN http/1.1');
  t.equal(www.status, 200);
  t.match(www.body, /^A GET \//, 'the default group');
  const wild = await tlsExchange(port, 'api.example.org', get('/images/x.png', 'api.example.org'));
  t.equal(wild.fingerprint, fingerprint(certs.wild), 'api.example.org: the wildcard certificate');
  t.match(wild.body, /^B GET \/images\/x\.png/, 'routed by URL to group b');
  const other = await tlsExchange(port, 'nothing.test', get('/', 'nothing.test'));
  t.equal(other.fingerprint, fingerprint(certs.www), 'a name nothing covers: the first certificate');
  const none = await tlsExchange(port, undefined, get('/', '127.0.0.1'));
  t.equal(none.fingerprint, fingerprint(certs.www), 'no SNI: the first certificate');

  // Session resumption: a second connection with the first one's session resumes it.
  const resumed: boolean[] = [];
  let session: Buffer | undefined;
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'www.example.com', rejectUnauthorized: false, session });
      socket.on('session', (s: Buffer) => (session = s));
      socket.on('secureConnect', () => socket.write(get('/resume')));
      socket.on('data', () => {});
      socket.on('end', () => {
        resumed.push(socket.isSessionReused());
        resolve();
      });
      socket.on('error', reject);
    });
  }
  t.same(resumed, [false, true], 'the second connection resumes the first one’s session');
  // TLS 1.2 gets an ECDHE-AEAD suite; TLS 1.1 is below the store's minimum (test/tls/certificates.test.ts).
  const tls12 = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'www.example.com',
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
    });
    socket.on('secureConnect', () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.on('error', reject);
  });
  t.match(tls12, /^TLSv1\.2 TLS_ECDHE_ECDSA_WITH_(AES_\d+_GCM|CHACHA20_POLY1305)/, `TLS 1.2: ${tls12}`);

  const seen = a.requests.at(-1)!;
  t.equal(a.header(seen, 'x-forwarded-proto'), 'https', 'X-Forwarded-Proto: https');
  t.equal(a.header(seen, 'x-forwarded-for'), '127.0.0.1', "X-Forwarded-For: the client's address");

  // `openssl s_client -servername` once: a client that is not Node's.
  const out = await new Promise<string>((resolve) => {
    const child = spawn((openssl as { path: string }).path, [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      'api.example.org',
      '-CAfile',
      ca.caFile,
      '-verify_return_error',
      '-ign_eof',
    ]);
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', () => {});
    child.stdin.end(get('/images/o', 'api.example.org'));
    child.on('close', () => resolve(text));
  });
  t.match(out, /subject=CN\s?=\s?wild/, 's_client got the wildcard certificate');
  t.match(out, /Verify return code: 0 \(ok\)/, 'which verifies against the test CA');
  t.match(out, /HTTP\/1\.1 200 OK[\s\S]*B GET \/images\/o/, 'and its request was answered by group b');
});

t.test('sni matchers route a terminated connection by the name of its handshake', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  // The routes say nothing of the URL: only the SNI name tells b from a.
  const text = configText(dir, a, b).replace(
    '  route images prefix /images/ to b',
    '  route shop sni shop.example.com to b\n  route org sni *.example.org to b',
  );
  const { port } = await start(t, text, join(dir, 'web.tcpvs'));
  const viaName = async (servername: string | undefined): Promise<string> =>
    (await tlsExchange(port, servername, get('/x', 'www.example.com'))).body.slice(0, 1);
  t.equal(await viaName('shop.example.com'), 'B', 'an exact name');
  t.equal(await viaName('SHOP.example.com.'), 'B', 'case and a trailing dot do not count');
  t.equal(await viaName('api.example.org'), 'B', '*.example.org: one label more');
  t.equal(await viaName('a.b.example.org'), 'A', 'not two labels more: the default');
  t.equal(await viaName('www.example.com'), 'A', 'another name: the default');
  t.equal(await viaName(undefined), 'A', 'no SNI: the default');
  t.same(
    a.requests.at(-1)?.rawHeaders.find(([n]) => n.toLowerCase() === 'host'),
    ['Host', 'www.example.com'],
    'the Host header is forwarded as sent',
  );
});

t.test('refusals over TLS are those over plain HTTP; strict-sni answers 421', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const { port, plainPort } = await start(t, configText(dir, a, b, ['strict-sni']), join(dir, 'web.tcpvs'));
  const before = a.requests.length + b.requests.length;
  const smuggle = ['POST / HTTP/1.1', 'Host: www.example.com', 'Content-Length: 4', 'Transfer-Encoding: chunked', '', '0', '', ''].join(
    '\r\n',
  );
  const overTls = await tlsExchange(port, 'www.example.com', smuggle);
  const overPlain = await plainStatus(plainPort, smuggle);
  t.equal(overTls.status, overPlain, `CL+TE: ${overTls.status} over TLS as over plain HTTP`);
  t.ok(overTls.status >= 400, 'refused');
  t.equal(a.requests.length + b.requests.length, before, 'nothing went upstream');

  const ok = await tlsExchange(port, 'www.example.com', get('/', 'WWW.example.com:443'));
  t.equal(ok.status, 200, 'Host naming the SNI name (any case, a port) passes');
  const misdirected = await tlsExchange(port, 'www.example.com', get('/', 'api.example.org'));
  t.equal(misdirected.status, 421, 'a Host that is not the SNI name: 421');
  t.match(misdirected.head, /Connection: close/i, 'and the connection closes');
  const noSni = await tlsExchange(port, undefined, get('/'));
  t.equal(noSni.status, 421, 'no SNI name at all: 421');
});

t.test('accept-proxy: the PROXY header comes before the handshake and names the client', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const { port } = await start(t, configText(dir, a, b, ['accept-proxy from 127.0.0.1/32']), join(dir, 'web.tcpvs'));
  const reply = await new Promise<string>((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1', () => {
      raw.write('PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n');
      const socket = tls.connect({ socket: raw, servername: 'www.example.com', rejectUnauthorized: false }, () =>
        socket.write(get('/proxied')),
      );
      let bytes = '';
      socket.on('data', (d: Buffer) => (bytes += d.toString('latin1')));
      socket.on('end', () => resolve(bytes));
      socket.on('error', reject);
    });
    raw.on('error', reject);
  });
  t.match(reply, /^HTTP\/1\.1 200 OK[\s\S]*A GET \/proxied/, 'answered over TLS');
  t.equal(a.header(a.requests.at(-1)!, 'x-forwarded-for'), '203.0.113.7', "X-Forwarded-For: the PROXY header's client");
  const direct = await tlsExchange(port, 'www.example.com', get('/direct'));
  t.equal(direct.status, 200, 'a trusted source may also connect without a header');
});

t.test('a stalled handshake is closed at timeout client-header', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const { port, running } = await start(t, configText(dir, a, b), join(dir, 'web.tcpvs'));
  for (const [what, bytes] of [
    ['nothing sent', Buffer.alloc(0)],
    ['half a ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])],
  ] as const) {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
      socket.on('error', () => {});
      socket.on('close', () => resolve(Date.now() - started));
      socket.resume();
    });
    t.ok(closedAfter >= 250 && closedAfter < 2000, `${what}: closed after about 300 ms (${closedAfter} ms)`);
  }
  t.equal(running.services[0].connections, 0, 'no session was opened');
});

t.test('a reload swaps the certificates; an open connection keeps its own; a bad one changes nothing', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const file = join(dir, 'web.tcpvs');
  const { port, running } = await start(t, configText(dir, a, b), file);

  // A kept-alive connection opened before the reload.
  const open = tls.connect({ host: '127.0.0.1', port, servername: 'www.example.com', rejectUnauthorized: false });
  t.teardown(() => open.destroy());
  await new Promise<void>((resolve) => open.once('secureConnect', () => resolve()));
  t.equal(open.getPeerCertificate().fingerprint256, fingerprint(certs.www), 'the open connection: the first certificate');
  let replies = '';
  open.on('data', (d: Buffer) => (replies += d.toString('latin1')));

  place(dir, 'www', certs.next);
  await running.control.reload(file);
  const fresh = await tlsExchange(port, 'www.example.com', get('/'));
  t.equal(fresh.fingerprint, fingerprint(certs.next), 'a new connection: the new certificate');
  t.equal(fresh.status, 200);
  open.write(['GET /after-reload HTTP/1.1', 'Host: www.example.com', '', ''].join('\r\n'));
  t.ok(await pollUntil(() => /A GET \/after-reload/.test(replies), 5000), 'the open connection still works');
  t.equal(open.getPeerCertificate().fingerprint256, fingerprint(certs.www), 'with the certificate it had');

  // A key that does not match: the reload is refused, the running certificate stays.
  copyFileSync(certs.stray.keyFile, join(dir, 'www.key'));
  const refused = await running.control.reload(file).then(
    () => null,
    (err: unknown) => err,
  );
  t.ok(refused instanceof ConfigError, 'the reload is refused with a config error');
  t.match((refused as Error).message, /web\.tcpvs:4: certificate: .*www\.key: does not match the certificate/);
  const still = await tlsExchange(port, 'www.example.com', get('/'));
  t.equal(still.fingerprint, fingerprint(certs.next), 'new connections still get the running certificate');
});

t.test('--workers 2: TLS served by both workers, SIGHUP swaps the certificate', { skip }, async (t) => {
  const [a, b] = await backends(t);
  const dir = certDir(t);
  place(dir, 'www', certs.www);
  place(dir, 'wild', certs.wild);
  const text = configText(dir, a, b);
  const tcpvs = await spawnTcpvs(text, 15_000, 2, 2);
  t.teardown(() => tcpvs.stop());
  t.match(tcpvs.stderr(), /service web listening on https:\/\//, 'the TLS service says https');
  for (let i = 0; i < 6; i++) {
    const r = await tlsExchange(tcpvs.port, 'www.example.com', get(`/w${i}`));
    t.equal(`${r.status} ${r.fingerprint === fingerprint(certs.www)}`, '200 true', `request ${i}`);
  }
  place(dir, 'www', certs.next);
  process.kill(tcpvs.pid, 'SIGHUP');
  let seen = '';
  const swapped = await pollUntil(async () => {
    seen = (await tlsExchange(tcpvs.port, 'www.example.com', get('/'))).fingerprint;
    return seen === fingerprint(certs.next);
  }, 10_000);
  t.ok(swapped, 'after SIGHUP, new connections get the new certificate');
  // Every worker has it: a handful of connections, spread by SO_REUSEPORT.
  for (let i = 0; i < 6; i++) {
    const r = await tlsExchange(tcpvs.port, 'www.example.com', get(`/n${i}`));
    t.equal(r.fingerprint, fingerprint(certs.next), `connection ${i}: the new certificate`);
  }
});

// TLS to servers (lib/tls/upstream.ts) against a local TLS server with a CA
// this test makes: verification passes with `verify CA-FILE`, fails with
// Node's bundled CAs (the reason named), fails for a name the certificate
// does not cover; `no-verify` connects; the SNI sent is `sni NAME`, else the
// host when it is a name, never an IP address; a second connection resumes
// the first one's session; and the settings' errors name the line and file.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { CertificateError } from '../../lib/tls/certificates.ts';
import {
  describeUpstreamTlsError,
  loadUpstreamTls,
  sameServerTls,
  UpstreamTlsConnector,
  type UpstreamTlsSettings,
  upstreamServername,
} from '../../lib/tls/upstream.ts';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`upstream TLS tests skipped: ${skip}`);

let ca: TestCa;
let byName: IssuedCert;
let byAddress: IssuedCert;
if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  byName = ca.issue('backend', { cn: 'backend', dns: ['backend.example', 'localhost'] });
  byAddress = ca.issue('address', { cn: 'address', ipOnly: '127.0.0.1' });
}

interface TlsBackend {
  port: number;
  servernames: Array<string | false>; // what each connection sent as SNI
  close(): void;
}

/** A TLS server that answers each connection with "ok" and records the SNI it got. */
async function startTlsBackend(cert: IssuedCert): Promise<TlsBackend> {
  const servernames: Array<string | false> = [];
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['http/1.1'] }, (socket) => {
    servernames.push((socket as tls.TLSSocket & { servername: string | false }).servername);
    socket.end('ok');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, servernames, close: () => server.close() };
}

interface Outcome {
  ok: boolean;
  reused?: boolean;
  alpn?: string | false | null;
  error?: NodeJS.ErrnoException;
}

/** Connects, reads the server's "ok" to its end (TLS 1.3 session tickets arrive meanwhile), and reports. */
function exchange(connector: UpstreamTlsConnector): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connector.connect();
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve({ ok: text === 'ok', reused: socket.isSessionReused(), alpn: socket.alpnProtocol }));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, error }));
  });
}

const withCa = (sni?: string): UpstreamTlsSettings => loadUpstreamTls({ verify: { caFile: ca.caFile }, sni, line: 3 });

t.test('verify CA-FILE: verified; the SNI sent is the name given, else the host name, never an address', { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const sni = await exchange(new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('backend.example')));
  t.same([sni.ok, sni.alpn], [true, 'http/1.1'], 'sni backend.example: verified, ALPN http/1.1');
  const host = await exchange(new UpstreamTlsConnector('localhost', backend.port, withCa()));
  t.ok(host.ok, 'host localhost, no sni: verified against the host');
  t.same(backend.servernames, ['backend.example', 'localhost'], 'the names sent');

  const address = await startTlsBackend(byAddress);
  t.teardown(() => address.close());
  const ip = await exchange(new UpstreamTlsConnector('127.0.0.1', address.port, withCa()));
  t.ok(ip.ok, 'host 127.0.0.1: verified against the IP address in the certificate');
  t.same(address.servernames, [false], 'no SNI for an address');
});

t.test('verification fails without the CA or for a name not covered, and says why', { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const system = new UpstreamTlsConnector(
    '127.0.0.1',
    backend.port,
    loadUpstreamTls({ verify: 'system', sni: 'backend.example', line: 4 }),
  );
  const untrusted = await exchange(system);
  t.equal(untrusted.error?.code, 'SELF_SIGNED_CERT_IN_CHAIN', 'not signed by a CA Node trusts (the server sends its CA)');
  t.equal(
    describeUpstreamTlsError(untrusted.error!, system),
    `TLS to 127.0.0.1:${backend.port}: the server's certificate is not signed by a trusted CA (SELF_SIGNED_CERT_IN_CHAIN); give its CA with \`tls verify CA-FILE\``,
  );
  const wrong = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('other.example'));
  const mismatch = await exchange(wrong);
  t.equal(mismatch.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'a name the certificate does not cover');
  t.match(
    describeUpstreamTlsError(mismatch.error!, wrong),
    /does not cover other\.example \(ERR_TLS_CERT_ALTNAME_INVALID\); set the name with `sni NAME`/,
  );
  const noName = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa());
  const byIp = await exchange(noName);
  t.equal(byIp.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'an address the certificate does not carry');
  t.match(describeUpstreamTlsError(byIp.error!, noName), /does not cover 127\.0\.0\.1/);
  const expired = await startTlsBackend(
    ca.issue('expired', { dns: ['backend.example'], validity: [new Date('2020-01-01'), new Date('2020-02-01')] }),
  );
  t.teardown(() => expired.close());
  const old = new UpstreamTlsConnector('127.0.0.1', expired.port, withCa('backend.example'));
  const oldOutcome = await exchange(old);
  t.equal(
    describeUpstreamTlsError(oldOutcome.error!, old),
    `TLS to 127.0.0.1:${expired.port}: the server's certificate has expired (CERT_HAS_EXPIRED)`,
  );
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  t.equal(describeUpstreamTlsError(refused, noName), `TLS to 127.0.0.1:${backend.port}: connect ECONNREFUSED (ECONNREFUSED)`);
});

t.test('over a socket already open, and to a server that does not speak TLS', { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const connector = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('backend.example'));
  const raw = net.connect(backend.port, '127.0.0.1');
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connector.connect(raw);
    let got = '';
    socket.on('data', (d: Buffer) => (got += d));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
  t.equal(text, 'ok', 'TLS over the given socket');
  t.equal(connector.options().socket, undefined, 'the socket is not kept in the shared options');

  const plain = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.teardown(() => plain.close());
  const port = (plain.address() as net.AddressInfo).port;
  const http = new UpstreamTlsConnector('127.0.0.1', port, withCa());
  const outcome = await exchange(http);
  t.match(
    describeUpstreamTlsError(outcome.error!, http),
    /the server does not answer in TLS; is it plain HTTP on this port\?/,
    outcome.error?.code ?? '',
  );
});

t.test('no-verify connects to any certificate', { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const settings = loadUpstreamTls({ verify: 'no-verify', line: 5 });
  t.ok(
    (await exchange(new UpstreamTlsConnector('127.0.0.1', backend.port, settings))).ok,
    'an unknown CA, an address not in the certificate',
  );
  t.ok(
    (await exchange(new UpstreamTlsConnector('127.0.0.1', backend.port, { ...settings, sni: 'elsewhere.example' }))).ok,
    'a name not covered',
  );
  t.same(backend.servernames, [false, 'elsewhere.example']);
});

t.test("a second connection resumes the first one's session", { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const connector = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('backend.example'));
  const first = await exchange(connector);
  t.same([first.ok, first.reused], [true, false], 'the first: a full handshake');
  const second = await exchange(connector);
  t.same([second.ok, second.reused], [true, true], 'the second: resumed');
  t.equal(connector.options(), connector.options(), 'one options object for every connection');
  connector.forgetSession();
  t.equal((await exchange(connector)).reused, false, 'after forgetSession: a full handshake');
  const other = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('backend.example'));
  t.equal((await exchange(other)).reused, false, 'sessions are per connector (per server)');
});

t.test('settings: the name sent, and errors naming the line and the file or field', { skip }, async (t) => {
  t.equal(upstreamServername('backend.example.', undefined), 'backend.example', 'a trailing dot dropped');
  t.equal(upstreamServername('::1', undefined), undefined, 'IPv6: none');
  t.equal(upstreamServername('10.0.0.1', 'api.example'), 'api.example', 'sni NAME wins');
  const refused = (source: Parameters<typeof loadUpstreamTls>[0], message: string | RegExp) => {
    try {
      loadUpstreamTls(source);
      t.fail(`loaded: ${message}`);
    } catch (err) {
      t.ok(err instanceof CertificateError);
      if (typeof message === 'string') t.equal((err as Error).message, message);
      else t.match((err as Error).message, message);
    }
  };
  const missing = join(ca.dir, 'missing.pem');
  refused({ verify: { caFile: missing }, line: 9 }, `line 9: ${missing}: cannot read the CA file: no such file`);
  refused({ verify: { caFile: ca.dir }, line: 9 }, `line 9: ${ca.dir}: cannot read the CA file: is a directory`);
  const junk = join(ca.dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  refused({ verify: { caFile: junk }, line: 10 }, `line 10: ${junk}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  writeFileSync(junk, `${ca.caPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
  refused({ verify: { caFile: junk }, line: 10 }, new RegExp(`^line 10: ${junk}: certificate 2 in the file does not parse: .+`));
  refused(
    { verify: 'system', sni: '10.0.0.1', line: 11 },
    'line 11: sni: "10.0.0.1" is not a DNS name (an IP address is never sent as SNI)',
  );
  refused(
    { verify: 'system', sni: 'bad_name', line: 12 },
    'line 12: sni: "bad_name" is not a DNS name (an IP address is never sent as SNI)',
  );
});

t.test("connect(undefined, onread): the plain bytes land in the caller's buffer", { skip }, async (t) => {
  const backend = await startTlsBackend(byName);
  t.teardown(() => backend.close());
  const connector = new UpstreamTlsConnector('127.0.0.1', backend.port, withCa('backend.example'));
  const buffer = Buffer.alloc(64);
  let text = '';
  const callback = (n: number): boolean => {
    text += buffer.toString('utf8', 0, n);
    return true;
  };
  const socket = connector.connect(undefined, { buffer, callback });
  await new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  t.equal(text, 'ok');
  t.equal((connector.options() as { onread?: unknown }).onread, undefined, 'the shared options keep no onread');
});

t.test('sameServerTls: alike when verify, CA text and SNI are, wherever the line', async (t) => {
  t.ok(sameServerTls(undefined, undefined));
  t.notOk(sameServerTls(undefined, { verify: 'system', line: 1 }));
  t.ok(sameServerTls({ verify: 'system', line: 1 }, { verify: 'system', line: 9 }), 'the line aside');
  t.notOk(sameServerTls({ verify: 'system', line: 1 }, { verify: 'no-verify', line: 1 }));
  t.notOk(sameServerTls({ verify: 'system', sni: 'a.example', line: 1 }, { verify: 'system', sni: 'b.example', line: 1 }));
  const ca = (caPem: string) => ({ verify: 'ca' as const, caFile: '/ca.pem', caPem, line: 1 });
  t.ok(sameServerTls(ca('A'), ca('A')));
  t.notOk(sameServerTls(ca('A'), ca('B')), 'the same file with new contents differs');
});

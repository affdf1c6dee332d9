// The certificate store (lib/tls/certificates.ts) with certificates this test
// makes with openssl: which certificate a name gets (exact over wildcard,
// first listed on a tie, the first as the default), the names read (SAN,
// CN only without SAN), warnings and errors naming the file, then real
// handshakes: tls.createServer with the store's SNICallback and Node's
// tls.connect or `openssl s_client -servername`, checked by the served
// certificate's fingerprint; TLS 1.1 refused, 1.2 (ECDHE-AEAD) and 1.3
// accepted, ALPN; and a reload that leaves connections in flight alone.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  buildCertificateStore,
  CertificateError,
  type CertificateFiles,
  type CertificateStore,
  loadCertificateStore,
  readCertificateFiles,
  TLS12_CIPHERS,
} from '../../lib/tls/certificates.ts';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`certificate tests skipped: ${skip}`);

let ca: TestCa;
const certs: Record<string, IssuedCert> = {};
let line = 0;
const files = (...names: string[]): CertificateFiles[] =>
  names.map((n) => ({
    certFile: certs[n].certFile,
    keyFile: certs[n].keyFile,
    certPem: certs[n].certPem,
    keyPem: certs[n].keyPem,
    line: ++line,
  }));
const store = (...names: string[]): CertificateStore => buildCertificateStore(files(...names)).store;
const DAY = 86400_000;

if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  certs.exact = ca.issue('exact', { cn: 'exact', dns: ['www.example.com', 'Example.com'] });
  certs.wild = ca.issue('wild', { cn: 'wild', dns: ['*.example.com'] });
  certs.other = ca.issue('other', { cn: 'other', dns: ['other.test'], keyType: 'rsa' });
  certs.dup = ca.issue('dup', { cn: 'dup', dns: ['www.example.com'] });
  certs.cnOnly = ca.issue('cnOnly', { cn: 'legacy.example' });
  certs.ipOnly = ca.issue('ipOnly', { cn: 'ip-only.example', ipOnly: '192.0.2.7' });
  certs.expired = ca.issue('expired', { cn: 'expired', dns: ['old.example'], validity: [new Date('2020-01-01'), new Date('2020-02-01')] });
  certs.future = ca.issue('future', {
    cn: 'future',
    dns: ['future.example'],
    validity: [new Date(Date.now() + 10 * DAY), new Date(Date.now() + 40 * DAY)],
  });
  certs.odd = ca.issue('odd', { cn: 'odd', dns: ['f*o.example.com', '*.com', 'ok.example', 'bad_name.example'] });
  certs.comma = ca.issue('comma', { cn: 'comma', dns: ['x.example, DNS:injected.example', 'plain.example'] });
  certs.exact2 = ca.issue('exact2', { cn: 'exact2', dns: ['www.example.com'] }); // the same name, for the reload
}

/** The CN a store serves for a name. */
function cnFor(s: CertificateStore, name: string | null): string {
  return s.certificateFor(name).subject.replace(/^CN=/, '');
}

t.test('which certificate a name gets', { skip }, async (t) => {
  const s = store('other', 'wild', 'exact', 'dup');
  t.equal(cnFor(s, 'www.example.com'), 'exact', 'exact beats a wildcard listed before it');
  t.equal(cnFor(s, 'WWW.Example.COM.'), 'exact', 'any case, a trailing dot');
  t.equal(cnFor(s, 'example.com'), 'exact', 'a SAN name in capitals is lowercased');
  t.equal(cnFor(s, 'api.example.com'), 'wild', 'the wildcard covers one label');
  t.equal(cnFor(s, 'a.b.example.com'), 'other', 'not two: the default');
  t.equal(cnFor(s, 'nothing.test'), 'other', 'no match: the first listed');
  t.equal(cnFor(s, null), 'other', 'no name: the first listed');
  t.equal(cnFor(s, ''), 'other', 'an empty name: the first listed');
  t.equal(cnFor(s, 'example'), 'other', 'a single label');
  t.equal(s.secureContextFor('www.example.com'), s.certificateFor('www.example.com').context, 'the context built once');
  t.equal(s.certificateFor('www.example.com'), s.certificateFor('WWW.EXAMPLE.COM'), 'the same object each time');
  t.same(s.certificateFor('api.example.com').names, ['*.example.com']);
  t.same(s.certificateFor('www.example.com').names, ['www.example.com', 'example.com']);
  const contexts: Array<tls.SecureContext | undefined> = [];
  s.SNICallback('api.example.com', (err, ctx) => contexts.push(err === null ? ctx : undefined));
  t.same(contexts, [s.secureContextFor('api.example.com')], 'SNICallback answers at once with the context');
  t.equal(cnFor(store('dup', 'exact'), 'www.example.com'), 'dup', 'a tie: the first listed wins');
});

t.test('names, warnings and errors', { skip }, async (t) => {
  const cn = buildCertificateStore(files('exact', 'cnOnly', 'ipOnly', 'dup'));
  const legacy = cn.store.certificates[1];
  t.same([legacy.namesFrom, legacy.names], ['commonName', ['legacy.example']], 'no SAN extension: the CN');
  const ipOnly = cn.store.certificates[2];
  t.same([ipOnly.namesFrom, ipOnly.names], ['nothing', []], 'a SAN without DNS names: not the CN either');
  const text = cn.warnings.map((w) => `${w.file}: ${w.message}`);
  t.match(text, [new RegExp(`${certs.cnOnly.certFile}: has no subjectAltName: its names come from the subject CN`)]);
  t.ok(
    text.some((w) => w === `${certs.ipOnly.certFile}: covers no DNS name and is not listed first, so it is never served`),
    'never served: no names',
  );
  t.ok(
    text.some((w) => w.startsWith(`${certs.dup.certFile}: every name it covers is served by a certificate listed before it`)),
    'never served: shadowed',
  );
  t.equal(cn.warnings.length, 3, text.join('\n'));

  const dated = buildCertificateStore(files('exact', 'expired', 'future', 'odd'));
  const datedText = dated.warnings.map((w) => `${w.file}: ${w.message}`).join('\n');
  t.match(datedText, `${certs.expired.certFile}: expired on 2020-02-01T00:00:00.000Z`);
  t.match(datedText, new RegExp(`${certs.future.certFile}: not valid before 20`));
  t.match(datedText, `${certs.odd.certFile}: name "f*o.example.com" can never match and is ignored`);
  t.match(datedText, `name "*.com" can never match`);
  t.match(datedText, `name "bad_name.example" can never match`);
  t.same(dated.store.certificates[3].names, ['ok.example']);
  const comma = buildCertificateStore(files('exact', 'comma'));
  t.same(comma.store.certificates[1].names, ['plain.example'], 'a SAN entry holding a comma is one (unusable) name, not two');
  t.match(
    comma.warnings.map((w) => w.message),
    ['name "x.example, DNS:injected.example" can never match and is ignored'],
  );
  t.equal(cnFor(dated.store, 'old.example'), 'expired', 'an expired certificate is still served (a warning, not an error)');
  t.same(
    buildCertificateStore(files('expired'), { now: new Date('2020-01-20') }).warnings.map((w) => w.message),
    ['expires on 2020-02-01T00:00:00.000Z, in 12 days'],
    'valid at the time given, but not for long',
  );
  t.equal(
    buildCertificateStore(files('expired'), { now: new Date('2020-01-20'), expiryWarningDays: 10 }).warnings.length,
    0,
    'a shorter notice',
  );
  t.equal(buildCertificateStore(files('expired'), { now: new Date('2020-01-02'), expiryWarningDays: 0 }).warnings.length, 0, 'no notice');

  const refused = (f: CertificateFiles[], pattern: RegExp, what: string, options = {}) => {
    try {
      buildCertificateStore(f, options);
      t.fail(`${what}: built`);
    } catch (err) {
      t.ok(err instanceof CertificateError, `${what}: a CertificateError`);
      t.match((err as Error).message, pattern, `${what}: ${(err as Error).message}`);
    }
  };
  const [good] = files('exact');
  const stray = ca.strayKey('stray');
  refused(
    [{ ...good, keyFile: stray, keyPem: readFileSync(stray, 'utf8') }],
    new RegExp(`^line \\d+: ${stray}: does not match the certificate in ${certs.exact.certFile} \\(CN=exact\\)$`),
    'mismatched key',
  );
  refused([{ ...good, certPem: 'hello' }], new RegExp(`${certs.exact.certFile}: holds no PEM certificate`), 'no PEM');
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  refused([{ ...good, certPem: good.certPem + broken }], /certificate 3 in the file does not parse/, 'a bad chain entry');
  refused([{ ...good, keyPem: 'junk' }], new RegExp(`${certs.exact.keyFile}: not a PEM private key`), 'junk key');
  const encrypted = join(ca.dir, 'encrypted.key');
  await run((openssl as { path: string }).path, [
    'pkey',
    '-in',
    certs.exact.keyFile,
    '-aes256',
    '-passout',
    'pass:secret',
    '-out',
    encrypted,
  ]);
  refused(
    [{ ...good, keyPem: readFileSync(encrypted, 'utf8') }],
    /the key is encrypted; tcpvs reads unencrypted keys only/,
    'encrypted key',
  );
  refused([], /TLS needs at least one certificate/, 'none');
  refused(files('exact'), /^line \d+: ciphers: "NOPE-CIPHER": .*no cipher match/i, 'unknown ciphers', { ciphers: 'NOPE-CIPHER' });
  // every fault at once, each with its line
  const [a, b] = files('exact', 'wild');
  refused(
    [
      { ...a, keyPem: 'x' },
      { ...b, certPem: 'y' },
    ],
    new RegExp(`^line ${a.line}: .*\\nline ${b.line}: `),
    'two faults',
  );

  const leafPem = readFileSync(certs.exact.leafFile, 'utf8');
  refused(
    [{ ...good, certPem: ca.caPem + leafPem }],
    /does not match the certificate in .* \(CN=tcpvs test CA\); it matches certificate 2 there, and the server's own certificate must come first/,
    'the CA before the leaf',
  );
  const outOfOrder = buildCertificateStore([{ ...good, certPem: leafPem + certs.other.certPem }]);
  t.match(
    outOfOrder.warnings.map((w) => w.message),
    ['certificate 2 did not issue certificate 1: the chain is out of order'],
    'a chain out of order',
  );
});

t.test('reading the files names the file that cannot be read', { skip }, async (t) => {
  const missing = join(ca.dir, 'missing.pem');
  try {
    readCertificateFiles([{ certFile: missing, keyFile: ca.dir, line: 7 }]);
    t.fail('read');
  } catch (err) {
    t.equal(
      (err as Error).message,
      `line 7: ${missing}: cannot read the certificate: no such file\nline 7: ${ca.dir}: cannot read the key: is a directory`,
    );
  }
  const loaded = loadCertificateStore([{ certFile: certs.wild.certFile, keyFile: certs.wild.keyFile, line: 1 }]);
  t.equal(cnFor(loaded.store, 'x.example.com'), 'wild', 'loaded from the files');
});

function run(cmd: string, args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

interface Handshake {
  fingerprint?: string;
  authorized?: boolean;
  protocol?: string | null;
  alpn?: string | false | null;
  cipher?: string;
  error?: string;
}

function connect(port: number, options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.caPem, rejectUnauthorized: false, ...options }, () => {
      const r = {
        fingerprint: socket.getPeerCertificate().fingerprint256,
        authorized: socket.authorized,
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        cipher: socket.getCipher().name,
      };
      socket.destroy();
      resolve(r);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

async function tlsServer(s: CertificateStore, extra: tls.TlsOptions = {}): Promise<{ port: number; server: tls.Server }> {
  const server = tls.createServer({ ...s.serverOptions(), ALPNProtocols: ['http/1.1'], ...extra }, (socket) => socket.end());
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, server };
}

t.test('tls.createServer with the store: Node and openssl clients get the certificate for their name', { skip }, async (t) => {
  const s = store('other', 'wild', 'exact');
  const { port, server } = await tlsServer(s);
  t.teardown(() => server.close());
  const fp = (name: string | null) => s.certificateFor(name).fingerprint256;
  for (const name of ['www.example.com', 'api.example.com', 'other.test', 'unknown.test']) {
    const r = await connect(port, { servername: name });
    t.equal(r.fingerprint, fp(name), `node, ${name}: ${cnFor(s, name)}`);
    t.equal(r.authorized, cnFor(s, name) !== 'other' || name === 'other.test', `node, ${name}: verified with the CA and the chain sent`);
  }
  t.equal((await connect(port, { servername: '' })).fingerprint, fp(null), 'node, no servername: the default');
  const o = (openssl as { path: string }).path;
  for (const name of ['www.example.com', 'api.example.com']) {
    const r = await run(o, [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      name,
      '-CAfile',
      ca.caFile,
      '-verify_return_error',
    ]);
    t.match(r.out, new RegExp(`subject=CN = ${cnFor(s, name)}\\n`), `openssl -servername ${name}`);
    t.match(r.out, /Verify return code: 0 \(ok\)/, `openssl -servername ${name}: verified`);
  }
  const none = await run(o, ['s_client', '-connect', `127.0.0.1:${port}`, '-noservername']);
  t.match(none.out, /subject=CN = other\n/, 'openssl -noservername: the default');
});

t.test('protocol versions, ciphers and ALPN', { skip }, async (t) => {
  const s = store('exact', 'other');
  const { port, server } = await tlsServer(s);
  t.teardown(() => server.close());
  const old = await connect(port, {
    servername: 'www.example.com',
    minVersion: 'TLSv1.1',
    maxVersion: 'TLSv1.1',
    ciphers: 'DEFAULT@SECLEVEL=0',
  });
  t.equal(old.error, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'TLS 1.1 refused');
  const o = (openssl as { path: string }).path;
  const oldOpenssl = await run(o, ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
  t.match(oldOpenssl.out, /alert protocol version|no protocols available|unsupported protocol/, 'openssl -tls1_1 refused');
  for (const [flag, version] of [
    ['-tls1_2', 'TLSv1.2'],
    ['-tls1_3', 'TLSv1.3'],
  ]) {
    const r = await run(o, ['s_client', '-connect', `127.0.0.1:${port}`, flag, '-servername', 'www.example.com']);
    t.match(r.out, new RegExp(`New, ${version}, Cipher is `), `openssl ${flag} accepted`);
  }
  const v12 = await connect(port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  t.same([v12.protocol, v12.cipher], ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256'], 'TLS 1.2, ECDHE with an AEAD');
  const rsa = await connect(port, { servername: 'other.test', maxVersion: 'TLSv1.2' });
  t.same([rsa.protocol, rsa.cipher], ['TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256'], 'TLS 1.2 with an RSA certificate');
  const cbc = await connect(port, {
    servername: 'other.test',
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256',
  });
  t.match(cbc.error, /ALERT_HANDSHAKE_FAILURE/, 'CBC or RSA key exchange only: refused');
  const v13 = await connect(port, { servername: 'www.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  t.same([v13.protocol, v13.alpn], ['TLSv1.3', 'http/1.1'], 'TLS 1.3, ALPN http/1.1 chosen by the server');
  t.equal((await connect(port, { servername: 'www.example.com' })).alpn, false, 'no ALPN offered: none');
  const h2only = await connect(port, { servername: 'www.example.com', ALPNProtocols: ['h2'] });
  // RFC 7301 3.2: no protocol in common is a fatal alert, not a silent fallback to HTTP/1.1
  t.equal(h2only.error, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 'a client offering only h2: refused');
  t.ok(
    TLS12_CIPHERS.split(':').every((c) => c.startsWith('ECDHE-') && /GCM|CHACHA20/.test(c)),
    'the default list is ECDHE-AEAD only',
  );

  const chacha = buildCertificateStore(files('exact'), { ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }).store;
  const custom = await tlsServer(chacha);
  t.teardown(() => custom.server.close());
  const r = await connect(custom.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  t.equal(r.cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305', 'the cipher list can be overridden');
});

t.test('a reload swaps the store: new connections get the new one, those in flight keep theirs', { skip }, async (t) => {
  const before = store('exact');
  const after = store('exact2');
  let current = before;
  const server = net.createServer((raw) => {
    // the store is taken when the connection is accepted, not when its hello arrives
    const socket = new tls.TLSSocket(raw, { isServer: true, ...current.socketOptions, ALPNProtocols: ['http/1.1'] });
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const name = 'www.example.com';

  const inFlight = await new Promise<tls.TLSSocket>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca: ca.caPem }, () => resolve(s));
  });
  t.teardown(() => inFlight.destroy());
  const accepted = new Promise<void>((resolve) => server.once('connection', () => resolve()));
  const raw = net.connect(port, '127.0.0.1');
  await accepted; // accepted before the reload, hello sent after it

  current = after;
  t.equal(cnFor(before, name), 'exact', 'the old store is unchanged by building the new one');

  const late = await new Promise<tls.TLSSocket>((resolve) => {
    const s = tls.connect({ socket: raw, servername: name, ca: ca.caPem }, () => resolve(s));
  });
  t.teardown(() => late.destroy());
  t.equal(
    late.getPeerCertificate().fingerprint256,
    before.certificateFor(name).fingerprint256,
    'accepted before the reload: the old certificate',
  );
  const fresh = await connect(port, { servername: name });
  t.equal(fresh.fingerprint, after.certificateFor(name).fingerprint256, 'accepted after the reload: the new certificate');
  const echoed = await new Promise<string>((resolve) => {
    inFlight.once('data', (d: Buffer) => resolve(d.toString()));
    inFlight.write('still here');
  });
  t.equal(echoed, 'still here', 'the connection from before the reload still carries bytes');
  t.equal(inFlight.getPeerCertificate().fingerprint256, before.certificateFor(name).fingerprint256);
});

// The native format's TLS statements (lib/config/native-tls.ts) and the
// certificate files read at load (lib/config/load.ts): what a TLS service's
// spec holds, errors that name the config line and the file at fault (a
// missing file, a key that does not match), an expired certificate as a
// warning, statements that need the other half, and the rule table's lines.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../lib/config/errors.ts';
import { loadConfig, parseConfigText } from '../../lib/config/load.ts';
import { formatRuleTable } from '../../lib/config/print.ts';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`TLS config tests skipped: ${skip}`);

let ca: TestCa;
const certs: Record<string, IssuedCert> = {};
if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  certs.www = ca.issue('www', { cn: 'www', dns: ['www.example.com'] });
  certs.expired = ca.issue('expired', { cn: 'old', dns: ['old.example'], validity: [new Date('2020-01-01'), new Date('2020-02-01')] });
}

function service(lines: string[], listen = 'listen 127.0.0.1:8443 tls'): string {
  return ['service web', `  ${listen}`, ...lines.map((l) => `  ${l}`), '  group a', '    server 127.0.0.1:9000', '  default a', ''].join(
    '\n',
  );
}

function problems(text: string): string[] {
  try {
    parseConfigText(text, '/etc/tcpvs/web.tcpvs');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}: ${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('a TLS service: its certificates, read, in order; ciphers; strict-sni; the rule table', { skip }, async (t) => {
  const config = parseConfigText(
    service([
      `certificate ${certs.www.certFile} key ${certs.www.keyFile}`,
      `certificate ${certs.expired.certFile} key ${certs.expired.keyFile}`,
      'ciphers ECDHE+AESGCM',
      'strict-sni',
    ]),
    '/etc/tcpvs/web.tcpvs',
  );
  const tls = config.services[0].tls!;
  t.same(
    tls.certificates.map((c) => [c.certFile, c.keyFile, c.line]),
    [
      [certs.www.certFile, certs.www.keyFile, 3],
      [certs.expired.certFile, certs.expired.keyFile, 4],
    ],
  );
  t.equal(tls.certificates[0].certPem, certs.www.certPem, 'the PEM text, for the data paths');
  t.equal(tls.certificates[0].keyPem, certs.www.keyPem);
  t.equal(tls.ciphers, 'ECDHE+AESGCM');
  t.equal(tls.strictSni, true);
  const expired = config.warnings.filter((w) => w.field === 'certificate');
  t.equal(expired.length, 1, 'an expired certificate is a warning, not an error');
  t.equal(expired[0].line, 4);
  t.match(expired[0].message, `${certs.expired.certFile}: expired on 2020-02-01`);
  const table = formatRuleTable(config);
  t.match(table, /\n {2}listen 127\.0\.0\.1:8443 tls\n {2}certificate \S+www\.pem key \S+www\.key {2}\(line 3\)\n/);
  t.match(table, /\n {2}ciphers ECDHE\+AESGCM\n {2}strict-sni /);
  t.match(table, /web\.tcpvs:4: certificate: \S+expired\.pem: expired on/);

  const plain = parseConfigText(service([], 'listen 127.0.0.1:8080'), 'plain.tcpvs');
  t.equal(plain.services[0].tls, undefined, 'a plain service has no TLS spec');
  t.match(formatRuleTable(plain), /\n {2}listen 127\.0\.0\.1:8080\n/, 'and its listen line is as before');
});

t.test('relative certificate paths are relative to the config file', { skip }, async (t) => {
  const file = join(ca.dir, 'web.tcpvs');
  writeFileSync(file, service(['certificate www.pem key www.key']));
  const tls = loadConfig(file).services[0].tls!;
  t.equal(tls.certificates[0].certFile, certs.www.certFile);
  t.equal(tls.certificates[0].certPem, certs.www.certPem);
});

t.test('certificate errors name the config line and the file', { skip }, async (t) => {
  const missing = join(ca.dir, 'missing.pem');
  t.same(problems(service([`certificate ${missing} key ${certs.www.keyFile}`])), [
    `3: certificate: ${missing}: cannot read the certificate: no such file`,
  ]);
  const stray = ca.strayKey('stray');
  const mismatch = problems(
    service([`certificate ${certs.www.certFile} key ${certs.www.keyFile}`, `certificate ${certs.www.certFile} key ${stray}`]),
  );
  t.equal(mismatch.length, 1);
  t.match(mismatch[0], `4: certificate: ${stray}: does not match the certificate in ${certs.www.certFile}`);
  const notPem = problems(service([`certificate ${certs.www.keyFile} key ${certs.www.keyFile}`]));
  t.match(notPem[0], `3: certificate: ${certs.www.keyFile}: holds no PEM certificate`);
});

t.test('statements that need the other half, and bad arguments', async (t) => {
  t.same(problems(service([])), ["2: certificate: 'listen ... tls' needs at least one 'certificate FILE key FILE' line"]);
  t.same(problems(service(['certificate a.pem key a.key'], 'listen 127.0.0.1:8080')), [
    "3: listen: TLS settings on a service that does not listen with 'tls' (listen HOST:PORT tls)",
  ]);
  t.same(problems(service([], 'listen 127.0.0.1:8443 ssl')), ["2: listen: unexpected 'ssl': usage: listen HOST:PORT [tls]"]);
  t.same(problems(service(['certificate a.pem a.key'])), ['3: certificate: usage: certificate FILE key FILE']);
  t.match(
    problems(service(['certificate a.pem key a.key', 'ciphers NO-SUCH-CIPHER']))[0],
    /^4: ciphers: OpenSSL takes no cipher from 'NO-SUCH-CIPHER'/,
  );
  t.same(problems(service(['certificate a.pem key a.key', 'strict-sni', 'strict-sni'])).slice(0, 1), [
    "5: strict-sni: 'strict-sni' is already set at line 4",
  ]);
});

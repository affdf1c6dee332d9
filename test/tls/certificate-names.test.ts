// lib/tls/certificate-names.ts: which DNS names a certificate covers, by
// browsers' rule: subjectAltName's DNS entries, the CN only without any
// subjectAltName; a wildcard only as the whole leftmost label over two labels
// or more; names lower-cased without a trailing dot. Real certificates from
// openssl for what Node reports of them, and objects with only the two fields
// read for the name rules' bounds. certificates.test.ts tests the store that
// picks a certificate by these names.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { coveredNames, normalizeName } from '../../lib/tls/certificate-names.ts';
import { createTestCa, ensureOpenssl, type LeafSpec, type TestCa } from '../helpers/certs.ts';

/** A stand-in with just what coveredNames reads. */
function fake(subjectAltName: string | undefined, subject = ''): X509Certificate {
  return { subjectAltName, subject } as X509Certificate;
}

t.test('normalizeName: lower case, one trailing dot dropped', async (t) => {
  t.equal(normalizeName('WWW.Example.COM'), 'www.example.com');
  t.equal(normalizeName('example.com.'), 'example.com');
  t.equal(normalizeName('example.com..'), 'example.com.', 'only one dot');
  t.equal(normalizeName('*.Example.com'), '*.example.com');
  t.equal(normalizeName(''), '');
  t.equal(normalizeName('.'), '');
  const lower = 'already.lower';
  t.equal(normalizeName(lower), lower);
});

t.test('usable names: LDH labels of 1..63, at most 253 in all', async (t) => {
  const label63 = 'a'.repeat(63);
  const long = Array.from({ length: 4 }, () => 'b'.repeat(62)).join('.'); // 251
  const tooLong = `${long}.cc`; // 254
  const sans = [label63, `${label63}a.example`, long, tooLong, 'x_y.example', 'a..b', '.a', 'a.', 'xn--bcher-kva.example', '-dash-.ok']
    .map((n) => `DNS:${n}`)
    .join(', ');
  const got = coveredNames(fake(sans));
  t.same(
    got.names,
    [label63, long, 'a', 'xn--bcher-kva.example', '-dash-.ok'],
    "a trailing dot is dropped first; hyphens anywhere (browsers' LDH check is this loose)",
  );
  t.same(got.ignored, [`${label63}a.example`, tooLong, 'x_y.example', 'a..b', '.a']);
  t.equal(got.from, 'subjectAltName');
});

t.test('wildcards: only `*.` over two labels or more', async (t) => {
  const got = coveredNames(
    fake(
      ['*.example.com', '*.com', '*', 'f*o.example.com', '*.*.example.com', 'a.*.example.com', '**.example.com', '*example.com', '*.a.b.c']
        .map((n) => `DNS:${n}`)
        .join(', '),
    ),
  );
  t.same(got.names, ['*.example.com', '*.a.b.c']);
  t.same(got.ignored, ['*.com', '*', 'f*o.example.com', '*.*.example.com', 'a.*.example.com', '**.example.com', '*example.com']);
});

t.test('subjectAltName as Node writes it: other kinds skipped, a quoted value kept whole', async (t) => {
  const got = coveredNames(
    fake('IP Address:192.0.2.1, DNS:a.example, email:x@y, URI:http://u/, DNS:"b.example, DNS:c.example", DNS:d.example'),
  );
  t.same(got.names, ['a.example', 'd.example'], 'c.example is part of a quoted value, not a name of its own');
  t.same(got.ignored, ['b.example, DNS:c.example']);
  const escaped = coveredNames(fake('DNS:"q\\"x.example", DNS:e.example'));
  t.same([escaped.names, escaped.ignored], [['e.example'], ['q"x.example']], 'a JSON escape inside the quotes');
  t.same(coveredNames(fake('IP Address:10.0.0.1')), { names: [], from: 'nothing', ignored: [] }, 'a SAN without DNS entries');
  t.same(coveredNames(fake('')), { names: [], from: 'nothing', ignored: [] });
});

t.test('the CN, only without a subjectAltName', async (t) => {
  t.same(coveredNames(fake(undefined, 'C=DE\nO=Org\nCN=Legacy.Example.')), { names: ['legacy.example'], from: 'commonName', ignored: [] });
  t.same(
    coveredNames(fake(undefined, 'CN=a.example\nCN=bad name')),
    { names: ['a.example'], from: 'commonName', ignored: ['bad name'] },
    'every CN line',
  );
  t.same(coveredNames(fake('DNS:san.example', 'CN=cn.example')).names, ['san.example'], 'a SAN hides the CN');
  t.same(coveredNames(fake(undefined, 'O=Org')), { names: [], from: 'nothing', ignored: [] });
  t.same(coveredNames(fake(undefined, 'OU=CN=x.example')).names, [], 'CN= inside another field is not a CN');
});

const openssl = ensureOpenssl();
if ('skip' in openssl) {
  t.comment(`real certificates skipped: ${openssl.skip}`);
} else {
  const ca: TestCa = createTestCa(openssl.path);
  t.teardown(() => ca.cleanup());
  const leaf = (name: string, spec: LeafSpec): X509Certificate => new X509Certificate(ca.issue(name, spec).certPem);

  t.test('real certificates, as Node reports them', async (t) => {
    t.same(coveredNames(leaf('mixed', { cn: 'ignored.example', dns: ['WWW.Example.com', 'example.com.', '*.Example.com'] })), {
      names: ['www.example.com', 'example.com', '*.example.com'],
      from: 'subjectAltName',
      ignored: [],
    });
    t.same(coveredNames(leaf('cn', { cn: 'Legacy.Example' })), { names: ['legacy.example'], from: 'commonName', ignored: [] });
    t.same(
      coveredNames(leaf('ip', { cn: 'ip.example', ipOnly: '192.0.2.7' })),
      { names: [], from: 'nothing', ignored: [] },
      'an IP-only SAN hides the CN',
    );
    t.same(
      coveredNames(leaf('comma', { dns: ['x.example, DNS:injected.example', 'plain.example', '*.com'] })),
      { names: ['plain.example'], from: 'subjectAltName', ignored: ['x.example, DNS:injected.example', '*.com'] },
      'a hostile name with a comma injects nothing',
    );
  });

  // Node reports an empty subject as undefined (not ''): this once threw a
  // TypeError instead of covering nothing.
  t.test('a certificate with no subject and no subjectAltName covers nothing', async (t) => {
    const none = leaf('none', {});
    t.equal(none.subject, undefined, 'what Node reports');
    t.same(coveredNames(none), { names: [], from: 'nothing', ignored: [] });
  });
}

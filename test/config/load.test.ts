import t from 'tap';
import { join } from 'node:path';
import { detectFormat, loadConfig, parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';

const RULES = join(import.meta.dirname, '..', '..', 'rules');

t.test('the shipped rule sets load', async (t) => {
  const web = loadConfig(join(RULES, 'web-cluster.tcpvs'));
  t.equal(web.format, 'native');
  t.same(web.warnings, []);
  const s = web.services[0];
  t.same(s.listen, { host: '127.0.0.1', port: 8080 });
  t.same(
    s.groups.map((g) => [g.name, g.servers.map((x) => `${x.host}:${x.port}`)]),
    [
      ['static', ['127.0.0.1:9101', '127.0.0.1:9104']],
      ['images', ['127.0.0.1:9102']],
      ['cgi', ['127.0.0.1:9103']],
    ],
  );
  t.equal(s.defaultGroup, 'static');

  const vhosts = loadConfig(join(RULES, 'vhosts.tcpvs'));
  t.equal(vhosts.format, 'native');
  t.same(vhosts.warnings, []);
  const kinds = vhosts.services[0].rules.flatMap((r) => r.matchers.filter((m) => m.kind === 'host'));
  t.ok(
    kinds.some((m) => m.kind === 'host' && m.wildcard),
    'has a wildcard host',
  );
  t.ok(
    kinds.some((m) => m.kind === 'host' && !m.wildcard),
    'has an exact host',
  );

  const k = loadConfig(join(RULES, 'ktcpvs.conf'));
  t.equal(k.format, 'ktcpvs');
  t.ok(k.services.length >= 1);
  for (const svc of [...web.services, ...vhosts.services, ...k.services]) {
    t.equal(svc.listen.host, '127.0.0.1', `${svc.name} listens on loopback`);
    for (const g of svc.groups) for (const srv of g.servers) t.equal(srv.host, '127.0.0.1');
  }
  t.ok(
    k.warnings.every((w) => /^ignored:/.test(w.message)),
    'only the expected "ignored" warnings',
  );
});

t.test('an unreadable file is a ConfigError at line 0, field file', async (t) => {
  const dir = t.testdir({ 'present.tcpvs': 'x' });
  for (const path of [join(dir, 'missing.tcpvs'), dir]) {
    const err = t.throws(() => loadConfig(path)) as unknown;
    t.ok(err instanceof ConfigError);
    const problems = (err as ConfigError).problems;
    t.same(
      problems.map((p) => [p.file, p.line, p.field]),
      [[path, 0, 'file']],
    );
    t.match(problems[0].message, /cannot read config/);
  }
});

t.test('errors from a file carry its path', async (t) => {
  const dir = t.testdir({ 'bad.tcpvs': 'service a\nlisten 127.0.0.1:8080\ngroup g\nserver 127.0.0.1:1\ndefault h\n' });
  const path = join(dir, 'bad.tcpvs');
  const err = t.throws(() => loadConfig(path)) as ConfigError;
  t.same(
    err.problems.map((p) => `${p.file}:${p.line}:${p.field}`),
    [`${path}:5:default`],
  );
});

t.test('format detection looks at the first significant line', async (t) => {
  t.equal(detectFormat('virtual web {\n}'), 'ktcpvs');
  t.equal(detectFormat('# KTCPVS\n\n   virtual web{\n}'), 'ktcpvs');
  t.equal(detectFormat('service web\n# virtual web {'), 'native');
  t.equal(detectFormat('virtual web'), 'native', 'without the brace it is not a KTCPVS block');
  t.equal(detectFormat(''), 'native');
  const k = parseConfigText('\ufeffvirtual a {\nlisten = 127.0.0.1:8080\nserver = 127.0.0.1:1\n}\n', 'bom.conf');
  t.equal(k.format, 'ktcpvs', 'a byte-order mark is skipped');
  t.equal(k.services[0].name, 'a');
  const n = parseConfigText('\ufeffservice b\nlisten 127.0.0.1:8080\ngroup g\nserver 127.0.0.1:1\ndefault g\r\n', 'bom.tcpvs');
  t.equal(n.services[0].name, 'b', 'BOM and CRLF line ends are harmless');
  t.equal(n.services[0].defaultGroup, 'g');
});

t.test('the shipped cache-cluster rule set loads: chbl over 8 caches, keyed by path', async (t) => {
  const config = loadConfig(join(RULES, 'cache-cluster.tcpvs'));
  t.equal(config.format, 'native');
  t.same(config.warnings, []);
  t.equal(config.services.length, 1);
  const s = config.services[0];
  t.same(s.listen, { host: '127.0.0.1', port: 8080 });
  t.same(s.rules, []);
  t.equal(s.defaultGroup, 'caches');
  t.equal(s.groups.length, 1);
  const caches = s.groups[0];
  t.equal(caches.name, 'caches');
  t.equal(caches.scheduler, 'chbl');
  t.same(caches.key, { kind: 'path' });
  t.same(caches.tuning, { balanceFactor: 1.25 });
  t.equal(caches.hashSubmatch, undefined);
  t.same(
    caches.servers,
    Array.from({ length: 8 }, (_, i) => ({ host: '127.0.0.1', port: 9201 + i, weight: 1 })),
  );
});

t.test("a server's CA file is read at load: a missing or broken one is an error naming the line and the file", async (t) => {
  const dir = t.testdir({ 'ca.pem': 'not a certificate\n' });
  const text = (server: string): string => ['service web', 'listen 127.0.0.1:8080', 'group a', server, 'default a'].join('\n');
  const missing = join(dir, 'missing.pem');
  const err = t.throws(() => parseConfigText(text(`server 127.0.0.1:1 tls verify ${missing}`), 'web.tcpvs')) as ConfigError;
  t.same(
    err.problems.map((p) => `${p.file}:${p.line}:${p.field}: ${p.message}`),
    [`web.tcpvs:4:server.tls: ${missing}: cannot read the CA file: no such file`],
  );
  const broken = t.throws(() => parseConfigText(text(`server 127.0.0.1:1 tls verify ${join(dir, 'ca.pem')}`), 'web.tcpvs')) as ConfigError;
  t.match(broken.problems[0].message, /ca\.pem: holds no PEM certificate/);
  const sni = t.throws(() => parseConfigText(text('server 127.0.0.1:1 tls sni 10.0.0.1'), 'web.tcpvs')) as ConfigError;
  t.match(sni.problems[0].message, /^sni: "10\.0\.0\.1" is not a DNS name/);
  const ok = parseConfigText(text('server 127.0.0.1:1 tls verify /etc/ssl/certs/ca-certificates.crt'), 'web.tcpvs');
  t.match(ok.services[0].groups[0].servers[0].tls?.caPem, /-----BEGIN CERTIFICATE-----/, 'the PEM text travels in the spec');
});

import t from 'tap';
import { join } from 'node:path';
import { formatMatcher, formatRuleTable } from '../../lib/config/print.ts';
import { loadConfig, parseConfigText } from '../../lib/config/load.ts';

const RULES = join(import.meta.dirname, '..', '..', 'rules');

t.test('the rule table of a native config', async (t) => {
  const config = parseConfigText(
    [
      'service web',
      'listen 127.0.0.1:8080',
      'timeout connect 250ms',
      'limit uri 4k',
      'group static',
      'server 127.0.0.1:9101 weight 3',
      'server 127.0.0.1:9102 weight 0',
      'group spare',
      'server [::1]:9103',
      'route cgi prefix /cgi-bin/ to static',
      'route images path-regex "\\.(png|gif)$" header "X-Img" = "a b" to static',
    ].join('\n'),
    'web.tcpvs',
  );
  const out = formatRuleTable(config);
  const lines = out.split('\n');
  t.match(out, /^web\.tcpvs: native format, 1 service\(s\)/);
  t.match(out, /service web {2}\(line 1\)\n {2}listen 127\.0\.0\.1:8080\n/);
  t.match(out, /connect 250ms\*/, 'changed timeouts are marked');
  t.match(out, /client-header 10s,/, 'defaults are shown unmarked');
  t.match(out, /uri 4k\*/);
  const r1 = lines.find((l) => /^ {2}1 {2}cgi/.test(l));
  const r2 = lines.find((l) => /^ {2}2 {2}images/.test(l));
  t.ok(r1 && r2, 'numbered rule rows');
  t.match(r2, /path-regex "\\\.\(png\|gif\)\$" {2}header x-img = "a b" +static +11$/);
  t.equal(r1?.indexOf('prefix'), r2?.indexOf('path-regex'), 'matcher column aligned');
  t.equal(r1?.indexOf('static'), r2?.lastIndexOf('static'), 'group column aligned');
  t.match(out, /- {2}default +no rule matched +\(none: 404 Not Found\)/);
  t.match(out, /group +scheduler +key +tuning +server +weight\n/);
  t.match(out, /static +wlc +- +- +127\.0\.0\.1:9101 +3\n +127\.0\.0\.1:9102 +0 \(quiescent\)\n {2}spare +wlc +- +- +\[::1\]:9103 +1/);
  t.match(out, /warnings \(1\):\n {2}web\.tcpvs:8: group: group 'spare' is not used/);
  t.notOk(
    lines.some((l) => / $/.test(l)),
    'no trailing spaces',
  );
});

t.test('the rule table of a KTCPVS config shows the mapping', async (t) => {
  const out = formatRuleTable(loadConfig(join(RULES, 'ktcpvs.conf')));
  t.match(out, /ktcpvs format/);
  t.match(out, /1 {2}rule1 +url-regex "\^\/cgi-bin\/" +rule1/);
  t.match(out, /rule1 +hhttp +submatch 1 +- +127\.0\.0\.1:9101/, 'the hhttp key is the pattern submatch');
  t.match(out, /warnings \(\d+\):\n.*startservers: ignored/);
  t.match(formatRuleTable(loadConfig(join(RULES, 'web-cluster.tcpvs'))), /no warnings\n$/);
});

t.test('matchers print in native syntax that parses back to the same matcher', async (t) => {
  const specs = [
    'path /a',
    'prefix "/with space/"',
    'path-regex "\\.(png|gif)$"',
    'url-regex "^/u/([^/]+)\\\\\\\\"',
    'host *.example.com',
    'host api.example.com',
    'method GET,HEAD',
    'header x-a present',
    'header x-a = "say \\"hi\\""',
    'cookie sid ~ "^a#b"',
    'query q = ""',
  ];
  for (const spec of specs) {
    const text = (s: string): string => `service a\nlisten 127.0.0.1:1\ngroup g\nserver 127.0.0.1:2\nroute r ${s} to g\n`;
    const once = parseConfigText(text(spec), 'a').services[0].rules[0].matchers[0];
    const printed = formatMatcher(once);
    const twice = parseConfigText(text(printed), 'a').services[0].rules[0].matchers[0];
    t.same(twice, once, `${spec} -> ${printed}`);
    t.equal(formatMatcher(twice), printed);
  }
});

t.test('each group shows its key and the knobs set for it', async (t) => {
  const out = formatRuleTable(loadConfig(join(RULES, 'cache-cluster.tcpvs')));
  t.match(out, /\n {2}group +scheduler +key +tuning +server +weight\n {2}caches +chbl +path +balance-factor 1\.25 +127\.0\.0\.1:9201 +1\n/);
  t.match(out, /\n {40,}127\.0\.0\.1:9208 +1\n/, 'later servers leave the group cells empty');
  const config = parseConfigText(
    [
      'service s',
      'listen 127.0.0.1:8080',
      'group loc scheduler lblcr',
      'key header X-Tenant',
      'table-max 5000',
      'expire 24h',
      'set-expire 90s',
      'server 127.0.0.1:1',
      'group maglev scheduler mh',
      'table-size 211',
      'server 127.0.0.1:2',
      'server 127.0.0.1:3',
      'group two scheduler p2c',
      'seed 7',
      'server 127.0.0.1:4',
      'group users scheduler dh',
      'key submatch 1',
      'server 127.0.0.1:5',
      'group sticky scheduler hhttp',
      'key cookie "sid"',
      'server 127.0.0.1:6',
      'route u path-regex "^/u/(\\w+)" to users',
      'route l prefix /l/ to loc',
      'route m prefix /m/ to maglev',
      'route t prefix /t/ to two',
      'route c prefix /c/ to sticky',
    ].join('\n'),
    'knobs.tcpvs',
  );
  const lines = formatRuleTable(config).split('\n');
  const row = (group: string): string => lines.find((l) => l.startsWith(`  ${group} `)) ?? '';
  t.match(row('loc'), /^ {2}loc +lblcr +header x-tenant +table-max 5000, expire 24h, set-expire 90s +127\.0\.0\.1:1 +1$/);
  t.match(row('maglev'), /^ {2}maglev +mh +path \(default\) +table-size 211 +127\.0\.0\.1:2 +1$/);
  t.match(row('two'), /^ {2}two +p2c +- +seed 7 +127\.0\.0\.1:4 +1$/, 'p2c reads no key: -');
  t.match(row('users'), /^ {2}users +dh +submatch 1 +- +127\.0\.0\.1:5 +1$/);
  t.match(row('sticky'), /^ {2}sticky +hhttp +cookie sid +- +127\.0\.0\.1:6 +1$/);
  t.equal(row('loc').indexOf('table-max'), row('maglev').indexOf('table-size'), 'tuning column aligned');
  t.notOk(
    lines.some((l) => / $/.test(l)),
    'no trailing spaces',
  );
});

t.test("servers' tls options print as written, and the printed server loads back alike", async (t) => {
  const dir = t.testdir({});
  const caFile = '/etc/ssl/certs/ca-certificates.crt';
  const servers = [
    'server 127.0.0.1:1 tls',
    `server 127.0.0.1:2 tls verify ${caFile} sni backend.example`,
    'server 127.0.0.1:3 tls no-verify',
  ];
  const text = (lines: string[]): string => ['service web', 'listen 127.0.0.1:8080', 'group a', ...lines, 'default a'].join('\n');
  const config = parseConfigText(text(servers), join(dir, 'web.tcpvs'));
  const cells = formatRuleTable(config)
    .split('\n')
    .filter((l) => /127\.0\.0\.1:\d /.test(l))
    .map((l) => (l.match(/(127\.0\.0\.1:\d .*?) {2,}\d+$/) ?? [])[1]);
  t.same(cells, ['127.0.0.1:1 tls', `127.0.0.1:2 tls verify ${caFile} sni backend.example`, '127.0.0.1:3 tls no-verify']);
  const again = parseConfigText(text(cells.map((c) => `server ${c}`)), join(dir, 'web.tcpvs'));
  t.same(again.services[0].groups[0].servers, config.services[0].groups[0].servers);
});

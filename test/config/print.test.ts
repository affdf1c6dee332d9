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
  t.match(out, /static +wlc +127\.0\.0\.1:9101 +3\n +127\.0\.0\.1:9102 +0 \(quiescent\)\n {2}spare +wlc +\[::1\]:9103 +1/);
  t.match(out, /warnings \(1\):\n {2}web\.tcpvs:8: group: group 'spare' is not used/);
  t.notOk(lines.some((l) => / $/.test(l)), 'no trailing spaces');
});

t.test('the rule table of a KTCPVS config shows the mapping', async (t) => {
  const out = formatRuleTable(loadConfig(join(RULES, 'ktcpvs.conf')));
  t.match(out, /ktcpvs format/);
  t.match(out, /1 {2}rule1 +url-regex "\^\/cgi-bin\/" +rule1/);
  t.match(out, /hhttp \(hash submatch 1\)/);
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
    const text = (s: string): string =>
      `service a\nlisten 127.0.0.1:1\ngroup g\nserver 127.0.0.1:2\nroute r ${s} to g\n`;
    const once = parseConfigText(text(spec), 'a').services[0].rules[0].matchers[0];
    const printed = formatMatcher(once);
    const twice = parseConfigText(text(printed), 'a').services[0].rules[0].matchers[0];
    t.same(twice, once, `${spec} -> ${printed}`);
    t.equal(formatMatcher(twice), printed);
  }
});

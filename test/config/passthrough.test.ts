// `mode tls-passthrough` in the native format: the spec it makes, `sni`
// matchers (exact and one-label wildcards), the HTTP statements it refuses
// (each naming its line), `sni` refused outside it, and the rule table
// `tcpvs check` prints, whose matchers read back as config.
import t from 'tap';
import { ConfigError } from '../../lib/config/errors.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { formatMatcher, formatRuleTable } from '../../lib/config/print.ts';
import { validateConfig } from '../../lib/config/validate.ts';

function service(lines: string[], mode = true): string {
  return [
    'service pass',
    '  listen 127.0.0.1:8443',
    ...(mode ? ['  mode tls-passthrough'] : []),
    ...lines.map((l) => `  ${l}`),
    '  group a',
    '    server 127.0.0.1:9000',
    '  group b',
    '    server 127.0.0.1:9001',
    '  route ra sni a.example.com to a',
    '  route rb sni *.B.example.com to b',
    '  default a',
    '',
  ].join('\n');
}

function problems(text: string): string[] {
  try {
    parseConfigText(text, 'pass.tcpvs');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}: ${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('a passthrough service: its mode and sni rules', async (t) => {
  const config = parseConfigText(service([]), 'pass.tcpvs');
  const s = config.services[0];
  t.equal(s.mode, 'tls-passthrough');
  t.equal(s.tls, undefined, 'no TLS termination');
  t.same(
    s.rules.map((r) => r.matchers),
    [[{ kind: 'sni', value: 'a.example.com', wildcard: false }], [{ kind: 'sni', value: '.b.example.com', wildcard: true }]],
    'names lower-case; a wildcard kept as its suffix',
  );
  t.same(validateConfig(config), [], 'the validator agrees');
  const table = formatRuleTable(config);
  t.match(table, /\n {2}mode tls-passthrough\n/, 'tcpvs check prints the mode');
  t.match(table, /rb\s+sni \*\.b\.example\.com\s+b/, 'and the sni rules');
  // Each printed matcher, written back into a route line, parses to the same matcher.
  const again = parseConfigText(
    service([])
      .replace(/sni \S+ to a/, `${formatMatcher(s.rules[0].matchers[0])} to a`)
      .replace(/sni \S+ to b/, `${formatMatcher(s.rules[1].matchers[0])} to b`),
    'again.tcpvs',
  );
  t.same(
    again.services[0].rules.map((r) => r.matchers),
    s.rules.map((r) => r.matchers),
    'the printed matchers load back',
  );
  t.same(config.warnings, []);
});

t.test('HTTP statements in a passthrough service are errors naming their line', async (t) => {
  t.same(problems(service(['normalize-path forward'])), [
    "4: normalize-path: 'normalize-path' is for HTTP; a 'mode tls-passthrough' service reads no HTTP",
  ]);
  t.same(problems(service(['timeout response 5s'])), [
    "4: timeout response: 'timeout response' is for HTTP; a 'mode tls-passthrough' service reads no HTTP",
  ]);
  t.same(problems(service(['limit uri 4k'])), ["4: limit uri: 'limit uri' is for HTTP; a 'mode tls-passthrough' service reads no HTTP"]);
  t.same(problems(service(['route rp prefix /x to a'])), [
    "4: route.prefix: a 'mode tls-passthrough' service routes by 'sni' only, not 'prefix'",
  ]);
  t.same(problems(service(['route rh sni a.example.com host a.example.com to a'])), [
    "4: route.host: a 'mode tls-passthrough' service routes by 'sni' only, not 'host'",
  ]);
  t.same(problems(service(['timeout client-header 2s', 'timeout connect 1s', 'timeout client-idle 30s'])), [], 'its own timeouts are fine');
  t.same(problems(service(['accept-proxy from 10.0.0.0/8'])), [], 'a PROXY header is read before the ClientHello');
  t.same(problems(service(['mode http'])), ["4: mode: 'mode' is already set at line 3"]);
  t.same(
    problems(service(['mode http'], false)),
    ["3: mode: unknown mode 'http': usage: mode tls-passthrough"].concat([
      "8: route.sni: 'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'",
      "9: route.sni: 'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'",
    ]),
  );
  const tlsListen = service([]).replace('listen 127.0.0.1:8443', 'listen 127.0.0.1:8443 tls');
  t.same(problems(tlsListen), ["2: listen: 'listen ... tls' terminates TLS; a 'mode tls-passthrough' service passes it through"]);
  const cookie = service([]).replace('    server 127.0.0.1:9000', '    server 127.0.0.1:9000\n    persist header X-User');
  t.match(problems(cookie), ["4: group.persist: 'persist header' reads HTTP; a 'mode tls-passthrough' service persists by 'source' only"]);
  const source = service([]).replace('    server 127.0.0.1:9000', '    server 127.0.0.1:9000\n    persist source');
  t.same(problems(source), [], 'source persistence reads no HTTP');
});

t.test('sni matchers outside a passthrough service, and bad names', async (t) => {
  const terminating = service([], false).replace(/listen (\S+)/, 'listen $1 tls\n  certificate /nonexistent/c.pem key /nonexistent/c.key');
  t.notOk(
    problems(terminating).some((p) => p.includes('route.sni')),
    "a service with 'listen ... tls' may route by sni (the missing certificate files are another problem)",
  );
  t.same(problems(service([], false)), [
    "7: route.sni: 'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'",
    "8: route.sni: 'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'",
  ]);
  t.same(problems(service(['route bad sni a.example.com:443 to a'])), [
    "4: sni: bad host name 'a.example.com:443' (no port: the port is ignored when matching)",
  ]);
  t.same(problems(service(['route bad sni [::1] to a'])), ["4: sni: bad host name '[::1]'"]);
  t.same(problems(service(['route bad sni to a'])), ['4: sni: missing value: usage: sni NAME | sni *.DOMAIN']);
});

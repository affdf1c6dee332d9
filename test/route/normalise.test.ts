// The path normaliser and host check (lib/route/normalise.ts), table by
// table: raw → normalised (or 400), with the RFC that decides each row; then
// what rules and keys see of a normalised request. How the request view
// reads a target is in request-view.test.ts.
import t from 'tap';
import { hostLength, normalisePath, scanPath, ABOVE_ROOT, BAD_PERCENT, FRAGMENT, BACKSLASH_IN_PATH } from '../../lib/route/normalise.ts';
import { RequestView } from '../../lib/route/request-view.ts';
import { compileMatcher } from '../../lib/route/matchers.ts';
import { compileKey } from '../../lib/route/hash-key.ts';
import { parseNativeConfig } from '../../lib/config/native.ts';
import { ConfigError } from '../../lib/config/errors.ts';

// [raw, normalised or the refusal reason, why]
const PATHS: Array<[string, string | { error: string }, string]> = [
  // Unchanged: the common case.
  ['/', '/', 'the root'],
  ['/index.html', '/index.html', 'nothing to do'],
  ['/a/b/c/', '/a/b/c/', 'a trailing slash is kept'],
  ['/.well-known/acme-challenge/x', '/.well-known/acme-challenge/x', 'a segment that starts with a dot is no dot-segment'],
  ['/a/.b/..c/c../...', '/a/.b/..c/c../...', 'RFC 3986 §5.4.2: ".g", "..g", "g.." are ordinary segments'],
  ['/a%20b', '/a%20b', 'RFC 3986 §2.1: a reserved or other octet stays encoded'],
  ['/a%2Fb', '/a%2Fb', 'RFC 3986 §2.2: %2F is data, never a separator'],
  ['/a;p=1/b', '/a;p=1/b', 'RFC 3986 §3.3: parameters are part of the segment'],
  ['/a?x=1', '/a', 'the query is not part of the path'],
  // The attacker's list (issue 11).
  ['/static/../admin/x', '/admin/x', 'RFC 3986 §5.2.4: ".." removes the segment before it'],
  ['/static/%2e%2e/admin/x', '/admin/x', 'RFC 3986 §6.2.2.2 then §6.2.2.3: %2E is ".", decoded before dot-segments go'],
  ['/static/%2E%2E/admin/x', '/admin/x', 'RFC 3986 §2.1: hex digits are case-insensitive'],
  ['/static/.%2e/admin/x', '/admin/x', 'RFC 3986 §6.2.2.2: a half-encoded ".."'],
  ['/%61dmin/x', '/admin/x', 'RFC 3986 §2.3: %61 is the unreserved "a"'],
  ['//admin/x', '/admin/x', 'empty segments merge (nginx merge_slashes)'],
  ['/secret#x', { error: FRAGMENT }, 'RFC 9112 §3.2: a request-target has no fragment'],
  // Percent-encoding (RFC 3986 §2.1, §2.3, §6.2.2.1-2).
  ['/%7euser/', '/~user/', '"~" is unreserved'],
  ['/%7Euser/', '/~user/', 'upper-case hex decodes the same'],
  ['/a%2db%2Ec%5fd', '/a-b.c_d', '"-", ".", "_" are unreserved'],
  ['/%41%5A%30%39', '/AZ09', 'ALPHA and DIGIT are unreserved'],
  ['/a%2fb', '/a%2Fb', 'kept encoded, hex upper-cased'],
  ['/a%c3%a9', '/a%C3%A9', 'non-ASCII octets stay encoded, upper-cased'],
  ['/a%2520', '/a%2520', '%25 is "%": kept, so nothing decodes twice'],
  ['/a/%2e%2e%2fadmin', '/a/..%2Fadmin', '"..%2F" is one segment, not a dot-segment'],
  ['/a%zz', { error: BAD_PERCENT }, 'RFC 3986 §2.1: "%" must be followed by two hex digits'],
  ['/a%4', { error: BAD_PERCENT }, 'one hex digit, then the end'],
  ['/a%4/b', { error: BAD_PERCENT }, 'one hex digit, then "/"'],
  ['/a%', { error: BAD_PERCENT }, 'a lone "%" at the end'],
  ['/%g0', { error: BAD_PERCENT }, '"g" is no hex digit'],
  // Slashes.
  ['/a//b', '/a/b', 'two slashes merge'],
  ['/a///b//', '/a/b/', 'runs merge, the trailing one stays'],
  ['//', '/', 'only slashes: the root'],
  ['//../x', { error: ABOVE_ROOT }, 'merged first, so this climbs above the root'],
  // Dot-segments (RFC 3986 §5.2.4, and §5.4's examples merged onto the base path /b/c/).
  ['/a/b/c/./../../g', '/a/g', 'RFC 3986 §5.2.4 worked example'],
  ['/mid/content=5/../6', '/mid/6', 'RFC 3986 §5.2.4 worked example'],
  ['/b/c/.', '/b/c/', 'RFC 3986 §5.4.1 "." → http://a/b/c/'],
  ['/b/c/./', '/b/c/', 'RFC 3986 §5.4.1 "./" → http://a/b/c/'],
  ['/b/c/..', '/b/', 'RFC 3986 §5.4.1 ".." → http://a/b/'],
  ['/b/c/../', '/b/', 'RFC 3986 §5.4.1 "../" → http://a/b/'],
  ['/b/c/../g', '/b/g', 'RFC 3986 §5.4.1 "../g" → http://a/b/g'],
  ['/b/c/../..', '/', 'RFC 3986 §5.4.1 "../.." → http://a/'],
  ['/b/c/../../', '/', 'RFC 3986 §5.4.1 "../../" → http://a/'],
  ['/b/c/../../g', '/g', 'RFC 3986 §5.4.1 "../../g" → http://a/g'],
  ['/./g', '/g', 'RFC 3986 §5.4.2 "/./g" → http://a/g'],
  ['/b/c/./../g', '/b/g', 'RFC 3986 §5.4.2 "./../g" → http://a/b/g'],
  ['/b/c/./g/.', '/b/c/g/', 'RFC 3986 §5.4.2 "./g/." → http://a/b/c/g/'],
  ['/b/c/g/./h', '/b/c/g/h', 'RFC 3986 §5.4.2 "g/./h"'],
  ['/b/c/g/../h', '/b/c/h', 'RFC 3986 §5.4.2 "g/../h"'],
  ['/b/c/g;x=1/./y', '/b/c/g;x=1/y', 'RFC 3986 §5.4.2 "g;x=1/./y"'],
  ['/b/c/g;x=1/../y', '/b/c/y', 'RFC 3986 §5.4.2 "g;x=1/../y"'],
  ['/b/c/../../../g', { error: ABOVE_ROOT }, 'RFC 3986 §5.4.2 clamps "../../../g" to /g; tcpvs refuses (as nginx)'],
  ['/../g', { error: ABOVE_ROOT }, 'RFC 3986 §5.4.2 "/../g": above the root, 400'],
  ['/..', { error: ABOVE_ROOT }, 'the root has no parent'],
  ['/a/../../x', { error: ABOVE_ROOT }, 'one level too many'],
  ['/%2e%2e/x', { error: ABOVE_ROOT }, 'an encoded ".." above the root'],
  ['/.', '/', 'a "." alone is the root'],
  ['/a/..', '/', 'back to the root'],
  ['/a/../b?x=/../y', '/b', 'the query is neither normalised nor part of the path'],
  // Refused characters.
  ['/a\\b', { error: BACKSLASH_IN_PATH }, 'RFC 3986 §3.3: "\\" is no pchar (a separator to some servers)'],
  ['/a/b#', { error: FRAGMENT }, 'an empty fragment is a fragment'],
];

t.test(`normalisePath: ${PATHS.length} cases`, async (t) => {
  t.ok(PATHS.length >= 40);
  for (const [raw, expected, why] of PATHS) t.same(normalisePath(raw), expected, `${JSON.stringify(raw)}: ${why}`);
});

t.test('normalisePath is idempotent: a normalised path needs no more work', async (t) => {
  const scan = { end: 0, changes: false };
  for (const [raw, expected] of PATHS) {
    if (typeof expected !== 'string') continue;
    t.same(normalisePath(expected), expected, `${JSON.stringify(expected)} stays`);
    t.equal(scanPath(expected, 0, scan), null);
    t.equal(scan.changes, false, `${JSON.stringify(raw)} → ${JSON.stringify(expected)}: the scan finds nothing to change`);
  }
});

t.test('the scan: clean paths are marked unchanged, so they are used as they are', async (t) => {
  const scan = { end: 0, changes: false };
  for (const clean of ['/', '/a/b', '/a%20b%2F', '/.well-known/x', '/a/b.', '/x?../y//z']) {
    t.equal(scanPath(clean, 0, scan), null);
    t.equal(scan.changes, false, `${clean}: no changes`);
    t.equal(scan.end, clean.includes('?') ? clean.indexOf('?') : clean.length, `${clean}: the path ends at its query`);
  }
  for (const dirty of ['/a//b', '/a/./b', '/a/../b', '/a/.', '/a/..', '/%61', '/%2f', '/x/..?q']) {
    t.equal(scanPath(dirty, 0, scan), null);
    t.equal(scan.changes, true, `${dirty}: changes`);
  }
});

// [value, host length (-1: invalid), why]
const HOSTS: Array<[string, number, string]> = [
  ['test', 4, 'a reg-name'],
  ['Test:80', 4, 'with a port (RFC 9110 §7.2)'],
  ['admin.internal.', 14, 'one trailing dot is not matched'],
  ['admin.internal.:8080', 14, 'a trailing dot before the port'],
  ['', 0, 'RFC 9110 §7.2: an empty Host is allowed'],
  ['a:', 1, 'RFC 3986 §3.2.3: the port may be empty'],
  ['a:65535', 1, 'the highest port'],
  ['a:0', 1, 'port 0 is syntactically valid'],
  ['1.2.3.4:8080', 7, 'an IPv4address'],
  ['[::1]', 5, 'an IP-literal'],
  ['[2001:db8::1]:443', 13, 'an IP-literal with a port'],
  ['[::ffff:1.2.3.4]', 16, 'an IPv4-mapped IPv6 literal'],
  ['xn--bcher-kva.example', 21, 'an IDN in its ASCII form'],
  ['a_b-c~d', 7, 'unreserved characters'],
  ['test@admin.internal', -1, 'RFC 9110 §4.2.4 / RFC 3986 §3.2.2: no userinfo in a host'],
  ['admin.internal:80@test', -1, 'userinfo behind a port'],
  ['test, admin.internal', -1, 'RFC 9110 §7.2: Host is one value, not a list'],
  ['test,admin.internal', -1, 'a list without spaces'],
  ['a b', -1, 'a space'],
  ['a:65536', -1, 'RFC 9110 §4.2.1 / RFC 6335: ports stop at 65535'],
  ['a:8x', -1, 'a port is digits'],
  ['a:-1', -1, 'a port is digits'],
  [':80', -1, 'no host before the port'],
  ['a..b', -1, 'an empty label'],
  ['.a', -1, 'an empty first label'],
  ['.', -1, 'only the root'],
  ['a..', -1, 'two trailing dots'],
  ['a/b', -1, '"/" ends an authority'],
  ['a%41', -1, 'percent-encoding in a host name is refused (no DNS name needs it)'],
  ['a!b', -1, 'sub-delims are refused'],
  ['[::1', -1, 'an unclosed IP-literal'],
  ['[::1]x', -1, 'junk after an IP-literal'],
  ['[fe80::1%25eth0]', -1, 'RFC 6874 zone identifiers are refused'],
  ['[v1.x]', -1, 'IPvFuture is refused'],
  ['[1.2.3.4]', -1, 'an IPv4 address is no IP-literal'],
];

t.test(`hostLength: ${HOSTS.length} cases`, async (t) => {
  for (const [value, length, why] of HOSTS) t.equal(hostLength(value), length, `${JSON.stringify(value)}: ${why}`);
});

function view(method: string, url: string, host?: string): RequestView {
  const v = new RequestView();
  v.reset(method, url, host === undefined ? [] : ['Host', host], '127.0.0.1');
  return v;
}

t.test('rules and keys see the normalised path; the query only where they did before', async (t) => {
  const prefix = compileMatcher({ kind: 'prefix', value: '/admin/' });
  const regex = compileMatcher({ kind: 'path-regex', re: /^\/admin\// });
  const url = compileMatcher({ kind: 'url-regex', re: /^\/admin\/x\?q=%61$/ });
  const host = compileMatcher({ kind: 'host', value: 'admin.internal', wildcard: false });
  for (const raw of ['/static/../admin/x?q=%61', '/static/%2e%2e/admin/x?q=%61', '/%61dmin/x?q=%61', '//admin/x?q=%61']) {
    const v = view('GET', raw, 'test');
    t.equal(v.check('test'), null);
    t.ok(prefix(v), `${raw}: prefix /admin/`);
    t.ok(regex(v), `${raw}: path-regex ^/admin/`);
    t.ok(url(v), `${raw}: url-regex sees the normalised path and the raw query`);
  }
  t.notOk(prefix(view('GET', '/x?/admin/', 'test')), 'the query is not part of the path');
  t.notOk(prefix(view('GET', '/admin%2Fx', 'test')), '%2F is no separator');
  t.ok(host(view('GET', '/', 'ADMIN.internal.:80')), 'host: case, trailing dot and port do not matter');
  const byPath = compileKey({ kind: 'path' }, undefined);
  const byTarget = compileKey({ kind: 'path-query' }, undefined);
  const byHost = compileKey({ kind: 'host' }, undefined);
  const a = view('GET', '/img/./a.png?v=1', 'Cache.Example.');
  const b = view('GET', '/img//a.png?v=1', 'cache.example');
  t.equal(byPath(a, undefined), '/img/a.png');
  t.equal(byPath(a, undefined), byPath(b, undefined), 'key path: one resource, one key');
  t.equal(byTarget(a, undefined), '/img/a.png?v=1', 'key path-query: normalised path, query as sent');
  t.equal(byHost(a, undefined), byHost(b, undefined), 'key host: case and trailing dot do not matter');
});

function configProblems(lines: string[]): string[] {
  const text = [
    'log level silent',
    'service s',
    '  listen 127.0.0.1:0',
    '  group g',
    '    server 127.0.0.1:9',
    ...lines,
    '  default g',
  ].join('\n');
  try {
    parseNativeConfig(text, 'mem');
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.field}: ${p.message}`);
    throw err;
  }
}

t.test('config: normalize-path, and path/prefix values that could never match', async (t) => {
  const spec = (lines: string[]) =>
    parseNativeConfig(
      ['service s', '  listen 127.0.0.1:0', '  group g', '    server 127.0.0.1:9', ...lines, '  default g'].join('\n'),
      'mem',
    ).services[0];
  t.equal(spec([]).forwardNormalizedPath, undefined, "default: the client's path goes upstream");
  t.equal(spec(['  normalize-path route']).forwardNormalizedPath, undefined);
  t.equal(spec(['  normalize-path forward']).forwardNormalizedPath, true);
  t.match(configProblems(['  normalize-path always']), [/^normalize-path: unknown mode 'always'/]);
  t.match(configProblems(['  normalize-path forward', '  normalize-path route']), [/already set/]);
  t.same(configProblems(['  route r prefix /static/ to g', '  route q path /a/b.c to g']), []);
  t.match(configProblems(['  route r prefix /a//b to g']), [/prefix: '\/a\/\/b' can never match a normalised path \(write '\/a\/b'/]);
  t.match(configProblems(['  route r prefix /%7euser/ to g']), [/write '\/~user\/'/]);
  t.match(configProblems(['  route r path /a%2fb to g']), [/write '\/a%2Fb'/]);
  t.match(configProblems(['  route r path /a?x to g']), [/write '\/a'/], 'a path never holds a query');
  t.match(configProblems(['  route r prefix /a/../.. to g']), [/can never match: the path climbs above the root/]);
  t.match(configProblems(['  route r prefix /a%zz to g']), [/can never match: invalid percent-encoding/]);
});

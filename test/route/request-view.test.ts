// The request view (lib/route/request-view.ts): how it reads a target (origin,
// absolute and asterisk form), which targets and Host values it refuses
// (check), what it hands upstream (forwardTarget, targetAuthority), and its
// field readers (header, host, cookie, query). Built over plain arrays, as
// the data path builds it from llhttp's output.
import t from 'tap';
import { RequestView } from '../../lib/route/request-view.ts';
import { ABOVE_ROOT, BACKSLASH_IN_PATH, BAD_PERCENT, FRAGMENT } from '../../lib/route/normalise.ts';

function view(method: string, url: string, host?: string): RequestView {
  const v = new RequestView();
  v.reset(method, url, host === undefined ? [] : ['Host', host], '127.0.0.1');
  return v;
}

// [method, target, Host, 400 reason fragment | { path, target, forward, authority, host }]
interface Read {
  path: string;
  target: string;
  forward: string; // forwardTarget(false)
  normalForward?: string; // forwardTarget(true), when it differs from `target`
  authority: string | null;
  host: string | null;
}
const TARGETS: Array<[string, string, string | undefined, Read | RegExp, string]> = [
  ['GET', '/a/b?x', 'test', { path: '/a/b', target: '/a/b?x', forward: '/a/b?x', authority: null, host: 'test' }, 'origin-form'],
  [
    'GET',
    '/a/../b?x=/../y',
    'test',
    { path: '/b', target: '/b?x=/../y', forward: '/a/../b?x=/../y', authority: null, host: 'test' },
    'the query is kept as sent',
  ],
  [
    'GET',
    'http://admin.internal/x',
    'test',
    { path: '/x', target: '/x', forward: '/x', authority: 'admin.internal', host: 'admin.internal' },
    "RFC 9112 §3.2.2: the target's authority wins over Host",
  ],
  [
    'GET',
    'HTTP://Admin.Internal.:8080/s/./t?q',
    'test',
    { path: '/s/t', target: '/s/t?q', forward: '/s/./t?q', authority: 'Admin.Internal.:8080', host: 'admin.internal' },
    'RFC 3986 §3.1, §3.2.2: scheme and host are case-insensitive',
  ],
  ['GET', 'https://a/x', 'a', { path: '/x', target: '/x', forward: '/x', authority: 'a', host: 'a' }, 'https is accepted too'],
  [
    'GET',
    'http://a',
    undefined,
    { path: '/', target: '/', forward: '/', authority: 'a', host: 'a' },
    'RFC 9112 §3.2.1: an empty path is "/"',
  ],
  ['GET', 'http://a?q=1', 'a', { path: '/', target: '/?q=1', forward: '/?q=1', authority: 'a', host: 'a' }, 'an empty path before a query'],
  [
    'OPTIONS',
    'http://a',
    'a',
    { path: '*', target: '*', forward: '*', authority: 'a', host: 'a' },
    'RFC 9112 §3.2.4: OPTIONS on an empty path goes on as "*"',
  ],
  ['OPTIONS', '*', 'a', { path: '*', target: '*', forward: '*', authority: null, host: 'a' }, 'RFC 9112 §3.2.4: asterisk-form'],
  ['GET', '*', 'a', /asterisk-form/, 'RFC 9112 §3.2.4: "*" is for OPTIONS only'],
  ['GET', 'ftp://a/x', 'a', /not origin-form/, 'only http and https'],
  ['GET', 'http://u@a/x', 'a', /userinfo/, 'RFC 9110 §4.2.4'],
  ['GET', 'http:///x', 'a', /empty or invalid host/, 'RFC 9110 §4.2.1: an http URI needs a host'],
  ['GET', 'http://a,b/x', 'a', /empty or invalid host/, 'the authority is checked as Host is'],
  ['GET', 'http://a#f', 'a', /fragment/, 'RFC 9112 §3.2: no fragment'],
  ['GET', '/a?b#c', 'a', /fragment/, 'a fragment after the query'],
  ['GET', '/a?%zz', 'a', { path: '/a', target: '/a?%zz', forward: '/a?%zz', authority: null, host: 'a' }, 'the query is not checked'],
  ['GET', '/a', 'admin.internal.', { path: '/a', target: '/a', forward: '/a', authority: null, host: 'admin.internal' }, 'a trailing dot'],
  ['GET', '/a', '[::1]:80', { path: '/a', target: '/a', forward: '/a', authority: null, host: '[::1]' }, 'an IP-literal'],
  ['GET', '/a', 'test@admin.internal', /invalid Host/, 'RFC 9112 §3.2: an invalid Host is a 400'],
  ['GET', 'http://admin.internal/a', 'x y', /invalid Host/, 'Host is checked even when the target carries the authority'],
];

t.test(`RequestView reads ${TARGETS.length} targets`, async (t) => {
  for (const [method, url, host, expected, why] of TARGETS) {
    const v = view(method, url, host);
    const error = v.check(host ?? null);
    const label = `${method} ${url} (Host ${host ?? 'none'}): ${why}`;
    if (expected instanceof RegExp) {
      t.match(error, expected, label);
      continue;
    }
    t.equal(error, null, label);
    t.same(
      { path: v.path(), target: v.target(), forward: v.forwardTarget(false), authority: v.targetAuthority(), host: v.host() },
      { path: expected.path, target: expected.target, forward: expected.forward, authority: expected.authority, host: expected.host },
      label,
    );
    t.equal(v.forwardTarget(true), expected.normalForward ?? expected.target, `${label}: normalize-path forward`);
  }
});

t.test('one view reused: nothing of the last request leaks into the next', async (t) => {
  const v = new RequestView();
  v.reset('GET', 'http://admin.internal/a/../b?q', ['Host', 'test'], '127.0.0.1');
  t.equal(v.check('test'), null);
  t.equal(v.host(), 'admin.internal');
  t.equal(v.path(), '/b');
  v.reset('GET', '/c', ['Host', 'test'], '127.0.0.1');
  t.equal(v.check('test'), null);
  t.equal(v.host(), 'test');
  t.equal(v.targetAuthority(), null);
  t.equal(v.path(), '/c');
  t.equal(v.target(), '/c');
  t.equal(v.forwardTarget(false), '/c');
});

t.test('check: the path refusals of the normaliser come through, for origin and absolute form', async (t) => {
  const cases: Array<[string, string]> = [
    ['/a%zz', BAD_PERCENT],
    ['/../x', ABOVE_ROOT],
    ['/a\\b', BACKSLASH_IN_PATH],
    ['/a#b', FRAGMENT],
    ['http://h/a%zz', BAD_PERCENT],
    ['http://h/../x', ABOVE_ROOT],
    ['http://h?q#f', FRAGMENT],
  ];
  for (const [url, reason] of cases) t.equal(view('GET', url, 'h').check('h'), reason, url);
  t.match(view('GET', 'a/b', 'h').check('h'), /not origin-form/, 'a relative path');
  t.match(view('GET', '', 'h').check('h'), /not origin-form/, 'an empty target');
  t.match(view('GET', 'http:x', 'h').check('h'), /without an authority/);
  t.match(view('GET', ':x', 'h').check('h'), /not origin-form/, 'no scheme before the colon');
});

t.test('check: the Host field value, or none', async (t) => {
  t.equal(view('GET', '/', undefined).check(null), null, 'no Host field is not for the view to refuse');
  t.equal(view('GET', '/', 'h:8080').check('h:8080'), null);
  t.match(view('GET', '/', 'h:80x').check('h:80x'), /invalid Host/);
  t.equal(view('GET', '/', '').check(''), null, 'RFC 9110 §7.2: an empty Host value is allowed');
  t.match(view('GET', '/', ':80').check(':80'), /invalid Host/, 'a port without a host');
  const v = view('GET', '/../x', 'h');
  t.equal(v.check('h'), ABOVE_ROOT);
  t.equal(v.check('h'), ABOVE_ROOT, 'asked again: the same refusal');
});

t.test('a view never checked still reads: a refused path comes back raw, without the query', async (t) => {
  const v = view('GET', '/a/../../b?q=1', 'h');
  t.equal(v.path(), '/a/../../b');
  t.equal(v.target(), '/a/../../b?q=1');
  t.equal(v.check('h'), ABOVE_ROOT);
  const clean = view('GET', '/a/./b?q', 'h');
  t.equal(clean.path(), '/a/b', 'path() parses on its own');
  t.equal(clean.target(), '/a/b?q');
});

t.test('absolute form with an empty path: "/" (or "*" for OPTIONS), the query kept', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    // method, url, path, forwardTarget(false)
    ['GET', 'http://h', '/', '/'],
    ['GET', 'http://h?q=1', '/', '/?q=1'],
    ['OPTIONS', 'http://h', '*', '*'],
    ['OPTIONS', 'http://h?q', '/', '/?q'],
    ['GET', 'http://h:81/p', '/p', '/p'],
  ];
  for (const [method, url, path, forward] of cases) {
    const v = view(method, url, 'x');
    t.equal(v.check('x'), null, url);
    t.equal(v.path(), path, `${method} ${url}: path`);
    t.equal(v.forwardTarget(false), forward, `${method} ${url}: forwarded`);
  }
  t.equal(view('GET', 'http://h:81/p', 'x').targetAuthority(), 'h:81', 'the authority keeps its port');
  t.equal(view('GET', 'http://h:81/p', 'x').host(), 'h', 'the host does not');
});

t.test('forwardTarget: the client target as sent, or normalised', async (t) => {
  const v = view('GET', '/a//b/%7e?x=%7e', 'h');
  t.equal(v.check('h'), null);
  t.equal(v.forwardTarget(false), '/a//b/%7e?x=%7e', 'as sent');
  t.equal(v.forwardTarget(true), '/a/b/~?x=%7e', 'normalised path, query as sent');
  const clean = view('GET', '/a/b?c', 'h');
  t.equal(clean.forwardTarget(true), '/a/b?c');
  t.equal(clean.forwardTarget(false), '/a/b?c');
});

t.test('queryString: after the first "?", or empty', async (t) => {
  t.equal(view('GET', '/a?b=1?c', 'h').queryString(), 'b=1?c');
  t.equal(view('GET', '/a?', 'h').queryString(), '');
  t.equal(view('GET', '/a', 'h').queryString(), '');
});

t.test('header: the first field of a name, any case; undefined when absent', async (t) => {
  const v = new RequestView();
  v.reset('GET', '/', ['Accept', 'a', 'X-Id', '1', 'ACCEPT', 'b'], '10.0.0.1');
  t.equal(v.header('accept'), 'a');
  t.equal(v.header('x-id'), '1');
  t.equal(v.header('x-i'), undefined, 'no prefix match');
  t.equal(v.header('x-idx'), undefined);
  t.equal(v.clientAddress, '10.0.0.1');
});

t.test('host: lower-case, without port or trailing dot; null without a valid one', async (t) => {
  t.equal(view('GET', '/', 'WWW.Example.COM:8080').host(), 'www.example.com');
  t.equal(view('GET', '/', '[::1]:443').host(), '[::1]');
  t.equal(view('GET', '/', '10.0.0.1').host(), '10.0.0.1');
  t.equal(view('GET', '/', undefined).host(), null);
  t.equal(view('GET', '/', 'a b').host(), null, 'an invalid Host');
  t.equal(view('GET', '/', '').host(), '', 'an empty Host is an empty host, not none');
  const two = new RequestView();
  two.reset('GET', '/', ['host', 'first', 'Host', 'second'], '127.0.0.1');
  t.equal(two.host(), 'first');
});

t.test('cookie and query read by name', async (t) => {
  const v = new RequestView();
  v.reset('GET', '/p?a=1&b&c=x%20y&a=2', ['Cookie', 'x=1; y=2', 'Cookie', 'z=3'], '127.0.0.1');
  t.equal(v.cookie('x'), '1');
  t.equal(v.cookie('y'), '2');
  t.equal(v.cookie('z'), '3', 'a second Cookie field');
  t.equal(v.cookie('w'), undefined);
  t.equal(v.query('a'), '1');
  t.equal(v.query('b'), '');
  t.equal(v.query('c'), 'x y');
  t.equal(v.query('d'), undefined);
});

t.test('reset clears a refusal and every cached read', async (t) => {
  const v = new RequestView();
  v.reset('GET', '/../x', ['Host', 'a', 'Cookie', 'k=1'], '10.0.0.1');
  t.equal(v.check('a'), ABOVE_ROOT);
  t.equal(v.host(), 'a');
  v.reset('POST', '/y?q=2', ['Host', 'b'], '10.0.0.2');
  t.equal(v.check('b'), null);
  t.equal(v.method, 'POST');
  t.equal(v.path(), '/y');
  t.equal(v.target(), '/y?q=2');
  t.equal(v.host(), 'b');
  t.equal(v.cookie('k'), undefined);
  t.equal(v.query('q'), '2');
  t.equal(v.clientAddress, '10.0.0.2');
  v.reset('OPTIONS', '*', [], '10.0.0.3');
  t.equal(v.check(null), null);
  t.equal(v.path(), '*');
  t.equal(v.host(), null);
});

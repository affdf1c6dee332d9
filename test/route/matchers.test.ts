// Each matcher kind of lib/route/matchers.ts on its own, over a real
// RequestView: what it matches, what it must not, and the case rules (paths,
// methods, cookie and query names and all values are case-sensitive; header
// names and hosts are not). compileAll: every matcher must hold, cheap ones
// are tried first.
import t from 'tap';
import { compileAll, compileMatcher } from '../../lib/route/matchers.ts';
import { RequestView } from '../../lib/route/request-view.ts';
import type { Matcher } from '../../lib/config/model.ts';

function request(method: string, url: string, headers: Record<string, string> | string[] = {}): RequestView {
  const view = new RequestView();
  view.reset(method, url, Array.isArray(headers) ? headers : Object.entries(headers).flat(), '127.0.0.1');
  return view;
}

function matches(m: Matcher, req: RequestView): boolean {
  return compileMatcher(m)(req);
}

t.test('path: exact, query excluded', async (t) => {
  const m: Matcher = { kind: 'path', value: '/index.html' };
  t.ok(matches(m, request('GET', '/index.html')));
  t.ok(matches(m, request('GET', '/index.html?x=1')));
  t.notOk(matches(m, request('GET', '/index.htm')));
  t.notOk(matches(m, request('GET', '/index.html/x')));
});

t.test('prefix', async (t) => {
  const m: Matcher = { kind: 'prefix', value: '/cgi-bin/' };
  t.ok(matches(m, request('GET', '/cgi-bin/run')));
  t.ok(matches(m, request('GET', '/cgi-bin/')));
  t.notOk(matches(m, request('GET', '/cgi-bin')));
  t.notOk(matches(m, request('GET', '/x/cgi-bin/')));
  t.notOk(matches(m, request('GET', '/?p=/cgi-bin/')), 'query is not part of the path');
});

t.test('path-regex tests the path, url-regex the whole target', async (t) => {
  const path: Matcher = { kind: 'path-regex', re: /\.png$/ };
  t.ok(matches(path, request('GET', '/a/b.png?v=2')));
  t.notOk(matches(path, request('GET', '/a/b.png.txt')));
  t.notOk(matches(path, request('GET', '/a?f=b.png')));
  const url: Matcher = { kind: 'url-regex', re: /\.png$/ };
  t.notOk(matches(url, request('GET', '/a/b.png?v=2')));
  t.ok(matches(url, request('GET', '/a?f=b.png')));
});

t.test('host: exact and wildcard, lower-cased, port ignored', async (t) => {
  const exact: Matcher = { kind: 'host', value: 'api.example.com', wildcard: false };
  t.ok(matches(exact, request('GET', '/', { Host: 'API.Example.com:8080' })));
  t.ok(matches(exact, request('GET', 'http://api.example.com/x')), 'absolute-form target');
  t.notOk(matches(exact, request('GET', '/', { Host: 'www.example.com' })));
  t.notOk(matches(exact, request('GET', '/')), 'no Host at all');
  const wild: Matcher = { kind: 'host', value: '.example.com', wildcard: true };
  t.ok(matches(wild, request('GET', '/', { host: 'a.example.com' })));
  t.ok(matches(wild, request('GET', '/', { host: 'b.a.example.com:443' })));
  t.notOk(matches(wild, request('GET', '/', { host: 'example.com' })), 'the bare domain is not a subdomain');
  t.notOk(matches(wild, request('GET', '/', { host: 'badexample.com' })));
  t.notOk(matches(wild, request('GET', '/', { host: '.example.com' })));
  t.notOk(matches(wild, request('GET', '/')));
});

t.test('method', async (t) => {
  const one: Matcher = { kind: 'method', values: ['POST'] };
  t.ok(matches(one, request('POST', '/')));
  t.notOk(matches(one, request('GET', '/')));
  const two: Matcher = { kind: 'method', values: ['GET', 'HEAD'] };
  t.ok(matches(two, request('HEAD', '/')));
  t.ok(matches(two, request('GET', '/')));
  t.notOk(matches(two, request('DELETE', '/')));
});

t.test('header: present, equals, regex; names case-insensitive', async (t) => {
  const present: Matcher = { kind: 'header', name: 'x-api-key', op: 'present' };
  t.ok(matches(present, request('GET', '/', { 'X-Api-Key': 'k' })));
  t.ok(matches(present, request('GET', '/', { 'x-api-key': '' })), 'an empty header is present');
  t.notOk(matches(present, request('GET', '/', { 'x-api-keys': 'k' })));
  const equals: Matcher = { kind: 'header', name: 'accept', op: 'equals', value: 'text/html' };
  t.ok(matches(equals, request('GET', '/', { Accept: 'text/html' })));
  t.notOk(matches(equals, request('GET', '/', { Accept: 'text/html, */*' })));
  t.notOk(matches(equals, request('GET', '/')));
  const regex: Matcher = { kind: 'header', name: 'user-agent', op: 'regex', re: /bot/i };
  t.ok(matches(regex, request('GET', '/', { 'User-Agent': 'GoogleBot/2.1' })));
  t.notOk(matches(regex, request('GET', '/', { 'User-Agent': 'curl/8' })));
  t.notOk(matches(regex, request('GET', '/')));
});

t.test('cookie: present, equals, regex', async (t) => {
  const headers = { Cookie: 'theme=dark; sid=abc123; empty=' };
  t.ok(matches({ kind: 'cookie', name: 'sid', op: 'present' }, request('GET', '/', headers)));
  t.notOk(matches({ kind: 'cookie', name: 'SID', op: 'present' }, request('GET', '/', headers)), 'cookie names are case-sensitive');
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'present' }, request('GET', '/')));
  t.ok(matches({ kind: 'cookie', name: 'theme', op: 'equals', value: 'dark' }, request('GET', '/', headers)));
  t.notOk(matches({ kind: 'cookie', name: 'theme', op: 'equals', value: 'light' }, request('GET', '/', headers)));
  t.ok(matches({ kind: 'cookie', name: 'empty', op: 'equals', value: '' }, request('GET', '/', headers)));
  t.ok(matches({ kind: 'cookie', name: 'sid', op: 'regex', re: /^abc\d+$/ }, request('GET', '/', headers)));
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'regex', re: /^\d+$/ }, request('GET', '/', headers)));
});

t.test('query: present, equals (decoded), regex', async (t) => {
  t.ok(matches({ kind: 'query', name: 'debug', op: 'present' }, request('GET', '/?a=1&debug')));
  t.notOk(matches({ kind: 'query', name: 'debug', op: 'present' }, request('GET', '/?a=1&debugger=1')));
  t.notOk(matches({ kind: 'query', name: 'debug', op: 'present' }, request('GET', '/debug')));
  t.ok(matches({ kind: 'query', name: 'q', op: 'equals', value: 'a b/c' }, request('GET', '/s?q=a+b%2Fc')));
  t.notOk(matches({ kind: 'query', name: 'q', op: 'equals', value: 'a' }, request('GET', '/s?q=ab')));
  t.ok(matches({ kind: 'query', name: 'id', op: 'regex', re: /^\d+$/ }, request('GET', '/?id=42')));
  t.notOk(matches({ kind: 'query', name: 'id', op: 'regex', re: /^\d+$/ }, request('GET', '/?id=4x')));
});

t.test('compileAll: every matcher must hold; none holds vacuously', async (t) => {
  const both = compileAll([
    { kind: 'path-regex', re: /^\/api\// },
    { kind: 'method', values: ['GET'] },
    { kind: 'header', name: 'x-k', op: 'present' },
  ]);
  t.ok(both(request('GET', '/api/x', { 'x-k': '1' })));
  t.notOk(both(request('POST', '/api/x', { 'x-k': '1' })));
  t.notOk(both(request('GET', '/web/x', { 'x-k': '1' })));
  t.notOk(both(request('GET', '/api/x')));
  t.ok(compileAll([])(request('GET', '/')));
  const two = compileAll([
    { kind: 'prefix', value: '/a' },
    { kind: 'method', values: ['GET'] },
  ]);
  t.ok(two(request('GET', '/a')));
  t.notOk(two(request('GET', '/b')));
  t.notOk(two(request('PUT', '/a')));
});

t.test('path and prefix: case-sensitive, tested against the normalised path', async (t) => {
  const path: Matcher = { kind: 'path', value: '/index.html' };
  t.notOk(matches(path, request('GET', '/Index.html')), 'paths are case-sensitive');
  t.ok(matches(path, request('GET', '/a/../index.html')), 'dot-segments are removed first');
  t.ok(matches(path, request('GET', '/%69ndex.html')), 'an unreserved octet is decoded first');
  t.ok(matches(path, request('GET', '/index.html?')), 'an empty query');
  t.ok(matches(path, request('GET', 'http://h/index.html')), 'absolute-form: the path after the authority');
  const root: Matcher = { kind: 'prefix', value: '/' };
  t.ok(matches(root, request('GET', '/')));
  t.ok(matches(root, request('GET', '/anything/at/all')));
  t.notOk(matches(root, request('OPTIONS', '*')), 'OPTIONS * has the path "*", not under "/"');
  t.notOk(matches({ kind: 'prefix', value: '/API/' }, request('GET', '/api/x')), 'prefixes are case-sensitive');
});

t.test('path-regex and url-regex: as written (no flags), on the normalised target', async (t) => {
  const png: Matcher = { kind: 'path-regex', re: /\.png$/ };
  t.notOk(matches(png, request('GET', '/a/B.PNG')), 'no i flag: case-sensitive');
  t.ok(matches({ kind: 'path-regex', re: /\.png$/i }, request('GET', '/a/B.PNG')), 'an i flag is honoured');
  t.ok(matches({ kind: 'path-regex', re: /b/ }, request('GET', '/a/b/c')), 'unanchored: anywhere in the path');
  t.notOk(matches({ kind: 'path-regex', re: /^\/b/ }, request('GET', '/a/b/c')));
  const url: Matcher = { kind: 'url-regex', re: /^\/x\.png\?v=1$/ };
  t.ok(matches(url, request('GET', 'http://h/x.png?v=1')), 'absolute-form: tested in origin form');
  t.ok(matches(url, request('GET', '/y/../x.png?v=1')), 'the path part is normalised');
  t.notOk(matches(url, request('GET', '/x.png?v=%31')), 'the query is tested as sent');
});

t.test('host: exact is no suffix match; a trailing dot and the port are ignored', async (t) => {
  const exact: Matcher = { kind: 'host', value: 'example.com', wildcard: false };
  t.notOk(matches(exact, request('GET', '/', { Host: 'www.example.com' })), 'a subdomain is another host');
  t.notOk(matches(exact, request('GET', '/', { Host: 'example.co' })));
  t.ok(matches(exact, request('GET', '/', { Host: 'example.com.' })), 'a trailing dot');
  t.ok(matches(exact, request('GET', '/', { Host: 'EXAMPLE.COM:80' })));
  t.ok(matches(exact, request('GET', 'http://example.com/', { Host: 'other.org' })), "the target's authority replaces Host");
  t.notOk(matches(exact, request('GET', 'http://other.org/', { Host: 'example.com' })));
  t.notOk(matches(exact, request('GET', '/', { Host: 'exa mple.com' })), 'an invalid Host is no host');
  const wild: Matcher = { kind: 'host', value: '.example.com', wildcard: true };
  t.ok(matches(wild, request('GET', '/', { Host: 'A.EXAMPLE.COM.:8080' })));
  t.ok(matches(wild, request('GET', 'https://x.example.com/p')));
  t.notOk(matches(wild, request('GET', '/', { Host: 'example.com.' })), 'the bare domain, even with a trailing dot');
  t.notOk(matches(wild, request('GET', '/', { Host: 'a.example.com.evil' })));
});

t.test('method: exact and case-sensitive (RFC 9110 §9.1)', async (t) => {
  t.notOk(matches({ kind: 'method', values: ['GET'] }, request('get', '/')));
  t.notOk(matches({ kind: 'method', values: ['GET', 'HEAD'] }, request('head', '/')));
  t.notOk(matches({ kind: 'method', values: ['GET'] }, request('GETX', '/')));
  const three: Matcher = { kind: 'method', values: ['PUT', 'PATCH', 'DELETE'] };
  t.ok(matches(three, request('PATCH', '/')));
  t.ok(matches(three, request('DELETE', '/')));
  t.notOk(matches(three, request('POST', '/')));
});

t.test('header: the first field of a name decides; values are case-sensitive', async (t) => {
  const repeated = ['X-Tier', 'gold', 'x-tier', 'silver'];
  t.ok(matches({ kind: 'header', name: 'x-tier', op: 'equals', value: 'gold' }, request('GET', '/', repeated)));
  t.notOk(matches({ kind: 'header', name: 'x-tier', op: 'equals', value: 'silver' }, request('GET', '/', repeated)), 'only the first');
  t.notOk(matches({ kind: 'header', name: 'x-tier', op: 'equals', value: 'GOLD' }, request('GET', '/', repeated)));
  t.notOk(matches({ kind: 'header', name: 'x-tier', op: 'regex', re: /^GOLD$/ }, request('GET', '/', repeated)));
  t.ok(matches({ kind: 'header', name: 'x-tier', op: 'regex', re: /ol/ }, request('GET', '/', repeated)), 'unanchored');
  t.ok(matches({ kind: 'header', name: 'x-tier', op: 'regex', re: /^$/ }, request('GET', '/', ['X-Tier', ''])), 'an empty value is tested');
  t.notOk(matches({ kind: 'header', name: 'x-tier', op: 'regex', re: /^$/ }, request('GET', '/')), 'a missing header is not empty');
});

t.test('cookie: every Cookie field, names trimmed, the first of a name wins', async (t) => {
  const two = ['Cookie', 'a=1', 'Other', 'x', 'cookie', 'sid=s2; sid=s3'];
  t.ok(matches({ kind: 'cookie', name: 'sid', op: 'equals', value: 's2' }, request('GET', '/', two)), 'found in the second Cookie field');
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'equals', value: 's3' }, request('GET', '/', two)), 'the first of a name wins');
  const spaced = { Cookie: '  lang = en ;flag; tok=a=b' };
  t.ok(matches({ kind: 'cookie', name: 'lang', op: 'equals', value: 'en' }, request('GET', '/', spaced)), 'spaces around = are trimmed');
  t.notOk(matches({ kind: 'cookie', name: 'flag', op: 'present' }, request('GET', '/', spaced)), 'a part without = is no cookie');
  t.ok(matches({ kind: 'cookie', name: 'tok', op: 'equals', value: 'a=b' }, request('GET', '/', spaced)), 'the value runs past a second =');
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'present' }, request('GET', '/', { 'X-Cookie': 'sid=1' })), 'only Cookie fields');
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'present' }, request('GET', '/', { Cookies: 'sid=1' })));
  t.notOk(matches({ kind: 'cookie', name: 'sid', op: 'regex', re: /./ }, request('GET', '/')), 'a regex on a missing cookie');
});

t.test('query: names and values percent-decoded, + is a space, the first of a name wins', async (t) => {
  t.ok(matches({ kind: 'query', name: 'debug', op: 'present' }, request('GET', '/?%64ebug=1')), 'the name is decoded');
  t.ok(matches({ kind: 'query', name: 'a b', op: 'equals', value: 'x' }, request('GET', '/?a+b=x')));
  t.ok(matches({ kind: 'query', name: 'q', op: 'equals', value: '' }, request('GET', '/?q=')), 'an empty value');
  t.ok(matches({ kind: 'query', name: 'q', op: 'equals', value: '' }, request('GET', '/?q')), 'no = at all: empty');
  t.ok(matches({ kind: 'query', name: 'q', op: 'equals', value: '1' }, request('GET', '/?q=1&q=2')));
  t.notOk(matches({ kind: 'query', name: 'q', op: 'equals', value: '2' }, request('GET', '/?q=1&q=2')), 'the first of a name wins');
  t.ok(matches({ kind: 'query', name: 'q', op: 'equals', value: '%zz' }, request('GET', '/?q=%zz')), 'bad percent-encoding: as sent');
  t.notOk(matches({ kind: 'query', name: 'Q', op: 'present' }, request('GET', '/?q=1')), 'names are case-sensitive');
  t.notOk(matches({ kind: 'query', name: 'q', op: 'present' }, request('GET', '/?')), 'an empty query');
  t.notOk(matches({ kind: 'query', name: 'q', op: 'present' }, request('GET', '/q')), 'no query');
});

// A view that records which parts of the request a rule read.
class RecordingView extends RequestView {
  reads: string[] = [];
  override path(): string {
    this.reads.push('path');
    return super.path();
  }
  override cookie(name: string): string | undefined {
    this.reads.push('cookie');
    return super.cookie(name);
  }
  override header(lowerName: string): string | undefined {
    this.reads.push(`header ${lowerName}`);
    return super.header(lowerName);
  }
}

function recording(method: string, url: string, headers: string[] = []): RecordingView {
  const view = new RecordingView();
  view.reset(method, url, headers, '127.0.0.1');
  return view;
}

t.test('compileAll: cheap matchers run first, and the first that fails ends the test', async (t) => {
  const matchers: Matcher[] = [
    { kind: 'path-regex', re: /^\/api\// },
    { kind: 'cookie', name: 'sid', op: 'present' },
    { kind: 'header', name: 'x-k', op: 'present' },
    { kind: 'method', values: ['GET'] },
  ];
  const all = compileAll(matchers);
  const post = recording('POST', '/api/x', ['Cookie', 'sid=1', 'X-K', '1']);
  t.notOk(all(post));
  t.same(post.reads, [], 'the method fails first: nothing else is read');
  const noHeader = recording('GET', '/api/x', ['Cookie', 'sid=1']);
  t.notOk(all(noHeader));
  t.same(noHeader.reads, ['header x-k'], 'the header before the cookie and the regex');
  const noCookie = recording('GET', '/api/x', ['X-K', '1']);
  t.notOk(all(noCookie));
  t.same(noCookie.reads, ['header x-k', 'cookie'], 'the cookie before the regex');
  const every = recording('GET', '/api/x', ['X-K', '1', 'Cookie', 'sid=1']);
  t.ok(all(every));
  t.same(every.reads, ['header x-k', 'cookie', 'path']);
  t.same(
    matchers.map((m) => m.kind),
    ['path-regex', 'cookie', 'header', 'method'],
    "the caller's list keeps its order",
  );
});

t.test('compileAll: one matcher, and many', async (t) => {
  const one = compileAll([{ kind: 'path', value: '/a' }]);
  t.ok(one(request('GET', '/a')));
  t.notOk(one(request('GET', '/b')));
  const many = compileAll([
    { kind: 'prefix', value: '/a' },
    { kind: 'method', values: ['GET'] },
    { kind: 'host', value: 'h', wildcard: false },
    { kind: 'query', name: 'v', op: 'equals', value: '2' },
    { kind: 'url-regex', re: /v=2$/ },
  ]);
  t.ok(many(request('GET', '/a?v=2', { Host: 'h' })));
  t.notOk(many(request('GET', '/a?v=2', { Host: 'g' })), 'the third fails');
  t.notOk(many(request('GET', '/a?v=3', { Host: 'h' })), 'the fourth fails');
  t.notOk(many(request('GET', '/a?v=2&w=1', { Host: 'h' })), 'only the last fails');
});

// lib/config/route-syntax.ts: parseMatcher for each matcher kind, the
// message and resync point of each of its errors, the `end` bound it must
// not read past, and keyedRegexIndex. native.test.ts tests matchers inside
// whole route lines; tcpvsadm's tests the same syntax from the command line.
import t from 'tap';
import { keyedRegexIndex, parseMatcher } from '../../lib/config/route-syntax.ts';
import type { Matcher } from '../../lib/config/model.ts';
import { regexText, tokenizeLine, type Token } from '../../lib/config/tokenize.ts';

function tokens(text: string): Token[] {
  const line = tokenizeLine(text);
  if (line.error !== null) throw new Error(line.error);
  return line.tokens;
}

/** parseMatcher on the whole of `text`, regexes shown as their source. */
function parse(text: string, start = 0, end?: number) {
  const list = tokens(text);
  const result = parseMatcher(list, start, end ?? list.length);
  const matcher =
    result.matcher === null
      ? null
      : JSON.parse(JSON.stringify(result.matcher, (_k, v: unknown) => (v instanceof RegExp ? `/${regexText(v)}/` : v)));
  return { matcher, problem: result.problem, next: result.next };
}

function ok(matcher: unknown, next: number) {
  return { matcher, problem: null, next };
}

function fail(field: string, message: string, next: number) {
  return { matcher: null, problem: { field, message }, next };
}

t.test('path and prefix: an absolute, normalised path', async (t) => {
  t.same(parse('path /index.html'), ok({ kind: 'path', value: '/index.html' }, 2));
  t.same(parse('prefix /api/'), ok({ kind: 'prefix', value: '/api/' }, 2));
  t.same(parse('prefix /'), ok({ kind: 'prefix', value: '/' }, 2));
  t.same(parse('path /a%2Fb'), ok({ kind: 'path', value: '/a%2Fb' }, 2), 'an encoded slash is not a separator, and stays');
  t.same(parse('path index.html'), fail('path', "'index.html' must start with '/'", 2));
  t.same(parse('path'), fail('path', 'missing value: usage: path /PATH', -1));
  t.same(parse('prefix'), fail('prefix', 'missing value: usage: prefix /PATH', -1));
  const never = "(write '/a/b'; see Path and host normalisation in docs/configuration.md)";
  t.same(parse('prefix /a//b'), fail('prefix', `'/a//b' can never match a normalised path ${never}`, 2));
  t.same(parse('path /a/./b'), fail('path', `'/a/./b' can never match a normalised path ${never}`, 2));
  t.same(
    parse('path /%61'),
    fail('path', "'/%61' can never match a normalised path (write '/a'; see Path and host normalisation in docs/configuration.md)", 2),
    'an encoded unreserved character is decoded before matching',
  );
  t.same(
    parse('path /%2f'),
    fail('path', "'/%2f' can never match a normalised path (write '/%2F'; see Path and host normalisation in docs/configuration.md)", 2),
    'hex is upper-cased',
  );
  t.same(parse('path /..'), fail('path', "'/..' can never match: the path climbs above the root (RFC 3986 §5.2.4)", 2));
  t.same(parse('path /a%zz'), fail('path', "'/a%zz' can never match: invalid percent-encoding in the path (RFC 3986 §2.1)", 2));
  t.same(parse('path "/a\\b"'), fail('path', "'/a\\b' can never match: a '\\' in the path (RFC 3986 §3.3)", 2));
  t.same(parse('path "/a#b"'), fail('path', "'/a#b' can never match: a fragment (#) in the request target (RFC 9112 §3.2)", 2));
});

t.test('path-regex and url-regex: compiled once, the text kept as written', async (t) => {
  t.same(parse('path-regex "\\.(png|jpe?g)$"'), ok({ kind: 'path-regex', re: '/\\.(png|jpe?g)$/', text: '\\.(png|jpe?g)$' }, 2));
  t.same(parse('url-regex ^/a/b\\?x=1'), ok({ kind: 'url-regex', re: '/^/a/b\\?x=1/', text: '^/a/b\\?x=1' }, 2));
  const list = tokens('url-regex "^/(x)/"');
  const got = parseMatcher(list, 0, list.length).matcher as Matcher & { re: RegExp };
  t.equal(got.re.flags, '', 'no flags: a shared regex keeps no lastIndex');
  t.ok(got.re.test('/x/y'));
  t.same(parse('path-regex'), fail('path-regex', 'missing value: usage: path-regex REGEX', -1));
  t.same(parse('url-regex ""'), fail('url-regex', 'empty regular expression', 2));
  const bad = parse('path-regex "(a"');
  t.equal(bad.next, 2, 'a bad regex is one value: resync after it');
  t.equal(bad.problem?.field, 'path-regex');
  t.match(bad.problem?.message, /^bad regular expression "\(a": Invalid regular expression: \/\(a\/: /);
});

t.test('host: a name or *.domain, lower-cased, no port', async (t) => {
  t.same(parse('host Example.COM'), ok({ kind: 'host', value: 'example.com', wildcard: false }, 2));
  t.same(parse('host *.Example.com'), ok({ kind: 'host', value: '.example.com', wildcard: true }, 2), 'wildcard: the suffix with its dot');
  t.same(parse('host localhost'), ok({ kind: 'host', value: 'localhost', wildcard: false }, 2));
  t.same(parse('host under_score.example'), ok({ kind: 'host', value: 'under_score.example', wildcard: false }, 2));
  t.same(parse('host [::1]'), ok({ kind: 'host', value: '[::1]', wildcard: false }, 2));
  t.same(parse('host 10.0.0.1'), ok({ kind: 'host', value: '10.0.0.1', wildcard: false }, 2));
  t.same(parse('host example.com:8080'), fail('host', "bad host name 'example.com:8080' (no port: the port is ignored when matching)", 2));
  for (const bad of ['*', '*.', 'a..b', '-a.com', 'a-.com', '.a.com', 'a.com.', 'a*.com', 'x.*.com', 'é.com', '[zz]']) {
    t.same(parse(`host "${bad}"`), fail('host', `bad host name '${bad}'`, 2), bad);
  }
  t.same(parse('host'), fail('host', 'missing value: usage: host NAME | host *.DOMAIN', -1));
});

t.test('method: a comma list, upper-cased, each once', async (t) => {
  t.same(parse('method get,Head,GET'), ok({ kind: 'method', values: ['GET', 'HEAD'] }, 2));
  t.same(parse('method PROPFIND'), ok({ kind: 'method', values: ['PROPFIND'] }, 2));
  t.same(parse('method M-SEARCH'), ok({ kind: 'method', values: ['M-SEARCH'] }, 2), 'any token is a method');
  for (const bad of ['GET,', ',GET', 'GET,,POST', 'GET;POST', 'GET POST']) {
    t.same(parse(`method "${bad}"`), fail('method', `bad method list '${bad}' (comma-separated, no spaces)`, 2), bad);
  }
  t.same(parse('method'), fail('method', 'missing value: usage: method GET,HEAD', -1));
});

t.test('header, cookie, query: present, = VALUE, ~ REGEX', async (t) => {
  t.same(parse('header X-Api-Key present'), ok({ kind: 'header', name: 'x-api-key', op: 'present' }, 3), 'header names lower-cased');
  t.same(parse('header Accept = "text/html; q=1"'), ok({ kind: 'header', name: 'accept', op: 'equals', value: 'text/html; q=1' }, 4));
  t.same(parse('cookie SID present'), ok({ kind: 'cookie', name: 'SID', op: 'present' }, 3), 'cookie names keep their case');
  t.same(parse('cookie theme = Dark'), ok({ kind: 'cookie', name: 'theme', op: 'equals', value: 'Dark' }, 4), 'values keep their case');
  t.same(parse('query Page ~ ^[0-9]+$'), ok({ kind: 'query', name: 'Page', op: 'regex', re: '/^[0-9]+$/' }, 4));
  t.same(parse('query q = ""'), ok({ kind: 'query', name: 'q', op: 'equals', value: '' }, 4), 'an empty value is a value');
  t.same(parse('query "a b" present'), ok({ kind: 'query', name: 'a b', op: 'present' }, 3), 'a quoted query name');

  const usage = (kind: string) => `usage: ${kind} NAME present | ${kind} NAME = VALUE | ${kind} NAME ~ REGEX`;
  t.same(parse('header'), fail('header', `missing name: ${usage('header')}`, -1));
  t.same(parse('cookie'), fail('cookie', `missing name: ${usage('cookie')}`, -1));
  t.same(parse('header x:y present'), fail('header', "bad header name 'x:y'", -1));
  t.same(parse('header "" present'), fail('header', "bad header name ''", -1));
  t.same(parse('cookie "" present'), fail('cookie', 'empty cookie name', -1));
  t.same(parse('query "" = 1'), fail('query', 'empty query name', -1));
  t.same(parse('header x'), fail('header', `missing test after 'x': ${usage('header')}`, -1));
  t.same(parse('query q "present"'), fail('query', `missing test after 'q': ${usage('query')}`, -1), 'a quoted word is no test');
  t.same(parse('cookie c is on'), fail('cookie', `unknown test 'is': ${usage('cookie')}`, -1));
  t.same(parse('header x ='), fail('header', `missing value after '=': ${usage('header')}`, -1));
  t.same(parse('query q ~'), fail('query', `missing value after '~': ${usage('query')}`, -1));
  const bad = parse('header x ~ "[a"');
  t.equal(bad.next, 4, 'a bad regex: resync after the value');
  t.match(bad.problem, { field: 'header', message: /^bad regular expression "\[a": / });
  t.same(parse('cookie c ~ ""'), fail('cookie', 'empty regular expression', 4));
});

t.test('kinds: a quoted kind, an unknown one', async (t) => {
  t.same(parse('"path" /a'), fail('route', 'expected a matcher, found the quoted string "path"', -1));
  t.same(
    parse('paths /a'),
    fail('route', "unknown matcher 'paths' (expected path, prefix, path-regex, url-regex, host, method, header, cookie, query or sni)", -1),
  );
  t.same(parse('PATH /a').problem?.field, 'route', 'kinds are case-sensitive');
});

t.test('start and end: matchers in the middle of a line, and nothing read past end', async (t) => {
  const line = 'route r host a.example prefix /x header x = 1 to g';
  const list = tokens(line);
  const to = list.findIndex((tok) => tok.text === 'to');
  const found: unknown[] = [];
  for (let i = 2; i < to; ) {
    const r = parseMatcher(list, i, to);
    found.push(r.matcher);
    t.equal(r.problem, null);
    i = r.next;
  }
  t.same(found, [
    { kind: 'host', value: 'a.example', wildcard: false },
    { kind: 'prefix', value: '/x' },
    { kind: 'header', name: 'x', op: 'equals', value: '1' },
  ]);
  // `to g` is not a value: the bound stops each matcher at `to`.
  t.same(parse('path to g', 0, 1), fail('path', 'missing value: usage: path /PATH', -1));
  t.same(
    parse('header x = to g', 0, 3),
    fail('header', `missing value after '=': usage: header NAME present | header NAME = VALUE | header NAME ~ REGEX`, -1),
  );
  t.same(parse('header x to g', 0, 2).next, -1, 'missing test at the bound');
  t.same(parse('x path /a', 1), ok({ kind: 'path', value: '/a' }, 3), 'next counts from the start of the line');
  t.same(parse('x header y present z', 1).next, 4);
});

t.test('keyedRegexIndex: the first url-regex, else the first path-regex', async (t) => {
  const urlRe: Matcher = { kind: 'url-regex', re: /u/ };
  const pathRe: Matcher = { kind: 'path-regex', re: /p/ };
  const prefix: Matcher = { kind: 'prefix', value: '/' };
  const host: Matcher = { kind: 'host', value: 'a', wildcard: false };
  const headerRe: Matcher = { kind: 'header', name: 'h', op: 'regex', re: /h/ };
  t.equal(keyedRegexIndex([]), -1);
  t.equal(keyedRegexIndex([prefix, host, headerRe]), -1, 'a header regex supplies no key');
  t.equal(keyedRegexIndex([prefix, pathRe]), 1);
  t.equal(keyedRegexIndex([pathRe, host, urlRe]), 2, 'a url-regex wins even when later');
  t.equal(keyedRegexIndex([host, urlRe, urlRe]), 1, 'the first url-regex');
  t.equal(keyedRegexIndex([pathRe, pathRe]), 0, 'the first path-regex');
});

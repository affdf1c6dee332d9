// The router (lib/route/router.ts): rule order, the default group, the hash
// key a url-regex rule captures. Each matcher kind on its own is in
// matchers.test.ts.
import t from 'tap';
import { Router } from '../../lib/route/router.ts';
import { RequestView } from '../../lib/route/request-view.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import type { GroupSpec, Matcher, RuleSpec } from '../../lib/config/model.ts';

function request(method: string, url: string, headers: Record<string, string> = {}): RequestView {
  const view = new RequestView();
  view.reset(method, url, Object.entries(headers).flat(), '127.0.0.1');
  return view;
}

function rule(name: string, group: string, matchers: Matcher[], line = 1): RuleSpec {
  return { name, matchers, group, file: 'mem', line };
}

t.test('router: first matching rule wins, in order', async (t) => {
  const rules = [
    rule('cgi', 'cgi', [{ kind: 'prefix', value: '/cgi-bin/' }], 1),
    rule('images', 'images', [{ kind: 'path-regex', re: /\.png$/ }], 2),
    rule('catch', 'static', [{ kind: 'prefix', value: '/' }], 3),
  ];
  const router = new Router(rules, null);
  t.same(router.route(request('GET', '/cgi-bin/x.png')), { rule: rules[0], group: 'cgi', key: undefined }, 'both match: the first wins');
  t.equal(router.route(request('GET', '/a/b.png'))?.group, 'images');
  t.equal(router.route(request('GET', '/a/b.png'))?.rule?.name, 'images');
  t.equal(router.route(request('GET', '/a/b.gif'))?.group, 'static');
  const reversed = new Router([rules[2], rules[1], rules[0]], null);
  t.equal(reversed.route(request('GET', '/cgi-bin/x.png'))?.group, 'static', 'order decides');
});

t.test('router: default group, or null (404) without one', async (t) => {
  const rules = [rule('api', 'api', [{ kind: 'host', value: 'api.example.com', wildcard: false }])];
  const withDefault = new Router(rules, 'web');
  t.same(withDefault.route(request('GET', '/', { host: 'www.example.com' })), { rule: null, group: 'web', key: undefined });
  t.equal(withDefault.route(request('GET', '/', { host: 'api.example.com' }))?.group, 'api');
  const without = new Router(rules, null);
  t.equal(without.route(request('GET', '/', { host: 'www.example.com' })), null);
  t.equal(new Router([], null).route(request('GET', '/')), null, 'no rules, no default');
  t.equal(new Router([], 'all').route(request('GET', '/'))?.group, 'all', 'no rules: everything to the default');
});

t.test('router: the key is the submatch, only for url-regex rules of hashing groups', async (t) => {
  const groups: GroupSpec[] = [
    { name: 'users', scheduler: 'hhttp', servers: [], hashSubmatch: 1 },
    { name: 'whole', scheduler: 'hhttp', servers: [], hashSubmatch: 0 },
    { name: 'optional', scheduler: 'hhttp', servers: [], hashSubmatch: 2 },
    { name: 'plain', scheduler: 'wlc', servers: [] },
  ];
  const rules = [
    rule('users', 'users', [
      { kind: 'url-regex', re: /^\/users\/([^/?]+)/ },
      { kind: 'method', values: ['GET'] },
    ]),
    rule('docs', 'whole', [{ kind: 'url-regex', re: /^\/docs\/\w+/ }]),
    rule('opt', 'optional', [{ kind: 'url-regex', re: /^\/o\/(a)?(b)?/ }]),
    rule('plain', 'plain', [{ kind: 'url-regex', re: /^\/p\/(\w+)/ }]),
    rule('users-prefix', 'users', [{ kind: 'prefix', value: '/u/' }]),
  ];
  const router = new Router(rules, null, groups);
  t.same(router.route(request('GET', '/users/alice/photos?x=1')), { rule: rules[0], group: 'users', key: 'alice' });
  t.equal(router.route(request('GET', '/users/bob'))?.key, 'bob');
  t.equal(router.route(request('POST', '/users/bob')), null, 'other matchers of a keyed rule still apply');
  t.equal(router.route(request('GET', '/docs/intro/more'))?.key, '/docs/intro', 'submatch 0 is the whole match');
  t.equal(router.route(request('GET', '/o/a'))?.group, 'optional');
  t.equal(router.route(request('GET', '/o/a'))?.key, undefined, 'a submatch that took no part: no key');
  t.equal(router.route(request('GET', '/o/ab'))?.key, 'b');
  t.same(router.route(request('GET', '/p/x')), { rule: rules[3], group: 'plain', key: undefined }, 'group does not hash: no key');
  t.same(router.route(request('GET', '/u/carol')), { rule: rules[4], group: 'users', key: undefined }, 'no url-regex: no key');
  const noGroups = new Router(rules, null);
  t.equal(noGroups.route(request('GET', '/users/alice'))?.key, undefined, 'without the groups list no key is taken');
});

t.test('router: one result object is reused across calls', async (t) => {
  const router = new Router([rule('a', 'a', [{ kind: 'prefix', value: '/a' }])], 'b');
  const first = router.route(request('GET', '/a'));
  t.equal(first?.group, 'a');
  const second = router.route(request('GET', '/b'));
  t.equal(second, first, 'same object');
  t.equal(first?.group, 'b', 'overwritten by the next call');
  t.equal(first?.rule, null);
});

t.test('router over parsed configs (native and KTCPVS)', async (t) => {
  const native = parseConfigText(
    [
      'service web',
      'listen 127.0.0.1:8080',
      'group static',
      'server 127.0.0.1:9101',
      'group images',
      'server 127.0.0.1:9102',
      'group cgi',
      'server 127.0.0.1:9103',
      'group api',
      'server 127.0.0.1:9103',
      'route cgi prefix /cgi-bin/ to cgi',
      'route images path-regex "\\.(png|jpe?g)$" to images',
      'route api host *.example.com method GET,HEAD header x-api-key present to api',
      'route beta cookie beta = 1 query v ~ "^2" to api',
      'default static',
    ].join('\n'),
    'web.tcpvs',
  );
  const web = native.services[0];
  const router = new Router(web.rules, web.defaultGroup, web.groups);
  const cases: [string, string, Record<string, string>, string, string | null][] = [
    ['GET', '/cgi-bin/env', {}, 'cgi', 'cgi'],
    ['GET', '/img/a.JPG', {}, 'static', null],
    ['GET', '/img/a.jpeg?x', {}, 'images', 'images'],
    ['GET', '/v1', { Host: 'eu.example.com', 'X-API-Key': 'k' }, 'api', 'api'],
    ['POST', '/v1', { Host: 'eu.example.com', 'X-API-Key': 'k' }, 'static', null],
    ['GET', '/v1', { Host: 'eu.example.com' }, 'static', null],
    ['GET', '/x?v=2.1', { Cookie: 'beta=1' }, 'api', 'beta'],
    ['GET', '/x?v=1', { Cookie: 'beta=1' }, 'static', null],
  ];
  for (const [method, url, headers, group, ruleName] of cases) {
    const result = router.route(request(method, url, headers));
    t.equal(result?.group, group, `${method} ${url} ${JSON.stringify(headers)} -> ${group}`);
    t.equal(result?.rule?.name ?? null, ruleName);
  }

  const ktcpvs = parseConfigText(
    [
      'virtual users {',
      '  listen = 127.0.0.1:8081',
      '  scheduler = hhttp',
      '  server = 127.0.0.1:9101',
      '  server = 127.0.0.1:9102',
      '  rule = pattern "^/users/([^/?]+)" match 1 use server 127.0.0.1:9101',
      '  rule = pattern "^/users/([^/?]+)" match 1 use server 127.0.0.1:9102',
      '  rule = pattern "^/static/" use server 127.0.0.1:9102',
      '}',
    ].join('\n'),
    'k.conf',
  );
  const users = ktcpvs.services[0];
  const k = new Router(users.rules, users.defaultGroup, users.groups);
  t.same({ ...k.route(request('GET', '/users/dave?tab=1')), rule: undefined }, { rule: undefined, group: 'rule1', key: 'dave' });
  t.same({ ...k.route(request('GET', '/static/x.css')), rule: undefined }, { rule: undefined, group: 'rule2', key: '/static/' });
  t.equal(k.route(request('GET', '/other')), null, 'no rule matched: 404');
});

import t from 'tap';
import { createAffinity, withAffinityDefaults } from '../../lib/affinity/index.ts';
import { COOKIE_ID_LENGTH, CookieAffinity, cookieServerId, defaultCookieSecret, findCookie } from '../../lib/affinity/cookie.ts';
import type { CookieAffinitySpec } from '../../lib/affinity/spec.ts';
import type { RealServer } from '../../lib/sched/scheduler.ts';
import { fakeServers, request } from './helpers.ts';

function cookieAffinity(spec: Omit<CookieAffinitySpec, 'kind'>, servers: RealServer[], groupName = 'web'): CookieAffinity {
  const affinity = createAffinity(withAffinityDefaults({ kind: 'cookie', ...spec }), servers, { groupName });
  if (!(affinity instanceof CookieAffinity)) throw new Error('not a CookieAffinity');
  return affinity;
}

function withCookie(line: string): ReturnType<typeof request> {
  return request('192.0.2.1', ['Cookie', line]);
}

/** The values of every header with this (lower-case) name. */
function values(headers: string[], lowerName: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === lowerName) out.push(headers[i + 1]);
  return out;
}

const RESPONSE = ['Content-Type', 'text/html', 'Content-Length', '5'];

t.test('server ids: short, opaque, stable, keyed by the secret', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2', '2001:db8::7');
  const affinity = cookieAffinity({ mode: 'insert', name: 'SRV' }, servers);
  const ids = servers.map((s) => affinity.idOf(s)!);
  t.equal(new Set(ids).size, 3, 'one id per server');
  for (const [n, id] of ids.entries()) {
    t.match(id, /^[A-Za-z0-9_-]+$/, 'base64url');
    t.equal(id.length, COOKIE_ID_LENGTH);
    const server = servers[n];
    for (const part of [server.host, server.name, String(server.port), ...server.host.split(/[.:]/).filter((p) => p.length > 1)])
      t.notOk(id.includes(part), `${id} does not spell ${part}`);
    t.notOk(Buffer.from(id, 'base64url').toString('latin1').includes(server.host), 'nor encode it');
  }
  t.equal(ids[0], cookieServerId(defaultCookieSecret('web'), '10.0.0.1:8080'), 'the default secret derives from the group');
  const again = cookieAffinity({ mode: 'insert', name: 'SRV' }, fakeServers('10.0.0.2', '10.0.0.1'));
  t.equal(again.idOf(servers[0]), ids[0], 'another instance (other order) agrees');
  const otherGroup = cookieAffinity({ mode: 'insert', name: 'SRV' }, servers, 'api');
  t.not(otherGroup.idOf(servers[0]), ids[0], 'another group name: other ids');
  const secret = cookieAffinity({ mode: 'insert', name: 'SRV', secret: 's3cret' }, servers);
  t.not(secret.idOf(servers[0]), ids[0], 'a secret: other ids');
  t.equal(secret.idOf(servers[0]), cookieServerId('s3cret', '10.0.0.1:8080'));
  t.equal(affinity.idOf(fakeServers('10.9.9.9')[0]), undefined);
});

t.test('insert: Set-Cookie with every attribute, once per session', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = cookieAffinity(
    { mode: 'insert', name: 'SRV', path: '/shop', domain: 'example.com', maxAgeSec: 3600, httpOnly: true, secure: true, sameSite: 'None' },
    servers,
  );
  t.equal(affinity.kind, 'cookie');
  t.equal(affinity.rewritesRequest, true);
  t.equal(affinity.rewritesResponse, true);
  const id = affinity.idOf(servers[1])!;
  const first = withCookie('theme=dark');
  t.equal(affinity.lookup(first), null, 'no cookie: the scheduler chooses');
  const response = affinity.rewriteResponseHeaders(RESPONSE, servers[1], null);
  t.same(values(response, 'set-cookie'), [`SRV=${id}; Path=/shop; Domain=example.com; Max-Age=3600; HttpOnly; Secure; SameSite=None`]);
  t.same(response.slice(0, 4), RESPONSE, 'the other fields untouched, in order');
  t.same(RESPONSE, ['Content-Type', 'text/html', 'Content-Length', '5'], 'the argument is not modified');

  const next = withCookie(`theme=dark; SRV=${id}`);
  t.equal(affinity.lookup(next), servers[1], 'the cookie pins the next request');
  t.equal(affinity.rewriteResponseHeaders(RESPONSE, servers[1], servers[1]), RESPONSE, 'carried the right id: nothing to add');
  t.same(affinity.rewriteRequestHeaders(next.headers), ['Host', 'shop.example', 'Cookie', 'theme=dark'], 'the application never sees SRV');

  servers[1].up = false;
  t.equal(affinity.lookup(next), null, 'its server is down: scheduled again');
  t.same(
    values(affinity.rewriteResponseHeaders(RESPONSE, servers[0], null), 'set-cookie'),
    [`SRV=${affinity.idOf(servers[0])}; Path=/shop; Domain=example.com; Max-Age=3600; HttpOnly; Secure; SameSite=None`],
    're-pinned with a new cookie',
  );
});

t.test('insert: minimal attributes, and the application cannot set the cookie itself', async (t) => {
  const servers = fakeServers('10.0.0.1');
  const affinity = cookieAffinity({ mode: 'insert', name: 'SRV' }, servers);
  const id = affinity.idOf(servers[0])!;
  const appSets = ['Set-Cookie', 'SRV=app-value; Path=/', 'Set-Cookie', 'sid=42; HttpOnly', 'Content-Length', '0'];
  const out = affinity.rewriteResponseHeaders(appSets, servers[0], null);
  t.same(out, ['Set-Cookie', 'sid=42; HttpOnly', 'Content-Length', '0', 'Set-Cookie', `SRV=${id}; Path=/`]);
  t.same(
    affinity.rewriteResponseHeaders(appSets, servers[0], servers[0]),
    ['Set-Cookie', 'sid=42; HttpOnly', 'Content-Length', '0'],
    'pinned: the app cookie still goes',
  );
  const unrelated = ['Set-Cookie', 'SRVX=1', 'Set-Cookie', 'sid=42'];
  t.equal(affinity.rewriteResponseHeaders(unrelated, servers[0], servers[0]), unrelated, 'other cookies: same array');
});

t.test("insert: the Cookie field sent upstream loses exactly tcpvs's cookie", async (t) => {
  const servers = fakeServers('10.0.0.1');
  const affinity = cookieAffinity({ mode: 'insert', name: 'SRV' }, servers);
  const id = affinity.idOf(servers[0])!;
  const cases: [string, string | null][] = [
    [`SRV=${id}`, null],
    [`a=1; SRV=${id}; b=2`, 'a=1; b=2'],
    [`a=1;SRV=${id};b=2`, 'a=1; b=2'],
    [`  SRV=${id} ;  a=1  `, 'a=1'],
    [`a=1; SRV=${id}`, 'a=1'],
    [`a="x; y"; SRV=${id}`, 'a="x; y"'], // not valid RFC 6265, but what a split on ';' does to it is at least stable
    [`a=1; SRV=forged; SRV=${id}`, 'a=1'],
    [`SRV = ${id}; a=1`, 'a=1'],
    [`a=1;; SRV=${id};`, 'a=1'],
  ];
  for (const [line, expected] of cases) {
    const headers = ['Host', 'x', 'Cookie', line, 'Accept', '*/*'];
    const out = affinity.rewriteRequestHeaders(headers);
    t.same(out, expected === null ? ['Host', 'x', 'Accept', '*/*'] : ['Host', 'x', 'Cookie', expected, 'Accept', '*/*'], line);
    t.equal(headers[3], line, 'argument untouched');
  }
  for (const line of ['a=1; b=2', 'a=1;b=2', 'XSRV=1; SRVX=2', 'a=SRV', 'SRV', 'XSRV=1;; b=2;']) {
    const headers = ['Cookie', line];
    t.equal(affinity.rewriteRequestHeaders(headers), headers, `"${line}" unchanged, the same array`);
  }
  const two = ['cookie', `SRV=${id}`, 'X', 'y', 'COOKIE', `a=1; SRV=${id}`];
  t.same(affinity.rewriteRequestHeaders(two), ['X', 'y', 'COOKIE', 'a=1'], 'every Cookie field, any case');
});

t.test('forged, malformed and stale ids pin nothing', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  for (const mode of ['insert', 'rewrite', 'prefix'] as const) {
    const affinity = cookieAffinity({ mode, name: 'SRV' }, servers);
    const id = affinity.idOf(servers[0])!;
    const suffix = mode === 'prefix' ? '~v' : '';
    t.equal(affinity.lookup(withCookie(`SRV=${id}${suffix}`)), servers[0], `${mode}: a good id`);
    t.equal(affinity.lookup(withCookie(`SRV="${id}${suffix}"`)), servers[0], `${mode}: quoted`);
    const forged = (id[0] === 'A' ? 'B' : 'A') + id.slice(1);
    for (const bad of [
      forged,
      id.slice(1),
      id + 'x',
      '10.0.0.1:8080',
      '',
      '~',
      'AAAAAAAAA!',
      '"',
      cookieServerId('other', servers[0].name),
    ])
      t.equal(affinity.lookup(withCookie(`SRV=${bad}${suffix}`)), null, `${mode}: ${JSON.stringify(bad)}`);
    const staleId = cookieServerId(defaultCookieSecret('web'), '10.0.0.9:8080');
    t.equal(affinity.lookup(withCookie(`SRV=${staleId}${suffix}`)), null, `${mode}: a server not in the group`);
  }
  const prefix = cookieAffinity({ mode: 'prefix', name: 'SRV' }, servers);
  t.equal(prefix.lookup(withCookie(`SRV=${prefix.idOf(servers[0])}`)), null, 'prefix mode: an id without its separator');
});

t.test('quiescent pinned server keeps its sessions; removed one does not', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = cookieAffinity({ mode: 'insert', name: 'SRV' }, servers);
  const view = withCookie(`SRV=${affinity.idOf(servers[0])}`);
  servers[0].weight = 0;
  t.equal(affinity.lookup(view), servers[0], 'weight 0, still up: pinned sessions stay');
  const reloaded = fakeServers('10.0.0.2', '10.0.0.3');
  affinity.updateServers(reloaded);
  t.equal(affinity.lookup(view), null, 'removed by a reload');
  t.equal(affinity.lookup(withCookie(`SRV=${affinity.idOf(servers[1])}`)), reloaded[0], 'a kept server keeps its id');
  t.equal(affinity.pin(view, servers[1]), servers[1], "pin keeps the scheduler's choice");
  t.equal(affinity.size(), 0, 'cookie affinity keeps no table');
});

t.test("rewrite: the application's cookie value becomes the server id", async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = cookieAffinity({ mode: 'rewrite', name: 'JSESSIONID' }, servers);
  t.equal(affinity.rewritesRequest, false);
  const id = affinity.idOf(servers[1])!;
  const fromApp = ['Set-Cookie', 'JSESSIONID=abc123; Path=/app; HttpOnly', 'Set-Cookie', 'other=1', 'Content-Length', '0'];
  const out = affinity.rewriteResponseHeaders(fromApp, servers[1], null);
  t.same(out, ['Set-Cookie', `JSESSIONID=${id}; Path=/app; HttpOnly`, 'Set-Cookie', 'other=1', 'Content-Length', '0']);
  t.same(
    affinity.rewriteResponseHeaders(['set-cookie', 'JSESSIONID=x'], servers[1], servers[1]),
    ['set-cookie', `JSESSIONID=${id}`],
    'without attributes',
  );
  t.equal(affinity.rewriteResponseHeaders(RESPONSE, servers[1], null), RESPONSE, 'no cookie from the app: none added');
  // Round trip: the client sends back what it got.
  const back = withCookie(`other=1; JSESSIONID=${id}`);
  t.equal(affinity.lookup(back), servers[1]);
  t.equal(affinity.rewriteRequestHeaders(back.headers), back.headers, 'forwarded as it came');
  const unknown = fakeServers('10.7.7.7')[0];
  t.equal(
    affinity.rewriteResponseHeaders(fromApp.slice(0, 2), unknown, null)[1],
    'JSESSIONID=abc123; Path=/app; HttpOnly',
    'a server not in the group: left alone',
  );
});

t.test("prefix: id~ before the application's value, stripped on the way back", async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = cookieAffinity({ mode: 'prefix', name: 'sid' }, servers);
  t.equal(affinity.rewritesRequest, true);
  const id = affinity.idOf(servers[0])!;
  const fromApp = ['Set-Cookie', 'sid=s%3Aabc.def; Path=/; Secure', 'Set-Cookie', 'lang=en'];
  const out = affinity.rewriteResponseHeaders(fromApp, servers[0], servers[0]);
  t.same(out, ['Set-Cookie', `sid=${id}~s%3Aabc.def; Path=/; Secure`, 'Set-Cookie', 'lang=en'], 'rewritten on every response that sets it');
  const quoted = affinity.rewriteResponseHeaders(['Set-Cookie', 'sid="q v"'], servers[0], null);
  t.same(quoted, ['Set-Cookie', `sid="${id}~q v"`], 'quotes stay outermost');

  // Round trip.
  const back = withCookie(`lang=en; sid=${id}~s%3Aabc.def`);
  t.equal(affinity.lookup(back), servers[0]);
  t.same(affinity.rewriteRequestHeaders(back.headers), ['Host', 'shop.example', 'Cookie', 'lang=en; sid=s%3Aabc.def']);
  const quotedBack = withCookie(`sid="${id}~q v"`);
  t.equal(affinity.lookup(quotedBack), servers[0]);
  t.same(affinity.rewriteRequestHeaders(quotedBack.headers), ['Host', 'shop.example', 'Cookie', 'sid="q v"']);
  t.same(affinity.rewriteRequestHeaders(['Cookie', `sid=${id}~`]), ['Cookie', 'sid='], 'an empty value round-trips');
  t.same(affinity.rewriteRequestHeaders(['Cookie', `a=1;sid=${id}~x~y;b=2`]), ['Cookie', 'a=1; sid=x~y; b=2'], 'only the first ~ is ours');

  // A stale prefix (server since removed) is still ours: stripped, though it pins nothing.
  const stale = cookieServerId(defaultCookieSecret('web'), '10.0.0.9:8080');
  t.equal(affinity.lookup(withCookie(`sid=${stale}~v`)), null);
  t.same(affinity.rewriteRequestHeaders(['Cookie', `sid=${stale}~v`]), ['Cookie', 'sid=v']);
  // A value that never had our prefix (set before prefix mode was on) goes through as it is.
  for (const line of ['sid=plain', 'sid=short~v', 'sid=a.b.c.d.e.f~v', 'a=1; sid=plain']) {
    const headers = ['Cookie', line];
    t.equal(affinity.rewriteRequestHeaders(headers), headers, line);
  }
});

t.test('several instances with one config agree on every pin', async (t) => {
  const specs = { mode: 'prefix' as const, name: 'sid' };
  const a = cookieAffinity(specs, fakeServers('10.0.0.1', '10.0.0.2'));
  const b = cookieAffinity(specs, fakeServers('10.0.0.1', '10.0.0.2'));
  const cookie = a.rewriteResponseHeaders(['Set-Cookie', 'sid=v'], fakeServers('10.0.0.1', '10.0.0.2')[1], null)[1];
  const view = withCookie(cookie.split(';')[0]);
  t.equal(b.lookup(view)?.name, '10.0.0.2:8080');
});

t.test('findCookie reads cookies as RequestView.cookie does', async (t) => {
  const lines = [
    'SRV=a',
    ' SRV = b ;x=1',
    'x=1;SRV=c',
    'XSRV=1; SRVX=2; SRV=d',
    'SRV',
    'SRV;SRV=e',
    'x=1;;  SRV=\tf\t',
    'SRV=',
    'a=1',
    '',
    'SRV=g=h; SRV=i',
  ];
  for (const line of lines) {
    const view = withCookie(line);
    t.equal(findCookie(view.headers, 'SRV'), view.cookie('SRV'), JSON.stringify(line));
  }
  t.equal(findCookie(['Cookie', 'a=1', 'COOKIE', 'SRV=z'], 'SRV'), 'z', 'a later Cookie field');
  t.equal(findCookie(['Cookie', 'SRV=d', 'Cookie', 'SRV=z'], 'SRV'), 'd', 'the first one wins');
  t.equal(findCookie(['Cookies', 'SRV=d'], 'SRV'), undefined);
  t.equal(findCookie(['Cookie', 'srv=d'], 'SRV'), undefined, 'names are case-sensitive');
});

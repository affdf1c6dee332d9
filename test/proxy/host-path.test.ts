// Issue 11, "one host, one path", through a running tcpvs over raw sockets:
// each vector either reaches exactly one backend with exactly the bytes
// expected (request line and Host as forwarded), or is refused with the
// backends receiving zero bytes. Routes: host admin.internal and prefix
// /admin/ go to `admin`, prefix /static/ to `static`, path /secret to
// `admin`, everything else to `web`.
import t from 'tap';
import type { Test } from 'tap';
import { startRecordingBackend, type RecordingBackend } from '../helpers/refuse-helpers.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type ServiceDef } from '../helpers/tcpvs.ts';

type Name = 'web' | 'static' | 'admin';
const backends: Record<Name, RecordingBackend> = {
  web: await startRecordingBackend(),
  static: await startRecordingBackend(),
  admin: await startRecordingBackend(),
};
const def = (extra: string[]): ServiceDef => ({
  groups: (Object.keys(backends) as Name[]).map((name) => ({ name, servers: [backends[name].port] })),
  routes: ['admin-host host admin.internal to admin', 'admin-path prefix /admin/ to admin', 'static prefix /static/ to static', 'secret path /secret to admin'],
  defaultGroup: 'web',
  extra,
});
const plain = await startTcpvs(serviceConfig(def([])));
const forward = await startTcpvs(serviceConfig(def(['normalize-path forward'])));
t.teardown(async () => {
  await plain.close();
  await forward.close();
  for (const b of Object.values(backends)) await b.close();
});

/** The head a backend receives for a request line and Host (tcpvs adds the forwarding fields). */
function upstream(line: string, host: string | null, minor: 0 | 1 = 1): string {
  return (
    `${line} HTTP/1.${minor}\r\n` +
    (host === null ? '' : `Host: ${host}\r\n`) +
    'X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n' +
    (host === null ? '' : `X-Forwarded-Host: ${host}\r\n`) +
    `Via: 1.${minor} tcpvs\r\n` +
    (minor === 0 ? 'Connection: keep-alive\r\n' : '') +
    '\r\n'
  );
}

const request = (line: string, ...fields: string[]): string => `${line}\r\n` + fields.map((f) => f + '\r\n').join('') + '\r\n';

interface Vector {
  name: string;
  send: string;
  status: number;
  to?: Name; // the backend that must get it (2xx)
  bytes?: string; // exactly what that backend must receive
  forward?: boolean; // through the service with `normalize-path forward`
}

function reached(name: string, send: string, to: Name, bytes: string, forward = false): Vector {
  return { name, send, status: 200, to, bytes, forward };
}
function refused(name: string, send: string, status = 400): Vector {
  return { name, send, status };
}

const vectors: Vector[] = [
  // ---- absolute-form targets ----
  // RFC 9112 §3.2.2: the target's authority replaces Host; routed and forwarded (origin-form) by it.
  reached('absolute-form host wins over Host', request('GET http://admin.internal/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /x', 'admin.internal')),
  // RFC 9112 §3.2.2: the absolute-form path is what path rules see.
  reached('absolute-form path meets prefix /static/', request('GET http://test/static/x HTTP/1.1', 'Host: test'), 'static', upstream('GET /static/x', 'test')),
  // RFC 3986 §3.1, §3.2.2: scheme and host are case-insensitive; the authority goes up as sent, port and all.
  reached('absolute-form, upper case, port, query', request('GET HTTP://Admin.Internal:8080/y?q=1 HTTP/1.1', 'Host: test'), 'admin', upstream('GET /y?q=1', 'Admin.Internal:8080')),
  // RFC 9112 §3.2.1: an empty path goes up as "/".
  reached('absolute-form with an empty path', request('GET http://test HTTP/1.1', 'Host: test'), 'web', upstream('GET /', 'test')),
  // RFC 9112 §3.2.1: "/" and then the query.
  reached('absolute-form with an empty path and a query', request('GET http://test?a=b HTTP/1.1', 'Host: test'), 'web', upstream('GET /?a=b', 'test')),
  // RFC 9112 §3.2.4: OPTIONS on an empty path goes to the origin as "*".
  reached('OPTIONS absolute-form becomes "*"', request('OPTIONS http://test HTTP/1.1', 'Host: test'), 'web', upstream('OPTIONS *', 'test')),
  // RFC 9110 §4.2.2: https URIs have the same authority semantics.
  reached('https absolute-form', request('GET https://admin.internal/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /x', 'admin.internal')),
  // RFC 9112 §3.2.2 with RFC 3986 §5.2.4: routed on the normalised path, forwarded as the client wrote it.
  reached('absolute-form with dot-segments', request('GET http://test/static/../admin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /static/../admin/x', 'test')),
  // RFC 9112 §3.2.2, §9.3 (1.0): HTTP/1.0 without Host takes its host from the target.
  reached('HTTP/1.0 absolute-form without Host', request('GET http://admin.internal/x HTTP/1.0'), 'admin', upstream('GET /x', 'admin.internal', 0)),
  // RFC 9112 §3.2.4: asterisk-form keeps its meaning and goes up unchanged.
  reached('OPTIONS *', request('OPTIONS * HTTP/1.1', 'Host: test'), 'web', upstream('OPTIONS *', 'test')),
  // RFC 9112 §3.2.4: asterisk-form is for OPTIONS only.
  refused('GET *', request('GET * HTTP/1.1', 'Host: test')),
  // RFC 9112 §3.2.2 / RFC 9110 §4.2: tcpvs knows only the http and https authorities.
  refused('ftp absolute-form', request('GET ftp://test/x HTTP/1.1', 'Host: test')),
  // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
  refused('userinfo in the target', request('GET http://test@admin.internal/x HTTP/1.1', 'Host: test')),
  // RFC 9110 §4.2.1: an http URI with an empty host is invalid.
  refused('empty authority', request('GET http:///x HTTP/1.1', 'Host: test')),
  // RFC 9110 §9.3.6: CONNECT (authority-form) stays refused: tcpvs is no forward proxy.
  refused('CONNECT authority-form', request('CONNECT admin.internal:443 HTTP/1.1', 'Host: admin.internal:443'), 405),

  // ---- Host ----
  // RFC 9112 §3.2 / RFC 9110 §7.2 / RFC 3986 §3.2.2: userinfo is no part of Host.
  refused('Host with userinfo', request('GET /x HTTP/1.1', 'Host: test@admin.internal')),
  // RFC 9112 §3.2: userinfo behind a port is as invalid.
  refused('Host with a port and userinfo', request('GET /x HTTP/1.1', 'Host: admin.internal:80@test')),
  // RFC 9110 §7.2: Host is a single value, not a list.
  refused('Host as a list', request('GET /x HTTP/1.1', 'Host: test, admin.internal')),
  // RFC 9112 §3.2: two Host fields.
  refused('two Host fields', request('GET /x HTTP/1.1', 'Host: test', 'Host: admin.internal')),
  // RFC 9112 §3.2: HTTP/1.1 without Host.
  refused('HTTP/1.1 without Host', request('GET /x HTTP/1.1')),
  // RFC 3986 §3.2.3 / RFC 6335: ports stop at 65535.
  refused('Host port out of range', request('GET /x HTTP/1.1', 'Host: admin.internal:65536')),
  // RFC 3986 §3.2.2: a reg-name has no empty label.
  refused('Host with an empty label', request('GET /x HTTP/1.1', 'Host: admin..internal')),
  // RFC 3986 §3.2.2 (DNS root): one trailing dot is the same host; Host goes up as sent.
  reached('Host with a trailing dot', request('GET /x HTTP/1.1', 'Host: admin.internal.'), 'admin', upstream('GET /x', 'admin.internal.')),
  // RFC 3986 §3.2.2: host names are case-insensitive.
  reached('Host in mixed case', request('GET /x HTTP/1.1', 'Host: ADMIN.Internal'), 'admin', upstream('GET /x', 'ADMIN.Internal')),
  // RFC 9110 §7.2: the port is not part of the host matched.
  reached('Host with a port', request('GET /x HTTP/1.1', 'Host: admin.internal:8080'), 'admin', upstream('GET /x', 'admin.internal:8080')),
  // RFC 3986 §3.2.2: an IP-literal Host.
  reached('IPv6 literal Host', request('GET /x HTTP/1.1', 'Host: [::1]:8080'), 'web', upstream('GET /x', '[::1]:8080')),

  // ---- paths ----
  // RFC 3986 §5.2.4: "/static/../admin/x" is /admin/x; the line goes up as sent.
  reached('dot-dot out of /static/', request('GET /static/../admin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /static/../admin/x', 'test')),
  // RFC 3986 §6.2.2.2: %2e%2e is "..".
  reached('encoded dot-dot out of /static/', request('GET /static/%2e%2e/admin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /static/%2e%2e/admin/x', 'test')),
  // RFC 3986 §2.3, §6.2.2.2: %61 is "a".
  reached('encoded unreserved letter', request('GET /%61dmin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /%61dmin/x', 'test')),
  // RFC 3986 §3.3 (empty segments), merged as nginx does: //admin/x is /admin/x.
  reached('double slash', request('GET //admin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET //admin/x', 'test')),
  // RFC 3986 §5.2.4: "." segments go.
  reached('dot segment inside /static/', request('GET /static/./x HTTP/1.1', 'Host: test'), 'static', upstream('GET /static/./x', 'test')),
  // RFC 3986 §2.2: %2F is data, not a separator: no /admin/ prefix.
  reached('encoded slash is no separator', request('GET /admin%2Fx HTTP/1.1', 'Host: test'), 'web', upstream('GET /admin%2Fx', 'test')),
  // RFC 3986 §3.4: the query is neither normalised nor part of the path.
  reached('dot-dot in the query', request('GET /static/x?/../admin/ HTTP/1.1', 'Host: test'), 'static', upstream('GET /static/x?/../admin/', 'test')),
  // RFC 9112 §3.2: a request-target carries no fragment.
  refused('fragment after the path', request('GET /secret#x HTTP/1.1', 'Host: test')),
  // RFC 9112 §3.2: nor after the query.
  refused('fragment after the query', request('GET /admin/x?y#z HTTP/1.1', 'Host: test')),
  // RFC 3986 §5.2.4: above the root is refused, not clamped.
  refused('dot-dot above the root', request('GET /../x HTTP/1.1', 'Host: test')),
  // RFC 3986 §5.2.4 after §6.2.2.2: encoded, still above the root.
  refused('encoded dot-dot above the root', request('GET /static/%2e%2e/%2e%2e/x HTTP/1.1', 'Host: test')),
  // RFC 3986 §2.1: "%" takes two hex digits.
  refused('invalid percent-encoding %zz', request('GET /static/%zz HTTP/1.1', 'Host: test')),
  // RFC 3986 §2.1: one digit is not enough.
  refused('truncated percent-encoding %4', request('GET /static/%4 HTTP/1.1', 'Host: test')),
  // RFC 3986 §3.3: "\" is not a path character (and a separator to some servers).
  refused('backslash in the path', request('GET /static/..\\admin/x HTTP/1.1', 'Host: test')),

  // ---- normalize-path forward ----
  // RFC 3986 §6.2.2: the normalised path goes up.
  reached('forward: dot-dot', request('GET /static/../admin/x HTTP/1.1', 'Host: test'), 'admin', upstream('GET /admin/x', 'test'), true),
  // RFC 3986 §6.2.2.2 for the path, §3.4 for the query, which is left alone.
  reached('forward: encodings, query untouched', request('GET /%61dmin/%7eu%2f?q=%61/../ HTTP/1.1', 'Host: test'), 'admin', upstream('GET /admin/~u%2F?q=%61/../', 'test'), true),
  // RFC 9112 §3.2.2 with RFC 3986 §6.2.2.
  reached('forward: absolute-form', request('GET http://admin.internal//x/./y HTTP/1.1', 'Host: test'), 'admin', upstream('GET /x/y', 'admin.internal'), true),
];

const SENTINELS: Record<Name, string> = { web: '/sentinel', static: '/static/sentinel', admin: '/admin/sentinel' };

async function send(port: number, bytes: string, head: boolean): Promise<{ status: number; body: string; closed: boolean }> {
  const c = await RawClient.connect(port);
  try {
    c.write(bytes);
    const res = await c.readResponse({ head });
    const closed = res.status >= 400 ? await c.waitEnd() : false;
    return { status: res.status, body: res.body.toString('latin1'), closed };
  } finally {
    c.close();
  }
}

/** Each backend's bytes since the vector are exactly one sentinel request sent after it: the vector sent them nothing. */
async function expectNothingReached(t: Test): Promise<void> {
  for (const name of Object.keys(backends) as Name[]) {
    const res = await send(plain.port, request(`GET ${SENTINELS[name]} HTTP/1.1`, 'Host: test'), false);
    t.equal(res.status, 200, `sentinel to ${name}`);
    t.equal(backends[name].received().toString('latin1'), upstream(`GET ${SENTINELS[name]}`, 'test'), `${name} received zero bytes of the vector`);
  }
}

t.test(`${vectors.length} vectors`, async (t) => {
  t.ok(vectors.length >= 25);
  for (const v of vectors) {
    await t.test(`${v.name} → ${v.status}${v.to === undefined ? '' : ' at ' + v.to}`, async (t) => {
      for (const b of Object.values(backends)) b.reset();
      const res = await send(v.forward === true ? forward.port : plain.port, v.send, false);
      t.equal(res.status, v.status, 'status');
      if (v.to === undefined) {
        t.ok(res.closed, 'the connection is closed after the refusal');
        return expectNothingReached(t);
      }
      for (const name of Object.keys(backends) as Name[]) {
        const got = backends[name].received().toString('latin1');
        if (name === v.to) t.equal(got, v.bytes, `${name} received exactly the forwarded head`);
        else t.equal(got, '', `${name} received nothing`);
      }
    });
  }
});

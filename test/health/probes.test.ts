// Single probes: the HTTP prober's statuses, body bound, refusals and stop;
// the TCP probe's outcomes.
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { HttpProber, authority, probeTcp } from '../../lib/health/probes.ts';
import { BODY_LIMIT, DEFAULT_EXPECT, type HttpCheckSpec } from '../../lib/health/spec.ts';
import { closeServer, listen } from '../helpers/backends.ts';
import { closedPort } from './helpers.ts';

function spec(over: Partial<HttpCheckSpec> = {}): HttpCheckSpec {
  return {
    kind: 'http',
    method: 'GET',
    path: '/',
    expect: [...DEFAULT_EXPECT],
    body: null,
    intervalMs: 1000,
    timeoutMs: 500,
    rise: 1,
    fall: 1,
    port: null,
    ...over,
  };
}

t.test('authority brackets IPv6', async (t) => {
  t.equal(authority('10.0.0.1', 80), '10.0.0.1:80');
  t.equal(authority('::1', 8080), '[::1]:8080');
});

t.test('HttpProber', async (t) => {
  const seen: Array<{ method: string; url: string; host: string; connection: string }> = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, host: req.headers.host!, connection: String(req.headers.connection) });
    if (req.url === '/big-early') {
      res.write('MARK' + 'x'.repeat(BODY_LIMIT * 3));
      res.end();
      return;
    }
    if (req.url === '/big-late') {
      res.write('x'.repeat(BODY_LIMIT + 10) + 'MARK');
      res.end();
      return;
    }
    if (req.url === '/slow') return; // never answers
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/' });
      res.end();
      return;
    }
    res.end('hello');
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  const stop = new AbortController();
  const probers: HttpProber[] = [];
  const prober = (s: HttpCheckSpec) => {
    const p = new HttpProber('127.0.0.1', port, s);
    probers.push(p);
    return p;
  };
  t.teardown(() => probers.forEach((p) => void p.close()));

  t.same(await prober(spec({ method: 'HEAD', path: '/x?y=1' })).probe(stop.signal), { ok: true, reason: 'status 200' });
  t.same(seen.at(-1), { method: 'HEAD', url: '/x?y=1', host: `127.0.0.1:${port}`, connection: 'close' }, 'one fresh connection per check');
  t.same(await prober(spec({ path: '/redirect' })).probe(stop.signal), { ok: true, reason: 'status 302' }, '3xx passes by default');
  t.same(await prober(spec({ path: '/redirect', expect: [{ lo: 200, hi: 200 }] })).probe(stop.signal), { ok: false, reason: 'status 302' });
  t.same(await prober(spec({ path: '/big-early', body: /^MARK/ })).probe(stop.signal), { ok: true, reason: 'status 200, body matches' });
  t.match(
    await prober(spec({ path: '/big-late', body: /MARK/ })).probe(stop.signal),
    { ok: false, reason: /body does not match/ },
    `only ${BODY_LIMIT} bytes are read`,
  );
  t.same(await prober(spec({ path: '/slow', timeoutMs: 60 })).probe(stop.signal), { ok: false, reason: 'no answer within 60ms' });
  const refused = new HttpProber('127.0.0.1', await closedPort(), spec());
  probers.push(refused);
  t.match(await refused.probe(stop.signal), { ok: false, reason: /ECONNREFUSED/ });
  const slow = prober(spec({ path: '/slow', timeoutMs: 5000 }));
  const pending = slow.probe(stop.signal);
  setTimeout(() => stop.abort(), 30);
  t.same(await pending, { ok: false, reason: 'stopped' });
});

t.test('probeTcp', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  const stop = new AbortController();
  t.same(await probeTcp('127.0.0.1', port, 500, stop.signal), { ok: true, reason: 'connected' });
  t.match(await probeTcp('127.0.0.1', await closedPort(), 500, stop.signal), { ok: false, reason: /ECONNREFUSED/ });
  stop.abort();
  t.same(await probeTcp('127.0.0.1', port, 500, stop.signal), { ok: false, reason: 'stopped' });
});

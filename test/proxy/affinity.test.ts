// Session affinity through the switch, on real sockets: cookie insert, source
// persistence with a netmask, header affinity, a pinned server going down, and
// a quiescent server keeping its sessions.
import t, { type Test } from 'tap';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type InProcessTcpvs } from '../helpers/tcpvs.ts';
import { setServerState } from '../../lib/sched/scheduler.ts';

async function twoBackends(t: Test): Promise<[IdentityBackend, IdentityBackend]> {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return [a, b];
}

async function withGroup(t: Test, a: IdentityBackend, b: IdentityBackend, persist: string): Promise<InProcessTcpvs> {
  const text = serviceConfig({ groups: [{ name: 'g', scheduler: 'rr', servers: [a.port, b.port] }], defaultGroup: 'g' }).replace(
    /( {4}server 127\.0\.0\.1:\d+\n)(?![\s\S]* {4}server)/,
    `$1    persist ${persist}\n`,
  );
  const tcpvs = await startTcpvs(text);
  t.teardown(() => tcpvs.close());
  return tcpvs;
}

/** One request on a new connection; returns the backend name and the response. */
async function ask(port: number, fields: Array<[string, string]> = [], localAddress?: string) {
  const c = await RawClient.connect(port, '127.0.0.1', localAddress);
  c.write(requestHead('GET', '/', [...fields, ['Connection', 'close']]));
  const res = await c.readResponse();
  c.close();
  return { who: res.body.toString().split(' ')[0], res };
}

t.test('cookie insert: Set-Cookie once, then every request with it goes to the same server', async (t) => {
  const [a, b] = await twoBackends(t);
  const tcpvs = await withGroup(t, a, b, 'cookie SRV insert path / max-age 1h httponly same-site Lax');
  const first = await ask(tcpvs.port);
  const setCookie = first.res.header('set-cookie');
  t.ok(setCookie, 'the first response sets the affinity cookie');
  t.match(setCookie!, /^SRV=[A-Za-z0-9_-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
  const id = setCookie!.split(';')[0].slice('SRV='.length);
  for (const leak of ['127', String(a.port), String(b.port)]) t.notMatch(id, leak, `the id reveals no address or port (${leak})`);
  const cookie = setCookie!.split(';')[0];
  for (let i = 0; i < 6; i++) {
    const r = await ask(tcpvs.port, [['Cookie', `theme=dark; ${cookie}`]]);
    t.equal(r.who, first.who, `request ${i} stays on ${first.who} although rr alternates`);
    t.equal(r.res.header('set-cookie'), undefined, 'no new Set-Cookie while the cookie is right');
  }
  const backend = first.who === 'A' ? a : b;
  const seen = backend.requests.at(-1)!;
  t.equal(backend.header(seen, 'cookie'), 'theme=dark', 'the backend never sees the affinity cookie');

  // The pinned server goes down: the next request is scheduled again, with no error, and re-pinned.
  const pinned = tcpvs.group('g').servers.find((s) => s.port === backend.port)!;
  pinned.up = false;
  const moved = await ask(tcpvs.port, [['Cookie', cookie]]);
  t.equal(moved.res.status, 200, 'the client sees no error');
  t.not(moved.who, first.who, 'served by the other server');
  t.match(moved.res.header('set-cookie') ?? '', /^SRV=/, 're-pinned with a new cookie');
  t.not(moved.res.header('set-cookie')!.split(';')[0], cookie);
});

t.test('a forged cookie id is ignored and scheduling goes on', async (t) => {
  const [a, b] = await twoBackends(t);
  const tcpvs = await withGroup(t, a, b, 'cookie SRV insert');
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await ask(tcpvs.port, [['Cookie', 'SRV=forged-value']])).who);
  t.same([...seen].sort(), ['A', 'B'], 'rr alternates as if there were no cookie');
});

t.test('source persistence with a netmask: one /24 sticks to one server, another network may not', async (t) => {
  const [a, b] = await twoBackends(t);
  const tcpvs = await withGroup(t, a, b, 'source timeout 5m netmask 255.255.255.0');
  const first = await ask(tcpvs.port, [], '127.0.0.2');
  for (const addr of ['127.0.0.2', '127.0.0.3', '127.0.0.77', '127.0.0.2']) {
    t.equal((await ask(tcpvs.port, [], addr)).who, first.who, `${addr} is in the same /24`);
  }
  const other = await ask(tcpvs.port, [], '127.0.1.2');
  const again = await ask(tcpvs.port, [], '127.0.1.9');
  t.equal(again.who, other.who, 'the other /24 sticks to its own pin');
});

t.test('header affinity and a quiescent server keeping its sessions', async (t) => {
  const [a, b] = await twoBackends(t);
  const tcpvs = await withGroup(t, a, b, 'header X-Session-Id timeout 10m');
  const s1 = await ask(tcpvs.port, [['X-Session-Id', 'alice']]);
  const s2 = await ask(tcpvs.port, [['X-Session-Id', 'bob']]);
  t.not(s1.who, s2.who, 'rr put the two sessions on different servers');
  const aliceServer = tcpvs.group('g').servers.find((s) => s.name.endsWith(`:${(s1.who === 'A' ? a : b).port}`))!;
  setServerState(tcpvs.group('g').scheduler, aliceServer, aliceServer.up, 0);
  for (let i = 0; i < 3; i++)
    t.equal((await ask(tcpvs.port, [['X-Session-Id', 'alice']])).who, s1.who, 'quiescent: pinned session still served');
  for (let i = 0; i < 3; i++)
    t.equal((await ask(tcpvs.port, [['X-Session-Id', `new-${i}`]])).who, s2.who, 'new sessions avoid the quiescent server');
});

// A change changes only what it changes, seen from inside: scheduler tables
// are rebuilt only when their inputs change, chbl's counts and pooled
// upstream connections survive, lowered limits hold for the next request on
// an open connection, and a worker thread that dies is replaced with what it
// held taken back.
import { pollUntil } from '../helpers/wait.ts';
import t from 'tap';
import http from 'node:http';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch } from '../../lib/control/switch.ts';
import type { MaglevScheduler } from '../../lib/sched/mh.ts';
import type { BoundedLoadHashScheduler } from '../../lib/sched/chbl.ts';
import { startIdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { startTcpvs } from '../helpers/tcpvs.ts';

function config(lines: string[]): string {
  return ['log level silent', 'service test', '  listen 127.0.0.1:0', ...lines, ''].join('\n');
}

t.test('mh: an unrelated change keeps its table; a weight change rebuilds it', async (t) => {
  const group = (weight: number, extra: string[] = []) =>
    config(['  group g scheduler mh', '    server 10.0.0.1:80', `    server 10.0.0.2:80 weight ${weight}`, '  default g', ...extra]);
  const tcpvs = await startTcpvs(group(1));
  t.teardown(() => tcpvs.close());
  const scheduler = tcpvs.group('g').scheduler as MaglevScheduler;
  const builds = scheduler.builds;
  await tcpvs.running.control.apply(parseConfigText(group(1, ['  timeout connect 2s']), 'x.tcpvs'), 'test');
  t.equal(tcpvs.group('g').scheduler, scheduler, 'the same scheduler');
  t.equal(scheduler.builds, builds, 'its table was not rebuilt');
  await tcpvs.running.control.apply(parseConfigText(group(3), 'y.tcpvs'), 'test');
  tcpvs.group('g').sync(); // what the next request does, before it picks
  t.equal(tcpvs.group('g').scheduler, scheduler, 'a weight change keeps the scheduler');
  scheduler.pick({ key: '/', clientAddress: '127.0.0.1' });
  scheduler.pick({ key: '/other', clientAddress: '127.0.0.1' });
  t.equal(scheduler.builds, builds + 1, 'and rebuilds its table once, at the next pick');
});

t.test('chbl: recent-request counts survive a change that adds a server', async (t) => {
  const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((n) => startIdentityBackend(n)));
  t.teardown(() => Promise.all([a, b, c].map((x) => x.close())));
  const servers = (extra: string[]) =>
    config(['  group g scheduler chbl', `    server 127.0.0.1:${a.port}`, `    server 127.0.0.1:${b.port}`, ...extra, '  default g']);
  const tcpvs = await startTcpvs(servers([]));
  t.teardown(() => tcpvs.close());
  for (let i = 0; i < 30; i++) await get(tcpvs.port, `/k${i % 5}`);
  const before = tcpvs.group('g').servers.map((s) => (tcpvs.group('g').scheduler as BoundedLoadHashScheduler).recentRequestsOf(s));
  t.equal(before[0] + before[1], 30);
  await tcpvs.running.control.apply(parseConfigText(servers([`    server 127.0.0.1:${c.port}`]), 'x.tcpvs'), 'test');
  const after = tcpvs.group('g').scheduler as BoundedLoadHashScheduler;
  t.same(
    tcpvs
      .group('g')
      .servers.slice(0, 2)
      .map((s) => after.recentRequestsOf(s)),
    before,
    'the new scheduler reads the same counts',
  );
  t.equal(after.recentRequestsOf(tcpvs.group('g').servers[2]), 0, 'the new server starts at 0');
});

t.test('pooled upstream connections and a lowered header limit', async (t) => {
  const a = await startIdentityBackend('A');
  t.teardown(() => a.close());
  const text = (limit: string) => config([`  limit headers ${limit}`, '  group g', `    server 127.0.0.1:${a.port}`, '  default g']);
  const tcpvs = await startTcpvs(text('16k'));
  t.teardown(() => tcpvs.close());
  const client = await RawClient.connect(tcpvs.port);
  t.teardown(() => client.close());
  client.write(requestHead('GET', '/1'));
  t.equal((await client.readResponse()).status, 200);
  await tcpvs.running.control.apply(parseConfigText(text('1k'), 'x.tcpvs'), 'test');
  client.write(requestHead('GET', '/2'));
  t.equal((await client.readResponse()).status, 200);
  t.equal(a.requests[1].connection, a.requests[0].connection, 'the pooled upstream connection was reused across the change');
  client.write(requestHead('GET', '/3', [['X-Big', 'x'.repeat(2000)]]));
  t.equal((await client.readResponse()).status, 431, 'the open connection gets the new, lower limit');
  const fresh = await RawClient.connect(tcpvs.port);
  t.teardown(() => fresh.close());
  fresh.write(requestHead('GET', '/4', [['X-Big', 'x'.repeat(2000)]]));
  t.equal((await fresh.readResponse()).status, 431, 'and so does a new one');
});

t.test('a worker thread that dies is replaced, and what it held is taken back', async (t) => {
  const held: http.ServerResponse[] = [];
  let holding = true;
  const a = await startIdentityBackend('A', { handler: (_s, _r, res) => (holding ? held.push(res) : res.end('A')) });
  t.teardown(() => a.close());
  const running = await startSwitch(
    parseConfigText(config(['  group g', `    server 127.0.0.1:${a.port}`, '  default g']), 'w.tcpvs'),
    undefined,
    { workers: 2 },
  );
  t.teardown(() => running.close());
  const port = running.control.services()[0].address!.port;
  const server = running.registry.services()[0].groups[0].servers[0];
  // Requests in flight from both workers (new connections spread over them).
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 8; i++) {
    pending.push(get(port, `/h${i}`).catch(() => null));
    await pollUntil(() => held.length === i + 1, 5000);
  }
  t.equal(server.active, 8);
  const handles = (running.control as unknown as { handles: Array<{ stripe: number; worker: { terminate(): Promise<number> } }> }).handles;
  const victim = handles[0];
  await victim.worker.terminate(); // a thread death the control plane did not ask for
  await pollUntil(() => server.active < 8, 5000);
  t.ok(server.active < 8, `its requests in flight are taken back (${server.active} left, all the other worker's)`);
  await pollUntil(() => handles[0] !== victim, 10_000);
  t.not(handles[0], victim, 'a new worker runs on its stripe');
  holding = false;
  for (const res of held) if (!res.writableEnded) res.end('x');
  await Promise.all(pending);
  for (let i = 0; i < 6; i++) t.equal((await get(port, `/after${i}`)).status, 200, 'and serves');
  await pollUntil(() => server.active === 0, 5000);
  t.equal(server.active, 0, 'nothing left in flight');
  // The client has its response before tcpvs sees the connection close: wait for the count.
  await pollUntil(() => running.control.services()[0].connections === 0, 5000);
  t.equal(running.control.services()[0].connections, 0, 'no connection counted open');
});

function get(port: number, path: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

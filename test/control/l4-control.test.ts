// tcpvs programs its L4 core: a director tcpvs embeds the user-space core and
// serves a vip; a second tcpvs registers itself there through the director's
// admin socket, and on SIGTERM quiesces (weight 0), finishes its requests and
// removes itself. Real processes, real sockets, ipvsadm's own output.
import { freePort } from '../helpers/ports.ts';
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startIdentityBackend } from '../helpers/backends.ts';
import { httpGet, spawnTcpvs, sleep, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/process.ts';
import { startL4Control } from '../../lib/control/l4-control.ts';
import type { L4Spec } from '../../lib/config/model.ts';
import { createUserspaceCore } from '../../lib/l4/userspace/core.ts';
import { l4Handlers } from '../../lib/admin/l4.ts';
import { startAdminServer } from '../../lib/admin/server.ts';
import pino from 'pino';

const INDEX = join(import.meta.dirname, '..', '..', 'index.ts');

function ipvsadm(admin: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [INDEX, 'ipvsadm', '--admin', admin, ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ipvsadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

t.test('a node registers in the director, takes traffic, then drains and leaves on SIGTERM', async (t) => {
  const backendA = await startIdentityBackend('A');
  const backendB = await startIdentityBackend('B');
  t.teardown(() => Promise.all([backendA.close(), backendB.close()]));
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-l4-')), 'admin.sock');
  const vipPort = await freePort();
  const web = (backend: number) => ['service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${backend}`, '  default g'];
  const director = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver userspace',
      `l4 admin ${admin}`,
      ...web(backendA.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  real self web',
    ].join('\n') + '\n',
  );
  t.teardown(() => director.stop());
  const node = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver remote',
      `l4 admin ${admin}`,
      'l4 drain-timeout 5s',
      ...web(backendB.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  real self web weight 3',
    ].join('\n') + '\n',
  );
  t.teardown(() => node.stop());

  const listed = ipvsadm(admin, '-L', '-n');
  t.match(listed, new RegExp(`TCP  127\\.0\\.0\\.1:${vipPort} rr`), 'the director serves the vip');
  t.match(listed, new RegExp(`-> 127\\.0\\.0\\.1:${director.port} +Masq +1 `), 'the director registered itself');
  t.match(listed, new RegExp(`-> 127\\.0\\.0\\.1:${node.port} +Masq +3 `), 'the node registered itself with its weight');

  const served = new Set<string>();
  for (let i = 0; i < 6; i++) served.add((await httpGet(vipPort, `/x${i}`)).body.split(' ')[0]);
  t.same([...served].sort(), ['A', 'B'], 'the vip spreads connections over both tcpvs nodes');

  // A slow request held through the node, then SIGTERM: it must finish.
  const slowPath = '/slow?delay=3000'; // long enough for a few ipvsadm -L calls (a process each)
  const slowResults: Array<Promise<{ status: number; body: string }>> = [];
  for (let i = 0; i < 4; i++) slowResults.push(httpGet(vipPort, slowPath));
  // All four are at the backends (each holds its answer for 3 s).
  const slowSeen = (): number => [...backendA.requests, ...backendB.requests].filter((r) => r.url === slowPath).length;
  t.ok(await pollUntil(() => slowSeen() === 4, 5000), 'the slow requests reached the backends');
  process.kill(node.pid, 'SIGTERM');
  const draining = new RegExp(`-> 127\\.0\\.0\\.1:${node.port} +Masq +0 `);
  t.ok(await pollUntil(() => draining.test(ipvsadm(admin, '-L', '-n')), 5000), 'while draining the node has weight 0');
  const after = (await httpGet(vipPort, '/after')).body.split(' ')[0];
  t.equal(after, 'A', 'new connections avoid the draining node');
  const slow = await Promise.all(slowResults);
  t.ok(
    slow.every((r) => r.status === 200),
    'every request in flight finished',
  );
  t.ok(
    slow.some((r) => r.body.startsWith('B')),
    'some of them were on the draining node',
  );
  await new Promise<void>((resolve) => (node.child.exitCode !== null ? resolve() : node.child.once('exit', () => resolve())));
  t.equal(node.child.exitCode, 0, 'the node exits cleanly');
  t.notMatch(ipvsadm(admin, '-L', '-n'), new RegExp(`127\\.0\\.0\\.1:${node.port} `), 'and has removed itself');
});

t.test("weight follows load: a busy event loop lowers this node's weight, idle restores it", async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const tcpvs = await startTcpvs(
    ['log level silent', 'service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${backend.port}`, '  default g'].join(
      '\n',
    ),
  );
  t.teardown(() => tcpvs.close());
  const vipPort = await freePort();
  const spec: L4Spec = {
    driver: 'userspace',
    admin: null,
    drainTimeoutMs: 1000,
    vips: [
      {
        name: 'v',
        protocol: 'tcp',
        address: '127.0.0.1',
        port: vipPort,
        scheduler: 'wlc',
        persistence: null,
        reals: [{ kind: 'self', service: 'web', weight: 10, line: 1 }],
        weightFollowsLoad: true,
        file: 'x',
        line: 1,
      },
    ],
  };
  const l4 = await startL4Control({
    spec,
    services: () => tcpvs.running.services,
    log: tcpvs.running.log,
    remoteAdmin: null,
    loadSampleMs: 200,
  });
  t.teardown(() => l4.close());
  const weight = async () => (await l4.core.list())[0].realServers[0].weight;
  t.equal(await weight(), 10, 'starts at its configured weight');
  const end = Date.now() + 450;
  while (Date.now() < end) {
    // keep the event loop busy across two samples
  }
  // The overdue sample fires right after the busy spell; one idle sample later the weight recovers.
  let lowest = await weight();
  for (let i = 0; i < 15 && lowest > 5; i++) {
    await sleep(10);
    lowest = Math.min(lowest, await weight());
  }
  t.ok(lowest <= 5, `busy: weight dropped (lowest seen ${lowest})`);
  await pollUntil(async () => (await weight()) >= 9, 5000);
  t.ok((await weight()) >= 9, `idle again: weight restored (now ${await weight()})`);
});

t.test('a node registered with driver remote registers again when its director restarts', async (t) => {
  const backendA = await startIdentityBackend('A');
  const backendB = await startIdentityBackend('B');
  t.teardown(() => Promise.all([backendA.close(), backendB.close()]));
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-l4-')), 'admin.sock');
  const vipPort = await freePort();
  const web = (backend: number) => ['service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${backend}`, '  default g'];
  const directorConfig =
    [
      'log level warn',
      'l4 driver userspace',
      `l4 admin ${admin}`,
      ...web(backendA.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  real self web',
    ].join('\n') + '\n';
  let director = await spawnTcpvs(directorConfig);
  t.teardown(() => director.stop());
  const node = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver remote',
      `l4 admin ${admin}`,
      ...web(backendB.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  real self web weight 2',
    ].join('\n') + '\n',
  );
  t.teardown(() => node.stop());
  const nodeListed = new RegExp(`-> 127\\.0\\.0\\.1:${node.port} +Masq +2 `);
  t.match(ipvsadm(admin, '-L', '-n'), nodeListed, 'the node registered itself');

  await director.stop();
  director = await spawnTcpvs(directorConfig);
  t.match(
    ipvsadm(admin, '-L', '-n'),
    new RegExp(`-> 127\\.0\\.0\\.1:${director.port} +Masq +1 `),
    'the new director has its own service in the vip',
  );
  t.ok(await pollUntil(() => nodeListed.test(ipvsadm(admin, '-L', '-n')), 10_000), 'the node is back in the vip of the new director');
  const served = new Set<string>();
  for (let i = 0; i < 6; i++) served.add((await httpGet(vipPort, `/r${i}`)).body.split(' ')[0]);
  t.same([...served].sort(), ['A', 'B'], 'both serve through the vip again');
  t.equal(node.child.exitCode, null, 'the node kept running all along');
});

t.test('after its director restarts, a node registers again at its next round, without a warning', async (t) => {
  // An in-process director (a user-space core behind an admin socket) that counts the node's rounds (l4.list).
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-l4-')), 'admin.sock');
  const vipPort = await freePort();
  const key = { protocol: 'tcp' as const, address: '127.0.0.1', port: vipPort, fwmark: 0, family: 4 as const };
  let rounds = 0;
  const startDirector = async () => {
    const core = createUserspaceCore();
    await core.addService({ key, scheduler: 'rr', persistence: null });
    const handlers = l4Handlers(core);
    const list = handlers['l4.list'];
    const server = await startAdminServer({
      path: admin,
      handlers: {
        ...handlers,
        'l4.list': (p) => {
          rounds++;
          return list(p);
        },
      },
    });
    return {
      core,
      server,
      stop: async () => {
        await server.close();
        await core.close();
      },
    };
  };
  let director = await startDirector();
  t.teardown(() => director.stop());
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const spec: L4Spec = {
    driver: 'remote',
    admin,
    drainTimeoutMs: 1000,
    vips: [
      {
        name: 'front',
        protocol: 'tcp',
        address: '127.0.0.1',
        port: vipPort,
        scheduler: 'rr',
        persistence: null,
        reals: [{ kind: 'self', service: 'web', weight: 1, line: 1 }],
        weightFollowsLoad: false,
        file: 'x',
        line: 1,
      },
    ],
  };
  const web = { spec: { name: 'web' }, address: { address: '127.0.0.1', port: 8080 }, connections: 0, drainConnections() {} };
  const PERIOD_MS = 1000;
  const node = await startL4Control({ spec, services: () => [web], log, remoteAdmin: admin, registerCheckMs: PERIOD_MS });
  t.teardown(() => node.close());
  const registered = async () =>
    (await director.core.list()).some((s) => s.realServers.some((r) => r.address === '127.0.0.1' && r.port === 8080));
  t.ok(await registered(), 'the node registered itself');

  // Right after one of the node's rounds the director restarts, well before the next round.
  const before = rounds;
  t.ok(await pollUntil(() => rounds > before, 3 * PERIOD_MS), 'the node looks for itself every round');
  await director.stop();
  director = await startDirector();
  const restartedAt = Date.now();
  t.ok(await pollUntil(registered, 3 * PERIOD_MS, 10), 'the node is back in the restarted director');
  t.comment(`back ${Date.now() - restartedAt} ms after the restart (a round every ${PERIOD_MS} ms)`);
  // Its connection to the old director was dead: the round's first try failed on it, and a second
  // one on a new connection registered the node (before, the round failed, warned, and the next one did it).
  t.notMatch(lines.join(''), /cannot reach the director/, 'without a warning: the director could be reached');
});

t.test('a node on another host registers through the director’s TCP admin listener (l4 admin tcp://… token T)', async (t) => {
  const backendA = await startIdentityBackend('A');
  const backendB = await startIdentityBackend('B');
  t.teardown(() => Promise.all([backendA.close(), backendB.close()]));
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-l4-')), 'admin.sock');
  const vipPort = await freePort();
  const token = 'the-directors-admin-token';
  const web = (backend: number) => ['service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${backend}`, '  default g'];
  const director = await spawnTcpvs(
    [
      'log level warn',
      `admin tcp 127.0.0.1:0 token ${token}`,
      `l4 admin ${admin}`,
      ...web(backendA.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  real self web',
    ].join('\n') + '\n',
  );
  t.teardown(() => director.stop());
  const tcpPort = Number(/TCP admin listener tcp:\/\/127\.0\.0\.1:(\d+)/.exec(director.stderr())?.[1]);
  const nodeConfig = (given: string) =>
    [
      'log level warn',
      'l4 driver remote',
      `l4 admin tcp://127.0.0.1:${tcpPort} token ${given}`,
      ...web(backendB.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  real self web weight 2',
    ].join('\n') + '\n';
  const node = await spawnTcpvs(nodeConfig(token));
  t.teardown(() => node.stop());
  t.match(ipvsadm(admin, '-L', '-n'), new RegExp(`-> 127\\.0\\.0\\.1:${node.port} +Masq +2 `), 'the node registered itself over TCP');
  const wrong = await spawnTcpvs(nodeConfig('not-the-token-at-all')).then(
    (x) => x,
    (err: Error) => err,
  );
  if (!(wrong instanceof Error)) await wrong.stop();
  t.ok(wrong instanceof Error && /token/.test(wrong.message), 'a wrong token: the node does not start, and says why');
});

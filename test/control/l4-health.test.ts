// Health checks at L4: `check` in a vip block. A real server that stops
// answering leaves the vip after `fall` failed checks (its persistent clients
// go elsewhere) and comes back after `rise` successes; a tcpvs node that
// registered itself and is then SIGKILLed leaves too. Real processes, real
// sockets, the director's own ipvsadm listing.
import { freePort } from '../helpers/ports.ts';
import { pollUntil } from '../helpers/wait.ts';
import t from 'tap';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';

const INDEX = join(import.meta.dirname, '..', '..', 'index.ts');

function ipvsadm(admin: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [INDEX, 'ipvsadm', '--admin', admin, ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ipvsadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** GET through the vip from a given client address; the body's first word names the backend. */
function get(port: number, from: string): Promise<{ status: number; who: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', localAddress: from, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, who: body.split(' ')[0] }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

/** A plain HTTP server answering `NAME ...`, on a given port (to bring a real back where it was). */
function nameServer(name: string, port: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.end(`${name} up\n`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

t.test(
  'a real server that stops answering leaves the vip after fall checks, its persistent clients move, and it returns after rise',
  async (t) => {
    const a = await startIdentityBackend('A');
    t.teardown(() => a.close());
    const bPort = await freePort();
    let b = await nameServer('B', bPort);
    t.teardown(() => (b.listening ? closeServer(b) : undefined));
    const dir = mkdtempSync(join(tmpdir(), 'tcpvs-l4h-'));
    const admin = join(dir, 'admin.sock');
    const notifyLog = join(dir, 'notify.log');
    const notifyScript = join(dir, 'notify.sh');
    writeFileSync(notifyScript, `#!/bin/sh\necho "$*" >> ${notifyLog}\n`, { mode: 0o755 });
    const notified = (): string => (existsSync(notifyLog) ? readFileSync(notifyLog, 'utf8') : '');
    const vipPort = await freePort();
    const director = await spawnTcpvs(
      [
        'log level warn',
        'l4 driver userspace',
        `l4 admin ${admin}`,
        `notify ${notifyScript} changed:`,
        'admin http 127.0.0.1:0',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g',
        `    server 127.0.0.1:${a.port}`,
        '  default g',
        `vip front tcp 127.0.0.1:${vipPort}`,
        '  scheduler rr',
        '  persistent 300s',
        '  check tcp interval 200ms timeout 200ms rise 2 fall 2',
        `  real 127.0.0.1:${a.port}`,
        `  real 127.0.0.1:${bPort}`,
      ].join('\n') + '\n',
    );
    t.teardown(() => director.stop());
    const listsB = () => new RegExp(`-> 127\\.0\\.0\\.1:${bPort} `).test(ipvsadm(admin, '-L', '-n'));
    t.ok(listsB(), 'both reals are in the vip');
    // Find a client address that persistence pins to B.
    let pinned = '';
    for (let i = 2; i < 40 && pinned === ''; i++) {
      const from = `127.0.1.${i}`;
      if ((await get(vipPort, from)).who === 'B') pinned = from;
    }
    t.not(pinned, '', 'a client persistent to B');
    t.equal((await get(vipPort, pinned)).who, 'B', 'and it stays there');

    const killedAt = Date.now();
    await closeServer(b);
    t.ok(await pollUntil(() => !listsB(), 10_000), 'B leaves the vip');
    const tookMs = Date.now() - killedAt;
    t.comment(`B left the vip ${tookMs} ms after it stopped answering (fall 2 x interval 200 ms)`);
    t.ok(tookMs < 5000, 'within a few check intervals');
    const after = await get(vipPort, pinned);
    t.same(after, { status: 200, who: 'A' }, 'the client persistent to B now reaches A');
    t.ok(
      await pollUntil(() => notified().includes(`changed: real front 127.0.0.1:${bPort} down`), 5000),
      'the notify command was run: real front B down',
    );
    const metricsUrl = /metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(director.stderr())?.[1];
    t.ok(metricsUrl !== undefined, 'the admin http listener is up');
    const metrics = await (await fetch(metricsUrl!)).text();
    t.match(
      metrics,
      new RegExp(`tcpvs_state_changes_total\\{kind="real",state="down",vip="front",real="127\\.0\\.0\\.1:${bPort}"\\} 1\n`),
      '/metrics counts it',
    );

    b = await nameServer('B', bPort);
    t.ok(await pollUntil(listsB, 10_000), 'B is back after rise successes');
    t.ok(await pollUntil(() => notified().includes(`changed: real front 127.0.0.1:${bPort} up`), 5000), 'and the notify command says so');
    const listed = ipvsadm(admin, '-L', '-n');
    t.match(listed, new RegExp(`-> 127\\.0\\.0\\.1:${bPort} +Masq +1 `), 'with its weight and method');
  },
);

t.test('a SIGKILLed node that registered itself leaves the vip; the director goes on serving', async (t) => {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-l4h-')), 'admin.sock');
  const vipPort = await freePort();
  const web = (backend: number) => ['service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${backend}`, '  default g'];
  const director = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver userspace',
      `l4 admin ${admin}`,
      ...web(a.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  check tcp interval 200ms timeout 200ms rise 2 fall 2',
      '  real self web',
    ].join('\n') + '\n',
  );
  t.teardown(() => director.stop());
  const node = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver remote',
      `l4 admin ${admin}`,
      ...web(b.port),
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  real self web',
    ].join('\n') + '\n',
  );
  t.teardown(() => node.stop());
  const listsNode = () => new RegExp(`-> 127\\.0\\.0\\.1:${node.port} `).test(ipvsadm(admin, '-L', '-n'));
  t.ok(await pollUntil(listsNode, 5000), 'the node registered itself');
  process.kill(node.pid, 'SIGKILL');
  const killedAt = Date.now();
  t.ok(await pollUntil(() => !listsNode(), 10_000), 'the killed node leaves the vip');
  t.comment(`the node left ${Date.now() - killedAt} ms after SIGKILL`);
  const answers = await Promise.all([1, 2, 3, 4].map(() => get(vipPort, '127.0.0.1')));
  t.same(
    answers.map((r) => r.status),
    [200, 200, 200, 200],
    'every new connection is served',
  );
  t.ok(
    answers.every((r) => r.who === 'A'),
    'by the director',
  );
});

t.test('config: check in a vip block', async (t) => {
  const { parseConfigText } = await import('../../lib/config/load.ts');
  const problems = (lines: string[]): string => {
    try {
      parseConfigText(lines.join('\n') + '\n', 'x.conf');
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  const svc = ['service web', '  listen 127.0.0.1:8080', '  group g', '    server 127.0.0.1:9000', '  default g'];
  const vip = (...extra: string[]) => [...svc, 'vip v tcp 127.0.0.1:80', '  real 127.0.0.1:9001', ...extra];
  t.equal(problems(vip('  check http /health expect 200 interval 1s rise 3 fall 2')), '');
  t.match(problems(vip('  check tcp', '  check tcp')), /vip\.check.*already set at line/);
  t.match(problems(vip('  check tcp rise 0')), /vip\.check/);
  t.match(
    problems(['l4 driver remote', 'l4 admin /tmp/x.sock', ...svc, 'vip v tcp 127.0.0.1:80', '  real self web', '  check tcp']),
    /vip\.check.*director/,
  );
  t.match(problems([...svc, 'vip v udp 127.0.0.1:53', '  real 127.0.0.1:5353', '  check tcp']), /vip\.check.*tcp vips/);
});

// tcpvsadm against a running tcpvs (one process, and two workers): changes
// apply at once, a refused change leaves everything as it was, and -L shows
// the running state.
import t from 'tap';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';

const TCPVSADM = join(import.meta.dirname, '..', '..', 'tcpvsadm.ts');

function tcpvsadm(admin: string, ...args: string[]) {
  return spawnSync(process.execPath, [TCPVSADM, '--admin', admin, ...args], { encoding: 'utf8', timeout: 15_000 });
}

function who(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body.split(' ')[0]}`));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

for (const workers of [1, 2]) {
  t.test(`--workers ${workers}: tcpvsadm adds, drains and refuses at run time`, async (t) => {
    const a = await startIdentityBackend('A');
    const b = await startIdentityBackend('B');
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const admin = join(mkdtempSync(join(tmpdir(), 'tcpvsadm-')), 'admin.sock');
    const tcpvs = await spawnTcpvs(
      ['log level silent', `l4 admin ${admin}`, 'service web', '  listen 127.0.0.1:0', '  group g scheduler rr', `    server 127.0.0.1:${a.port}`, '  default g', ''].join('\n'),
      20_000,
      1,
      workers,
    );
    t.teardown(() => tcpvs.stop());

    const add = tcpvsadm(admin, 'server', 'add', 'web', 'g', `127.0.0.1:${b.port}`, 'weight', '1');
    t.equal(add.status, 0, `server add: ${add.stderr}`);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add(await who(tcpvs.port, `/x${i}`));
    t.same([...seen].sort(), ['200 A', '200 B'], 'the new server takes requests in every worker');

    const drain = tcpvsadm(admin, 'server', 'drain', 'web', 'g', `127.0.0.1:${a.port}`);
    t.equal(drain.status, 0, `server drain: ${drain.stderr}`);
    const after = new Set<string>();
    for (let i = 0; i < 8; i++) after.add(await who(tcpvs.port, `/y${i}`));
    t.same([...after], ['200 B'], 'a drained server gets no new requests');

    const refused = tcpvsadm(admin, 'server', 'add', 'web', 'nosuchgroup', '127.0.0.1:1');
    t.equal(refused.status, 1, 'a change naming a missing group is refused');
    t.match(refused.stderr, /nosuchgroup/);
    const still = new Set<string>();
    for (let i = 0; i < 4; i++) still.add(await who(tcpvs.port, `/z${i}`));
    t.same([...still], ['200 B'], 'and the running state is untouched');

    const list = tcpvsadm(admin, '-L', '-n');
    t.equal(list.status, 0, list.stderr);
    t.match(list.stdout, `127.0.0.1:${b.port}`);
    const stats = tcpvsadm(admin, '-L', '--stats');
    t.equal(stats.status, 0, stats.stderr);
    t.match(stats.stdout, /web/);
  });
}

t.test('the optional TCP admin listener needs its token', async (t) => {
  const a = await startIdentityBackend('A');
  t.teardown(() => a.close());
  const token = 'a-long-enough-admin-token';
  const tcpvs = await spawnTcpvs(
    ['log level silent', `admin tcp 127.0.0.1:0 token ${token}`, 'service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${a.port}`, '  default g', ''].join('\n'),
  );
  t.teardown(() => tcpvs.stop());
  const port = Number(/TCP admin listener tcp:\/\/127\.0\.0\.1:(\d+)/.exec(tcpvs.stderr())?.[1]);
  t.ok(port > 0, 'the TCP admin address is printed');
  const run = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [TCPVSADM, '--admin', `tcp://127.0.0.1:${port}`, ...args], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, ...env },
    });
  const ok = run({ TCPVS_ADMIN_TOKEN: token }, '-L', '-n');
  t.equal(ok.status, 0, `with the token: ${ok.stderr}`);
  t.match(ok.stdout, /web|127\.0\.0\.1/);
  const wrong = run({ TCPVS_ADMIN_TOKEN: 'not-the-token-at-all' }, '-L', '-n');
  t.equal(wrong.status, 1, 'a wrong token is refused');
  t.match(wrong.stderr, /token/);
  const none = run({ TCPVS_ADMIN_TOKEN: '' }, 'server', 'add', 'web', 'g', '127.0.0.1:1');
  t.not(none.status, 0, 'no token, no change');
});

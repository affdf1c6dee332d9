// tcpvsadm against a running tcpvs (one process, and two workers): changes
// apply at once, a refused change leaves everything as it was, and -L shows
// the running state.
import t from 'tap';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';

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
      [
        'log level silent',
        `l4 admin ${admin}`,
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler rr',
        `    server 127.0.0.1:${a.port}`,
        '  default g',
        '',
      ].join('\n'),
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
    [
      'log level silent',
      `admin tcp 127.0.0.1:0 token ${token}`,
      'service web',
      '  listen 127.0.0.1:0',
      '  group g',
      `    server 127.0.0.1:${a.port}`,
      '  default g',
      '',
    ].join('\n'),
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

t.test('the TCP admin and stats listeners: strangers cannot lock out a token holder; no file is read for a caller', async (t) => {
  const a = await startIdentityBackend('A');
  t.teardown(() => a.close());
  const token = 'a-long-enough-admin-token';
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-admin-guard-'));
  const secretFile = join(dir, 'secret.txt');
  writeFileSync(secretFile, 'root:SECRET-CONTENT-1:0:0\nline two SECRET-CONTENT-2\n', { mode: 0o600 });
  const lines = (allowLoad: boolean): string =>
    [
      'log level silent',
      `admin tcp 127.0.0.1:0 token ${token}${allowLoad ? ' allow-load' : ''}`,
      `admin http 127.0.0.1:0 token ${token}`,
      'service web',
      '  listen 127.0.0.1:0',
      '  group g',
      `    server 127.0.0.1:${a.port}`,
      '  default g',
      '',
    ].join('\n');
  const tcpvs = await spawnTcpvs(lines(false));
  t.teardown(() => tcpvs.stop());
  const port = Number(/TCP admin listener tcp:\/\/127\.0\.0\.1:(\d+)/.exec(tcpvs.stderr())?.[1]);
  const statsPort = Number(/stats page http:\/\/127\.0\.0\.1:(\d+)/.exec(tcpvs.stderr())?.[1]);
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [TCPVSADM, '--admin', `tcp://127.0.0.1:${port}`, ...args], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, TCPVS_ADMIN_TOKEN: token },
    });

  // 300 idle connections from 30 addresses to each listener: more than any bound.
  const strangers: net.Socket[] = [];
  const closedAt: number[] = [];
  const openedAt = Date.now();
  await Promise.all(
    Array.from(
      { length: 600 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: i % 2 === 0 ? port : statsPort, localAddress: `127.0.1.${1 + (i % 30)}` }, () =>
            resolve(),
          );
          s.on('error', () => resolve());
          s.on('close', () => closedAt.push(Date.now()));
          strangers.push(s);
        }),
    ),
  );
  t.teardown(() => strangers.forEach((s) => void s.destroy()));
  const listed = run('-L', '-n');
  t.equal(listed.status, 0, `a token holder is served while strangers hold connections: ${listed.stderr}`);
  const stats = await fetch(`http://127.0.0.1:${statsPort}/stats.json`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(stats.status, 200, 'and so is the stats listener');
  await stats.arrayBuffer();
  await pollUntil(() => closedAt.length === strangers.length, 15_000, 50);
  t.equal(closedAt.length, strangers.length, 'every stranger is closed');
  t.ok(
    Math.max(...closedAt) - openedAt < 2000 + 3000,
    `within the 2 s deadline (and a margin): the last after ${Math.max(...closedAt) - openedAt} ms`,
  );

  // -f: the client reads the file; over TCP it is refused unless allow-load.
  const refused = run('-f', secretFile);
  t.equal(refused.status, 1);
  t.match(refused.stderr, /allow-load/, 'loading over TCP is off by default');
  t.notMatch(refused.stderr, /SECRET-CONTENT/);
  // The admin listeners are set up at start: a second tcpvs with allow-load.
  const loading = await spawnTcpvs(lines(true));
  t.teardown(() => loading.stop());
  const loadingPort = Number(/TCP admin listener tcp:\/\/127\.0\.0\.1:(\d+)/.exec(loading.stderr())?.[1]);
  const loaded = spawnSync(process.execPath, [TCPVSADM, '--admin', `tcp://127.0.0.1:${loadingPort}`, '-f', secretFile], {
    encoding: 'utf8',
    timeout: 15_000,
    env: { ...process.env, TCPVS_ADMIN_TOKEN: token },
  });
  t.equal(loaded.status, 1, 'with allow-load, a file that is not a config is refused');
  t.match(loaded.stderr, /secret\.txt:1/, 'by line');
  const unreadable = run('-f', join(dir, 'missing.conf'));
  t.match(unreadable.stderr, /cannot read .*missing\.conf: no such file/, 'a file the client cannot read is its own error');
  // The server reads no path on a caller's behalf: a raw request with a path and no text is refused.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: loadingPort }, () =>
      s.write(`${JSON.stringify({ id: 1, method: 'tcpvs.load', token, params: { path: secretFile } })}\n`),
    );
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) s.end();
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
  });
  t.match(raw, /"code":"bad-params"/);
  t.notMatch(raw, /SECRET-CONTENT/, 'nothing of the file comes back');
});

// A backup director: two tcpvs directors share one vip address through real
// keepalived (VRRP), on a LAN of network namespaces this test creates: a
// client, two directors and a backend. The master dies (its link goes down,
// its processes are killed); the client keeps getting answers from the backup
// after a short gap; the master comes back and takes the address back by
// priority. `tcpvs keepalived -c FILE` writes keepalived's configuration.
//
// Skips (with the reason) where namespaces or keepalived are missing;
// TCPVS_KEEPALIVED=1 (set by .ci/run) makes that a failure.
import t, { type Test } from 'tap';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLan, netnsTest, type Lan } from '../helpers/netns.ts';
import { pollUntil, waitFor } from '../helpers/process.ts';
import { sleep } from '../helpers/tcpvs.ts';

const INDEX = join(import.meta.dirname, '..', '..', 'index.ts');
const NODE = process.execPath;

function keepalivedMissing(): string | null {
  const r = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  return r.error === undefined ? null : 'keepalived is not installed (Debian package keepalived)';
}

netnsTest(t, 'the vip moves to the backup when the master dies, and back by priority', { timeout: 120_000 }, run, keepalivedMissing);

async function run(t: Test): Promise<void> {
  const subnet = 200 + (process.pid % 50);
  const lan: Lan = createLan(String(process.pid % 100000), subnet, { cli: 2, d1: 11, d2: 12, srv: 50, srv2: 51 });
  t.teardown(() => lan.destroy());
  const vip = `10.${subnet}.0.100`;
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-vrrp-'));

  // A backend answers with its name and the address the request came from: the director that carried it.
  const startBackend = (name: 'srv' | 'srv2'): ChildProcess =>
    lan.start(name, NODE, [
      '-e',
      `require('node:http').createServer((q, s) => s.end(q.socket.remoteAddress + ' ' + (q.headers['x-forwarded-for'] || '-') + ' ${name}')).listen(80, '${lan.hosts[name].address}', () => console.error('backend up'))`,
    ]);
  const backend = startBackend('srv');
  const backend2 = startBackend('srv2');
  await Promise.all([waitFor(backend, /backend up/, 'backend'), waitFor(backend2, /backend up/, 'backend 2')]);

  // The config's notify command: appends its words to a file.
  const notifyLog = join(dir, 'notify.log');
  const notifyScript = join(dir, 'notify.sh');
  writeFileSync(notifyScript, `#!/bin/sh\necho "$*" >> ${notifyLog}\n`, { mode: 0o755 });
  const notified = (): string => (existsSync(notifyLog) ? readFileSync(notifyLog, 'utf8') : '');
  const directorConfig = (name: 'd1' | 'd2', priority: number): string => {
    const file = join(dir, `${name}.tcpvs`);
    writeFileSync(
      file,
      [
        'log level warn',
        'l4 driver userspace',
        'service web',
        `  listen ${lan.hosts[name].address}:8080`,
        '  group g',
        `    server ${lan.hosts.srv.address}:80`,
        '  default g',
        `vip front tcp ${vip}:80`,
        '  real self web',
        // Straight to two backends, persistent; the backup lists them the other way round, so
        // without the master's templates its rr would send a client elsewhere.
        `vip sticky tcp ${vip}:81`,
        '  scheduler rr',
        '  persistent 300s',
        ...(name === 'd1'
          ? [`  real ${lan.hosts.srv.address}:80`, `  real ${lan.hosts.srv2.address}:80`]
          : [`  real ${lan.hosts.srv2.address}:80`, `  real ${lan.hosts.srv.address}:80`]),
        `l4 admin ${join(dir, `${name}.sock`)}`,
        `sync listen ${lan.hosts[name].address}:8402`,
        `sync peer ${lan.hosts[name === 'd1' ? 'd2' : 'd1'].address}:8402`,
        'sync secret this-is-a-test-secret',
        `notify ${notifyScript} ${name}`,
        'vrrp interface eth0',
        'vrrp router-id 51',
        `vrrp priority ${priority}`,
        'vrrp advert 200ms',
      ].join('\n') + '\n',
    );
    return file;
  };
  const startDirector = async (name: 'd1' | 'd2', priority: number): Promise<{ tcpvs: ChildProcess; keepalived: ChildProcess }> => {
    const file = directorConfig(name, priority);
    // The backup must listen on the vip address before it holds it.
    lan.run(name, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind']);
    const tcpvs = lan.start(name, NODE, [INDEX, 'start', '--workers', '1', '-c', file]);
    await waitFor(tcpvs, /listening on/, `tcpvs on ${name}`);
    const generated = spawnSync(NODE, [INDEX, 'keepalived', '-c', file], { encoding: 'utf8' });
    if (generated.status !== 0) throw new Error(`tcpvs keepalived: ${generated.stderr}`);
    const conf = join(dir, `${name}-keepalived.conf`);
    writeFileSync(conf, generated.stdout);
    const keepalived = lan.start(name, 'keepalived', [
      '--vrrp',
      '--dont-fork',
      '--log-console',
      '--no-syslog',
      '-f',
      conf,
      '-p',
      join(dir, `${name}.pid`),
      '-r',
      join(dir, `${name}-vrrp.pid`),
    ]);
    return { tcpvs, keepalived };
  };
  const holdsVip = (name: string): boolean => lan.run(name, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0']).includes(` ${vip}/`);

  const d1 = await startDirector('d1', 150);
  const d2 = await startDirector('d2', 100);
  t.ok(await pollUntil(() => holdsVip('d1'), 15_000), 'the master (priority 150) holds the vip');
  t.notOk(holdsVip('d2'), 'the backup does not');
  t.ok(
    await pollUntil(() => /^d1 director MASTER$/m.test(notified()) && /^d2 director BACKUP$/m.test(notified()), 10_000),
    'keepalived told each tcpvs its state, and tcpvs ran the notify command',
  );

  // A persistent client, pinned by the master; its template reaches the backup.
  const sticky = (): string =>
    lan
      .run('cli', NODE, [
        '-e',
        `require('node:http').get({ host: '${vip}', port: 81, agent: false }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => console.log(b)); })`,
      ])
      .trim();
  const pinnedBefore = sticky().split(' ');
  t.equal(pinnedBefore[0], lan.hosts.d1.address, 'the persistent client goes through the master');
  const pinnedTo = pinnedBefore[2];
  const backendAddress = lan.hosts[pinnedTo as 'srv' | 'srv2'].address;
  const templateOnBackup = (): boolean => {
    const r = spawnSync(NODE, [INDEX, 'ipvsadm', '--admin', join(dir, 'd2.sock'), '-L', '-c', '-n'], { encoding: 'utf8' });
    return r.stdout.split('\n').some((l) => l.includes('NONE') && l.includes(lan.hosts.cli.address) && l.includes(`${backendAddress}:80`));
  };
  t.ok(await pollUntil(templateOnBackup, 10_000), `the backup has the master's template: ${lan.hosts.cli.address} -> ${pinnedTo}`);

  // The client: a request every 50 ms for 10 s, one line per answer or failure.
  const client = lan.start('cli', NODE, [
    '-e',
    `const http = require('node:http'); const end = Date.now() + 10000; let n = 0;
     const one = () => { if (Date.now() > end || n++ > 400) return;
       const t0 = Date.now();
       const req = http.get({ host: '${vip}', port: 80, path: '/', agent: false, timeout: 1000 }, (res) => {
         let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => { console.log(JSON.stringify({ t: t0, ok: res.statusCode === 200, body: b })); setTimeout(one, 50); });
       });
       req.on('timeout', () => req.destroy(new Error('timeout')));
       req.on('error', (e) => { console.log(JSON.stringify({ t: t0, ok: false, body: e.message })); setTimeout(one, 50); });
     };
     one();`,
  ]);
  let clientOut = '';
  client.stdout!.setEncoding('utf8');
  client.stdout!.on('data', (s: string) => (clientOut += s));
  const clientDone = new Promise<void>((resolve) => client.once('exit', () => resolve()));

  await sleep(2000); // the client is being answered by d1 meanwhile; the kill comes in the middle of its run
  const killedAt = Date.now();
  // The master dies: its link goes down, its processes are killed (keepalived's VRRP child by its pid file).
  lan.run('d1', 'ip', ['link', 'set', 'eth0', 'down']);
  const vrrpChild = Number(readFileSync(join(dir, 'd1-vrrp.pid'), 'utf8'));
  d1.keepalived.kill('SIGKILL');
  d1.tcpvs.kill('SIGKILL');
  if (Number.isInteger(vrrpChild) && vrrpChild > 0) {
    try {
      process.kill(vrrpChild, 'SIGKILL');
    } catch {
      // already gone with its parent
    }
  }
  t.ok(await pollUntil(() => holdsVip('d2'), 10_000), 'the backup takes the vip');
  const movedMs = Date.now() - killedAt;
  t.ok(await pollUntil(() => /^d2 director MASTER$/m.test(notified()), 10_000), 'the backup’s notify says MASTER');
  await clientDone;

  const answers = clientOut
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { t: number; ok: boolean; body: string });
  const before = answers.filter((a) => a.t < killedAt);
  const after = answers.filter((a) => a.t >= killedAt);
  t.ok(before.length > 10 && before.every((a) => a.ok && a.body.startsWith(`${lan.hosts.d1.address} `)), 'before: every answer through d1');
  const firstFromD2 = after.find((a) => a.ok && a.body.startsWith(`${lan.hosts.d2.address} `));
  t.ok(firstFromD2 !== undefined, 'after: answers through d2');
  const failed = after.filter((a) => !a.ok);
  const gapMs = firstFromD2 === undefined ? Infinity : firstFromD2.t - killedAt;
  t.comment(
    `vip moved ${movedMs} ms after the master died; first answer via the backup after ${gapMs} ms; ${failed.length} of ${answers.length} requests failed`,
  );
  t.ok(
    failed.every((a) => a.t < killedAt + gapMs + 100),
    'only requests sent before the backup answered failed',
  );
  t.ok(
    after.filter((a) => a.t > (firstFromD2?.t ?? 0)).every((a) => a.ok),
    'every request after that was answered',
  );
  t.ok(
    after.some((a) => a.body.includes(` ${lan.hosts.cli.address} `)),
    'the backend sees the client’s address through the backup too',
  );
  const pinnedAfter = sticky().split(' ');
  t.equal(pinnedAfter[0], lan.hosts.d2.address, 'after the failover the persistent client goes through the backup');
  t.equal(pinnedAfter[2], pinnedTo, 'and reaches the same real server');

  // The master comes back: its link up, its processes started again; it takes the vip back by priority.
  lan.run('d1', 'ip', ['link', 'set', 'eth0', 'up']);
  const back = await startDirector('d1', 150);
  t.ok(await pollUntil(() => holdsVip('d1') && !holdsVip('d2'), 15_000), 'the master takes the vip back');
  t.teardown(() => {
    for (const p of [back.keepalived, back.tcpvs, d2.keepalived, d2.tcpvs, backend, backend2]) if (p.exitCode === null) p.kill('SIGTERM');
  });
  t.ok(existsSync(join(dir, 'd2-keepalived.conf')));
}

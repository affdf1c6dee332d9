// A director and two tcpvs nodes on a LAN of network namespaces this test
// creates: a client (cli), an untrusted client (out), the director (dir: the
// user-space L4 core, a vip with `check`, `l4 admin`), two nodes (n1, n2:
// `l4 driver remote`, `real self web send-proxy-v2`, `accept-proxy from` the
// director only) and a backend (srv) that answers with the TCP peer it saw
// and the X-Forwarded-For it got. Real processes, real sockets:
//   - through vip -> node -> backend the backend sees the client's address;
//   - a PROXY header from `out` straight to a node is refused and logged;
//   - a SIGKILLed node leaves the vip after `fall` checks, and is back after
//     `rise` successes when it starts again;
//   - the nodes register again by themselves when the director restarts;
//   - the director's checks (a PROXY header, then a reset) leave no
//     `refused` line in the nodes' logs.
//
// The nodes reach the director's admin socket by its path: namespaces
// separate the network, not the file system.
//
// Skips (with the reason) where namespaces cannot be made;
// TCPVS_KEEPALIVED=1 (set by .ci/run) makes that a failure.
import t, { type Test } from 'tap';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLan, netnsTest, type Lan } from '../helpers/netns.ts';
import { allExited, collect, exited, pollUntil, waitFor } from '../helpers/process.ts';
import { adminCall } from '../../lib/admin/client.ts';
import type { VirtualServiceConfig } from '../../lib/l4/model.ts';

const INDEX = join(import.meta.dirname, '..', '..', 'index.ts');
const NODE = process.execPath;

// The vip's checks: a killed node is out after FALL failures, back after RISE successes.
const INTERVAL_MS = 250;
const RISE = 2;
const FALL = 2;

netnsTest(t, 'a director and two nodes on a LAN: PROXY protocol, L4 health, re-registration', { timeout: 120_000 }, run);

interface Answer {
  status: number;
  peer: string; // the address the backend's connection came from: the node that carried the request
  xff: string; // the X-Forwarded-For the backend got
  body: string;
}

async function run(t: Test): Promise<void> {
  const subnet = 150 + (process.pid % 50); // backup-director.test.ts uses 200..249
  const lan: Lan = createLan(`c${process.pid % 100000}`, subnet, { cli: 2, out: 3, dir: 10, n1: 21, n2: 22, srv: 50 });
  const work = mkdtempSync(join(tmpdir(), 'tcpvs-cluster-'));
  // Everything this test started: stopped gracefully (5 s at most), then the LAN (and any straggler) goes.
  const started: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await allExited(started, 5000);
    lan.destroy();
    rmSync(work, { recursive: true, force: true });
  });
  const addr = (host: string): string => lan.hosts[host].address;
  const vip = `10.${subnet}.0.100`;
  const directorSock = join(work, 'dir.sock');
  lan.run('dir', 'ip', ['addr', 'add', `${vip}/32`, 'dev', 'eth0']);

  // The backend: one line per request on stdout, and an answer naming the peer and X-Forwarded-For.
  const srv = lan.start('srv', NODE, [
    '-e',
    `require('node:http').createServer((q, s) => {
       const line = q.socket.remoteAddress + ' ' + (q.headers['x-forwarded-for'] || '-') + ' ' + q.url;
       console.log(line);
       s.end(line);
     }).listen(80, '${addr('srv')}', () => console.error('backend up'))`,
  ]);
  started.push(srv);
  const srvSaw = collect(srv, 'stdout');
  await waitFor(srv, /backend up/, 'backend');

  // The director: its own service is a real of weight 0 (a vip needs a real in its config), so
  // every connection goes to a node; `notify` appends the check's changes to a file.
  const notifyLog = join(work, 'notify.log');
  const notifyScript = join(work, 'notify.sh');
  writeFileSync(notifyScript, `#!/bin/sh\necho "$*" >> ${notifyLog}\n`, { mode: 0o755 });
  const notified = (): string => (existsSync(notifyLog) ? readFileSync(notifyLog, 'utf8') : '');
  const directorFile = join(work, 'dir.tcpvs');
  writeFileSync(
    directorFile,
    [
      'log level warn',
      'l4 driver userspace',
      `l4 admin ${directorSock}`,
      `notify ${notifyScript}`,
      'service web',
      `  listen ${addr('dir')}:8080`,
      '  group g',
      `    server ${addr('srv')}:80`,
      '  default g',
      `vip front tcp ${vip}:80`,
      '  scheduler rr',
      `  check tcp interval ${INTERVAL_MS}ms timeout 1s rise ${RISE} fall ${FALL}`,
      '  real self web weight 0',
    ].join('\n') + '\n',
  );
  const nodeFile = (name: 'n1' | 'n2'): string => {
    const file = join(work, `${name}.tcpvs`);
    writeFileSync(
      file,
      [
        'log level warn',
        'l4 driver remote',
        `l4 admin ${directorSock}`,
        'service web',
        `  listen ${addr(name)}:8080`,
        `  accept-proxy from ${addr('dir')}`,
        '  group g',
        `    server ${addr('srv')}:80`,
        '  default g',
        `vip front tcp ${vip}:80`,
        '  real self web send-proxy-v2',
      ].join('\n') + '\n',
    );
    return file;
  };
  // tcpvs logs (JSON lines) on stdout, says what it listens on on stderr.
  const startTcpvs = async (host: string, file: string, extra: string[] = []): Promise<{ child: ChildProcess; log: () => string }> => {
    const child = lan.start(host, NODE, [INDEX, 'start', '--workers', '1', '-c', file, ...extra]);
    started.push(child);
    const log = collect(child, 'stdout');
    await waitFor(child, /listening on/, `tcpvs on ${host}`, 30_000); // a start takes 2-3 s here, more on a busy machine
    return { child, log };
  };
  const startNode = (name: 'n1' | 'n2') => startTcpvs(name, nodeFile(name), ['--admin', join(work, `${name}.sock`)]);

  // What the director's vip has now, by its admin socket (the nodes' path to it too).
  const reals = async (): Promise<string[]> => {
    try {
      const list = (await adminCall(directorSock, 'l4.list', {}, 5000)) as VirtualServiceConfig[];
      const front = list.find((s) => s.key.address === vip && s.key.port === 80);
      return (front?.realServers ?? []).map((r) => `${r.address}:${r.port}`);
    } catch {
      return []; // the director is restarting
    }
  };
  const node = (name: string): string => `${addr(name)}:8080`;
  const lists = async (...names: string[]): Promise<boolean> => {
    const now = await reals();
    return names.every((n) => now.includes(node(n)));
  };

  // GETs from a client, one connection each, one after another.
  const get = (from: string, host: string, port: number, paths: string[]): Answer[] => {
    const out = lan.run(from, NODE, [
      '-e',
      `const http = require('node:http');
       const one = (path) => new Promise((resolve) => {
         const req = http.get({ host: '${host}', port: ${port}, path, agent: false, timeout: 5000 }, (res) => {
           let b = ''; res.setEncoding('utf8'); res.on('data', (c) => (b += c)); res.on('end', () => resolve({ status: res.statusCode, body: b }));
         });
         req.on('timeout', () => req.destroy(new Error('timeout')));
         req.on('error', (e) => resolve({ status: 0, body: e.message }));
       });
       (async () => { for (const p of ${JSON.stringify(paths)}) console.log(JSON.stringify(await one(p))); })();`,
    ]);
    return out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const { status, body } = JSON.parse(l) as { status: number; body: string };
        const [peer = '', xff = ''] = body.split(' ');
        return { status, peer, xff, body };
      });
  };
  // Raw bytes to a port: what came back, and whether the other side closed.
  const raw = (from: string, host: string, port: number, payload: string): { closed: boolean; got: string } => {
    const out = lan.run(from, NODE, [
      '-e',
      `const s = require('node:net').connect({ host: '${host}', port: ${port} }, () => s.write(${JSON.stringify(payload)}, 'latin1'));
       let got = ''; s.setEncoding('latin1'); s.on('data', (c) => (got += c)); s.on('error', () => {});
       const timer = setTimeout(() => { console.log(JSON.stringify({ closed: false, got })); process.exit(0); }, 5000);
       s.on('close', () => { clearTimeout(timer); console.log(JSON.stringify({ closed: true, got })); });`,
    ]);
    return JSON.parse(out) as { closed: boolean; got: string };
  };
  const refusals = (log: string): Array<Record<string, unknown>> =>
    log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'refused');
  const throughVip = (tag: string, n = 4): Answer[] =>
    get(
      'cli',
      vip,
      80,
      Array.from({ length: n }, (_, i) => `/${tag}${i}`),
    );
  const peers = (answers: Answer[]): string[] => [...new Set(answers.map((a) => a.peer))].sort();

  let director = await startTcpvs('dir', directorFile);
  const [n1First, n2] = await Promise.all([startNode('n1'), startNode('n2')]);
  t.ok(await pollUntil(() => lists('dir', 'n1', 'n2'), 10_000), 'both nodes registered in the director’s vip');
  const listing = spawnSync(NODE, [INDEX, 'ipvsadm', '--admin', directorSock, '-L', '-n'], { encoding: 'utf8' }).stdout;
  t.match(listing, new RegExp(`TCP  ${vip.replaceAll('.', '\\.')}:80 rr`), 'tcpvs ipvsadm lists the vip');
  t.match(listing, new RegExp(`-> ${addr('dir').replaceAll('.', '\\.')}:8080 +Masq +0 `), 'the director’s own service, weight 0');
  for (const n of ['n1', 'n2']) t.match(listing, new RegExp(`-> ${addr(n).replaceAll('.', '\\.')}:8080 +Masq +1 `), `${n}, weight 1`);

  // 1. The client's address through vip -> node -> backend.
  {
    const answers = throughVip('a');
    t.ok(
      answers.every((a) => a.status === 200),
      'every request through the vip is answered',
    );
    t.same(peers(answers), [addr('n1'), addr('n2')].sort(), 'the vip spreads them over both nodes');
    t.ok(
      answers.every((a) => a.xff === addr('cli')),
      `the backend sees the client’s address as X-Forwarded-For, not the director’s: ${answers.map((a) => a.xff).join(' ')}`,
    );
  }

  // 2. PROXY headers straight to a node: believed from the director's address only.
  {
    const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`;
    const spoofed = raw('out', addr('n1'), 8080, `PROXY TCP4 192.0.2.66 ${addr('n1')} 4000 8080\r\n${request('/spoofed')}`);
    t.same(spoofed, { closed: true, got: '' }, 'a PROXY header from out (not in accept-proxy) closes the connection without an answer');
    const refusal = (): boolean =>
      refusals(n1First.log()).some((l) => l.client === addr('out') && /accept-proxy does not name/.test(String(l.reason)));
    t.ok(await pollUntil(refusal, 5000), 'the node logs the refusal, with out’s address and why', { log: n1First.log() });
    const plain = get('out', addr('n1'), 8080, ['/plain']);
    t.same(
      plain.map((a) => [a.status, a.peer, a.xff]),
      [[200, addr('n1'), addr('out')]],
      'without a header, out is served as itself (as without accept-proxy)',
    );
    const trusted = raw('dir', addr('n1'), 8080, `PROXY TCP4 192.0.2.66 ${addr('n1')} 4000 8080\r\n${request('/trusted')}`);
    t.match(trusted.got, /^HTTP\/1\.1 200 [\s\S]*192\.0\.2\.66 \/trusted$/, 'the same header from the director’s address is believed');
    // The backend's lines arrive through a pipe: wait for the two requests sent after the refused one.
    t.ok(
      await pollUntil(() => / \/plain\n/.test(srvSaw()) && / \/trusted\n/.test(srvSaw()), 5000),
      'the backend logged the later requests',
    );
    t.notMatch(srvSaw(), /\/spoofed/, 'the refused request never reached the backend');
  }

  // 3. A SIGKILLed node leaves the vip after FALL failed checks; started again, it is back after RISE successes.
  {
    n1First.child.kill('SIGKILL');
    await exited(n1First.child);
    const killedAt = Date.now();
    t.ok(await pollUntil(async () => !(await lists('n1')), 10_000, 10), 'the killed node leaves the vip');
    const leftMs = Date.now() - killedAt;
    t.ok(await pollUntil(() => notified().includes(`real front ${node('n1')} down`), 5000), 'the director’s notify says it is down');
    const answers = throughVip('b');
    t.ok(
      answers.every((a) => a.status === 200 && a.peer === addr('n2')),
      `every new connection goes to n2: ${answers.map((a) => `${a.status} ${a.peer}`).join(', ')}`,
    );

    const n1 = await startNode('n1');
    const restartedAt = Date.now();
    t.ok(
      await pollUntil(() => notified().includes(`real front ${node('n1')} up`), 10_000, 10),
      'started again, the node passes its checks',
    );
    const backMs = Date.now() - restartedAt;
    t.ok(await lists('n1', 'n2'), 'and is in the vip again');
    const again = throughVip('c');
    t.ok(
      again.every((a) => a.status === 200 && a.xff === addr('cli')),
      'every request is answered, with the client’s address',
    );
    t.same(peers(again), [addr('n1'), addr('n2')].sort(), 'requests reach n1 again');
    t.comment(
      `SIGKILLed n1 left the vip ${leftMs} ms after it died (fall ${FALL} x interval ${INTERVAL_MS} ms = ${FALL * INTERVAL_MS} ms); ` +
        `started again, it was back ${backMs} ms after it listened (rise ${RISE} x interval ${INTERVAL_MS} ms = ${RISE * INTERVAL_MS} ms)`,
    );
    // A check round is due every interval; a probe of a dead port fails at once (RST).
    t.ok(leftMs < (FALL + 1) * INTERVAL_MS + 4000, 'it left within a few check intervals');
    t.ok(backMs < (RISE + 1) * INTERVAL_MS + 4000, 'it came back within a few check intervals');
    t.equal(n1.child.exitCode, null);
  }

  // 4. The director restarts (SIGTERM, then started again): the nodes register again by themselves.
  {
    director.child.kill('SIGTERM');
    await exited(director.child);
    t.equal(director.child.exitCode, 0, 'the director stops cleanly');
    director = await startTcpvs('dir', directorFile);
    const restartedAt = Date.now();
    t.ok(await pollUntil(() => lists('dir', 'n1', 'n2'), 15_000), 'both nodes are in the new director’s vip again');
    const reRegisteredMs = Date.now() - restartedAt;
    t.comment(`the nodes were back in the restarted director's vip ${reRegisteredMs} ms after it listened (they look every 2 s)`);
    t.ok(reRegisteredMs < 2 * 2000 + 4000, 'within a couple of their 2 s rounds');
    const answers = throughVip('d');
    t.ok(
      answers.every((a) => a.status === 200 && a.xff === addr('cli')),
      'through the new director every request is answered, with the client’s address',
    );
    t.same(peers(answers), [addr('n1'), addr('n2')].sort(), 'by both nodes');
    t.equal(n2.child.exitCode, null, 'n2 kept running all along');
  }

  // The director checked the nodes all along (a PROXY header, then a reset): no refusals for that.
  t.same(
    refusals(n1First.log()).map((l) => l.client),
    [addr('out')],
    'n1 refused out’s header and nothing else',
  );
  t.same(refusals(n2.log()), [], 'n2 refused nothing');
  t.same(refusals(director.log()), [], 'nor did the director’s own service');
}

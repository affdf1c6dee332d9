// N workers are one balancer, and a change changes only what it changes:
// the real CLI with 1 and with 2 worker threads, on real sockets. Pins,
// in-flight counts and health are shared by every worker; a SIGHUP or a
// tcpvsadm edit keeps pins, learned keys and a dead server's state; a second
// tcpvs on a held address is refused; the admin side counts every worker.
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/wait.ts';
import t, { type Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { REPO_ROOT, spawnTcpvs, type SpawnedTcpvs } from '../helpers/tcpvs.ts';

const TCPVSADM = join(REPO_ROOT, 'tcpvsadm.ts');

interface Reply {
  status: number;
  backend: string;
  via: string; // tcpvs adds Via to what it forwards
}

function get(port: number, path: string, options: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent: false, localAddress: options.localAddress, headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            backend: (res.headers['x-backend'] as string | undefined) ?? `status ${res.statusCode}`,
            via: res.headers.via ?? '',
          }),
        );
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

async function backends(t: Test, names: string[], options: Parameters<typeof startIdentityBackend>[1] = {}): Promise<IdentityBackend[]> {
  const started = await Promise.all(names.map((n) => startIdentityBackend(n, options)));
  t.teardown(() => Promise.all(started.map((b) => b.close())));
  return started;
}

function adminPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'tcpvs-one-')), 'admin.sock');
}

function tcpvsadm(admin: string, ...args: string[]) {
  return spawnSync(process.execPath, [TCPVSADM, '--admin', admin, ...args], { encoding: 'utf8', timeout: 15_000 });
}

async function start(t: Test, lines: string[], workers: number, services = 1): Promise<SpawnedTcpvs> {
  const tcpvs = await spawnTcpvs([...lines, ''].join('\n'), 20_000, services, workers);
  t.teardown(() => tcpvs.stop());
  return tcpvs;
}

/** Rewrites the config file tcpvs was started with and SIGHUPs it; resolves once it reports the reload. */
async function sighup(tcpvs: SpawnedTcpvs, lines: string[]): Promise<void> {
  const reloads = (tcpvs.stderr().match(/reloaded/g) ?? []).length;
  writeFileSync(tcpvs.file, [...lines, ''].join('\n'));
  process.kill(tcpvs.pid, 'SIGHUP');
  await waitUntil(() => (tcpvs.stderr().match(/reloaded|reload refused/g) ?? []).length > reloads, 10_000, 'the reload');
  if (/reload refused/.test(tcpvs.stderr())) throw new Error(`reload refused: ${tcpvs.stderr()}`);
}

for (const workers of [1, 2]) {
  t.test(`--workers ${workers}: 20 clients x 6 connections under persist source over p2c, none split`, async (t) => {
    const servers = await backends(t, ['A', 'B', 'C', 'D']);
    const tcpvs = await start(
      t,
      [
        'log level silent',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler p2c',
        ...servers.map((b) => `    server 127.0.0.1:${b.port}`),
        '    persist source',
        '  default g',
      ],
      workers,
    );
    const seen = new Map<string, Set<string>>();
    // New connections from 20 addresses, interleaved so workers see each client many times.
    const rounds = Array.from({ length: 6 }, (_, round) =>
      Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const client = `127.0.0.${i + 2}`;
          const reply = await get(tcpvs.port, `/r${round}`, { localAddress: client });
          if (!seen.has(client)) seen.set(client, new Set());
          seen.get(client)!.add(reply.backend);
        }),
      ),
    );
    for (const round of rounds) await round;
    const split = [...seen].filter(([, s]) => s.size > 1).map(([c, s]) => `${c}: ${[...s]}`);
    t.same(split, [], 'every client stayed on one server');
    t.equal(seen.size, 20);
    const used = new Set([...seen.values()].flatMap((s) => [...s]));
    t.ok(used.size >= 2, `the clients spread over servers (${[...used]})`);
  });

  t.test(`--workers ${workers}: one health checker per server`, async (t) => {
    const [a, b] = await backends(t, ['A', 'B']);
    const checks = (backend: IdentityBackend) => backend.requests.filter((r) => r.url === '/health').length;
    const startedAt = Date.now();
    await start(
      t,
      [
        'log level silent',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler rr',
        `    server 127.0.0.1:${a.port}`,
        `    server 127.0.0.1:${b.port}`,
        '    check http /health interval 100ms timeout 1s',
        '  default g',
      ],
      workers,
    );
    await waitUntil(() => checks(a) >= 10, 10_000, 'ten checks of A');
    const tookMs = Date.now() - startedAt;
    // One checker: 10 probes need at least 9 intervals. One per worker would need half that.
    t.ok(tookMs >= 900, `10 probes of one server took ${tookMs} ms (at least 9 x 100 ms)`);
    t.ok(Math.abs(checks(a) - checks(b)) <= 1, `both servers are probed alike (${checks(a)}, ${checks(b)})`);
  });

  t.test(`--workers ${workers}: least connection sees every worker's requests in flight`, async (t) => {
    const held: http.ServerResponse[] = [];
    const servers = await backends(t, ['A', 'B'], {
      handler: (_seen, _req, res) => held.push(res),
    });
    const tcpvs = await start(
      t,
      [
        'log level silent',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler wlc',
        ...servers.map((b) => `    server 127.0.0.1:${b.port}`),
        '  default g',
      ],
      workers,
    );
    // Ten requests, each on its own connection, each sent once the last one reached its server.
    const replies: Promise<Reply>[] = [];
    for (let i = 0; i < 10; i++) {
      replies.push(get(tcpvs.port, `/hold${i}`));
      await waitUntil(() => held.length === i + 1, 10_000, `request ${i} at its server`);
    }
    t.same(
      servers.map((s) => s.requests.length),
      [5, 5],
      'each pick saw the requests every worker had in flight',
    );
    for (const res of held) res.end('done');
    await Promise.all(replies);
  });

  t.test(`--workers ${workers}: a change changes only what it changes`, async (t) => {
    const [a, b, c] = await backends(t, ['A', 'B', 'C']);
    const dead = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const admin = adminPath();
    const lines = (apiWeight: number) => [
      'log level silent',
      `l4 admin ${admin}`,
      'service web',
      '  listen 127.0.0.1:0',
      '  group g scheduler rr',
      `    server 127.0.0.1:${a.port}`,
      `    server 127.0.0.1:${dead}`,
      '    check tcp interval 100ms timeout 1s rise 2 fall 1',
      '  group pinned scheduler p2c',
      `    server 127.0.0.1:${a.port}`,
      `    server 127.0.0.1:${b.port}`,
      `    server 127.0.0.1:${c.port}`,
      '    persist source',
      '  group caches scheduler lblc',
      `    server 127.0.0.1:${a.port}`,
      `    server 127.0.0.1:${b.port}`,
      `    server 127.0.0.1:${c.port}`,
      '  route p prefix /p/ to pinned',
      '  route k prefix /k/ to caches',
      '  default g',
      'service api',
      '  listen 127.0.0.1:0',
      '  group h',
      `    server 127.0.0.1:${b.port} weight ${apiWeight}`,
      '  default h',
    ];
    const tcpvs = await start(t, lines(1), workers, 2);
    const web = tcpvs.ports[0];
    const deadIsOut = async () => {
      for (let i = 0; i < 4; i++) if ((await get(web, `/g${i}`)).backend !== 'A') return false;
      return true;
    };
    await waitUntil(deadIsOut, 10_000, 'the dead server taken out by its check');

    // Pins and learned keys, from 12 clients and 30 keys.
    const clients = Array.from({ length: 12 }, (_, i) => `127.0.0.${i + 30}`);
    const pinsOf = async () => Promise.all(clients.map(async (c) => (await get(web, '/p/x', { localAddress: c })).backend));
    const keys = Array.from({ length: 30 }, (_, i) => `/k/${i}`);
    const keysOf = async (order: string[]) => {
      const out = new Map<string, string>();
      for (const k of order) out.set(k, (await get(web, k)).backend);
      return keys.map((k) => out.get(k));
    };
    const pins = await pinsOf();
    const learned = await keysOf(keys);

    // SIGHUP of the unchanged config.
    await sighup(tcpvs, lines(1));
    t.same(await pinsOf(), pins, 'SIGHUP: every pinned client stays on its server');
    t.same(await keysOf([...keys].reverse()), learned, 'SIGHUP: every learned key stays where it was, asked in another order');
    t.ok(await deadIsOut(), 'SIGHUP: the dead server stays out');

    // tcpvsadm: a weight edit in the other service.
    const edit = tcpvsadm(admin, 'server', 'weight', 'api', 'h', `127.0.0.1:${b.port}`, '3');
    t.equal(edit.status, 0, `tcpvsadm server weight: ${edit.stderr}`);
    const failed = [];
    for (let i = 0; i < 12; i++) if ((await get(web, `/after${i}`)).status !== 200) failed.push(i);
    t.same(failed, [], 'tcpvsadm: no request fails after an edit of another service');
    t.same(await pinsOf(), pins, 'tcpvsadm: pins hold');
    t.same(await keysOf(keys), learned, 'tcpvsadm: learned keys hold');

    // A server that leaves takes its pins; the others keep theirs.
    const gone = `127.0.0.1:${c.port}`;
    const del = tcpvsadm(admin, 'server', 'del', 'web', 'pinned', gone);
    t.equal(del.status, 0, `tcpvsadm server del: ${del.stderr}`);
    const after = await pinsOf();
    after.forEach((server, i) => {
      if (pins[i] !== 'C') t.equal(server, pins[i], `${clients[i]} keeps ${pins[i]}`);
      else t.not(server, 'C', `${clients[i]} was on the removed server: pinned afresh`);
    });
  });

  t.test(`--workers ${workers}: a second tcpvs on the same address is refused`, async (t) => {
    const [a] = await backends(t, ['A']);
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const config = [
      'log level silent',
      'service web',
      `  listen 127.0.0.1:${port}`,
      '  group g',
      `    server 127.0.0.1:${a.port}`,
      '  default g',
    ];
    const first = await start(t, config, workers);
    for (const second of [1, 2]) {
      const dir = mkdtempSync(join(tmpdir(), 'tcpvs-second-'));
      const file = join(dir, 'second.tcpvs');
      writeFileSync(file, config.join('\n') + '\n');
      const child = spawn(
        process.execPath,
        [join(REPO_ROOT, 'index.ts'), 'start', '--workers', String(second), '--admin', join(dir, 'a.sock'), '-c', file],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (s: string) => (stderr += s));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      t.equal(code, 1, `a second tcpvs with --workers ${second} exits 1`);
      t.match(
        stderr,
        new RegExp(`listen 127\\.0\\.0\\.1:${port}: address in use \\(EADDRINUSE\\): another tcpvs listens there \\(pid ${first.pid}`),
        'and names the tcpvs that holds it',
      );
    }
    t.equal((await get(port, '/still')).backend, 'A', 'the first one serves on');
  });

  t.test(`--workers ${workers}: tcpvsadm -L --stats counts every worker's requests`, async (t) => {
    const [a, b] = await backends(t, ['A', 'B']);
    const admin = adminPath();
    const statsPort = await freePort();
    const tcpvs = await start(
      t,
      [
        'log level silent',
        `l4 admin ${admin}`,
        `admin http 127.0.0.1:${statsPort}`,
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler rr',
        `    server 127.0.0.1:${a.port}`,
        `    server 127.0.0.1:${b.port}`,
        '  default g',
      ],
      workers,
    );
    for (let i = 0; i < 40; i++) await get(tcpvs.port, `/s${i}`);
    const listed = tcpvsadm(admin, '-L', '--stats');
    t.equal(listed.status, 0, listed.stderr);
    // Conns, ActConn, Requests, Active: every worker's, added up.
    t.match(
      listed.stdout,
      new RegExp(`^web 127\\.0\\.0\\.1:${tcpvs.port} +40 +0 +40 +0 `, 'm'),
      'the service: 40 connections, none open, 40 requests, none in flight',
    );
    const served = [a, b].map((s) => Number(new RegExp(`-> 127\\.0\\.0\\.1:${s.port} +1 +yes +- +- +(\\d+) +0 `).exec(listed.stdout)?.[1]));
    t.same(served, [a.requests.length, b.requests.length], 'each server: the requests it saw');
    t.equal(served[0] + served[1], 40);
    // /metrics reads the same shared counters.
    const metrics = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: statsPort, path: '/metrics', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    const twoXX = (server: number) =>
      Number(
        new RegExp(`^tcpvs_requests_total\\{[^}]*server="127\\.0\\.0\\.1:${server}"[^}]*code_class="2xx"\\} (\\d+)$`, 'm').exec(
          metrics,
        )?.[1],
      );
    t.same([twoXX(a.port), twoXX(b.port)], served, '/metrics: the same counts per server');
  });

  t.test(`--workers ${workers}: passive ejection counts every worker's failures`, async (t) => {
    const [good] = await backends(t, ['A']);
    let badConnections = 0;
    const bad = net.createServer((socket) => {
      badConnections++;
      socket.on('error', () => {});
      socket.once('data', () => socket.resetAndDestroy());
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => bad.close(() => r())));
    const badPort = (bad.address() as net.AddressInfo).port;
    const tcpvs = await start(
      t,
      [
        'log level silent',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler rr',
        `    server 127.0.0.1:${good.port}`,
        `    server 127.0.0.1:${badPort}`,
        '    eject after 3 failures backoff 60s',
        '  default g',
      ],
      workers,
    );
    // New connections, so every worker sends some requests to the bad server.
    const statuses = [];
    for (let i = 0; i < 24; i++) statuses.push((await get(tcpvs.port, `/e${i}`)).status);
    t.equal(badConnections, 3, 'the third failure, in whichever worker, ejected it for all');
    t.equal(statuses.filter((s) => s === 502).length, 3);
    t.equal(statuses.filter((s) => s === 200).length, 21);
  });

  t.test(`--workers ${workers}: tcpvs ipvsadm edits of the L4 core keep L4 and L7 state`, async (t) => {
    const [a, b, c] = await backends(t, ['A', 'B', 'C']);
    const admin = adminPath();
    const vipPort = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const tcpvs = await start(
      t,
      [
        'log level silent',
        'l4 driver userspace',
        `l4 admin ${admin}`,
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler p2c',
        ...[a, b, c].map((x) => `    server 127.0.0.1:${x.port}`),
        '    persist source',
        '  default g',
        `vip front tcp 127.0.0.1:${vipPort}`,
        '  scheduler wlc',
        '  persistent 5m',
        '  real self web',
      ],
      workers,
    );
    const ipvsadm = (...args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'index.ts'), 'ipvsadm', '--admin', admin, ...args], {
        encoding: 'utf8',
        timeout: 15_000,
      });
    const clients = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 60}`);
    const pinsOf = () => Promise.all(clients.map(async (cl) => (await get(tcpvs.port, '/p', { localAddress: cl })).backend));
    const pins = await pinsOf();
    // Through the vip: every client gets an L4 persistence template to this tcpvs.
    for (const cl of clients) t.equal((await get(vipPort, '/v', { localAddress: cl })).status, 200);
    const templates = () => {
      const listed = ipvsadm('-L', '-n', '-c');
      return clients.filter((cl) => new RegExp(`NONE +${cl.replace(/\./g, '\\.')}:0 `).test(listed.stdout)).length;
    };
    t.equal(templates(), clients.length, 'a persistence template per client');

    // ipvsadm adds a real server to the vip (an nginx-like other node: backend A) and edits this node's weight.
    const added = ipvsadm('-a', '-t', `127.0.0.1:${vipPort}`, '-r', `127.0.0.1:${a.port}`, '-m', '-w', '5');
    t.equal(added.status, 0, `ipvsadm -a: ${added.stderr}`);
    const self = `127.0.0.1:${tcpvs.port}`;
    const edited = ipvsadm('-e', '-t', `127.0.0.1:${vipPort}`, '-r', self, '-m', '-w', '2');
    t.equal(edited.status, 0, `ipvsadm -e: ${edited.stderr}`);
    t.equal(templates(), clients.length, 'the templates survive both edits');
    for (const cl of clients) {
      const r = await get(vipPort, '/v', { localAddress: cl });
      t.match(r.via, /tcpvs/, `${cl} still reaches this tcpvs (its Via), not the new real server`);
    }
    t.same(await pinsOf(), pins, 'and the L7 pins behind it are untouched');
  });
}

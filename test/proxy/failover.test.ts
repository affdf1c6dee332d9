// A dead server costs no request that could have been retried (issue 11):
// a failed connect (refused, or timed out) goes to another server of the
// group, for every method, with the body sent before the connect, and the
// server is ejected at once; SIGKILL of one of two servers under load fails
// at most the requests in flight on it. Slow bodies and header floods are
// bounded (timeout client-body, limit body-rate, limit header-count).
import t from 'tap';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { startRawBackend } from '../helpers/backends.ts';
import { sleep, spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/process.ts';
import { deadPort } from '../helpers/refuse-helpers.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const answering = () => startRawBackend((_req, socket) => socket.write(OK));
const silent = () => startRawBackend(() => {});

/** A node http backend in its own process (so it can be SIGKILLed); answers its name. */
async function backendProcess(name: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => r.end('${name}')); }); s.keepAliveTimeout = 30000; s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`backend ${name} exited ${code}`)));
  });
  return { child, port };
}

/**
 * A port where a connect hangs: a listener that never accepts and whose
 * backlog is full, so the kernel drops further SYNs (the client retries
 * until its own timeout). Python, as Node accepts by itself.
 */
async function hangingPort(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    'python3',
    [
      '-c',
      'import socket,time\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\nc=[socket.socket() for _ in range(3)]\nfor x in c:\n  x.setblocking(False);x.connect_ex(s.getsockname())\nprint("full",flush=True)\ntime.sleep(120)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let text = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /^(\d+)\nfull\n/.exec(text);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`python exited ${code}: ${text}`)));
  });
  return { port, child };
}

const config = (ports: number[], extra: string[] = [], scheduler = 'rr'): string =>
  [
    'log level info',
    'log destination stderr',
    'service web',
    '  listen 127.0.0.1:0',
    ...extra.map((l) => `  ${l}`),
    `  group g scheduler ${scheduler}`,
    ...ports.map((p) => `    server 127.0.0.1:${p}`),
    '  default g',
    '',
  ].join('\n');

t.test('a refused connect goes to another server, for a POST with its body too, and the server is ejected at once', async (t) => {
  const live = await answering();
  t.teardown(() => live.close());
  const dead = await deadPort();
  // rr starts with the dead server: the first request meets it.
  const tcpvs = await spawnTcpvs(config([dead, live.port]));
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  c.write(
    `${requestHead('POST', '/upload', [
      ['Host', 'x'],
      ['Content-Length', '11'],
    ])}hello world`,
  );
  const r = await c.readResponse();
  t.equal(r.status, 200, 'answered by the live server');
  t.same(
    [live.requests[0]?.method, live.requests[0]?.url, live.requests[0]?.rawBody.toString()],
    ['POST', '/upload', 'hello world'],
    'with the whole body',
  );
  for (let i = 0; i < 4; i++) {
    c.write(requestHead('GET', `/${i}`, [['Host', 'x']]));
    t.equal((await c.readResponse()).status, 200);
  }
  t.ok(await pollUntil(() => /"server down"/.test(tcpvs.stderr()), 5000), 'the dead server was ejected');
  t.match(tcpvs.stderr(), /connect failed: connect ECONNREFUSED/, 'on its first refusal');
});

t.test('a connect that times out goes to another server', async (t) => {
  const live = await answering();
  t.teardown(() => live.close());
  const hang = await hangingPort();
  t.teardown(() => {
    hang.child.kill('SIGKILL');
  });
  const tcpvs = await spawnTcpvs(config([hang.port, live.port], ['timeout connect 300ms']));
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  const started = Date.now();
  c.write(requestHead('GET', '/slow-connect', [['Host', 'x']]));
  const r = await c.readResponse();
  t.equal(r.status, 200, 'answered by the live server');
  t.ok(Date.now() - started >= 250, `after the connect timeout (${Date.now() - started} ms)`);
  t.equal(live.requests[0]?.url, '/slow-connect');
});

t.test('retries 0: a refused connect is a 502', async (t) => {
  const live = await answering();
  t.teardown(() => live.close());
  const dead = await deadPort();
  const tcpvs = await spawnTcpvs(config([dead, live.port], ['retries 0']));
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  c.write(requestHead('GET', '/', [['Host', 'x']]));
  t.equal((await c.readResponse()).status, 502);
});

t.test('SIGKILL of one of two servers under 50 connections: only requests in flight on it may fail', { timeout: 60_000 }, async (t) => {
  const a = await backendProcess('A');
  const b = await backendProcess('B');
  t.teardown(() => {
    for (const x of [a, b]) if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
  });
  const tcpvs = await spawnTcpvs(config([a.port, b.port], [], 'wlc'));
  t.teardown(() => tcpvs.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  t.teardown(() => agent.destroy());
  const get = (): Promise<string> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: tcpvs.port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 ? body : `status ${res.statusCode}`));
        res.on('error', () => resolve('error'));
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve(`error ${err.message}`));
    });
  const results: Array<{ sent: number; at: number; what: string }> = [];
  let inFlightOnKill = 0;
  let inFlight = 0;
  const started = Date.now();
  const KILL_AT = 800;
  const STOP_AT = 2500;
  let killedAt = 0;
  let deadAt = Infinity; // once the process is gone, no request can be in flight on it
  const killer = (async () => {
    while (Date.now() - started < KILL_AT) await sleep(10);
    inFlightOnKill = inFlight;
    killedAt = Date.now();
    const exited = new Promise<void>((resolve) => a.child.once('exit', () => resolve()));
    a.child.kill('SIGKILL');
    await exited;
    deadAt = Date.now();
  })();
  // 50 loops, each a keep-alive connection's worth of requests, bounded in time and count.
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let i = 0; i < 2000 && Date.now() - started < STOP_AT; i++) {
        inFlight++;
        const sent = Date.now();
        const what = await get();
        inFlight--;
        results.push({ sent, at: Date.now(), what });
      }
    }),
  );
  await killer;
  const failed = results.filter((r) => r.what !== 'A' && r.what !== 'B');
  // Judged by when a request was sent, not by when it ended: on a loaded
  // machine a request in flight on A at the kill may end (failed) well after it.
  const after = results.filter((r) => r.sent >= deadAt);
  t.ok(results.length > 500, `${results.length} requests`);
  t.ok(
    results.some((r) => r.at < killedAt && r.what === 'A'),
    'A answered before the kill',
  );
  t.ok(
    failed.length <= inFlightOnKill,
    `${failed.length} failed, at most the ${inFlightOnKill} in flight at the kill (${[...new Set(failed.map((f) => f.what))].join(', ') || 'none'})`,
  );
  t.same(
    failed.filter((f) => f.sent >= deadAt),
    [],
    'no request sent after the server was dead failed: each went to the live server',
  );
  t.ok(after.length > 50 && after.every((r) => r.what === 'B'), `every request sent after A died is answered, by B (${after.length})`);
  t.comment(`failover: ${results.length} requests, ${failed.length} failed, ${inFlightOnKill} in flight at the kill`);
});

t.test('timeout client-body: a body trickling in cannot hold a server', async (t) => {
  const backend = await silent();
  t.teardown(() => backend.close());
  const tcpvs = await spawnTcpvs(config([backend.port], ['timeout client-body 600ms', 'timeout response 30s']));
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  const started = Date.now();
  c.write(
    requestHead('POST', '/slow', [
      ['Host', 'x'],
      ['Content-Length', '100'],
    ]),
  );
  // One byte every 100 ms, re-arming nothing: the body as a whole has 600 ms.
  const trickle = setInterval(() => c.write('x'), 100);
  t.teardown(() => clearInterval(trickle));
  const r = await c.readResponse();
  clearInterval(trickle);
  const took = Date.now() - started;
  t.equal(r.status, 408, 'refused when the body is not in within client-body');
  t.ok(took >= 550 && took < 5000, `after about 600 ms (${took} ms)`);
  t.ok(await pollUntil(() => backend.open() === 0, 5000), 'the upstream connection is closed');
  t.equal(backend.requests.length, 0, 'the server never had a whole request');
});

t.test('limit body-rate: a body that keeps the minimum rate may take longer than client-body', async (t) => {
  const backend = await answering();
  t.teardown(() => backend.close());
  const tcpvs = await spawnTcpvs(config([backend.port], ['timeout client-body 300ms', 'limit body-rate 100']));
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  c.write(
    requestHead('POST', '/steady', [
      ['Host', 'x'],
      ['Content-Length', '80'],
    ]),
  );
  // 20 bytes every 100 ms: 200 bytes/s, over the 100 bytes/s minimum, for 400 ms in all.
  for (let i = 0; i < 4; i++) {
    await sleep(100);
    c.write('y'.repeat(20));
  }
  t.equal((await c.readResponse()).status, 200, 'the body arrived over more than client-body, at twice the minimum rate');
});

t.test('limit header-count: more fields than the limit is 431 and nothing reaches the server', async (t) => {
  const backend = await answering();
  t.teardown(() => backend.close());
  const tcpvs = await spawnTcpvs(config([backend.port], ['limit header-count 20']));
  t.teardown(() => tcpvs.stop());
  const fields = (n: number): Array<[string, string]> => [
    ['Host', 'x'],
    ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`X-F${i}`, 'v']),
  ];
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  c.write(requestHead('GET', '/ok', fields(20)));
  t.equal((await c.readResponse()).status, 200, '20 fields pass');
  const before = backend.requests.length;
  const d = await RawClient.connect(tcpvs.port);
  t.teardown(() => d.close());
  d.write(requestHead('GET', '/many', fields(21)));
  t.equal((await d.readResponse()).status, 431, '21 are refused');
  t.equal(backend.requests.length, before, 'the server got nothing of it');
  t.equal(backend.connections(), 1, 'not even a connection');
});

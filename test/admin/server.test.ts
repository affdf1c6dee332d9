// The admin socket server on a real Unix socket in a temp dir: mode 0600,
// the JSON-lines protocol and its errors, the line bound, stale-socket
// replacement, refusal of a live socket, and the client's timeouts.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminServer, probeSocket } from '../../lib/admin/server.ts';
import { adminCall, openAdminClient } from '../../lib/admin/client.ts';
import { AdminError, LineSplitter, MAX_REQUEST_LINE, type AdminHandlers } from '../../lib/admin/protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'tcpvs-admin-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const socketPath = () => join(dir, `a${++n}.sock`);

const handlers: AdminHandlers = {
  echo: async (params) => params,
  nothing: async () => undefined,
  slow: async (params) => {
    await new Promise((r) => setTimeout(r, (params as { ms: number }).ms));
    return (params as { tag: string }).tag;
  },
  coded: async () => {
    throw Object.assign(new Error('No such service'), { code: 'no-service' });
  },
  plain: async () => {
    throw new Error('it broke');
  },
  never: () => new Promise(() => {}),
};

/** Sends raw bytes and collects the answer lines until `count` arrived or the server hung up (5 s bound). */
function raw(path: string, payload: string | Buffer, count: number): Promise<{ lines: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const splitter = new LineSplitter(1 << 20);
    const lines: unknown[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timeout: got ${JSON.stringify(lines)}`));
    }, 5000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ lines, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      for (const l of splitter.push(chunk) ?? []) lines.push(JSON.parse(l));
      if (lines.length >= count) finish(false);
    });
    socket.on('end', () => finish(true));
    // a write racing the server's hang-up may fail; what was answered before still counts
    socket.on('error', (err) => (lines.length > 0 ? finish(true) : reject(err)));
    socket.on('connect', () => socket.write(payload));
  });
}

t.test('the socket is created 0600 and removed on close', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  const st = statSync(path);
  t.ok(st.isSocket(), 'a socket file');
  t.equal(st.mode & 0o777, 0o600, 'mode 0600');
  t.same(await adminCall(path, 'echo', { a: 1 }, 5000), { a: 1 });
  await server.close();
  t.notOk(existsSync(path), 'gone after close');
});

t.test('the parent directory is created 0700', async (t) => {
  const path = join(dir, 'nested', 'deeper', 'admin.sock');
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  t.equal(statSync(join(dir, 'nested', 'deeper')).mode & 0o777, 0o700);
});

t.test('requests and answers, one JSON object per line', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  const { lines } = await raw(
    path,
    [
      '{"id":1,"method":"echo","params":{"x":[1,2]}}',
      '{"id":"two","method":"nothing"}',
      '{"id":3,"method":"coded"}',
      '{"id":4,"method":"plain"}',
      '{"id":5,"method":"no.such"}',
      '{"id":6,"method":"toString"}',
      '{"id":7,"method":"__proto__"}',
      'not json',
      '[1,2]',
      '{"method":"echo"}',
      '{"id":8}',
      '',
      '{"id":9,"method":"echo"}',
    ].join('\n') + '\n',
    12,
  );
  t.same(lines, [
    { id: 1, result: { x: [1, 2] } },
    { id: 'two', result: null },
    { id: 3, error: { code: 'no-service', message: 'No such service' } },
    { id: 4, error: { code: 'failed', message: 'it broke' } },
    { id: 5, error: { code: 'no-method', message: 'unknown method "no.such"' } },
    { id: 6, error: { code: 'no-method', message: 'unknown method "toString"' } },
    { id: 7, error: { code: 'no-method', message: 'unknown method "__proto__"' } },
    { id: null, error: { code: 'bad-request', message: 'request is not valid JSON' } },
    { id: null, error: { code: 'bad-request', message: 'request must be a JSON object' } },
    { id: null, error: { code: 'bad-request', message: 'request needs an "id" (number or string)' } },
    { id: 8, error: { code: 'bad-request', message: 'request needs a "method" string' } },
    { id: 9, result: {} },
  ]);
});

t.test('pipelined requests are answered in order, even when the first is slow', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  const payload =
    '{"id":1,"method":"slow","params":{"ms":150,"tag":"a"}}\n' +
    '{"id":2,"method":"slow","params":{"ms":1,"tag":"b"}}\n' +
    '{"id":3,"method":"slow","params":{"ms":30,"tag":"c"}}\n';
  const { lines } = await raw(path, payload, 3);
  t.same(lines, [
    { id: 1, result: 'a' },
    { id: 2, result: 'b' },
    { id: 3, result: 'c' },
  ]);
});

t.test('a request split across many writes', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  const line = Buffer.from('{"id":1,"method":"echo","params":{"s":"h\u00e9llo"}}\n');
  const answer = await new Promise<unknown>((resolve, reject) => {
    const socket = net.connect(path);
    const timer = setTimeout(() => reject(new Error('timeout')), 5000);
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      if (got.endsWith('\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(JSON.parse(got));
      }
    });
    socket.on('connect', async () => {
      // one byte at a time, splitting the two-byte é too
      for (let i = 0; i < line.length; i++) {
        socket.write(line.subarray(i, i + 1));
        await new Promise((r) => setImmediate(r));
      }
    });
  });
  t.same(answer, { id: 1, result: { s: 'h\u00e9llo' } });
});

t.test('a line longer than 1 MiB is refused and the connection closed', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  t.equal(MAX_REQUEST_LINE, 1024 * 1024);
  const ok = await raw(path, `{"id":1,"method":"echo","params":"${'x'.repeat(MAX_REQUEST_LINE - 60)}"}\n`, 1);
  t.equal((ok.lines[0] as { result: string }).result.length, MAX_REQUEST_LINE - 60, 'just under the bound is fine');
  const long = await raw(path, '{"id":1,"method":"echo"}\n' + 'x'.repeat(MAX_REQUEST_LINE + 10), 3);
  t.same(long.lines, [
    { id: 1, result: {} },
    { id: null, error: { code: 'line-too-long', message: `request line longer than ${MAX_REQUEST_LINE} bytes` } },
  ]);
  t.equal(long.closed, true, 'the server hung up');
  t.same(await adminCall(path, 'echo', 7, 5000), 7, 'the server still serves others');
});

t.test('an idle connection is closed', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers, idleTimeoutMs: 100 });
  t.teardown(() => server.close());
  const started = Date.now();
  const { closed } = await raw(path, '', 1);
  t.equal(closed, true);
  t.ok(Date.now() - started < 3000, 'within the bound');
});

t.test('a stale socket file is replaced', async (t) => {
  const path = socketPath();
  // A process that dies by SIGKILL leaves its socket file behind with nobody listening.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not listen')), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  t.equal(await probeSocket(path, 2000), 'live');
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  t.ok(statSync(path).isSocket(), 'the dead process left its socket file');
  t.equal(await probeSocket(path, 2000), 'stale');
  await t.rejects(openAdminClient(path), { code: 'ECONNREFUSED' });
  const server = await startAdminServer({ path, handlers });
  t.teardown(() => server.close());
  t.same(await adminCall(path, 'echo', 'fresh', 5000), 'fresh');
  t.equal(statSync(path).mode & 0o777, 0o600);
});

t.test('a second server on a live socket is refused', async (t) => {
  const path = socketPath();
  const first = await startAdminServer({ path, handlers: { who: async () => 'first' } });
  t.teardown(() => first.close());
  await t.rejects(startAdminServer({ path, handlers: { who: async () => 'second' } }), {
    code: 'in-use',
    message: `another process is listening on admin socket ${path}`,
  });
  t.same(await adminCall(path, 'who', {}, 5000), 'first', 'the first server is untouched');
});

t.test('a file that is not a socket is never replaced', async (t) => {
  const path = socketPath();
  writeFileSync(path, 'precious');
  await t.rejects(startAdminServer({ path, handlers }), { code: 'unsafe-path' });
  t.ok(statSync(path).isFile(), 'still the file');
});

t.test('client: errors, timeouts and a lost server', async (t) => {
  const path = socketPath();
  const server = await startAdminServer({ path, handlers });
  const err = await adminCall(path, 'coded', {}, 5000).catch((e: unknown) => e);
  t.ok(err instanceof AdminError);
  t.match(err, { code: 'no-service', message: 'No such service' });
  const started = Date.now();
  await t.rejects(adminCall(path, 'never', {}, 200), { code: 'timeout' });
  t.ok(Date.now() - started < 3000, 'the timeout is kept');
  const client = await openAdminClient(path);
  t.same(await client.call('echo', 1), 1);
  const pending = client.call('never', {}, 10_000);
  await server.close();
  await t.rejects(pending, { code: 'closed' }, 'a call in flight fails when the server goes away');
  await t.rejects(client.call('echo', 2), { code: 'closed' }, 'and so does the next');
  client.close();
  await t.rejects(adminCall(join(dir, 'missing.sock'), 'echo', {}, 1000), { code: 'ENOENT' });
});

t.test('LineSplitter bounds a line across chunks', async (t) => {
  const s = new LineSplitter(10);
  t.same(s.push(Buffer.from('abc')), []);
  t.equal(s.buffered, 3);
  t.same(s.push(Buffer.from('def\ngh')), ['abcdef']);
  t.same(s.push(Buffer.from('\n\n')), ['gh', '']);
  t.same(s.push(Buffer.from('0123456789')), [], 'exactly the bound');
  t.equal(s.push(Buffer.from('x')), null, 'one more byte is too many');
  const t2 = new LineSplitter(4);
  t.equal(t2.push(Buffer.from('12345\n')), null, 'a complete line over the bound');
});

t.test('client: answers it cannot use fail the connection', async (t) => {
  // A peer that is not a tcpvs admin server: it answers every line with whatever `reply` says.
  const cases: Array<[string, (line: string) => string, string]> = [
    ['garbage', () => 'this is not json\n', 'bad-request'],
    ['no id', () => '{"id":null,"error":{"code":"line-too-long","message":"too long"}}\n', 'line-too-long'],
    ['no id, no error', () => '{"result":1}\n', 'failed'],
  ];
  for (const [name, reply, code] of cases) {
    const path = socketPath();
    const peer = net.createServer((s) => s.on('data', (d) => s.write(reply(d.toString()))));
    await new Promise<void>((r) => peer.listen(path, r));
    const client = await openAdminClient(path);
    await t.rejects(client.call('x', {}, 5000), { code }, name);
    client.close();
    await new Promise<void>((r) => peer.close(() => r()));
  }
  // An answer for an id nobody asked for is ignored; the real one still arrives.
  const path = socketPath();
  const peer = net.createServer((s) =>
    s.on('data', (d) => {
      const { id } = JSON.parse(d.toString()) as { id: number };
      s.write(`{"id":${id + 100},"result":"stray"}\n{"id":${id},"result":"mine"}\n`);
    }),
  );
  await new Promise<void>((r) => peer.listen(path, r));
  const client = await openAdminClient(path);
  t.equal(await client.call('x', {}, 5000), 'mine');
  client.close();
  await new Promise<void>((r) => peer.close(() => r()));
});

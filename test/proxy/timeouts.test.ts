// Timeouts on real sockets, with short values so each fires in well under a
// second: slowloris heads (408), idle keep-alive connections, unanswered
// upstream requests (504), unanswered upstream connects (504), and a long but
// progressing transfer that must not be cut.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import {
  connect,
  collect,
  exchange,
  onRequestHead,
  parseResponses,
  readOneResponse,
  sleep,
  startRecordingBackend,
  startTcpvs,
  waitFor,
  waitForLogLines,
  type BackendBehaviour,
  type RecordingBackend,
  type Tcpvs,
} from '../helpers/refuse-helpers.ts';
import { quietFor } from '../helpers/wait.ts';

const SETTINGS = ['timeout client-header 300ms', 'timeout client-idle 500ms', 'timeout connect 300ms', 'timeout response 300ms'];
const GET = (path: string, extra: string[] = []) => [`GET ${path} HTTP/1.1`, 'Host: x', ...extra].join('\r\n') + '\r\n\r\n';

async function edge(
  t: Test,
  behaviour?: BackendBehaviour,
  settings: string[] = SETTINGS,
): Promise<{ backend: RecordingBackend; tcpvs: Tcpvs }> {
  const backend = await startRecordingBackend(behaviour);
  const tcpvs = await startTcpvs({ servers: [{ port: backend.port }], settings, logToFile: true });
  t.teardown(async () => {
    await tcpvs.close();
    await backend.close();
  });
  return { backend, tcpvs };
}

t.test('slowloris: a partial head gets 408 and a close at the client-header timeout', async (t) => {
  const { backend, tcpvs } = await edge(t);
  const r = await exchange(tcpvs.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 3000 });
  t.ok(r.closed, 'closed');
  t.ok(r.ms >= 250 && r.ms <= 1000, `after about 300 ms (${r.ms} ms)`);
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 1, 'one response');
  t.equal(responses[0]?.status, 408, '408');
  t.equal(responses[0]?.headers.connection, 'close', 'Connection: close');
  t.equal(backend.connections, 0, 'nothing went upstream');
  const lines = await waitForLogLines(tcpvs.logFile, (l) => l.msg === 'refused', 1);
  t.equal(lines.length, 1, 'one refused line');
  t.equal(lines[0]?.status, 408);
});

t.test('slowloris: dribbling bytes does not extend the head deadline', async (t) => {
  const { tcpvs } = await edge(t);
  const client = await connect(tcpvs.port);
  const reply = collect(client, 3000);
  client.write('GET /dribble HTTP/1.1\r\nX-Slow: ');
  // One byte every 50 ms: each arrives well inside any per-read timer, but the head never ends.
  for (let i = 0; i < 40 && !client.destroyed && client.writable; i++) {
    client.write('a');
    await sleep(50);
  }
  const r = await reply;
  t.ok(r.closed, 'closed');
  t.ok(r.ms <= 1000, `within a second (${r.ms} ms)`);
  t.equal(parseResponses(r.bytes)[0]?.status, 408, '408');
});

t.test('a connection that never sends a byte is closed quietly after client-idle', async (t) => {
  const { tcpvs } = await edge(t);
  const client = await connect(tcpvs.port);
  const r = await collect(client, 3000);
  t.ok(r.closed, 'closed');
  t.ok(r.ms >= 400 && r.ms <= 1500, `after about 500 ms (${r.ms} ms)`);
  t.equal(r.bytes.length, 0, 'without a response');
});

t.test('an idle keep-alive connection is closed after client-idle, and use resets the clock', async (t) => {
  const { tcpvs } = await edge(t);
  const client = await connect(tcpvs.port);
  t.teardown(() => client.destroy());
  client.write(GET('/one'));
  const first = await readOneResponse(client);
  t.equal(first.status, 200, 'first answered');
  t.equal(first.headers.connection, undefined, 'kept alive');
  // 300 ms of quiet is under client-idle: the connection must still work.
  await quietFor(300, 'the connection closing before client-idle');
  client.write(GET('/two'));
  const second = await readOneResponse(client);
  t.equal(second.status, 200, 'second answered on the same connection');
  const idleFrom = Date.now();
  const r = await collect(client, 3000);
  const idleMs = Date.now() - idleFrom;
  t.ok(r.closed, 'then closed');
  t.ok(idleMs >= 400 && idleMs <= 1500, `about 500 ms after the last response (${idleMs} ms)`);
  t.equal(r.bytes.length, 0, 'quietly: no bytes after the last response');
});

t.test('a backend that accepts but never responds → 504', async (t) => {
  const { backend, tcpvs } = await edge(t, () => {});
  const r = await exchange(tcpvs.port, GET('/never'), { timeoutMs: 3000 });
  t.ok(r.closed, 'closed');
  t.ok(r.ms >= 250 && r.ms <= 1000, `after about 300 ms (${r.ms} ms)`);
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 1, 'one response');
  t.equal(responses[0]?.status, 504, '504');
  t.equal(responses[0]?.headers.connection, 'close', 'Connection: close');
  t.match(backend.received().toString('latin1'), /^GET \/never /, 'the request did reach the backend');
  t.ok(await waitFor(() => backend.open === 0), 'the upstream connection was dropped');
  const lines = await waitForLogLines(tcpvs.logFile, (l) => l.msg === 'refused', 1);
  t.equal(lines[0]?.reason, 'upstream response timed out');
});

t.test('a backend that stalls in the middle of a body: the client is cut off after the response timeout', async (t) => {
  const { backend, tcpvs } = await edge(t, (s) =>
    onRequestHead(s, (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100))),
  );
  const r = await exchange(tcpvs.port, GET('/stall'), { timeoutMs: 3000 });
  t.ok(r.closed, 'closed');
  t.ok(r.ms >= 250 && r.ms <= 1000, `after about 300 ms (${r.ms} ms)`);
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200, 'the head had been relayed');
  t.equal(res?.body.length, 100, 'with the bytes that came');
  t.notOk(res?.complete, 'and the response is visibly incomplete');
  t.ok(await waitFor(() => backend.open === 0), 'the upstream connection was dropped');
});

t.test('a long but progressing response is not cut by the response timeout', async (t) => {
  const PIECES = 12;
  const timers = new Set<NodeJS.Timeout>();
  t.teardown(() => timers.forEach(clearInterval));
  const { tcpvs } = await edge(t, (s) =>
    onRequestHead(s, (s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${PIECES * 100}\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        if (s.destroyed || sent === PIECES) {
          clearInterval(timer);
          return;
        }
        s.write(String(sent % 10).repeat(100));
        sent++;
      }, 100);
      timers.add(timer);
    }),
  );
  const r = await exchange(tcpvs.port, GET('/long', ['Connection: close']), { timeoutMs: 5000 });
  t.ok(r.ms >= 1100, `the transfer took over a second (${r.ms} ms)`);
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200);
  t.ok(res?.complete, 'complete');
  t.equal(res?.body.length, PIECES * 100, 'every byte arrived');
  t.equal(res?.body.subarray(1100).toString(), '1'.repeat(100), 'including the last piece');
});

t.test('a slow-reading client is not cut off while it keeps reading', async (t) => {
  // More than the loopback socket buffers hold, so tcpvs has to wait for the
  // client; every pause (200 ms) is well under the response timeout (1 s),
  // with room for a loaded machine's late timers, and the transfer spans many.
  const SIZE = 24 * 1024 * 1024;
  const { tcpvs } = await edge(
    t,
    (s) =>
      onRequestHead(s, (s) => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
        s.write(Buffer.alloc(SIZE, 0x7a));
      }),
    SETTINGS.map((x) => (x.startsWith('timeout response ') ? 'timeout response 1s' : x)),
  );
  const client = await connect(tcpvs.port);
  t.teardown(() => client.destroy());
  let received = 0;
  let head = '';
  let closed = false;
  client.on('data', (c: Buffer) => {
    if (head === '' || !head.includes('\r\n\r\n')) head += c.subarray(0, 512).toString('latin1');
    received += c.length;
  });
  client.on('close', () => (closed = true));
  client.write(GET('/big', ['Connection: close']));
  const started = Date.now();
  let pauses = 0;
  for (let i = 0; i < 200 && !closed; i++) {
    client.pause();
    await sleep(200);
    pauses++;
    client.resume();
    await sleep(20);
  }
  t.ok(closed, `the connection closed at the end (${Date.now() - started} ms, ${pauses} pauses)`);
  t.ok(pauses >= 3, 'the client stopped reading at least 3 times during the transfer');
  const headLength = head.indexOf('\r\n\r\n') + 4;
  t.match(head, /^HTTP\/1\.1 200 /, '200');
  t.equal(received - headLength, SIZE, 'every body byte arrived');
});

t.test('a long but progressing upload is not cut by the response timeout', async (t) => {
  const PIECES = 10;
  const { backend, tcpvs } = await edge(t, (s) => {
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const bodyStart = got.indexOf('\r\n\r\n') + 4;
      if (bodyStart > 3 && got.length - bodyStart >= PIECES * 100) s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
    });
  });
  const head = ['POST /upload HTTP/1.1', 'Host: x', `Content-Length: ${PIECES * 100}`, 'Connection: close', '', ''].join('\r\n');
  const pieces = [head, ...Array.from({ length: PIECES }, () => 'u'.repeat(100))];
  const r = await exchange(tcpvs.port, pieces, { gapMs: 100, timeoutMs: 5000 });
  t.ok(r.ms >= 900, `the upload took about a second (${r.ms} ms)`);
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200, 'answered');
  t.equal(res?.body.toString(), 'done', 'by the backend, after the whole body');
  t.equal(backend.received().toString('latin1').split('\r\n\r\n')[1], 'u'.repeat(PIECES * 100), 'the backend got every body byte');
});

// Loopback answers a SYN at once unless the listener's accept queue is full:
// a listener that never accepts, with backlog 0, drops the SYN of the second
// connection, so a connect can hang without leaving 127.0.0.1. Node accepts
// by itself, so the listener is a small python3 process.
t.test('connect timeout: an upstream that never completes the handshake → 504', async (t) => {
  const listener = spawn(
    'python3',
    [
      '-c',
      'import socket, sys\n' +
        's = socket.socket()\n' +
        "s.bind(('127.0.0.1', 0))\n" +
        's.listen(0)\n' +
        'print(s.getsockname()[1], flush=True)\n' +
        'sys.stdin.read()\n',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => {
    listener.once('exit', () => resolve());
    listener.once('error', () => resolve());
  });
  t.teardown(async () => {
    if (listener.exitCode === null && listener.pid !== undefined) process.kill(listener.pid, 'SIGKILL');
    await exited;
  });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(0), 5000);
    listener.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(Number(out.trim()));
      }
    });
    listener.once('error', () => {
      clearTimeout(timer);
      resolve(0);
    });
  });
  if (port === 0) {
    t.pass('connect timeout', { skip: 'python3 is not available to hold a listener that never accepts' });
    return;
  }

  // Fill the accept queue until a connect hangs (at most 4 tries).
  const fillers: net.Socket[] = [];
  t.teardown(() => fillers.forEach((s) => void s.destroy()));
  let hung = false;
  for (let i = 0; i < 4 && !hung; i++) {
    try {
      const s = await Promise.race([
        connect(port),
        sleep(250).then(() => {
          throw new Error('hung');
        }),
      ]);
      fillers.push(s);
    } catch {
      hung = true;
    }
  }
  if (!hung) {
    t.pass('connect timeout', { skip: 'could not make a loopback connect hang on this kernel' });
    return;
  }

  const tcpvs = await startTcpvs({ servers: [{ port }], settings: SETTINGS, logToFile: true });
  t.teardown(() => tcpvs.close());
  const r = await exchange(tcpvs.port, GET('/unreachable'), { timeoutMs: 3000 });
  t.ok(r.closed, 'closed');
  t.ok(r.ms >= 250 && r.ms <= 1000, `after about 300 ms (${r.ms} ms)`);
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 504, '504');
  t.equal(res?.headers.connection, 'close', 'Connection: close');
  const lines = await waitForLogLines(tcpvs.logFile, (l) => l.msg === 'refused', 1);
  t.equal(lines[0]?.reason, 'upstream connect timed out', 'logged as a connect timeout, not a response timeout');
});

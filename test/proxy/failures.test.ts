// Backends that fail and clients that misbehave, on real sockets: tcpvs
// answers 502/503 where it still can, cuts the client off where a response
// has begun (never letting a truncated one look complete), and survives all
// of it: no error logged, no server left counted as busy, still serving.
import t from 'tap';
import type { Test } from 'tap';
import type net from 'node:net';
import {
  answerEachRequest,
  connect,
  collect,
  deadPort,
  exchange,
  onRequestHead,
  parseResponses,
  readLog,
  startRecordingBackend,
  startTcpvs,
  waitFor,
  type BackendBehaviour,
  type RecordingBackend,
  type ServerLine,
  type Tcpvs,
} from '../helpers/refuse-helpers.ts';
import { malformedResponseHeads } from '../corpus/responses.ts';
import { quietFor, waitUntil } from '../helpers/wait.ts';

const GET = (path: string, extra: string[] = []) => [`GET ${path} HTTP/1.1`, 'Host: x', ...extra].join('\r\n') + '\r\n\r\n';

interface Edge {
  backend: RecordingBackend;
  tcpvs: Tcpvs;
}

/** A backend with `behaviour` behind a fresh tcpvs that logs to a file; both closed at teardown. */
async function edge(t: Test, behaviour: BackendBehaviour, settings: string[] = [], weight?: number): Promise<Edge> {
  const backend = await startRecordingBackend(behaviour);
  const server: ServerLine = { port: backend.port, weight };
  const tcpvs = await startTcpvs({ servers: [server], settings, logToFile: true });
  t.teardown(async () => {
    await tcpvs.close();
    await backend.close();
  });
  return { backend, tcpvs };
}

function activeRequests(tcpvs: Tcpvs): number {
  let n = 0;
  for (const g of tcpvs.running.services[0].groups.values()) for (const s of g.servers) n += s.active;
  return n;
}

/** After a failure: no session is left, no server counts a request, and nothing was logged as an error. */
async function assertSettled(t: Test, tcpvs: Tcpvs): Promise<void> {
  t.ok(await waitFor(() => tcpvs.running.services[0].connections === 0), 'no client session left');
  t.ok(await waitFor(() => activeRequests(tcpvs) === 0), 'no request left counted as active');
  await quietFor(50, 'an error line logged late');
  const errors = readLog(tcpvs.logFile).filter((l) => l.level >= 50);
  t.same(errors, [], 'nothing logged at error level');
}

/** One request on a fresh connection: exactly one local error response, connection closed. */
async function expectLocalError(t: Test, tcpvs: Tcpvs, request: string, status: number): Promise<void> {
  const r = await exchange(tcpvs.port, request, { timeoutMs: 3000 });
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 1, 'one response');
  t.equal(responses[0]?.status, status, `status ${status}`);
  t.ok(responses[0]?.complete, 'the error response is complete');
  t.equal(responses[0]?.headers.connection, 'close', 'Connection: close');
  t.ok(r.closed, 'connection closed');
}

t.test('a server that refuses connections → 502', async (t) => {
  const port = await deadPort();
  const tcpvs = await startTcpvs({ servers: [{ port }], logToFile: true });
  t.teardown(() => tcpvs.close());
  await expectLocalError(t, tcpvs, GET('/'), 502);
  // A second attempt is not served from some broken pooled state.
  await expectLocalError(t, tcpvs, GET('/again'), 502);
  await assertSettled(t, tcpvs);
});

t.test('a backend that closes right after reading the request → 502', async (t) => {
  const { backend, tcpvs } = await edge(t, (s) => onRequestHead(s, (s) => s.destroy()));
  await expectLocalError(t, tcpvs, GET('/'), 502);
  t.match(backend.received().toString('latin1'), /^GET \/ HTTP\/1\.1\r\n/, 'the backend did get the request');
  await assertSettled(t, tcpvs);
});

t.test('a backend that resets (RST) right after reading the request → 502', async (t) => {
  const { tcpvs } = await edge(t, (s) => onRequestHead(s, (s) => s.resetAndDestroy()));
  await expectLocalError(t, tcpvs, GET('/'), 502);
  await assertSettled(t, tcpvs);
});

t.test('a backend that sends part of a Content-Length body then closes: the client never sees a complete response', async (t) => {
  const { tcpvs } = await edge(t, (s) =>
    onRequestHead(s, (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'p'.repeat(40));
      setTimeout(() => s.end(), 50);
    }),
  );
  const r = await exchange(tcpvs.port, GET('/'), { timeoutMs: 3000 });
  t.ok(r.closed, 'the client connection was closed');
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200, 'the head was relayed');
  t.equal(res?.headers['content-length'], '100', 'with its Content-Length');
  t.equal(res?.body.toString(), 'p'.repeat(40), 'the 40 bytes that existed were relayed');
  t.notOk(res?.complete, 'the response is visibly incomplete');
  t.equal(res?.end, r.bytes.length, 'nothing after the partial body');
  await assertSettled(t, tcpvs);
});

t.test('a backend that ends a chunked body early: the client never sees the last chunk', async (t) => {
  const { tcpvs } = await edge(t, (s) =>
    onRequestHead(s, (s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8\r\npart');
      setTimeout(() => s.destroy(), 50);
    }),
  );
  const r = await exchange(tcpvs.port, GET('/'), { timeoutMs: 3000 });
  t.ok(r.closed, 'the client connection was closed');
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200);
  t.notOk(res?.complete, 'no terminating chunk: the response is visibly incomplete');
  t.notMatch(r.bytes.toString('latin1'), /\r\n0\r\n\r\n$/, 'no last-chunk was invented');
  await assertSettled(t, tcpvs);
});

// The heads, each with the rule it breaks, are data in test/corpus/responses.ts.
for (const { name, rule, response } of malformedResponseHeads) {
  t.test(`a malformed response head (${name}) → 502`, async (t) => {
    t.comment(rule);
    const { tcpvs } = await edge(t, (s) => onRequestHead(s, (s) => s.write(response)));
    await expectLocalError(t, tcpvs, GET('/'), 502);
    await assertSettled(t, tcpvs);
  });
}

// The response head is incomplete, so nothing has reached the client yet:
// tcpvs can (and should) still say 502 instead of dropping the connection.
t.test('a backend that sends half a response head then closes → 502', async (t) => {
  const { tcpvs } = await edge(t, (s) =>
    onRequestHead(s, (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Le');
      setTimeout(() => s.end(), 50);
    }),
  );
  await expectLocalError(t, tcpvs, GET('/'), 502);
  await assertSettled(t, tcpvs);
});

/** Answers the first request on each connection; `second` handles the next one. */
/** How many complete responses `socket` has received so far (alongside collect()). */
function responseCount(socket: net.Socket): () => number {
  let bytes = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (bytes = Buffer.concat([bytes, c])));
  return () => parseResponses(bytes).filter((r) => r.complete).length;
}

function firstThen(second: (s: net.Socket) => void): BackendBehaviour {
  return (socket) => {
    let heads = 0;
    let seen = '';
    socket.on('data', (c: Buffer) => {
      seen += c.toString('latin1');
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
        heads++;
        if (heads === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
        else if (heads === 2) second(socket);
      }
    });
  };
}

t.test('a pooled connection the backend drops: a GET is retried on a fresh one, a POST gets 502', async (t) => {
  const { backend, tcpvs } = await edge(
    t,
    firstThen((s) => s.destroy()),
  );
  const client = await connect(tcpvs.port);
  t.teardown(() => client.destroy());
  const reply = collect(client, 3000);
  const answered = responseCount(client);
  // Each request waits for the answer to the one before: none is pipelined.
  client.write(GET('/one'));
  await waitUntil(() => answered() === 1, 3000, 'the answer to /one');
  client.write(GET('/two'));
  await waitUntil(() => answered() === 2, 3000, 'the answer to /two (retried)');
  client.write(['POST /three HTTP/1.1', 'Host: x', 'Content-Length: 3', '', 'abc'].join('\r\n'));
  const r = await reply;
  const responses = parseResponses(r.bytes);
  t.same(
    responses.map((x) => [x.status, x.body.toString()]),
    [
      [200, 'first'],
      [200, 'first'],
      [502, '502 Bad Gateway\n'],
    ],
    'GET answered twice (the second on a fresh connection), the POST refused',
  );
  t.ok(r.closed, 'closed after the 502');
  t.equal(backend.connections, 2, 'the retry opened one fresh connection, which the POST then reused');
  await assertSettled(t, tcpvs);
});

// A regression test: llhttp's upgrade flag, left set after the first head,
// once hid parse errors of every later head on the connection.
t.test('a malformed response head on a reused connection → 502', async (t) => {
  const { tcpvs } = await edge(
    t,
    firstThen((s) => s.write('garbage\r\n\r\n')),
    ['timeout response 1500ms'],
  );
  const client = await connect(tcpvs.port);
  t.teardown(() => client.destroy());
  const reply = collect(client, 3000);
  const answered = responseCount(client);
  client.write(GET('/one'));
  await waitUntil(() => answered() === 1, 3000, 'the answer to /one');
  client.write(GET('/two'));
  const r = await reply;
  const responses = parseResponses(r.bytes);
  t.same(
    responses.map((x) => x.status),
    [200, 502],
    'first answered, second 502',
  );
  t.ok(r.ms < 1000, `answered without waiting for the response timeout (${r.ms} ms)`);
  await assertSettled(t, tcpvs);
});

t.test('a group whose only server has weight 0 → 503', async (t) => {
  const { backend, tcpvs } = await edge(t, answerEachRequest, [], 0);
  const r = await exchange(tcpvs.port, GET('/', ['Connection: close']), { timeoutMs: 3000 });
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 503, '503');
  t.ok(res?.complete, 'complete');
  t.ok(r.closed, 'closed (the client asked for it)');
  t.equal(backend.connections, 0, 'the quiescent server was not contacted');

  // Without a body, a 503 leaves the connection usable.
  const client = await connect(tcpvs.port);
  t.teardown(() => client.destroy());
  const reply = collect(client, 1000);
  client.write(GET('/a') + GET('/b', ['Connection: close']));
  const both = parseResponses((await reply).bytes);
  t.same(
    both.map((x) => x.status),
    [503, 503],
    'two pipelined requests, two 503s',
  );
  await assertSettled(t, tcpvs);
});

t.test('misbehaving clients never take tcpvs down', async (t) => {
  // `/slow` streams a large body in small pieces; anything else is answered at once.
  const slowTimers = new Set<NodeJS.Timeout>();
  t.teardown(() => {
    for (const timer of slowTimers) clearInterval(timer);
  });
  const { backend, tcpvs } = await edge(t, (socket) => {
    let seen = '';
    socket.on('data', (c: Buffer) => {
      seen += c.toString('latin1');
      const end = seen.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = seen.slice(0, end);
      const length = /content-length: (\d+)/i.exec(head);
      if (seen.length < end + 4 + (length === null ? 0 : Number(length[1]))) return;
      const path = head.split(' ')[1];
      seen = '';
      if (path !== '/slow') {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
      let pieces = 0;
      const timer = setInterval(() => {
        if (socket.destroyed || ++pieces > 200) {
          clearInterval(timer);
          slowTimers.delete(timer);
          return;
        }
        socket.write('s'.repeat(1000));
      }, 20);
      slowTimers.add(timer);
    });
  });

  await t.test('reset in the middle of a request head', async (t) => {
    const client = await connect(tcpvs.port);
    client.write('GET /half HTTP/1.1\r\nHo');
    await waitUntil(() => tcpvs.running.services[0].connections === 1, 3000, 'tcpvs to hold the client session');
    client.resetAndDestroy();
    await assertSettled(t, tcpvs);
    t.equal(backend.connections, 0, 'nothing went upstream');
  });

  await t.test('reset in the middle of a request body', async (t) => {
    backend.reset();
    const client = await connect(tcpvs.port);
    client.on('error', () => {});
    client.write(['POST /upload HTTP/1.1', 'Host: x', 'Content-Length: 100000', '', 'u'.repeat(1000)].join('\r\n'));
    t.ok(await waitFor(() => backend.received().includes('uuu')), 'the body started flowing upstream');
    client.resetAndDestroy();
    t.ok(await waitFor(() => backend.open === 0), 'the upstream connection was closed too');
    await assertSettled(t, tcpvs);
  });

  await t.test('reset in the middle of a response', async (t) => {
    backend.reset();
    const client = await connect(tcpvs.port);
    client.on('error', () => {});
    let got = 0;
    const firstBytes = new Promise<void>((resolve) =>
      client.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 2000) resolve();
      }),
    );
    client.write(GET('/slow'));
    await firstBytes;
    client.resetAndDestroy();
    t.ok(await waitFor(() => backend.open === 0), 'the upstream connection was closed too');
    await assertSettled(t, tcpvs);
  });

  await t.test('garbage binary', async (t) => {
    backend.reset();
    let seed = 0x5eed;
    const garbage = Buffer.alloc(4096);
    for (let i = 0; i < garbage.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      garbage[i] = seed >>> 24;
    }
    const r = await exchange(tcpvs.port, garbage, { timeoutMs: 3000 });
    t.ok(r.closed, 'closed');
    const [res] = parseResponses(r.bytes);
    t.equal(res?.status, 400, '400');
    t.equal(backend.connections, 0, 'nothing went upstream');
    await assertSettled(t, tcpvs);
  });

  await t.test('half-close right after a full request: the response still arrives', async (t) => {
    const r = await exchange(tcpvs.port, GET('/half-closed'), { halfClose: true, timeoutMs: 3000 });
    const responses = parseResponses(r.bytes);
    t.equal(responses.length, 1, 'one response');
    t.equal(responses[0]?.status, 200);
    t.equal(responses[0]?.body.toString(), '/half-closed', 'from the backend');
    t.ok(responses[0]?.complete, 'complete');
    t.ok(r.closed, 'then the connection closes');
    t.equal(r.error, null, 'cleanly');
    await assertSettled(t, tcpvs);
  });

  await t.test('half-close right after three pipelined requests: all three are answered', async (t) => {
    const r = await exchange(tcpvs.port, GET('/p1') + GET('/p2') + GET('/p3'), { halfClose: true, timeoutMs: 3000 });
    t.same(
      parseResponses(r.bytes).map((x) => [x.status, x.body.toString()]),
      [
        [200, '/p1'],
        [200, '/p2'],
        [200, '/p3'],
      ],
      'in order',
    );
    t.ok(r.closed, 'then the connection closes');
    await assertSettled(t, tcpvs);
  });

  await t.test('half-close right after a request with a body', async (t) => {
    const post = ['POST /posted HTTP/1.1', 'Host: x', 'Content-Length: 5', '', 'hello'].join('\r\n');
    const r = await exchange(tcpvs.port, post, { halfClose: true, timeoutMs: 3000 });
    const [res] = parseResponses(r.bytes);
    t.equal(res?.status, 200);
    t.equal(res?.body.toString(), '/posted');
    t.ok(r.closed, 'then the connection closes');
    await assertSettled(t, tcpvs);
  });

  await t.test('half-close inside a request head → 400', async (t) => {
    const r = await exchange(tcpvs.port, 'GET /cut HTTP/1.1\r\nHost', { halfClose: true, timeoutMs: 3000 });
    const [res] = parseResponses(r.bytes);
    t.equal(res?.status, 400);
    t.ok(r.closed);
    await assertSettled(t, tcpvs);
  });

  await t.test('tcpvs still answers a normal request afterwards', async (t) => {
    const r = await exchange(tcpvs.port, GET('/after', ['Connection: close']), { timeoutMs: 3000 });
    const [res] = parseResponses(r.bytes);
    t.equal(res?.status, 200);
    t.equal(res?.body.toString(), '/after');
    await assertSettled(t, tcpvs);
  });
});

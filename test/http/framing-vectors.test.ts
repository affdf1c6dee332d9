// Framing vectors (issue 11, "no request reaches a server that could read it
// another way"), over real sockets through tcpvs.
//
// Part 1, requests: each vector is raw bytes in one write, the status tcpvs
// must answer, and what the backend must receive: nothing at all, or the
// one request whose framing tcpvs judged (its Transfer-Encoding line and
// its body, byte for byte). The vectors, each with the rule it checks, are
// data in test/corpus/requests.ts (framingVectors); the bad responses of
// part 2 are in test/corpus/responses.ts.
//
// Part 2, malicious servers: raw backends that send Transfer-Encoding
// values no strict parser reads as chunked, bad trailers and chunk
// extensions, chunked bodies to an HTTP/1.0 client, and bytes after a
// complete response (after a 204, a 304, a HEAD response, a complete 200),
// in the same packet and in a later one: the next request on the same
// client connection gets its own answer from a fresh upstream connection.
import t from 'tap';
import type { Test } from 'tap';
import type net from 'node:net';
import { startRawBackend, type RawBackend, type RawRequest } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import {
  answerFramed,
  exchange,
  parseResponses,
  startRecordingBackend,
  startTcpvs,
  waitFor,
  type Tcpvs,
} from '../helpers/refuse-helpers.ts';
import { framingVectors } from '../corpus/requests.ts';
import { badResponses, bytesAfterComplete, EVIL, responseGaps } from '../corpus/responses.ts';

// ---- part 1: requests -------------------------------------------------------

const backend = await startRecordingBackend(answerFramed);
const edge = await startTcpvs({ servers: [{ port: backend.port }] });
t.teardown(async () => {
  await edge.close();
  await backend.close();
});

const SENTINEL = 'GET /sentinel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
for (const { name, rule, request, status, forwarded } of framingVectors) {
  t.test(`${name} → ${status}`, async (t) => {
    t.comment(rule);
    backend.reset();
    const r = await exchange(edge.port, request, { timeoutMs: 3000 });
    t.ok(r.closed, 'the connection closed');
    const responses = parseResponses(r.bytes);
    t.equal(responses.length, 1, 'exactly one response');
    t.equal(responses[0]?.status, status, `status ${status}`);
    // A sentinel on a fresh connection, answered by the backend: anything the
    // vector made tcpvs send would have arrived before its answer.
    const s = await exchange(edge.port, SENTINEL, { timeoutMs: 3000 });
    t.equal(parseResponses(s.bytes)[0]?.status, 200, 'the sentinel is answered');
    const seen = backend.received().toString('latin1');
    const at = seen.indexOf('GET /sentinel ');
    t.ok(at !== -1, 'the backend saw the sentinel');
    const before = seen.slice(0, at) + seen.slice(seen.indexOf('\r\n\r\n', at) + 4);
    if (forwarded === null) {
      t.equal(before, '', 'the backend received zero bytes of the vector');
      return;
    }
    t.equal(before.split(' HTTP/1.1\r\n').length - 1, 1, 'one request reached the backend');
    const headEnd = before.indexOf('\r\n\r\n');
    const head = before.slice(0, headEnd + 4);
    t.match(head, /^POST \/v HTTP\/1\.1\r\n/, 'the request line');
    t.same(
      head.split('\r\n').filter((l) => /^transfer-encoding:/i.test(l)),
      [`Transfer-Encoding: ${forwarded.te}`],
      `one Transfer-Encoding line: ${JSON.stringify(forwarded.te)}`,
    );
    t.equal(before.slice(headEnd + 4), forwarded.body, 'the body byte for byte');
  });
}

// ---- part 2: malicious servers ----------------------------------------------

async function rawBackend(t: Test, onRequest: (req: RawRequest, socket: net.Socket) => void): Promise<RawBackend> {
  const b = await startRawBackend(onRequest);
  t.teardown(() => b.close());
  return b;
}

async function proxyTo(t: Test, port: number): Promise<Tcpvs> {
  const s = await startTcpvs({ servers: [{ port }] });
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

/** The answer to /next names the upstream connection it came on. */
function answerNext(req: RawRequest, socket: net.Socket): boolean {
  if (req.url !== '/next') return false;
  const body = `next on ${req.connection}`;
  socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  return true;
}

/** A bad response head/body from the server: the client gets 502 and nothing of the body. */
async function expectBadGateway(t: Test, rule: string, response: string): Promise<void> {
  t.comment(rule);
  const b = await rawBackend(t, (req, socket) => {
    if (!answerNext(req, socket)) socket.write(Buffer.from(response, 'latin1'));
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/bad'));
  const res = await c.readResponse();
  t.equal(res.status, 502, '502');
  t.notMatch(res.body.toString('latin1'), /hello/, 'nothing of the server body');
  t.equal(res.header('connection'), 'close', 'Connection: close');
  t.ok(await c.waitEnd(2000), 'the client connection closes');
  t.equal(c.pending.length, 0, 'nothing after the 502');
  t.ok(await waitFor(() => b.open() === 0), 'the upstream connection is closed');
}

for (const { name, rule, response } of badResponses) {
  t.test(`server sends ${name}: 502, nothing of its body`, (t) => expectBadGateway(t, rule, response));
}

// Known gaps (test/corpus/responses.ts responseGaps): what tcpvs must do, marked todo until it does.
for (const { name, rule, response, today } of responseGaps) {
  t.test(`server sends ${name}: 502, nothing of its body`, { todo: `today: ${today}` }, (t) => expectBadGateway(t, rule, response));
}

t.test('server sends a forbidden trailer after the response began: the client is cut off', async (t) => {
  t.comment('RFC 9110 §6.5.1; a response that has started cannot become a 502: never let it look complete');
  let upstream: net.Socket | null = null;
  const b = await rawBackend(t, (_req, socket) => {
    upstream = socket;
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/late'));
  const head = await c.readHead();
  t.equal(head.status, 200);
  t.ok(await waitFor(() => c.pending.toString('latin1') === '5\r\nhello\r\n'), 'the first chunk arrived');
  upstream!.write('0\r\nHost: evil.example\r\n\r\n');
  t.ok(await c.waitEnd(2000), 'the client connection is closed');
  t.equal(c.pending.toString('latin1'), '5\r\nhello\r\n', 'nothing of the last chunk or its trailer');
  t.ok(await waitFor(() => b.open() === 0), 'the upstream connection is closed');
});

t.test('TE: Chunked from the server reaches an HTTP/1.1 client as "chunked"', async (t) => {
  t.comment('RFC 9112 §7: coding names are case-insensitive; tcpvs sends on the form it judged');
  const b = await rawBackend(t, (_req, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n');
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/'));
  const res = await c.readResponse();
  t.same(res.headerAll('transfer-encoding'), ['chunked']);
  t.equal(res.rawBody.toString('latin1'), '5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n', 'the body byte for byte');
});

t.test('a chunked response to an HTTP/1.0 client is de-chunked and delimited by close', async (t) => {
  t.comment('RFC 9112 §6.1: a server MUST NOT send Transfer-Encoding in a response to an HTTP/1.0 request');
  let upstream: net.Socket | null = null;
  const b = await rawBackend(t, (_req, socket) => {
    upstream = socket;
    // Extensions, a chunk split across packets, trailers: none of it reaches the client.
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;e=1\r\nhello\r\n6\r\n wor');
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write('GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const head = await c.readHead();
  t.equal(head.status, 200);
  t.equal(head.header('transfer-encoding'), undefined, 'no Transfer-Encoding');
  t.equal(head.header('content-length'), undefined, 'no Content-Length');
  t.equal(head.header('connection'), 'close', 'Connection: close, even though the client asked for keep-alive');
  t.equal(head.header('x-a'), '1');
  t.ok(await waitFor(() => c.pending.toString('latin1') === 'hello wor'), 'data as it arrives');
  upstream!.write('ld\r\n0\r\nX-Sum: 9\r\n\r\n');
  t.ok(await c.waitEnd(2000), 'the close ends the body');
  t.equal(c.pending.toString('latin1'), 'hello world', 'the data, nothing of the framing or trailers');
});

t.test('a chunked response to an HTTP/1.0 client with other codings: 502', async (t) => {
  t.comment('RFC 9112 §6.1: an HTTP/1.0 recipient knows no transfer-codings: gzip cannot go through');
  const b = await rawBackend(t, (_req, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  });
  const s = await proxyTo(t, b.port);
  const r = await exchange(s.port, 'GET / HTTP/1.0\r\n\r\n');
  t.equal(parseResponses(r.bytes)[0]?.status, 502);
  t.notMatch(r.bytes.toString('latin1'), /hello/);
});

// Bytes after a complete response (test/corpus/responses.ts bytesAfterComplete).
for (const { name, rule, request, response, extra, status } of bytesAfterComplete) {
  const [method, path] = request.split(' ');
  const isHead = method === 'HEAD';

  t.test(`bytes after ${name}, same packet: the next request gets a fresh upstream connection`, async (t) => {
    t.comment('RFC 9112 §6.3 / §9.3: a server may not send bytes nobody asked for; the connection cannot be reused');
    t.comment(rule);
    const b = await rawBackend(t, (req, socket) => {
      if (!answerNext(req, socket)) socket.write(response + extra);
    });
    const s = await proxyTo(t, b.port);
    const c = await client(t, s.port);
    c.write(requestHead(method, path));
    const first = await c.readResponse({ head: isHead });
    t.equal(first.status, status, 'the first response');
    c.write(requestHead('GET', '/next'));
    const next = await c.readResponse();
    t.equal(next.body.toString(), 'next on 2', 'the next request is answered on a new upstream connection');
    t.equal(b.requests.filter((r) => r.connection === 1).length, 1, 'the first connection carried one request');
  });

  t.test(`bytes after ${name}, later packet while idle: the connection closes, the next request gets a fresh one`, async (t) => {
    t.comment('RFC 9112 §9.3: bytes on an idle connection are no response to anything sent later');
    t.comment(rule);
    let upstream: net.Socket | null = null;
    let upstreamClosed = false;
    const b = await rawBackend(t, (req, socket) => {
      if (answerNext(req, socket)) return;
      upstream = socket;
      socket.once('end', () => (upstreamClosed = true)); // tcpvs's FIN (this backend allows half-open)
      socket.write(response);
    });
    const s = await proxyTo(t, b.port);
    const c = await client(t, s.port);
    c.write(requestHead(method, path));
    await c.readResponse({ head: isHead });
    upstream!.write(extra);
    t.ok(await waitFor(() => upstreamClosed), 'tcpvs closed the upstream connection that sent them');
    c.write(requestHead('GET', '/next'));
    const next = await c.readResponse();
    t.equal(next.body.toString(), 'next on 2', 'answered on a new upstream connection');
    t.ok(await c.staysOpen(30), 'and nothing else arrives');
  });
}

t.test('bytes after a 204 in a later packet, the next request pipelined behind it: a fresh connection answers', async (t) => {
  t.comment('the pipelined request is ready in the turn the 204 is read: the connection is not reused in that turn');
  let first: net.Socket | null = null;
  const b = await rawBackend(t, (req, socket) => {
    if (req.connection === 1 && req.url === '/first') {
      first = socket;
      socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      return;
    }
    if (req.connection === 1) return; // whatever else comes on the first connection, EVIL is its only answer
    answerNext(req, socket);
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/first') + requestHead('GET', '/next'));
  t.equal((await c.readResponse()).status, 204);
  // tcpvs has read the 204 (the client has it) and dealt with /next in the same callback.
  first!.write(EVIL);
  const next = await c.readResponse();
  t.equal(next.body.toString(), 'next on 2', 'the pipelined request is answered on a new upstream connection');
  t.same(
    b.requests.filter((r) => r.connection === 1).map((r) => r.url),
    ['/first'],
    'the first connection carried the first request only',
  );
  t.ok(await c.staysOpen(30), 'and nothing else arrives');
});

t.test('late bytes and the next request become readable in the same turn: the request is retried on a fresh connection', async (t) => {
  t.comment('bytes read in the turn the idle connection was handed out were sent before the request (lib/upstream/pool.ts)');
  let first: net.Socket | null = null;
  const b = await rawBackend(t, (req, socket) => {
    if (req.connection === 1 && req.url === '/first') {
      first = socket;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      return;
    }
    if (req.connection === 1) return; // the first connection never answers /next: EVIL is all it sends
    answerNext(req, socket);
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/first'));
  t.equal((await c.readResponse()).body.toString(), 'ok');
  // Both land in tcpvs's socket buffers before its next epoll_wait, the request listed first.
  c.write(requestHead('GET', '/next'));
  first!.write(EVIL);
  const next = await c.readResponse();
  t.equal(next.body.toString(), 'next on 2', 'EVIL is never the answer; a new upstream connection is');
  t.ok(await c.staysOpen(30), 'and nothing else arrives');
});

t.test('late bytes in the same turn as a POST: 502, never the late bytes', async (t) => {
  t.comment('a request with a body is not sent twice (RFC 9110 §9.2.2): the client gets 502 instead');
  let first: net.Socket | null = null;
  const b = await rawBackend(t, (req, socket) => {
    if (req.connection === 1 && req.url === '/first') {
      first = socket;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      return;
    }
    if (req.connection === 1) return;
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh');
  });
  const s = await proxyTo(t, b.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/first'));
  t.equal((await c.readResponse()).body.toString(), 'ok');
  c.write(requestHead('POST', '/post', [['Content-Length', '3']]) + 'abc');
  first!.write(EVIL);
  const res = await c.readResponse();
  t.equal(res.status, 502, '502');
  t.notMatch(res.body.toString(), /EVIL/, 'not the late bytes');
  t.ok(await c.waitEnd(2000), 'and the client connection closes');
  t.notMatch(c.pending.toString('latin1'), /EVIL/, 'EVIL never reaches the client');
});

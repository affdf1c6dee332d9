// Request smuggling and malformed requests, sent over raw sockets: each gets
// the right status with a short body and `Connection: close`, the connection
// closes, one `refused` line is logged, and the backend never sees a byte.
import t from 'tap';
import type { Test } from 'tap';
import {
  exchange,
  parseResponses,
  startChildTcpvs,
  waitFor,
  startRecordingBackend,
  startTcpvs,
  waitForLogLines,
  type LogLine,
} from '../helpers/refuse-helpers.ts';
import { formerlyForwardedVectors, refuseVectors } from '../corpus/requests.ts';

const backend = await startRecordingBackend();
const tcpvs = await startTcpvs({
  servers: [{ port: backend.port }],
  settings: ['limit uri 1k', 'limit headers 4k'],
  logToFile: true,
});
t.teardown(async () => {
  await tcpvs.close();
  await backend.close();
});

const isRefused = (l: LogLine) => l.msg === 'refused';
let refusedSoFar = 0;

/** The whole vector goes out in one write; tcpvs must answer `status` and close. */
async function expectRefused(t: Test, request: string | Buffer, status: number | number[]): Promise<void> {
  const allowed = Array.isArray(status) ? status : [status];
  backend.reset();
  const r = await exchange(tcpvs.port, request, { timeoutMs: 3000 });
  t.ok(r.closed, 'tcpvs closed the connection');
  t.equal(r.error, null, 'closed cleanly, not reset');
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 1, 'exactly one response');
  const res = responses[0];
  if (res === undefined) return;
  t.ok(allowed.includes(res.status), `status ${allowed.join(' or ')} (got ${res.status})`);
  t.equal(res.headers.connection, 'close', 'Connection: close');
  t.ok(res.complete, 'the response is complete');
  t.ok(res.body.length > 0 && res.body.length <= 64, `short body (${res.body.length} bytes)`);
  t.match(res.body.toString('latin1'), new RegExp(`^${res.status} `), 'body names the status');
  t.equal(res.end, r.bytes.length, 'nothing after the response');

  const lines = await waitForLogLines(tcpvs.logFile, isRefused, refusedSoFar + 1);
  t.equal(lines.length, refusedSoFar + 1, 'one refused line logged');
  t.equal(lines.at(-1)?.status, res.status, 'the refused line carries the status');
  refusedSoFar = lines.length;

  // The log wait above gave any stray upstream bytes time to arrive.
  t.equal(backend.received().length, 0, 'the backend received zero bytes');
  t.equal(backend.connections, 0, 'no connection was opened to the backend');
}

const head = (lines: string[]) => lines.join('\r\n') + '\r\n\r\n';

// The vectors, each with the rule it checks, are data in test/corpus/requests.ts.
for (const { name, rule, request, status } of refuseVectors) {
  t.test(`${name} → ${status}`, (t) => {
    t.comment(rule);
    return expectRefused(t, request, status);
  });
}

// Once forwarded; each is now refused. The rule says why it must be.
for (const { name, rule, request, statuses } of formerlyForwardedVectors) {
  t.test(`${name} → ${statuses.join(' or ')}`, (t) => {
    t.comment(rule);
    return expectRefused(t, request, statuses);
  });
}

// CONNECT runs against tcpvs in a child process: a refusal that loops would
// wedge this process's event loop and hide every other result.
// (It once did: refuse(405) returned 0 and processInput re-parsed the same bytes forever.)
t.test('CONNECT → 405, closed, and tcpvs keeps running', async (t) => {
  const child = await startChildTcpvs({ servers: [{ port: backend.port }] });
  t.teardown(() => child.close());
  backend.reset();
  const connect = head(['CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443']);
  const r = await exchange(child.port, connect, { timeoutMs: 2000, capBytes: 64 * 1024 });
  const responses = parseResponses(r.bytes);
  t.equal(responses[0]?.status, 405, 'status 405');
  t.equal(responses.length, 1, `exactly one response (got ${responses.length} in ${r.bytes.length} bytes)`);
  t.equal(responses[0]?.headers.connection, 'close', 'Connection: close');
  t.ok(r.closed, 'tcpvs closed the connection');
  t.equal(backend.received().length, 0, 'the backend received zero bytes');
  const after = await exchange(child.port, head(['GET /alive HTTP/1.1', 'Host: x', 'Connection: close']), { timeoutMs: 2000 });
  t.equal(parseResponses(after.bytes)[0]?.status, 200, 'tcpvs still answers a normal request');
});

t.test('the URI limit is exact: 1024 bytes pass, 1025 do not', async (t) => {
  backend.reset();
  const ok = await exchange(tcpvs.port, head([`GET /${'c'.repeat(1023)} HTTP/1.1`, 'Host: x', 'Connection: close']));
  const [res] = parseResponses(ok.bytes);
  t.equal(res?.status, 200, 'a 1024-byte URI is forwarded');
  t.equal(res?.body.length, 1024, 'the backend saw the whole URI');
  await expectRefused(t, head([`GET /${'c'.repeat(1024)} HTTP/1.1`, 'Host: x']), 414);
});

t.test('pipelined pair, second malformed: first answered, second 400, backend sees only the first', async (t) => {
  backend.reset();
  const first = head(['GET /first HTTP/1.1', 'Host: x']);
  const second = head(['POST /second HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Transfer-Encoding: chunked']) + '0\r\n\r\n';
  const r = await exchange(tcpvs.port, first + second);
  t.ok(r.closed, 'tcpvs closed the connection');
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 2, 'two responses');
  t.equal(responses[0]?.status, 200, 'the first is answered normally');
  t.equal(responses[0]?.body.toString(), '/first', 'by the backend');
  t.equal(responses[1]?.status, 400, 'the second is refused');
  t.equal(responses[1]?.headers.connection, 'close', 'with Connection: close');
  t.equal(responses[1]?.end, r.bytes.length, 'nothing after the refusal');

  const lines = await waitForLogLines(tcpvs.logFile, isRefused, refusedSoFar + 1);
  t.equal(lines.length, refusedSoFar + 1, 'one refused line logged');
  refusedSoFar = lines.length;

  const seen = backend.received().toString('latin1');
  t.match(seen, /^GET \/first HTTP\/1\.1\r\n/, 'the backend got the first request');
  t.equal(seen.split('HTTP/1.1\r\n').length - 1, 1, 'and only one request line');
  t.notMatch(seen, /second|Transfer-Encoding|0\r\n\r\n$/, 'nothing of the second request');
  t.equal(seen.indexOf('\r\n\r\n'), seen.length - 4, 'the backend bytes end with the first head');
});

t.test('a bad chunk size arriving after the head went upstream: 400, the bad bytes never reach the backend', async (t) => {
  // This backend waits for the whole body (it never answers), so tcpvs is
  // still forwarding the request when the bad chunk arrives.
  const silent = await startRecordingBackend(() => {});
  const edge = await startTcpvs({ servers: [{ port: silent.port }], logToFile: true });
  t.teardown(async () => {
    await edge.close();
    await silent.close();
  });
  const requestHead = head(['POST /late HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']);
  const r = await exchange(edge.port, [requestHead, '5\r\nhello\r\n', 'zz\r\nbad\r\n0\r\n\r\n'], { gapMs: 150 });
  t.ok(r.closed, 'tcpvs closed the connection');
  const responses = parseResponses(r.bytes);
  t.equal(responses.length, 1, 'one response');
  t.equal(responses[0]?.status, 400, '400');
  t.equal(responses[0]?.headers.connection, 'close', 'Connection: close');
  const lines = await waitForLogLines(edge.logFile, isRefused, 1);
  t.equal(lines.length, 1, 'one refused line logged');
  t.ok(await waitFor(() => silent.connections === 1 && silent.open === 0), 'the upstream connection was aborted');
  const seen = silent.received().toString('latin1');
  t.match(seen, /^POST \/late HTTP\/1\.1\r\n/, 'the head was forwarded before the body arrived');
  t.ok(seen.endsWith('\r\n\r\n5\r\nhello\r\n'), 'the valid chunk was forwarded');
  t.notMatch(seen, /zz|bad/, 'the bytes that broke framing were not');
});

t.test('tcpvs still serves normal requests after all of this', async (t) => {
  backend.reset();
  const r = await exchange(tcpvs.port, head(['GET /after HTTP/1.1', 'Host: x', 'Connection: close']));
  const [res] = parseResponses(r.bytes);
  t.equal(res?.status, 200);
  t.equal(res?.body.toString(), '/after');
  // A refusal is a warning, never an error: nothing in the log at error level
  // or above, after a quiet 50 ms in which a late one could still show.
  const errors = (await waitForLogLines(tcpvs.logFile, (l) => l.level >= 50, 0, 0, 50)).map((l) => l.msg);
  t.same(errors, [], 'no error lines');
});

// Admission without sockets: every rule a parsed request head must pass, the
// status it is refused with, and the body framing it is admitted with. The
// same statuses are checked end to end by refuse.test.ts and the corpus.
import t from 'tap';
import { FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE } from '../../lib/http/body-framer.ts';
import { newFacts } from '../../lib/http/head-rewrite.ts';
import {
  admitRequest,
  malformedHeadStatus,
  newAdmission,
  refusalCloses,
  requestLineTooLong,
  retryable,
  type RequestHead,
} from '../../lib/proxy/admission.ts';

const limits = { maxUriBytes: 64, maxHeaderCount: 4 };

function head(fields: Partial<RequestHead> = {}): RequestHead {
  return { method: 'GET', url: '/', versionMajor: 1, versionMinor: 1, headers: ['Host', 'x'], ...fields };
}

function admit(h: RequestHead) {
  const f = newFacts();
  const a = admitRequest(h, limits, f, newAdmission());
  return { status: a.status, reason: a.reason, framing: a.framing, contentLength: a.contentLength, facts: f };
}

t.test('refusals, each with its status', async (t) => {
  const cases: Array<[string, Partial<RequestHead>, number]> = [
    ['a URI over max-uri', { url: `/${'u'.repeat(64)}` }, 414],
    ['HTTP/0.9 (a bare "GET /")', { versionMajor: 0, versionMinor: 9 }, 400],
    ['HTTP/2.0', { versionMajor: 2, versionMinor: 0 }, 505],
    ['CONNECT', { method: 'CONNECT', url: 'x:443' }, 405],
    ['more header fields than header-count', { headers: ['Host', 'x', 'A', '1', 'B', '2', 'C', '3', 'D', '4'] }, 431],
    ['two Host fields', { headers: ['Host', 'x', 'host', 'y'] }, 400],
    ['HTTP/1.1 without Host', { headers: [] }, 400],
    ['Content-Length beyond 2^53', { headers: ['Host', 'x', 'Content-Length', '9007199254740993'] }, 400],
    ['Transfer-Encoding in HTTP/1.0', { versionMinor: 0, headers: ['Transfer-Encoding', 'chunked'] }, 400],
    ['chunked not last', { headers: ['Host', 'x', 'Transfer-Encoding', 'chunked, gzip'] }, 400],
    ['chunked twice', { headers: ['Host', 'x', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'] }, 400],
    ['an unknown transfer-coding', { headers: ['Host', 'x', 'Transfer-Encoding', 'foo, chunked'] }, 501],
    ['a malformed Transfer-Encoding', { headers: ['Host', 'x', 'Transfer-Encoding', '"chunked"'] }, 400],
  ];
  for (const [name, fields, status] of cases) {
    const a = admit(head(fields));
    t.equal(a.status, status, `${name}: ${status}`);
    t.not(a.reason, '', `${name}: with a reason`);
  }
  t.equal(admit(head({ versionMajor: 2, versionMinor: 0 })).reason, 'HTTP/2.0 request', 'the version is named');
});

t.test('the first rule broken decides, in the order the session always applied them', async (t) => {
  t.equal(admit(head({ url: `/${'u'.repeat(64)}`, method: 'CONNECT' })).status, 414, 'URI before method');
  t.equal(admit(head({ method: 'CONNECT', versionMajor: 2 })).status, 505, 'version before method');
  t.equal(admit(head({ headers: ['Host', 'x', 'Host', 'y', 'A', '1', 'B', '2', 'C', '3'] })).status, 431, 'count before Host');
});

t.test('admitted: how the body is framed', async (t) => {
  let a = admit(head());
  t.same([a.status, a.framing], [0, FRAME_NONE], 'no body');
  a = admit(head({ headers: ['Host', 'x', 'Content-Length', '0'] }));
  t.same([a.status, a.framing], [0, FRAME_NONE], 'Content-Length: 0 is no body');
  a = admit(head({ method: 'POST', headers: ['Host', 'x', 'Content-Length', '12'] }));
  t.same([a.status, a.framing, a.contentLength], [0, FRAME_LENGTH, 12], 'a length');
  a = admit(head({ method: 'POST', headers: ['Host', 'x', 'Transfer-Encoding', 'GZIP ,chunked'] }));
  t.same([a.status, a.framing], [0, FRAME_CHUNKED], 'chunked');
  t.equal(a.facts.transferEncoding, 'gzip, chunked', 'forwarded in the one form judged');
  t.equal(a.facts.host, 'x', 'the facts are filled');
  a = admit(head({ versionMinor: 0, headers: [] }));
  t.equal(a.status, 0, 'HTTP/1.0 needs no Host');
  a = admit(head({ headers: ['Host', 'x', 'A', '1', 'B', '2', 'C', '3'] }));
  t.equal(a.status, 0, 'exactly header-count fields');
  a = admit(head({ url: `/${'u'.repeat(63)}` }));
  t.equal(a.status, 0, 'a URI of exactly max-uri bytes');
});

t.test('one verdict object, overwritten by each call', async (t) => {
  const out = newAdmission();
  const f = newFacts();
  admitRequest(head({ method: 'CONNECT' }), limits, f, out);
  t.equal(out.status, 405);
  t.equal(admitRequest(head({ method: 'PUT', headers: ['Host', 'x', 'Content-Length', '3'] }), limits, f, out), out, 'the same object');
  t.same([out.status, out.reason, out.framing, out.contentLength], [0, '', FRAME_LENGTH, 3], 'nothing left from the refusal');
});

t.test('heads llhttp refused', async (t) => {
  t.equal(malformedHeadStatus('HPE_HEADER_OVERFLOW', true), 414, 'overflow inside the request line: the URI is too long');
  t.equal(malformedHeadStatus('HPE_HEADER_OVERFLOW', false), 431, 'overflow in the fields: the head is too large');
  for (const code of ['HPE_INVALID_METHOD', 'HPE_INVALID_URL', 'HPE_INVALID_VERSION', 'HPE_INVALID_HEADER_TOKEN', 'HPE_LF_EXPECTED']) {
    t.equal(malformedHeadStatus(code, false), 400, `${code}: 400`);
  }
  t.notOk(requestLineTooLong(64 + 32, limits), 'a request line of max-uri + 32 bytes may still end');
  t.ok(requestLineTooLong(64 + 33, limits), 'one byte more without its end: 414');
});

t.test('which local answers keep the connection', async (t) => {
  t.notOk(refusalCloses(404, false), '404 without a body: open');
  t.notOk(refusalCloses(503, false), '503 without a body: open');
  t.ok(refusalCloses(404, true), '404 with a body pending: closed');
  t.ok(refusalCloses(503, true), '503 with a body pending: closed');
  for (const status of [400, 405, 408, 414, 431, 501, 502, 504, 505]) t.ok(refusalCloses(status, false), `${status}: closed`);
});

t.test('which requests may be sent twice', async (t) => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) t.ok(retryable(method, FRAME_NONE, null), method);
  t.notOk(retryable('POST', FRAME_NONE, null), 'POST');
  t.notOk(retryable('PATCH', FRAME_NONE, null), 'PATCH');
  t.notOk(retryable('PUT', FRAME_LENGTH, null), 'a request with a body');
  t.notOk(retryable('GET', FRAME_NONE, 'websocket'), 'an upgrade');
});

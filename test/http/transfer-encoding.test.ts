// lib/http/transfer-encoding.ts: the reasons each verdict gives, which fault
// wins when a value has several, the transfer-parameter grammar, what is sent
// on, and the reused verdict object. The status table for common values is in
// test/http/head-rewrite.test.ts; whole messages are in test/corpus.
import t from 'tap';
import { judgeResponseTransferEncoding, judgeTransferEncoding } from '../../lib/http/transfer-encoding.ts';

/** A copy of the verdict: the module reuses one object. */
function request(value: string): { status: number; reason: string; normalized: string | null } {
  const v = judgeTransferEncoding(value);
  return { status: v.status, reason: v.reason, normalized: v.normalized };
}

function response(value: string, upstreamMinor = 1, clientMinor = 1) {
  const v = judgeResponseTransferEncoding(value, upstreamMinor, clientMinor);
  return { status: v.status, reason: v.reason, normalized: v.normalized, dechunk: v.dechunk };
}

t.test('requests: the reason for each fault', async (t) => {
  const cases: Array<[string, 400 | 501, string]> = [
    ['', 400, 'empty Transfer-Encoding'],
    [' \t ', 400, 'empty Transfer-Encoding'],
    [', ,\t,', 400, 'empty Transfer-Encoding'],
    ['\xa0chunked', 400, 'invalid character 0xa0 in Transfer-Encoding'],
    ['chunked\xa0', 400, 'invalid character 0xa0 after transfer-coding "chunked"'],
    ['gzip chunked', 400, 'invalid character 0x63 after transfer-coding "gzip"'],
    ['"chunked"', 400, 'invalid character 0x22 in Transfer-Encoding'],
    ['chunked\r', 400, 'invalid character 0x0d after transfer-coding "chunked"'],
    ['\x0bchunked', 400, 'invalid character 0x0b in Transfer-Encoding'],
    ['gzip, @', 400, 'invalid character 0x40 in Transfer-Encoding'],
    ['Chunked;', 400, 'malformed parameter on transfer-coding "chunked"'],
    ['chunked;q=1', 400, 'parameters on chunked, which defines none'],
    ['gzip;level=9, chunked', 400, 'parameters on a transfer-coding that defines none'],
    ['chunked, chunked', 400, 'chunked applied twice'],
    ['chunked, gzip', 400, 'chunked is not the final transfer-coding'],
    ['gzip', 400, 'chunked is not the final transfer-coding'],
    ['Foo, chunked', 501, 'unknown transfer-coding "foo"'],
    ['identity', 501, 'unknown transfer-coding "identity"'],
  ];
  for (const [value, status, reason] of cases) {
    t.same(request(value), { status, reason, normalized: null }, JSON.stringify(value));
  }
});

t.test('requests: which fault is named when there are several', async (t) => {
  // Syntax first: nothing else about a value that does not parse is trusted.
  t.equal(request('foo, chunked\xa0').status, 400, 'a syntax error outranks an unknown coding');
  t.equal(request('chunked, chunked, gzip;').reason, 'malformed parameter on transfer-coding "gzip"');
  // Then the unknown coding (501), before any framing fault.
  t.equal(request('chunked, foo').reason, 'unknown transfer-coding "foo"', 'unknown outranks chunked-not-last');
  t.equal(request('chunked;q=1, foo').reason, 'unknown transfer-coding "foo"', 'unknown outranks parameters on chunked');
  t.equal(request('foo, bar, chunked').reason, 'unknown transfer-coding "foo"', 'the first unknown coding is named');
  t.equal(request('chunked, BAR').reason, 'unknown transfer-coding "bar"', 'lower-cased');
  // Parameters on chunked before those on another coding, and both before the order checks.
  t.equal(request('gzip;a=1, chunked;q=1').reason, 'parameters on chunked, which defines none');
  t.equal(request('chunked;q=1, chunked').reason, 'parameters on chunked, which defines none');
  t.equal(request('gzip;a=1, chunked, chunked').reason, 'parameters on a transfer-coding that defines none');
  // Twice before not-last.
  t.equal(request('chunked, chunked, gzip').reason, 'chunked applied twice');
});

t.test('transfer-parameter grammar: token BWS "=" BWS (token / quoted-string)', async (t) => {
  // An unknown coding with well-formed parameters parses, so the verdict is 501, not 400.
  const wellFormed = [
    'foo;a=b, chunked',
    'foo ; a=b, chunked',
    'foo;\ta = b, chunked',
    'foo;a=b;c=d, chunked',
    'foo;a="", chunked',
    'foo;a="b c, d; e", chunked',
    'foo;a="x\\"y", chunked',
    'foo;a="x\\\\", chunked',
    'foo;a="\xe9", chunked', // obs-text
    'foo;a="\t", chunked',
    "foo;a=!#$%&'*+.^_`|~0, chunked",
  ];
  for (const value of wellFormed) t.equal(request(value).status, 501, `${JSON.stringify(value)} parses`);
  const malformed: Array<[string, string]> = [
    ['foo;, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;=b, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a=, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a=', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a="b, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a="b\\', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a="\x7f", chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a="\x01", chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a="\\\x01", chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a@=b, chunked', 'malformed parameter on transfer-coding "foo"'],
    ['foo;a=b c, chunked', 'invalid character 0x63 after transfer-coding "foo"'],
    ['foo;a=b=c, chunked', 'invalid character 0x3d after transfer-coding "foo"'],
    ['foo;a="b"c, chunked', 'invalid character 0x63 after transfer-coding "foo"'],
  ];
  for (const [value, reason] of malformed) {
    t.same([request(value).status, request(value).reason], [400, reason], JSON.stringify(value));
  }
});

t.test('requests: what is sent on', async (t) => {
  t.same(request('chunked'), { status: 0, reason: '', normalized: 'chunked' }, 'the fast path');
  t.same(request('CHUNKED'), { status: 0, reason: '', normalized: 'chunked' });
  t.equal(
    request('GZip,Deflate ,\tcompress , X-Compress,x-GZIP,chunked').normalized,
    'gzip, deflate, compress, x-compress, x-gzip, chunked',
  );
  t.equal(request(',,gzip,,,chunked,,').normalized, 'gzip, chunked', 'empty elements are dropped');
  const many = `${'gzip, '.repeat(200)}chunked`;
  t.equal(request(many).normalized, many, 'a long list is kept whole');
  t.equal(request('\tchunked\t').normalized, 'chunked', 'HTAB is OWS');
});

t.test('responses: every fault is 502, with its own reason', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty Transfer-Encoding in a response'],
    [',', 'empty Transfer-Encoding in a response'],
    ['chunked\xa0', 'invalid character 0xa0 after transfer-coding "chunked"'],
    ['"chunked"', 'invalid character 0x22 in Transfer-Encoding'],
    ['chunked;', 'malformed parameter on transfer-coding "chunked"'],
    ['chunked;q=1', 'parameters on chunked, which defines none'],
    ['chunked, chunked', 'chunked applied twice in a response'],
    ['chunked, gzip', 'response whose final transfer-coding is not chunked'],
    ['foo', 'response whose final transfer-coding is not chunked'],
  ];
  for (const [value, reason] of cases) {
    t.same(response(value), { status: 502, reason, normalized: null, dechunk: false }, JSON.stringify(value));
  }
});

t.test('responses: codings and parameters tcpvs does not know pass, chunked last', async (t) => {
  t.same(response('Foo, chunked'), { status: 0, reason: '', normalized: 'foo, chunked', dechunk: false }, 'unknown coding, lower-cased');
  t.same(response('gzip;level=9, chunked'), { status: 0, reason: '', normalized: 'gzip;level=9, chunked', dechunk: false });
  t.equal(
    response('X-Custom ; A = "B c" , chunked').normalized,
    'x-custom ; A = "B c", chunked',
    'the name is lower-cased; the parameters go on as written, without the space before the comma',
  );
});

t.test('responses: HTTP/1.0 on either side', async (t) => {
  t.same(
    response('chunked', 0, 1),
    { status: 502, reason: 'Transfer-Encoding in an HTTP/1.0 response', normalized: null, dechunk: false },
    'an HTTP/1.0 response may not carry the field at all',
  );
  t.equal(response('\xa0', 0, 0).reason, 'Transfer-Encoding in an HTTP/1.0 response', 'checked before the value is read');
  t.same(response('chunked', 1, 0), { status: 0, reason: '', normalized: null, dechunk: true }, 'de-chunked for an HTTP/1.0 client');
  t.same(response(', Chunked ,', 1, 0), { status: 0, reason: '', normalized: null, dechunk: true }, 'chunked alone among empty elements');
  t.same(response('gzip, chunked', 1, 0), {
    status: 502,
    reason: 'transfer-codings other than chunked for an HTTP/1.0 client',
    normalized: null,
    dechunk: false,
  });
  t.equal(response('chunked, gzip', 1, 0).reason, 'response whose final transfer-coding is not chunked', 'framing faults come first');
  t.same(response('chunked', 1, 1).dechunk, false, 'HTTP/1.1 client: chunked passes as is');
});

t.test('one verdict object, every field rewritten on each call', async (t) => {
  const first = judgeResponseTransferEncoding('chunked', 1, 0);
  t.equal(first.dechunk, true);
  const second = judgeTransferEncoding('gzip, chunked');
  t.equal(second, first, 'the same object');
  t.same({ ...second }, { status: 0, reason: '', normalized: 'gzip, chunked', dechunk: false }, 'dechunk cleared');
  judgeTransferEncoding('foo, chunked');
  t.same(
    request('chunked, chunked'),
    { status: 400, reason: 'chunked applied twice', normalized: null },
    'unknown from the last call forgotten',
  );
  t.same(request('chunked'), { status: 0, reason: '', normalized: 'chunked' }, 'the count of chunked forgotten');
  judgeTransferEncoding('gzip;a=1, chunked');
  t.same(request('gzip, chunked').status, 0, 'parameters from the last call forgotten');
  judgeTransferEncoding('chunked;q=1');
  t.same(request('gzip, chunked').status, 0, 'parameters on chunked from the last call forgotten');
  judgeTransferEncoding('x;a="');
  t.same(request('deflate, chunked'), { status: 0, reason: '', normalized: 'deflate, chunked' }, 'an error from the last call forgotten');
});

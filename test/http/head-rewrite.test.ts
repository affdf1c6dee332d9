// head-rewrite: header classification, the Transfer-Encoding verdict table,
// and the exact request / response heads sent on.
import t from 'tap';
import {
  buildRequestHead,
  buildResponseHead,
  classify,
  headerValue,
  scanHeaders,
  type RequestFacts,
  type RequestRewrite,
  type ResponseRewrite,
} from '../../lib/http/head-rewrite.ts';
import { judgeResponseTransferEncoding, judgeTransferEncoding } from '../../lib/http/transfer-encoding.ts';

function facts(headers: string[]): RequestFacts {
  const f: RequestFacts = { contentLength: 99, transferEncoding: 'stale', host: 'stale', hostCount: 0, connectionTokens: 'stale' };
  scanHeaders(headers, f);
  return f;
}

t.test('classify: every special name in any case, nothing else', async (t) => {
  const special = [
    'Connection',
    'Keep-Alive',
    'Proxy-Connection',
    'TE',
    'Upgrade',
    'X-Forwarded-For',
    'X-Forwarded-Proto',
    'X-Forwarded-Host',
    'Via',
    'Host',
    'Content-Length',
    'Transfer-Encoding',
  ];
  const classes = new Set<number>();
  for (const name of special) {
    const c = classify(name);
    t.not(c, 0, `${name} is special`);
    t.equal(classify(name.toLowerCase()), c, `${name} lower-case`);
    t.equal(classify(name.toUpperCase()), c, `${name} upper-case`);
    classes.add(c);
  }
  t.equal(classes.size, special.length, 'each special name has its own class');

  // Same lengths as special names, one letter off; and ordinary names.
  const ordinary = [
    'Tx',
    'Vib',
    'Hoxt',
    'Upgradf',
    'Connectiom',
    'Keep-Alivf',
    'Content-Lengtx',
    'X-Forwarded-Fox',
    'Proxy-Connectiox',
    'X-Forwarded-Hosx',
    'X-Forwarded-Protx',
    'Transfer-Encodinx',
    'Content-Type',
    'Cookie',
    'Accept',
    '',
    'Content-Length ',
    'Trailer',
  ];
  for (const name of ordinary) t.equal(classify(name), 0, `${JSON.stringify(name)} is ordinary`);
});

t.test('scanHeaders: framing facts from one pass', async (t) => {
  t.same(
    facts([]),
    { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: null },
    'all reset when absent',
  );
  t.same(
    facts(['HOST', 'a.example', 'content-length', '42', 'Host', 'b.example']),
    { contentLength: 42, transferEncoding: null, host: 'a.example', hostCount: 2, connectionTokens: null },
    'Content-Length as a number; the first Host is kept and both are counted',
  );
  t.same(
    facts(['Transfer-Encoding', 'gzip', 'transfer-encoding', 'chunked']),
    { contentLength: -1, transferEncoding: 'gzip,chunked', host: null, hostCount: 0, connectionTokens: null },
    'Transfer-Encoding lines joined in order',
  );
  t.same(
    facts(['Connection', 'Keep-Alive, X-Secret', 'CONNECTION', 'Upgrade']),
    { contentLength: -1, transferEncoding: null, host: null, hostCount: 0, connectionTokens: 'keep-alive, x-secret,upgrade' },
    'Connection tokens joined and lower-cased',
  );
});

t.test('judgeTransferEncoding: the verdict table', async (t) => {
  const table: Array<[string, 0 | 400 | 501]> = [
    ['chunked', 0],
    ['Chunked', 0],
    ['CHUNKED', 0],
    [' chunked ', 0],
    ['gzip, chunked', 0],
    ['gzip,chunked', 0],
    ['x-gzip, deflate, compress, x-compress, chunked', 0],
    ['gzip, , chunked', 0], // empty list elements are allowed
    ['chunked,', 0],
    [',chunked', 0],
    ['chunked, gzip', 400], // chunked must come last
    ['chunked, chunked', 400],
    ['chunked, gzip, chunked', 400],
    ['gzip', 400], // no chunked at all: length unknowable
    ['deflate', 400],
    ['', 400],
    [',', 400],
    ['foo', 501],
    ['x-custom, chunked', 501],
    ['chunked, foo', 501],
    ['identity', 501],
    ['identity, chunked', 501],
    ['chunkedx', 501],
    ['gzip chunked', 400], // two tokens without a comma: not a list (RFC 9110 §5.6.1)
    // OWS is SP and HTAB only (RFC 9110 §5.6.3); U+00A0 is not whitespace, whatever trim() says
    ['chunked\xa0', 400],
    ['\xa0chunked', 400],
    ['chunked\t', 0],
    ['\tgzip\t,\tchunked', 0],
    // chunked defines no parameters (RFC 9112 §7.1), nor do gzip, deflate, compress
    ['chunked;q=1', 400],
    ['chunked ; q=1', 400],
    ['gzip;level=9, chunked', 400],
    ['chunked;', 400], // and a lone ";" is no parameter at all
    ['chunked;q', 400],
    ['chunked;q=', 400],
    ['chunked;q="1', 400],
    ['"chunked"', 400],
    ['chunked\x80', 400],
    ['chunked, chunked;q=1', 400],
    ['foo;a=b, chunked', 501], // syntactically fine, unknown coding
    ['foo;a=b c, chunked', 400],
  ];
  for (const [value, status] of table) {
    const verdict = judgeTransferEncoding(value);
    t.equal(verdict.status, status, `${JSON.stringify(value)} → ${status}`);
    if (status === 0) t.equal(verdict.reason, '', 'no reason when sound');
    else t.ok(verdict.reason.length > 0, 'a reason for the log');
  }
  const normalized: Array<[string, string]> = [
    ['chunked', 'chunked'],
    ['Chunked', 'chunked'],
    [' CHUNKED\t', 'chunked'],
    ['chunked,', 'chunked'],
    [', ,chunked', 'chunked'],
    ['GZip ,\tchunked', 'gzip, chunked'],
    ['x-gzip, deflate,compress, x-compress, chunked', 'x-gzip, deflate, compress, x-compress, chunked'],
  ];
  for (const [value, out] of normalized) {
    t.equal(judgeTransferEncoding(value).normalized, out, `${JSON.stringify(value)} goes on as ${JSON.stringify(out)}`);
  }
  t.equal(judgeTransferEncoding('chunked;q=1').normalized, null, 'nothing to forward when refused');
  t.match(judgeTransferEncoding('x-custom, chunked').reason, /x-custom/, 'the unknown coding is named');
});

t.test('judgeResponseTransferEncoding: the verdict table', async (t) => {
  // [value, upstream minor, client minor, status, normalized, dechunk]
  const table: Array<[string, number, number, 0 | 502, string | null, boolean]> = [
    ['chunked', 1, 1, 0, 'chunked', false],
    ['Chunked ', 1, 1, 0, 'chunked', false],
    ['gzip, chunked', 1, 1, 0, 'gzip, chunked', false],
    ['x-custom;a="b c", chunked', 1, 1, 0, 'x-custom;a="b c", chunked', false], // a server may use codings tcpvs does not know
    ['chunked', 1, 0, 0, null, true], // HTTP/1.0 client: de-chunked, no Transfer-Encoding (RFC 9112 §6.1)
    ['gzip, chunked', 1, 0, 502, null, false], // an HTTP/1.0 client cannot take gzip as a transfer-coding
    ['chunked', 0, 1, 502, null, false], // HTTP/1.0 response with Transfer-Encoding: faulty framing (RFC 9112 §6.1)
    ['chunked\xa0', 1, 1, 502, null, false],
    ['chunked;q=1', 1, 1, 502, null, false],
    ['chunked, chunked', 1, 1, 502, null, false],
    ['chunked, gzip', 1, 1, 502, null, false],
    ['gzip', 1, 1, 502, null, false],
    ['', 1, 1, 502, null, false],
  ];
  for (const [value, upstream, client, status, normalized, dechunk] of table) {
    const v = judgeResponseTransferEncoding(value, upstream, client);
    const what = `${JSON.stringify(value)} (HTTP/1.${upstream} server, HTTP/1.${client} client)`;
    t.equal(v.status, status, `${what} → ${status}`);
    t.equal(v.normalized, normalized, `${what}: sent on as ${JSON.stringify(normalized)}`);
    t.equal(v.dechunk, dechunk, `${what}: dechunk ${dechunk}`);
  }
});

t.test('the heads carry the judged Transfer-Encoding, once', async (t) => {
  const f = facts(['Host', 'x', 'Transfer-Encoding', 'gzip', 'X-A', '1', 'transfer-encoding', ' Chunked']);
  f.transferEncoding = judgeTransferEncoding(f.transferEncoding!).normalized;
  const head = request({
    method: 'POST',
    headers: ['Host', 'x', 'Transfer-Encoding', 'gzip', 'X-A', '1', 'transfer-encoding', ' Chunked'],
    facts: f,
  });
  t.match(
    head,
    /^POST \/path\?q=1 HTTP\/1\.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nX-A: 1\r\nX-Forwarded-For/,
    'one field, where the first was',
  );
  const rf = facts(['Transfer-Encoding', 'chunked', 'X-B', '2']);
  rf.transferEncoding = null;
  t.notMatch(
    buildResponseHead(
      {
        statusCode: 200,
        statusMessage: 'OK',
        versionMinor: 1,
        headers: ['Transfer-Encoding', 'chunked', 'X-B', '2'],
        connection: 'close',
        upgrade: null,
      },
      rf,
    ),
    /Transfer-Encoding/i,
    'none when the verdict says none',
  );
  for (const statusCode of [100, 103, 204]) {
    t.notMatch(response({ statusCode, headers: ['Transfer-Encoding', 'chunked'] }), /Transfer-Encoding/i, `none on a ${statusCode}`);
  }
  t.match(response({ statusCode: 304, headers: ['Transfer-Encoding', 'chunked'] }), /\r\nTransfer-Encoding: chunked\r\n/, 'kept on a 304');
});

function request(overrides: Partial<RequestRewrite> & { headers: string[] }): string {
  return buildRequestHead({
    method: 'GET',
    url: '/path?q=1',
    versionMinor: 1,
    facts: facts(overrides.headers),
    clientAddress: '192.0.2.7',
    proto: 'http',
    upgrade: null,
    ...overrides,
  });
}

t.test('buildRequestHead: a plain request', async (t) => {
  t.equal(
    request({ headers: ['Host', 'www.example', 'Accept', '*/*', 'X-Custom', 'Mixed Case Value'] }),
    'GET /path?q=1 HTTP/1.1\r\n' +
      'Host: www.example\r\n' +
      'Accept: */*\r\n' +
      'X-Custom: Mixed Case Value\r\n' +
      'X-Forwarded-For: 192.0.2.7\r\n' +
      'X-Forwarded-Proto: http\r\n' +
      'X-Forwarded-Host: www.example\r\n' +
      'Via: 1.1 tcpvs\r\n' +
      '\r\n',
  );
});

t.test('buildRequestHead: hop-by-hop fields dropped, framing kept, forwarding fields replaced', async (t) => {
  const head = request({
    method: 'POST',
    url: '/upload',
    headers: [
      'host',
      'h.example',
      'Connection',
      'keep-alive, X-Secret, Content-Length, Host',
      'Keep-Alive',
      'timeout=5',
      'Proxy-Connection',
      'keep-alive',
      'TE',
      'trailers',
      'Upgrade',
      'h2c',
      'x-secret',
      'dropped because Connection names it',
      'X-Forwarded-For',
      '203.0.113.1',
      'x-forwarded-for',
      '203.0.113.2',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'spoofed.example',
      'Via',
      '1.0 first',
      'Content-Length',
      '5',
      'X-Kept',
      'yes',
    ],
  });
  t.equal(
    head,
    'POST /upload HTTP/1.1\r\n' +
      'host: h.example\r\n' +
      'Content-Length: 5\r\n' +
      'X-Kept: yes\r\n' +
      'X-Forwarded-For: 203.0.113.1, 203.0.113.2, 192.0.2.7\r\n' +
      'X-Forwarded-Proto: http\r\n' +
      'X-Forwarded-Host: h.example\r\n' +
      'Via: 1.0 first, 1.1 tcpvs\r\n' +
      '\r\n',
  );
});

t.test('buildRequestHead: Transfer-Encoding passes through', async (t) => {
  const head = request({ method: 'POST', headers: ['Host', 'x', 'Transfer-Encoding', 'gzip, chunked', 'Connection', 'transfer-encoding'] });
  t.match(head, /\r\nTransfer-Encoding: gzip, chunked\r\n/, 'even when Connection names it');
  t.notMatch(head, /\r\nConnection:/i, 'Connection itself is dropped');
});

t.test('buildRequestHead: HTTP/1.0, no Host, upgrade', async (t) => {
  const old = request({ versionMinor: 0, headers: ['Accept', '*/*'] });
  t.equal(
    old,
    'GET /path?q=1 HTTP/1.0\r\n' +
      'Accept: */*\r\n' +
      'X-Forwarded-For: 192.0.2.7\r\n' +
      'X-Forwarded-Proto: http\r\n' +
      'Via: 1.0 tcpvs\r\n' +
      'Connection: keep-alive\r\n' +
      '\r\n',
    'HTTP/1.0 kept, no X-Forwarded-Host without Host, keep-alive asked for the pool',
  );

  const ws = request({
    url: '/chat',
    headers: ['Host', 'x', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'abc=='],
    upgrade: 'websocket',
  });
  t.equal(
    ws,
    'GET /chat HTTP/1.1\r\n' +
      'Host: x\r\n' +
      'Sec-WebSocket-Key: abc==\r\n' +
      'X-Forwarded-For: 192.0.2.7\r\n' +
      'X-Forwarded-Proto: http\r\n' +
      'X-Forwarded-Host: x\r\n' +
      'Via: 1.1 tcpvs\r\n' +
      'Connection: upgrade\r\n' +
      'Upgrade: websocket\r\n' +
      '\r\n',
    'an upgrade is re-requested explicitly',
  );
});

function response(r: Partial<ResponseRewrite> & { headers: string[] }): string {
  const rewrite: ResponseRewrite = {
    statusCode: 200,
    statusMessage: 'OK',
    versionMinor: 1,
    connection: null,
    upgrade: null,
    ...r,
  };
  return buildResponseHead(rewrite, facts(r.headers));
}

t.test('buildResponseHead: outputs', async (t) => {
  t.equal(
    response({ headers: ['Content-Type', 'text/plain', 'Content-Length', '2'] }),
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nVia: 1.1 tcpvs\r\n\r\n',
    'plain: Via added, no Connection when the HTTP/1.1 default applies',
  );
  t.equal(
    response({
      statusCode: 404,
      statusMessage: 'Not Found',
      versionMinor: 0,
      connection: 'close',
      headers: [
        'Connection',
        'keep-alive, X-Internal',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'TE',
        'trailers',
        'Upgrade',
        'h2c',
        'X-Internal',
        'dropped',
        'Via',
        '1.1 origin',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ],
    }),
    'HTTP/1.1 404 Not Found\r\n' +
      'Transfer-Encoding: chunked\r\n' +
      'Set-Cookie: a=1\r\n' +
      'Set-Cookie: b=2\r\n' +
      'Via: 1.1 origin, 1.0 tcpvs\r\n' +
      'Connection: close\r\n' +
      '\r\n',
    'hop-by-hop and nominated fields dropped, repeated fields kept, Via names the upstream version',
  );
  t.equal(
    response({ headers: ['Content-Length', '0'], connection: 'keep-alive' }),
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 tcpvs\r\nConnection: keep-alive\r\n\r\n',
    'keep-alive for an HTTP/1.0 client',
  );
  t.equal(
    response({
      statusCode: 101,
      statusMessage: 'Switching Protocols',
      headers: ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'xyz='],
      connection: 'upgrade',
      upgrade: 'websocket',
    }),
    'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: xyz=\r\nVia: 1.1 tcpvs\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    'upgrade',
  );
  t.match(
    response({ headers: ['Connection', 'content-length', 'Content-Length', '7'] }),
    /\r\nContent-Length: 7\r\n/,
    'Connection cannot remove the framing field',
  );
});

t.test('headerValue: first match, case-insensitive', async (t) => {
  const h = ['Upgrade', 'websocket', 'UPGRADE', 'second', 'X', ''];
  t.equal(headerValue(h, 'upgrade'), 'websocket');
  t.equal(headerValue(h, 'x'), '', 'an empty value is a value');
  t.equal(headerValue(h, 'missing'), undefined);
  t.equal(headerValue(h, 'upgradex'), undefined, 'length matters');
});

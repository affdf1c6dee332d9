// The request corpus (issue 11): raw request bytes, the status tcpvs must
// answer, what the server behind it must receive (nothing, or exactly the
// normalised bytes), and for each what RFC 9112 / 9110 (or 3986) says.
// Data only: the tests that send these are test/http/framing-vectors.test.ts,
// test/proxy/host-path.test.ts and test/proxy/refuse.test.ts; the comparison
// with nginx and HAProxy is bench/compare-proxies.ts (docs/http-strictness.md).
// Every string is a byte string: one char per byte (latin1).

// ---- framing: Transfer-Encoding, chunk extensions, trailers -----------------
// tcpvs: one service, one backend that answers Content-Length and chunked bodies.

const post = (fields: string[], body: string, version = '1.1') =>
  [`POST /v HTTP/${version}`, 'Host: x', ...fields, 'Connection: close'].join('\r\n') + '\r\n\r\n' + body;
const te = (value: string, body: string) => post([`Transfer-Encoding: ${value}`], body);
const chunked = (body: string) => te('chunked', body);

export interface FramingVector {
  name: string;
  /** What the RFCs say, with the section. */
  rule: string;
  request: string;
  status: number;
  /** The one Transfer-Encoding line the backend must see and the body bytes exactly; null: the backend receives nothing. */
  forwarded: { te: string; body: string } | null;
}

const fv = (name: string, rule: string, request: string, status: number, forwarded: FramingVector['forwarded']): FramingVector => ({
  name,
  rule,
  request,
  status,
  forwarded,
});

export const framingVectors: FramingVector[] = [
  // -- Transfer-Encoding: a list of tokens, OWS = SP / HTAB, no parameters on chunked
  fv(
    'TE chunked + U+00A0',
    'RFC 9110 §5.6.3: OWS is SP / HTAB; 0xA0 is not whitespace, nor a tchar (§5.6.2)',
    te('chunked\xa0', '0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'TE U+00A0 + chunked',
    'RFC 9110 §5.6.2: a transfer-coding name is a token; 0xA0 is not a tchar',
    te('\xa0chunked', '0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'TE chunked;q=1',
    'RFC 9112 §7: parameters only where the coding defines them; chunked defines none',
    te('chunked;q=1', '0\r\n\r\n'),
    400,
    null,
  ),
  fv('TE chunked ; q=1', 'RFC 9112 §7: same, with OWS around ";"', te('chunked ; q=1', '0\r\n\r\n'), 400, null),
  fv(
    'TE chunked; (lone semicolon)',
    'RFC 9110 §5.6.6: a parameter is token "=" value; a lone ";" is none',
    te('chunked;', '0\r\n\r\n'),
    400,
    null,
  ),
  fv('TE gzip;level=9, chunked', 'RFC 9112 §7.2: gzip defines no parameters either', te('gzip;level=9, chunked', '0\r\n\r\n'), 400, null),
  fv('TE "chunked" (quoted)', 'RFC 9110 §5.6.2: a coding is a token, not a quoted-string', te('"chunked"', '0\r\n\r\n'), 400, null),
  fv('TE gzip chunked (no comma)', 'RFC 9110 §5.6.1: list elements are separated by ","', te('gzip chunked', '0\r\n\r\n'), 400, null),
  fv('TE chunked + obs-text', 'RFC 9110 §5.6.2: 0x80 is not a tchar', te('chunked\x80', '0\r\n\r\n'), 400, null),
  fv(
    'TE chunked, chunked',
    'RFC 9112 §6.1: a sender MUST NOT apply chunked more than once',
    te('chunked, chunked', '0\r\n\r\n'),
    400,
    null,
  ),
  fv('TE chunked, gzip', 'RFC 9112 §6.3: chunked not final in a request: 400, then close', te('chunked, gzip', '0\r\n\r\n'), 400, null),
  fv('TE gzip alone', 'RFC 9112 §6.3: a request whose final coding is not chunked: 400', te('gzip', '0\r\n\r\n'), 400, null),
  fv('TE empty', 'RFC 9112 §6.1: Transfer-Encoding lists at least one coding (1#transfer-coding)', te('', '0\r\n\r\n'), 400, null),
  fv(
    'TE chunked + TE chunked;q=1 (two lines)',
    'RFC 9110 §5.3: field lines combine into one list, judged as one',
    post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked;q=1'], '0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'TE x-custom, chunked',
    'RFC 9112 §6.1: a server that does not understand a coding SHOULD answer 501',
    te('x-custom, chunked', '0\r\n\r\n'),
    501,
    null,
  ),
  fv(
    'TE in HTTP/1.0',
    'RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing',
    post(['Transfer-Encoding: chunked'], '0\r\n\r\n', '1.0'),
    400,
    null,
  ),
  fv(
    'TE Chunked (case)',
    'RFC 9112 §7: coding names are case-insensitive; forwarded lower-case',
    te('Chunked', '3\r\nabc\r\n0\r\n\r\n'),
    200,
    {
      te: 'chunked',
      body: '3\r\nabc\r\n0\r\n\r\n',
    },
  ),
  fv(
    'TE , chunked (empty element)',
    'RFC 9110 §5.6.1: a recipient MUST accept empty list elements; forwarded without',
    te(', chunked', '0\r\n\r\n'),
    200,
    {
      te: 'chunked',
      body: '0\r\n\r\n',
    },
  ),
  fv(
    'TE chunked, (trailing comma)',
    'RFC 9110 §5.6.1 allows it, llhttp (the head parser) does not: the strict reading wins, nothing forwarded',
    te('chunked,', '0\r\n\r\n'),
    400,
    null,
  ),
  fv('TE HTAB chunked HTAB', 'RFC 9110 §5.6.3: HTAB is OWS', te('\tchunked\t', '0\r\n\r\n'), 200, { te: 'chunked', body: '0\r\n\r\n' }),
  fv(
    'TE gzip + TE chunked (two lines)',
    'RFC 9110 §5.3: combined in order, forwarded as one field',
    post(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    200,
    { te: 'gzip, chunked', body: '0\r\n\r\n' },
  ),
  // -- chunk extensions: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  fv('ext token value', 'RFC 9112 §7.1.1: chunk-ext-val = token / quoted-string', chunked('3;a=b\r\nabc\r\n0\r\n\r\n'), 200, {
    te: 'chunked',
    body: '3;a=b\r\nabc\r\n0\r\n\r\n',
  }),
  fv('ext BWS around ";" and "="', 'RFC 9112 §7.1.1: BWS is allowed around ";" and "="', chunked('3 ; a = b\r\nabc\r\n0\r\n\r\n'), 200, {
    te: 'chunked',
    body: '3 ; a = b\r\nabc\r\n0\r\n\r\n',
  }),
  fv(
    'ext quoted-string with quoted-pair',
    'RFC 9110 §5.6.4: quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text )',
    chunked('3;a="x\\"y;z"\r\nabc\r\n0\r\n\r\n'),
    200,
    { te: 'chunked', body: '3;a="x\\"y;z"\r\nabc\r\n0\r\n\r\n' },
  ),
  fv('ext empty', 'RFC 9112 §7.1.1: ";" must be followed by a chunk-ext-name', chunked('3;\r\nabc\r\n0\r\n\r\n'), 400, null),
  fv('ext no name', 'RFC 9112 §7.1.1: chunk-ext-name = token, not empty', chunked('3;=b\r\nabc\r\n0\r\n\r\n'), 400, null),
  fv('ext space inside a value', 'RFC 9112 §7.1.1: an unquoted value is one token', chunked('3;a=b c\r\nabc\r\n0\r\n\r\n'), 400, null),
  fv(
    'ext whitespace before CRLF',
    'RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF; BWS only before ";" or "="',
    chunked('3;a=b \r\nabc\r\n0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'ext obs-text token value',
    'RFC 9110 §5.6.2: 0xE9 is not a tchar (it may only be quoted)',
    chunked('3;a=\xe9\r\nabc\r\n0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'ext unterminated quoted-string',
    'RFC 9110 §5.6.4: CR is not qdtext; the quote never closes',
    chunked('3;a="b\r\nabc\r\n0\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'ext U+00A0 after the size',
    'RFC 9112 §7.1: chunk-size is 1*HEXDIG; 0xA0 is neither BWS nor ";"',
    chunked('3\xa0\r\nabc\r\n0\r\n\r\n'),
    400,
    null,
  ),
  fv('ext "@" in a name', 'RFC 9110 §5.6.2: "@" is a delimiter, not a tchar', chunked('3;a@b\r\nabc\r\n0\r\n\r\n'), 400, null),
  // -- trailers: header fields (RFC 9112 §7.1.2), never the ones a recipient needs first (RFC 9110 §6.5.1)
  fv(
    'trailer valid',
    'RFC 9112 §7.1.2: trailer-section = *( field-line CRLF )',
    chunked('3\r\nabc\r\n0\r\nX-Checksum: 900150983cd2\r\n\r\n'),
    200,
    {
      te: 'chunked',
      body: '3\r\nabc\r\n0\r\nX-Checksum: 900150983cd2\r\n\r\n',
    },
  ),
  fv(
    'trailer is a request line',
    'RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; "GET /x HTTP/1.1" is none',
    chunked('0\r\nGET /admin HTTP/1.1\r\n\r\n'),
    400,
    null,
  ),
  fv('trailer Content-Length', 'RFC 9110 §6.5.1: framing fields cannot be trailers', chunked('0\r\nContent-Length: 5\r\n\r\n'), 400, null),
  fv(
    'trailer Transfer-Encoding',
    'RFC 9110 §6.5.1: framing fields cannot be trailers',
    chunked('0\r\nTransfer-Encoding: chunked\r\n\r\n'),
    400,
    null,
  ),
  fv('trailer Host', 'RFC 9110 §6.5.1: routing fields cannot be trailers', chunked('0\r\nHost: admin.internal\r\n\r\n'), 400, null),
  fv(
    'trailer Authorization',
    'RFC 9110 §6.5.1: authentication fields cannot be trailers',
    chunked('0\r\nAuthorization: Basic YTpi\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'trailer Content-Type',
    'RFC 9110 §6.5.1: content format fields cannot be trailers',
    chunked('0\r\nContent-Type: text/html\r\n\r\n'),
    400,
    null,
  ),
  fv(
    'trailer X-Forwarded-For',
    'RFC 9110 §6.5.1 and §7.6.3: what the proxy sets in the head is not for a trailer to spoof',
    chunked('0\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n'),
    400,
    null,
  ),
  fv('trailer non-token name', 'RFC 9110 §5.1: field-name = token; "(" is a delimiter', chunked('0\r\nX(y): 1\r\n\r\n'), 400, null),
  fv(
    'trailer space before the colon',
    'RFC 9112 §5.1: whitespace between name and colon MUST be rejected with 400',
    chunked('0\r\nX-A : 1\r\n\r\n'),
    400,
    null,
  ),
  fv('trailer obs-fold', 'RFC 9112 §5.2: obs-fold outside message/http is rejected', chunked('0\r\nX-A: 1\r\n 2\r\n\r\n'), 400, null),
  fv(
    'trailer control byte in a value',
    'RFC 9110 §5.5: field-value = *field-content; 0x01 is not field-vchar',
    chunked('0\r\nX-A: 1\x012\r\n\r\n'),
    400,
    null,
  ),
  fv('trailer line without a colon', 'RFC 9112 §5: a field line has a ":"', chunked('0\r\nX-A\r\n\r\n'), 400, null),
];

// ---- host and path ----------------------------------------------------------
// tcpvs: host admin.internal and prefix /admin/ go to `admin`, prefix
// /static/ to `static`, path /secret to `admin`, everything else to `web`;
// `forward` vectors go through a service with `normalize-path forward`.

export type HostPathBackend = 'web' | 'static' | 'admin';

export const HOST_PATH_ROUTES = [
  'admin-host host admin.internal to admin',
  'admin-path prefix /admin/ to admin',
  'static prefix /static/ to static',
  'secret path /secret to admin',
];

/** The head a backend receives for a request line and Host (tcpvs adds the forwarding fields). */
export function upstreamHead(line: string, host: string | null, minor: 0 | 1 = 1): string {
  return (
    `${line} HTTP/1.${minor}\r\n` +
    (host === null ? '' : `Host: ${host}\r\n`) +
    'X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n' +
    (host === null ? '' : `X-Forwarded-Host: ${host}\r\n`) +
    `Via: 1.${minor} tcpvs\r\n` +
    (minor === 0 ? 'Connection: keep-alive\r\n' : '') +
    '\r\n'
  );
}

/** A request head: the request line, then each field line. */
export const requestText = (line: string, ...fields: string[]): string => `${line}\r\n` + fields.map((f) => f + '\r\n').join('') + '\r\n';

export interface HostPathVector {
  name: string;
  rule: string;
  send: string;
  status: number;
  to?: HostPathBackend; // the backend that must get it (2xx)
  bytes?: string; // exactly what that backend must receive
  forward?: boolean; // through the service with `normalize-path forward`
}

function reached(name: string, rule: string, send: string, to: HostPathBackend, bytes: string, forward = false): HostPathVector {
  return { name, rule, send, status: 200, to, bytes, forward };
}
function refused(name: string, rule: string, send: string, status = 400): HostPathVector {
  return { name, rule, send, status };
}

const request = requestText;
const upstream = upstreamHead;

export const hostPathVectors: HostPathVector[] = [
  // ---- absolute-form targets ----
  reached(
    'absolute-form host wins over Host',
    "RFC 9112 §3.2.2: the target's authority replaces Host; routed and forwarded (origin-form) by it",
    request('GET http://admin.internal/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /x', 'admin.internal'),
  ),
  reached(
    'absolute-form path meets prefix /static/',
    'RFC 9112 §3.2.2: the absolute-form path is what path rules see',
    request('GET http://test/static/x HTTP/1.1', 'Host: test'),
    'static',
    upstream('GET /static/x', 'test'),
  ),
  reached(
    'absolute-form, upper case, port, query',
    'RFC 3986 §3.1, §3.2.2: scheme and host are case-insensitive; the authority goes up as sent, port and all',
    request('GET HTTP://Admin.Internal:8080/y?q=1 HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /y?q=1', 'Admin.Internal:8080'),
  ),
  reached(
    'absolute-form with an empty path',
    'RFC 9112 §3.2.1: an empty path goes up as "/"',
    request('GET http://test HTTP/1.1', 'Host: test'),
    'web',
    upstream('GET /', 'test'),
  ),
  reached(
    'absolute-form with an empty path and a query',
    'RFC 9112 §3.2.1: "/" and then the query',
    request('GET http://test?a=b HTTP/1.1', 'Host: test'),
    'web',
    upstream('GET /?a=b', 'test'),
  ),
  reached(
    'OPTIONS absolute-form becomes "*"',
    'RFC 9112 §3.2.4: OPTIONS on an empty path goes to the origin as "*"',
    request('OPTIONS http://test HTTP/1.1', 'Host: test'),
    'web',
    upstream('OPTIONS *', 'test'),
  ),
  reached(
    'https absolute-form',
    'RFC 9110 §4.2.2: https URIs have the same authority semantics',
    request('GET https://admin.internal/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /x', 'admin.internal'),
  ),
  reached(
    'absolute-form with dot-segments',
    'RFC 9112 §3.2.2 with RFC 3986 §5.2.4: routed on the normalised path, forwarded as the client wrote it',
    request('GET http://test/static/../admin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /static/../admin/x', 'test'),
  ),
  reached(
    'HTTP/1.0 absolute-form without Host',
    'RFC 9112 §3.2.2, §9.3 (1.0): HTTP/1.0 without Host takes its host from the target',
    request('GET http://admin.internal/x HTTP/1.0'),
    'admin',
    upstream('GET /x', 'admin.internal', 0),
  ),
  reached(
    'OPTIONS *',
    'RFC 9112 §3.2.4: asterisk-form keeps its meaning and goes up unchanged',
    request('OPTIONS * HTTP/1.1', 'Host: test'),
    'web',
    upstream('OPTIONS *', 'test'),
  ),
  refused('GET *', 'RFC 9112 §3.2.4: asterisk-form is for OPTIONS only', request('GET * HTTP/1.1', 'Host: test')),
  refused(
    'ftp absolute-form',
    'RFC 9112 §3.2.2 / RFC 9110 §4.2: tcpvs knows only the http and https authorities',
    request('GET ftp://test/x HTTP/1.1', 'Host: test'),
  ),
  refused(
    'userinfo in the target',
    'RFC 9110 §4.2.4: userinfo in an http(s) URI is an error',
    request('GET http://test@admin.internal/x HTTP/1.1', 'Host: test'),
  ),
  refused('empty authority', 'RFC 9110 §4.2.1: an http URI with an empty host is invalid', request('GET http:///x HTTP/1.1', 'Host: test')),
  refused(
    'CONNECT authority-form',
    'RFC 9110 §9.3.6: CONNECT (authority-form) stays refused: tcpvs is no forward proxy',
    request('CONNECT admin.internal:443 HTTP/1.1', 'Host: admin.internal:443'),
    405,
  ),

  // ---- Host ----
  refused(
    'Host with userinfo',
    'RFC 9112 §3.2 / RFC 9110 §7.2 / RFC 3986 §3.2.2: userinfo is no part of Host',
    request('GET /x HTTP/1.1', 'Host: test@admin.internal'),
  ),
  refused(
    'Host with a port and userinfo',
    'RFC 9112 §3.2: userinfo behind a port is as invalid',
    request('GET /x HTTP/1.1', 'Host: admin.internal:80@test'),
  ),
  refused('Host as a list', 'RFC 9110 §7.2: Host is a single value, not a list', request('GET /x HTTP/1.1', 'Host: test, admin.internal')),
  refused(
    'two Host fields',
    'RFC 9112 §3.2: a server MUST respond 400 to a request with more than one Host field line',
    request('GET /x HTTP/1.1', 'Host: test', 'Host: admin.internal'),
  ),
  refused(
    'HTTP/1.1 without Host',
    'RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host',
    request('GET /x HTTP/1.1'),
  ),
  refused(
    'Host port out of range',
    'RFC 3986 §3.2.3 / RFC 6335: ports stop at 65535',
    request('GET /x HTTP/1.1', 'Host: admin.internal:65536'),
  ),
  refused(
    'Host with an empty label',
    'RFC 3986 §3.2.2: a reg-name has no empty label',
    request('GET /x HTTP/1.1', 'Host: admin..internal'),
  ),
  reached(
    'Host with a trailing dot',
    'RFC 3986 §3.2.2 (DNS root): one trailing dot is the same host; Host goes up as sent',
    request('GET /x HTTP/1.1', 'Host: admin.internal.'),
    'admin',
    upstream('GET /x', 'admin.internal.'),
  ),
  reached(
    'Host in mixed case',
    'RFC 3986 §3.2.2: host names are case-insensitive',
    request('GET /x HTTP/1.1', 'Host: ADMIN.Internal'),
    'admin',
    upstream('GET /x', 'ADMIN.Internal'),
  ),
  reached(
    'Host with a port',
    'RFC 9110 §7.2: the port is not part of the host matched',
    request('GET /x HTTP/1.1', 'Host: admin.internal:8080'),
    'admin',
    upstream('GET /x', 'admin.internal:8080'),
  ),
  reached(
    'IPv6 literal Host',
    'RFC 3986 §3.2.2: an IP-literal Host',
    request('GET /x HTTP/1.1', 'Host: [::1]:8080'),
    'web',
    upstream('GET /x', '[::1]:8080'),
  ),

  // ---- paths ----
  reached(
    'dot-dot out of /static/',
    'RFC 3986 §5.2.4: "/static/../admin/x" is /admin/x; the line goes up as sent',
    request('GET /static/../admin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /static/../admin/x', 'test'),
  ),
  reached(
    'encoded dot-dot out of /static/',
    'RFC 3986 §6.2.2.2: %2e%2e is ".."',
    request('GET /static/%2e%2e/admin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /static/%2e%2e/admin/x', 'test'),
  ),
  reached(
    'encoded unreserved letter',
    'RFC 3986 §2.3, §6.2.2.2: %61 is "a"',
    request('GET /%61dmin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /%61dmin/x', 'test'),
  ),
  reached(
    'double slash',
    'RFC 3986 §3.3 (empty segments), merged as nginx does: //admin/x is /admin/x',
    request('GET //admin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET //admin/x', 'test'),
  ),
  reached(
    'dot segment inside /static/',
    'RFC 3986 §5.2.4: "." segments go',
    request('GET /static/./x HTTP/1.1', 'Host: test'),
    'static',
    upstream('GET /static/./x', 'test'),
  ),
  reached(
    'encoded slash is no separator',
    'RFC 3986 §2.2: %2F is data, not a separator: no /admin/ prefix',
    request('GET /admin%2Fx HTTP/1.1', 'Host: test'),
    'web',
    upstream('GET /admin%2Fx', 'test'),
  ),
  reached(
    'dot-dot in the query',
    'RFC 3986 §3.4: the query is neither normalised nor part of the path',
    request('GET /static/x?/../admin/ HTTP/1.1', 'Host: test'),
    'static',
    upstream('GET /static/x?/../admin/', 'test'),
  ),
  refused(
    'fragment after the path',
    'RFC 9112 §3.2: a request-target carries no fragment',
    request('GET /secret#x HTTP/1.1', 'Host: test'),
  ),
  refused('fragment after the query', 'RFC 9112 §3.2: nor after the query', request('GET /admin/x?y#z HTTP/1.1', 'Host: test')),
  refused('dot-dot above the root', 'RFC 3986 §5.2.4: above the root is refused, not clamped', request('GET /../x HTTP/1.1', 'Host: test')),
  refused(
    'encoded dot-dot above the root',
    'RFC 3986 §5.2.4 after §6.2.2.2: encoded, still above the root',
    request('GET /static/%2e%2e/%2e%2e/x HTTP/1.1', 'Host: test'),
  ),
  refused('invalid percent-encoding %zz', 'RFC 3986 §2.1: "%" takes two hex digits', request('GET /static/%zz HTTP/1.1', 'Host: test')),
  refused('truncated percent-encoding %4', 'RFC 3986 §2.1: one digit is not enough', request('GET /static/%4 HTTP/1.1', 'Host: test')),
  refused(
    'backslash in the path',
    'RFC 3986 §3.3: "\\" is not a path character (and a separator to some servers)',
    request('GET /static/..\\admin/x HTTP/1.1', 'Host: test'),
  ),

  // ---- normalize-path forward ----
  reached(
    'forward: dot-dot',
    'RFC 3986 §6.2.2: the normalised path goes up',
    request('GET /static/../admin/x HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /admin/x', 'test'),
    true,
  ),
  reached(
    'forward: encodings, query untouched',
    'RFC 3986 §6.2.2.2 for the path, §3.4 for the query, which is left alone',
    request('GET /%61dmin/%7eu%2f?q=%61/../ HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /admin/~u%2F?q=%61/../', 'test'),
    true,
  ),
  reached(
    'forward: absolute-form',
    'RFC 9112 §3.2.2 with RFC 3986 §6.2.2',
    request('GET http://admin.internal//x/./y HTTP/1.1', 'Host: test'),
    'admin',
    upstream('GET /x/y', 'admin.internal'),
    true,
  ),
];

// ---- refused: smuggling and malformed requests ------------------------------
// tcpvs: `limit uri 1k` and `limit headers 4k`. Each is answered with the
// status and Connection: close, and the backend sees no connection at all.

const head = (lines: string[]) => lines.join('\r\n') + '\r\n\r\n';

export interface RefuseVector {
  name: string;
  rule: string;
  request: string;
  status: number;
  /** Needs the service's `limit uri 1k` / `limit headers 4k` (the other vectors do not depend on them). */
  limits?: boolean;
}

const rv = (name: string, request: string, status: number, rule: string, limits = false): RefuseVector =>
  limits ? { name, rule, request, status, limits } : { name, rule, request, status };

export const refuseVectors: RefuseVector[] = [
  rv(
    'Content-Length + Transfer-Encoding',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked']) + '0\r\n\r\n',
    400,
    'RFC 9112 §6.1: a server MAY reject a request with both (or drop Content-Length) and MUST close after it; §6.3: an intermediary forwarding both invites smuggling',
  ),
  rv(
    'Transfer-Encoding + Content-Length',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Content-Length: 5']) + '0\r\n\r\n',
    400,
    'RFC 9112 §6.1, §6.3: as above, in the other order',
  ),
  rv(
    'duplicate Content-Length, different values',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Content-Length: 6']) + 'hello!',
    400,
    'RFC 9112 §6.3 (5): an invalid Content-Length in a request is an unrecoverable error: 400 and close',
  ),
  rv('empty Content-Length', head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: ']), 400, 'RFC 9110 §8.6: Content-Length = 1*DIGIT'),
  rv('Content-Length +5', head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: +5']) + 'hello', 400, 'RFC 9110 §8.6: 1*DIGIT; no sign'),
  rv('Content-Length -5', head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: -5']) + 'hello', 400, 'RFC 9110 §8.6: 1*DIGIT; no sign'),
  rv(
    'chunk size zz',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']) + 'zz\r\nhello\r\n0\r\n\r\n',
    400,
    'RFC 9112 §7.1: chunk-size = 1*HEXDIG',
  ),
  rv(
    'chunk size -1',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']) + '-1\r\nhello\r\n0\r\n\r\n',
    400,
    'RFC 9112 §7.1: chunk-size = 1*HEXDIG; no sign',
  ),
  rv(
    'chunk size overflow',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']) + 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n',
    400,
    'RFC 9112 §7.1: a recipient MUST anticipate large hexadecimal numerals and prevent integer overflow',
  ),
  rv(
    'obs-fold',
    'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n',
    400,
    'RFC 9112 §5.2: a server MUST reject obs-fold in a request with 400 or replace it with SP',
  ),
  rv('space in a header name', head(['GET / HTTP/1.1', 'Host: x', 'X Y: a']), 400, 'RFC 9110 §5.1: field-name = token; SP is not a tchar'),
  rv('( in a header name', head(['GET / HTTP/1.1', 'Host: x', 'X(Y: a']), 400, 'RFC 9110 §5.1: field-name = token; "(" is a delimiter'),
  rv(
    '0x01 in a header value',
    head(['GET / HTTP/1.1', 'Host: x', 'X: a\x01b']),
    400,
    'RFC 9110 §5.5: field-vchar = VCHAR / obs-text; 0x01 is a CTL',
  ),
  rv(
    '0x7f in a header value',
    head(['GET / HTTP/1.1', 'Host: x', 'X: a\x7fb']),
    400,
    'RFC 9110 §5.5: DEL (0x7F) is a CTL, not a field-vchar',
  ),
  rv(
    'bare CR inside a header value',
    head(['GET / HTTP/1.1', 'Host: x', 'X: a\rb']),
    400,
    'RFC 9110 §5.5: a CR in a field value MUST be rejected or replaced with SP; RFC 9112 §2.2: a bare CR is invalid',
  ),
  rv(
    'bare CR ending a header line',
    'GET / HTTP/1.1\r\nHost: x\rX: a\r\n\r\n',
    400,
    'RFC 9112 §2.2: a bare CR MUST be treated as invalid (or replaced with SP)',
  ),
  rv(
    'bare LF line endings',
    'GET / HTTP/1.1\nHost: x\n\n',
    400,
    'RFC 9112 §2.2: a recipient MAY accept a lone LF as a line terminator; parsers disagree on it, so tcpvs does not',
  ),
  rv('bare LF ending one header line', 'GET / HTTP/1.1\r\nHost: x\nX: a\r\n\r\n', 400, 'RFC 9112 §2.2: as above, one line only'),
  rv(
    'Transfer-Encoding: chunked, gzip',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked, gzip']) + '0\r\n\r\n',
    400,
    'RFC 9112 §6.3 (4): a request whose final coding is not chunked: 400 and close',
  ),
  rv(
    'Transfer-Encoding: foo',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: foo']),
    501,
    'RFC 9112 §6.1: a server that receives a transfer coding it does not understand SHOULD answer 501',
  ),
  rv(
    'Transfer-Encoding: x-custom, chunked',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: x-custom, chunked']) + '0\r\n\r\n',
    501,
    'RFC 9112 §6.1: as above, with chunked last',
  ),
  rv(
    'Transfer-Encoding in HTTP/1.0',
    head(['POST / HTTP/1.0', 'Host: x', 'Transfer-Encoding: chunked']) + '0\r\n\r\n',
    400,
    'RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message: the framing MUST be treated as faulty, and the connection closed',
  ),
  rv(
    '2000-byte URI over `limit uri 1k`',
    head([`GET /${'a'.repeat(2000)} HTTP/1.1`, 'Host: x']),
    414,
    'RFC 9112 §3: a request-target longer than the server wishes to parse MUST get 414 (RFC 9110 §15.5.15)',
    true,
  ),
  rv(
    '40 KB URI',
    head([`GET /${'b'.repeat(40 * 1024)} HTTP/1.1`, 'Host: x']),
    414,
    'RFC 9112 §3, RFC 9110 §15.5.15: 414, whatever the limit',
  ),
  rv(
    '6 KB of headers over `limit headers 4k`',
    head(['GET / HTTP/1.1', 'Host: x', ...Array.from({ length: 60 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(90)}`)]),
    431,
    'RFC 6585 §5: 431 Request Header Fields Too Large',
    true,
  ),
  rv(
    'whitespace before the colon (Content-Length)',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length : 5']) + 'hello',
    400,
    'RFC 9112 §5.1: a server MUST reject whitespace between field name and colon with 400',
  ),
  rv(
    'whitespace before the colon (Transfer-Encoding)',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding : chunked']) + '0\r\n\r\n',
    400,
    'RFC 9112 §5.1: as above; the classic TE.TE desync',
  ),
  rv(
    'vertical tab before chunked',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: \x0bchunked']) + '0\r\n\r\n',
    400,
    'RFC 9110 §5.6.3: OWS = *( SP / HTAB ); VT is neither, nor a tchar',
  ),
  rv(
    'Transfer-Encoding: chunked twice',
    head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']) + '0\r\n\r\n',
    400,
    'RFC 9112 §6.1: a sender MUST NOT apply chunked more than once (two lines are one list, RFC 9110 §5.3)',
  ),
  rv(
    'Content-Length as a list',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 5, 5']) + 'hello',
    400,
    'RFC 9110 §8.6: a recipient MAY reject a list of identical values (or reduce it to one); tcpvs rejects',
  ),
  rv(
    'Content-Length in hex',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 0x5']) + 'hello',
    400,
    'RFC 9110 §8.6: Content-Length = 1*DIGIT, decimal',
  ),
  rv(
    'Content-Length overflow',
    head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 99999999999999999999999']) + 'hello',
    400,
    'RFC 9110 §8.6: a recipient MUST anticipate large decimal numerals and prevent integer overflow',
  ),
  rv('control byte in the URI', head(['GET /a\x01b HTTP/1.1', 'Host: x']), 400, 'RFC 9112 §3.2, RFC 3986 §2: a CTL is no URI character'),
  rv(
    'space inside the URI',
    head(['GET /a b HTTP/1.1', 'Host: x']),
    400,
    'RFC 9112 §3: request-line = method SP request-target SP HTTP-version; an invalid request-line SHOULD get 400 (§3.2: no whitespace in the target)',
  ),
  rv(
    'HTTP/2 connection preface',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    400,
    'RFC 9113 §3.4: the preface is no HTTP/1.1 request; this port speaks HTTP/1.x only',
  ),
  rv('invalid method token', head(['G@T / HTTP/1.1', 'Host: x']), 400, 'RFC 9110 §9.1: method = token; "@" is not a tchar'),
  rv(
    'unknown method',
    head(['BREW / HTTP/1.1', 'Host: x']),
    400,
    'RFC 9110 §9.1 suggests 501 for an unrecognised method; llhttp (the head parser) knows only registered methods, so 400: nothing it cannot read goes upstream',
  ),
];

export interface FormerlyForwardedVector {
  name: string;
  request: string;
  statuses: number[];
  /** What the RFC says, and the bug that once let it through. */
  rule: string;
}

/** Once forwarded; each is now refused. The rule says why it must be. */
export const formerlyForwardedVectors: FormerlyForwardedVector[] = [
  {
    name: 'two Host fields',
    request: head(['GET / HTTP/1.1', 'Host: a.example', 'Host: b.example']),
    statuses: [400],
    rule:
      'RFC 9112 §3.2 requires 400. Fixed bug: tcpvs routed on the first Host (head-rewrite.ts scanHeaders) and forwarded both, ' +
      'so a backend that reads the last one served a host the rules never saw',
  },
  {
    name: 'HTTP/1.1 without Host',
    request: 'GET / HTTP/1.1\r\n\r\n',
    statuses: [400],
    rule: 'RFC 9112 §3.2 requires 400 for an HTTP/1.1 request without Host. Fixed bug: tcpvs forwarded it',
  },
  {
    name: 'HTTP/2.0 request line',
    request: head(['GET / HTTP/2.0', 'Host: x']),
    statuses: [400, 505],
    rule:
      'RFC 9112 §2.3, RFC 9110 §6.2: HTTP/1.1 syntax carries major version 1 (505, §15.6.6). Fixed bug: llhttp accepts 2.0 and ' +
      'the upstream head was built from versionMinor alone, so it went upstream as "GET / HTTP/1.0"',
  },
  {
    name: 'HTTP/0.9 request line',
    request: head(['GET / HTTP/0.9', 'Host: x']),
    statuses: [400, 505],
    rule: 'RFC 9112 §2.3: no HTTP/0.9 request line carries a version. Fixed bug: llhttp accepts 0.9; it went upstream as HTTP/1.1 (versionMinor 9 is not 0)',
  },
  {
    name: 'HTTP/0.9 simple request (no version)',
    request: 'GET /\r\n\r\n',
    statuses: [400, 505],
    rule: 'RFC 9112 §3: request-line = method SP request-target SP HTTP-version. Fixed bug: llhttp parses "GET /" as HTTP/0.9; it went upstream as an HTTP/1.1 request without Host',
  },
  {
    name: 'Content-Length above 2^53',
    request: head(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 9007199254740993']) + 'hello',
    statuses: [400, 413],
    rule:
      'RFC 9110 §8.6: a recipient MUST prevent overflow in the length it parses. Fixed bug: the value became a double (9007199254740992), ' +
      'so tcpvs framed a different body length than the one it forwarded; values above Number.MAX_SAFE_INTEGER are refused',
  },
];

// ---- all of it, one shape ---------------------------------------------------

/** The tcpvs settings a vector is judged under: none, `limit uri 1k` + `limit headers 4k`, or `normalize-path forward`. */
export type Profile = 'default' | 'limits' | 'forward';

export interface CorpusRequest {
  /** Unique: the source and the name. */
  id: string;
  source: 'framing' | 'host-path' | 'refuse';
  name: string;
  rule: string;
  /** The raw bytes, one char per byte (latin1), sent in one write on a fresh connection. */
  request: string;
  profile: Profile;
  tcpvs: {
    /** The status (any of these) tcpvs answers. */
    statuses: number[];
    /** Whether any byte of it reaches a backend. */
    forwarded: boolean;
  };
}

/** Every request vector of the corpus, for tools that send them all (bench/compare-proxies.ts). */
export function allRequestVectors(): CorpusRequest[] {
  return [
    ...framingVectors.map(
      (v): CorpusRequest => ({
        id: `framing: ${v.name}`,
        source: 'framing',
        name: v.name,
        rule: v.rule,
        request: v.request,
        profile: 'default',
        tcpvs: { statuses: [v.status], forwarded: v.forwarded !== null },
      }),
    ),
    ...hostPathVectors.map(
      (v): CorpusRequest => ({
        id: `host-path: ${v.name}`,
        source: 'host-path',
        name: v.name,
        rule: v.rule,
        request: v.send,
        profile: v.forward === true ? 'forward' : 'default',
        tcpvs: { statuses: [v.status], forwarded: v.to !== undefined },
      }),
    ),
    ...refuseVectors.map(
      (v): CorpusRequest => ({
        id: `refuse: ${v.name}`,
        source: 'refuse',
        name: v.name,
        rule: v.rule,
        request: v.request,
        profile: v.limits === true ? 'limits' : 'default',
        tcpvs: { statuses: [v.status], forwarded: false },
      }),
    ),
    ...formerlyForwardedVectors.map(
      (v): CorpusRequest => ({
        id: `refuse: ${v.name}`,
        source: 'refuse',
        name: v.name,
        rule: v.rule,
        request: v.request,
        profile: 'default',
        tcpvs: { statuses: v.statuses, forwarded: false },
      }),
    ),
  ];
}

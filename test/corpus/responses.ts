// The malicious-server corpus (issue 11): the raw bytes a server sends back,
// what the client of tcpvs must get, and what RFC 9112 / 9110 says. Data
// only: the tests that play these servers are test/http/framing-vectors.test.ts
// (badResponses, bytesAfterComplete, responseGaps) and
// test/proxy/failures.test.ts (malformedResponseHeads); the comparison with
// nginx and HAProxy is bench/compare-proxies.ts. Every string is a byte
// string: one char per byte (latin1).

export interface BadResponse {
  name: string;
  /** What the RFCs say, with the section. */
  rule: string;
  /** Everything the server writes once the request head has arrived. */
  response: string;
}

/**
 * A proxy reading these cannot know where the response ends, or must not
 * pass it on: the client gets a 502 with `Connection: close` and nothing of
 * the server's body ("hello"), and the upstream connection is closed
 * (RFC 9112 §6.3 (5): a proxy MUST close the connection to the server,
 * discard the response and send 502).
 */
export const badResponses: BadResponse[] = [
  // -- Transfer-Encoding no strict parser reads as chunked
  {
    name: 'TE chunked + U+00A0',
    rule: 'RFC 9110 §5.6.3 (OWS is SP / HTAB): llhttp and HAProxy do not read it as chunked',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\xa0\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE chunked;q=1',
    rule: 'RFC 9112 §7: chunked has no parameters',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE chunked, chunked',
    rule: 'RFC 9112 §6.1: chunked at most once',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE gzip (chunked not final)',
    rule: 'RFC 9112 §6.3: "until close" framing that clients read differently; HAProxy answers 502 too',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello',
  },
  {
    name: 'HTTP/1.0 response with TE',
    rule: 'RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing',
    response: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'trailer Content-Length',
    rule: 'RFC 9110 §6.5.1: framing fields cannot be trailers',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n',
  },
  {
    name: 'trailer is a status line',
    rule: 'RFC 9112 §5: a trailer is a field line',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nHTTP/1.1 200 OK\r\n\r\n',
  },
  {
    name: 'bad chunk extension',
    rule: 'RFC 9112 §7.1.1: chunk-ext-val = token / quoted-string',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE chunked on two lines',
    rule: 'RFC 9112 §6.1: chunked at most once; RFC 9110 §5.3: two field lines are one list',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE vertical tab + chunked',
    rule: 'RFC 9110 §5.6.3: OWS = *( SP / HTAB ); VT is neither, nor a tchar',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: \x0bchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'TE "chunked" (quoted)',
    rule: 'RFC 9110 §5.6.2: a transfer coding is a token, not a quoted-string',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: "chunked"\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'Transfer-Encoding then Content-Length',
    rule: 'RFC 9110 §8.6: a server MUST NOT send both; RFC 9112 §6.3 (3): such a message ought to be handled as an error (response splitting)',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  // -- Content-Length a recipient cannot trust
  {
    name: 'Content-Length +5',
    rule: 'RFC 9110 §8.6: Content-Length = 1*DIGIT; RFC 9112 §6.3 (5): invalid, so 502',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello',
  },
  { name: 'Content-Length 0x5', rule: 'RFC 9110 §8.6: 1*DIGIT, decimal', response: 'HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello' },
  { name: 'empty Content-Length', rule: 'RFC 9110 §8.6: at least one digit', response: 'HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello' },
  {
    name: 'Content-Length: 5, 6',
    rule: 'RFC 9110 §8.6, RFC 9112 §6.3 (5): a list of differing lengths is an unrecoverable error',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!',
  },
  {
    name: 'Content-Length: 5, 5',
    rule: 'RFC 9110 §8.6: a recipient MAY reject a list of identical values (or reduce it to one); tcpvs rejects',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello',
  },
  {
    name: 'Content-Length overflow',
    rule: 'RFC 9110 §8.6: a recipient MUST anticipate large numerals and prevent integer overflow',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello',
  },
  {
    name: 'Content-Length above 2^53',
    rule: 'RFC 9110 §8.6: as above; a double would round it and frame another length',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 9007199254740993\r\n\r\nhello',
  },
  // -- field syntax
  {
    name: 'obs-fold in a header',
    rule: 'RFC 9112 §5.2: a proxy MUST either replace the response with a 502 or replace each obs-fold with SP',
    response: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'whitespace before the colon',
    rule: 'RFC 9112 §5.1: a proxy MUST remove it before forwarding; tcpvs forwards nothing of such a response',
    response: 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello',
  },
  {
    name: 'NUL in a header value',
    rule: 'RFC 9110 §5.5: a field value with CR, LF or NUL MUST be rejected or the character replaced with SP',
    response: 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'bare CR in a header value',
    rule: 'RFC 9110 §5.5; RFC 9112 §2.2: a bare CR MUST be treated as invalid or replaced with SP',
    response: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'DEL in a header value',
    rule: 'RFC 9110 §5.5: field-vchar = VCHAR / obs-text; DEL (0x7F) is a CTL',
    response: 'HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'a header line without a colon',
    rule: 'RFC 9112 §5: field-line = field-name ":" OWS field-value OWS',
    response: 'HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'one header line ending in a bare LF',
    rule: 'RFC 9112 §2.2: a recipient MAY accept a lone LF; parsers disagree, so tcpvs does not',
    response: 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\n\r\nhello',
  },
  {
    name: 'a 20 KB response head',
    rule: 'RFC 9110 §5.4: a recipient may bound field sizes; over the head limit (16 KiB) the response is refused whole, never cut',
    response: 'HTTP/1.1 200 OK\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\nContent-Length: 5\r\n\r\nhello',
  },
  // -- status line
  {
    name: 'status line in lower case',
    rule: 'RFC 9112 §2.3: HTTP-name = %s"HTTP", case-sensitive',
    response: 'http/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  },
  { name: 'four-digit status', rule: 'RFC 9112 §4: status-code = 3DIGIT', response: 'HTTP/1.1 1000 OK\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'two-digit status', rule: 'RFC 9112 §4: status-code = 3DIGIT', response: 'HTTP/1.1 99 OK\r\nContent-Length: 5\r\n\r\nhello' },
  {
    name: '101 to a request without Upgrade',
    rule: 'RFC 9110 §15.2.2, §7.8: a server MUST NOT switch to a protocol the client did not ask for; the bytes after it are no HTTP',
    response: 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\nhello',
  },
  // -- chunked bodies
  {
    name: 'chunk size zz',
    rule: 'RFC 9112 §7.1: chunk-size = 1*HEXDIG',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'chunk size overflow',
    rule: 'RFC 9112 §7.1: a recipient MUST anticipate large hexadecimal numerals and prevent integer overflow',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'chunk data longer than its size',
    rule: 'RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; "XX" is where the CRLF must be',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n',
  },
  {
    name: 'unterminated quoted chunk extension',
    rule: 'RFC 9110 §5.6.4: CR is not qdtext; the quoted-string never closes',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n',
  },
  {
    name: 'trailer Transfer-Encoding',
    rule: 'RFC 9110 §6.5.1: framing fields cannot be trailers',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
  },
  {
    name: 'trailer obs-fold',
    rule: 'RFC 9112 §7.1.2, §5.2: trailer fields are field lines; obs-fold is rejected',
    response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-A: 1\r\n 2\r\n\r\n',
  },
  {
    name: 'HTTP/2.0 status line',
    rule: 'RFC 9112 §2.3, RFC 9110 §6.2: HTTP/1.1 syntax carries major version 1; a 2.0 status line in it is invalid',
    response: 'HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  },
];

/** Response heads that cannot be parsed or framed: 502, the connection closed, nothing logged as an error. */
export const malformedResponseHeads: BadResponse[] = [
  { name: 'not HTTP at all', rule: 'RFC 9112 §4: a response begins with a status-line', response: 'garbage\r\n\r\n' },
  { name: 'a non-numeric status', rule: 'RFC 9112 §4: status-code = 3DIGIT', response: 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n' },
  {
    name: 'a space in a header name',
    rule: 'RFC 9110 §5.1: field-name = token; SP is not a tchar',
    response: 'HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n',
  },
  {
    name: 'Content-Length and Transfer-Encoding',
    rule: 'RFC 9110 §8.6: a server MUST NOT send both; RFC 9112 §6.3 (3): handled as an error',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  },
  {
    name: 'duplicate Content-Length',
    rule: 'RFC 9112 §6.3 (5): differing Content-Length values: a proxy MUST discard the response and send 502',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
  },
  {
    name: 'bare LF line endings',
    rule: 'RFC 9112 §2.2: a recipient MAY accept a lone LF; parsers disagree, so tcpvs does not',
    response: 'HTTP/1.1 200 OK\nContent-Length: 0\n\n',
  },
];

export const EVIL = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL';

export interface AfterCompleteCase {
  name: string;
  rule: string;
  /** Method and target of the first request. */
  request: string;
  /** A complete response to it... */
  response: string;
  /** ...and the bytes the server sends after it, unasked. */
  extra: string;
  /** The status the client gets for the first request. */
  status: number;
}

/**
 * Bytes after a complete response (RFC 9112 §6.3, §9.3: a server sends one
 * response per request; anything more answers nothing): never the answer to
 * the next request on the client connection, which gets a fresh upstream one.
 */
export const bytesAfterComplete: AfterCompleteCase[] = [
  {
    name: '204',
    rule: 'RFC 9110 §15.3.5: a 204 has no content; RFC 9112 §6.3 (1): it ends at its head',
    request: 'GET /first',
    response: 'HTTP/1.1 204 No Content\r\n\r\n',
    extra: EVIL,
    status: 204,
  },
  {
    name: 'a HEAD response (its "body")',
    rule: 'RFC 9110 §9.3.2: a response to HEAD has no content, whatever Content-Length says',
    request: 'HEAD /first',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
    extra: 'hello' + EVIL,
    status: 200,
  },
  {
    name: 'a complete 200',
    rule: 'RFC 9112 §6.3 (6): the body ends after Content-Length bytes; what follows is no response to anything',
    request: 'GET /first',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    extra: EVIL,
    status: 200,
  },
  {
    name: 'a 304 (its "body")',
    rule: 'RFC 9110 §15.4.5: a 304 has no content; RFC 9112 §6.3 (1): it ends at its head, whatever Content-Length says',
    request: 'GET /first',
    response: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n',
    extra: 'hello' + EVIL,
    status: 304,
  },
];

export interface ResponseGap extends BadResponse {
  /** What tcpvs does today instead of the 502 the rule asks for. */
  today: string;
}

/** Known gaps: the client must get 502, tcpvs does not yet (the tests mark them todo). None now: the HTTP/2.0 status line one is fixed. */
export const responseGaps: ResponseGap[] = [];

// ---- all of it, one shape ---------------------------------------------------

export interface CorpusResponse {
  /** Unique: the kind and the name. */
  id: string;
  kind: 'bad' | 'malformed-head' | 'after-complete' | 'gap';
  name: string;
  rule: string;
  /** Method and target of the client's request. */
  request: string;
  /** What the server writes once the request head has arrived. */
  response: string;
  /** after-complete: the unasked bytes, written with the response; then the client sends `GET /next` on the same connection. */
  extra?: string;
  tcpvs: {
    /** The status the client gets (for after-complete, to the first request). */
    status: number;
    /** A string of the server's that must never reach the client, or null. */
    absent: string | null;
  };
}

/** Every malicious-server case as one list, for tools that play them all (bench/compare-proxies.ts). */
export function allResponseCases(): CorpusResponse[] {
  return [
    ...badResponses.map(
      (c): CorpusResponse => ({
        id: `bad: ${c.name}`,
        kind: 'bad',
        name: c.name,
        rule: c.rule,
        request: 'GET /bad',
        response: c.response,
        tcpvs: { status: 502, absent: 'hello' },
      }),
    ),
    ...malformedResponseHeads.map(
      (c): CorpusResponse => ({
        id: `malformed head: ${c.name}`,
        kind: 'malformed-head',
        name: c.name,
        rule: c.rule,
        request: 'GET /bad',
        response: c.response,
        tcpvs: { status: 502, absent: null },
      }),
    ),
    ...bytesAfterComplete.map(
      (c): CorpusResponse => ({
        id: `after complete: ${c.name}`,
        kind: 'after-complete',
        name: c.name,
        rule: c.rule,
        request: c.request,
        response: c.response,
        extra: c.extra,
        tcpvs: { status: c.status, absent: 'EVIL' },
      }),
    ),
    ...responseGaps.map(
      (c): CorpusResponse => ({
        id: `gap: ${c.name}`,
        kind: 'gap',
        name: c.name,
        rule: c.rule,
        request: 'GET /bad',
        response: c.response,
        tcpvs: { status: 502, absent: 'hello' },
      }),
    ),
  ];
}

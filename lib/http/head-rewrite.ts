// Rewrites message heads on their way through: hop-by-hop fields dropped
// (RFC 9110 §7.6.1), X-Forwarded-* and Via added, Transfer-Encoding sent
// on in the one form tcpvs validated. Only the head is rebuilt; bodies never
// pass through here.
import { isOws, QDTEXT, QUOTED_PAIR, TCHAR } from './token.ts';

// Header classes, found by length first so most names are never lower-cased.
const H_OTHER = 0;
const H_CONNECTION = 1;
const H_KEEP_ALIVE = 2;
const H_PROXY_CONNECTION = 3;
const H_TE = 4;
const H_UPGRADE = 5;
const H_XFF = 6;
const H_XFPROTO = 7;
const H_XFHOST = 8;
const H_VIA = 9;
const H_HOST = 10;
const H_CONTENT_LENGTH = 11;
const H_TRANSFER_ENCODING = 12;

export function classify(name: string): number {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te' ? H_TE : H_OTHER;
    case 3:
      return name.toLowerCase() === 'via' ? H_VIA : H_OTHER;
    case 4:
      return name.toLowerCase() === 'host' ? H_HOST : H_OTHER;
    case 7:
      return name.toLowerCase() === 'upgrade' ? H_UPGRADE : H_OTHER;
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' ? H_CONNECTION : l === 'keep-alive' ? H_KEEP_ALIVE : H_OTHER;
    }
    case 14:
      return name.toLowerCase() === 'content-length' ? H_CONTENT_LENGTH : H_OTHER;
    case 15:
      return name.toLowerCase() === 'x-forwarded-for' ? H_XFF : H_OTHER;
    case 16: {
      const l = name.toLowerCase();
      return l === 'proxy-connection' ? H_PROXY_CONNECTION : l === 'x-forwarded-host' ? H_XFHOST : H_OTHER;
    }
    case 17: {
      const l = name.toLowerCase();
      return l === 'x-forwarded-proto' ? H_XFPROTO : l === 'transfer-encoding' ? H_TRANSFER_ENCODING : H_OTHER;
    }
    default:
      return H_OTHER;
  }
}

/** What the data path needs to know about a request head beyond llhttp's fields. */
export interface RequestFacts {
  contentLength: number; // -1 when absent
  // Joined values, null when absent. The heads built below send this one
  // value in place of all Transfer-Encoding fields (none when null): set it
  // to the verdict's `normalized` once judged.
  transferEncoding: string | null;
  host: string | null;
  hostCount: number; // Host fields seen
  connectionTokens: string | null; // joined Connection values, lower-case
}

/** Scans a flat header list once for the fields that decide framing and rewriting. */
export function scanHeaders(headers: string[], out: RequestFacts): void {
  out.contentLength = -1;
  out.transferEncoding = null;
  out.host = null;
  out.hostCount = 0;
  out.connectionTokens = null;
  for (let i = 0; i < headers.length; i += 2) {
    switch (classify(headers[i])) {
      case H_CONTENT_LENGTH:
        out.contentLength = Number(headers[i + 1]); // llhttp allowed digits only, once
        break;
      case H_TRANSFER_ENCODING:
        out.transferEncoding = out.transferEncoding === null ? headers[i + 1] : out.transferEncoding + ',' + headers[i + 1];
        break;
      case H_HOST:
        if (out.host === null) out.host = headers[i + 1];
        out.hostCount++;
        break;
      case H_CONNECTION: {
        const v = headers[i + 1].toLowerCase();
        out.connectionTokens = out.connectionTokens === null ? v : out.connectionTokens + ',' + v;
        break;
      }
    }
  }
}

// Transfer-codings tcpvs knows (RFC 9112 §7, the HTTP Transfer Coding
// registry). None of them defines a parameter, chunked least of all.
const KNOWN_CODINGS = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

/** A Transfer-Encoding verdict; one object, reused: read it before the next call. */
export interface TransferEncodingVerdict {
  /** 0: chunked is sound; else the status to answer (400 or 501 for requests, 502 for responses). */
  status: 0 | 400 | 501 | 502;
  reason: string;
  /** The value to send on in place of every Transfer-Encoding field; null: send none. */
  normalized: string | null;
  /** Responses only: the body is chunked and the client takes it without the chunking (HTTP/1.0). */
  dechunk: boolean;
}

// What parseCodings found; module state, as the parse is synchronous and the hot path allocates nothing.
let pError = '';
let pCount = 0; // non-empty list elements
let pChunked = 0; // how many of them are chunked
let pChunkedLast = false;
let pChunkedParams = false;
let pKnownParams = false; // a parameter on a coding we know (none defines one)
let pUnknown: string | null = null; // the first coding we do not know, lower-case
let pNormalized = '';

/**
 * Reads a Transfer-Encoding value (its field lines joined with ",") per
 * RFC 9110 §5.6.1 and RFC 9112 §6.1 / §7: a list of transfer-coding =
 * token *( OWS ";" OWS token BWS "=" BWS ( token / quoted-string ) ), OWS
 * being SP and HTAB only. A byte loop, no regex; `chunked` alone takes the
 * fast path. Anything else (U+00A0 around a coding, "chunked;q=1" as one
 * coding name, a stray quote) is a syntax error here, never a guess.
 */
function parseCodings(v: string): void {
  pError = '';
  pCount = 0;
  pChunked = 0;
  pChunkedLast = false;
  pChunkedParams = false;
  pKnownParams = false;
  pUnknown = null;
  if (v === 'chunked') {
    pCount = 1;
    pChunked = 1;
    pChunkedLast = true;
    pNormalized = 'chunked';
    return;
  }
  pNormalized = '';
  const n = v.length;
  let i = 0;
  for (;;) {
    while (i < n && isOws(v.charCodeAt(i))) i++;
    if (i === n) return;
    if (v.charCodeAt(i) === 0x2c /* , */) {
      i++; // an empty list element: allowed (RFC 9110 §5.6.1)
      continue;
    }
    const nameStart = i;
    while (i < n && TCHAR[v.charCodeAt(i)] === 1) i++;
    if (i === nameStart) {
      pError = `invalid character ${describeChar(v.charCodeAt(i))} in Transfer-Encoding`;
      return;
    }
    const name = v.slice(nameStart, i).toLowerCase();
    const nameEnd = i;
    let elementEnd = i;
    let params = false;
    for (;;) {
      while (i < n && isOws(v.charCodeAt(i))) i++;
      if (i === n || v.charCodeAt(i) === 0x2c) break;
      if (v.charCodeAt(i) !== 0x3b /* ; */) {
        pError = `invalid character ${describeChar(v.charCodeAt(i))} after transfer-coding "${name}"`;
        return;
      }
      i = skipParameter(v, i + 1);
      if (i === -1) {
        pError = `malformed parameter on transfer-coding "${name}"`;
        return;
      }
      params = true;
      elementEnd = i;
    }
    pCount++;
    const known = KNOWN_CODINGS.has(name);
    if (!known && pUnknown === null) pUnknown = name;
    if (params && known) pKnownParams = true;
    if (name === 'chunked') {
      pChunked++;
      if (params) pChunkedParams = true;
    }
    pChunkedLast = name === 'chunked';
    const element = params ? name + v.slice(nameEnd, elementEnd) : name;
    pNormalized = pNormalized === '' ? element : pNormalized + ', ' + element;
    if (i < n) i++; // the comma
  }
}

/** After the ";" of a transfer-parameter: OWS token BWS "=" BWS ( token / quoted-string ). Returns the end, or -1. */
function skipParameter(v: string, i: number): number {
  const n = v.length;
  while (i < n && isOws(v.charCodeAt(i))) i++;
  const nameStart = i;
  while (i < n && TCHAR[v.charCodeAt(i)] === 1) i++;
  if (i === nameStart) return -1;
  while (i < n && isOws(v.charCodeAt(i))) i++;
  if (i === n || v.charCodeAt(i) !== 0x3d /* = */) return -1;
  i++;
  while (i < n && isOws(v.charCodeAt(i))) i++;
  if (i === n) return -1;
  if (v.charCodeAt(i) !== 0x22 /* " */) {
    const valueStart = i;
    while (i < n && TCHAR[v.charCodeAt(i)] === 1) i++;
    return i === valueStart ? -1 : i;
  }
  for (i++; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c /* \ */) {
      i++;
      if (i === n || QUOTED_PAIR[v.charCodeAt(i)] !== 1) return -1;
    } else if (QDTEXT[c] !== 1) return -1;
  }
  return -1; // no closing quote
}

function describeChar(c: number): string {
  return Number.isNaN(c) ? 'end of value' : '0x' + c.toString(16).padStart(2, '0');
}

const verdict: TransferEncodingVerdict = { status: 0, reason: '', normalized: null, dechunk: false };

function answer(
  status: TransferEncodingVerdict['status'],
  reason: string,
  normalized: string | null = null,
  dechunk = false,
): TransferEncodingVerdict {
  verdict.status = status;
  verdict.reason = reason;
  verdict.normalized = normalized;
  verdict.dechunk = dechunk;
  return verdict;
}

/**
 * Judges a request's Transfer-Encoding (its field lines joined with ","):
 * status 0 when chunked framing is sound, with the value to forward in
 * `normalized` (lower-case codings, one field); 400 for anything a strict
 * parser could read another way (bad syntax, parameters on a coding that
 * defines none, chunked twice or not last: RFC 9112 §6.3); 501 for a coding
 * tcpvs does not know. The verdict object is reused.
 */
export function judgeTransferEncoding(value: string): TransferEncodingVerdict {
  parseCodings(value);
  if (pError !== '') return answer(400, pError);
  if (pCount === 0) return answer(400, 'empty Transfer-Encoding');
  if (pUnknown !== null) return answer(501, `unknown transfer-coding "${pUnknown}"`);
  if (pChunkedParams) return answer(400, 'parameters on chunked, which defines none');
  if (pKnownParams) return answer(400, 'parameters on a transfer-coding that defines none');
  if (pChunked > 1) return answer(400, 'chunked applied twice');
  if (!pChunkedLast) return answer(400, 'chunked is not the final transfer-coding');
  return answer(0, '', pNormalized);
}

/**
 * Judges a response's Transfer-Encoding the same way; every fault is 502.
 * A response whose final coding is not chunked is refused too (HAProxy does
 * the same): its length would be "until close" (RFC 9112 §6.3), which some
 * clients would not read that way. An HTTP/1.0 response carrying
 * Transfer-Encoding has faulty framing (RFC 9112 §6.1). To an HTTP/1.0
 * client the body goes de-chunked and without the field (§6.1: a server
 * must not send Transfer-Encoding to an HTTP/1.0 request), which only works
 * when chunked is the only coding.
 */
export function judgeResponseTransferEncoding(value: string, upstreamMinor: number, clientMinor: number): TransferEncodingVerdict {
  if (upstreamMinor === 0) return answer(502, 'Transfer-Encoding in an HTTP/1.0 response');
  parseCodings(value);
  if (pError !== '') return answer(502, pError);
  if (pCount === 0) return answer(502, 'empty Transfer-Encoding in a response');
  if (pChunkedParams) return answer(502, 'parameters on chunked, which defines none');
  if (pChunked > 1) return answer(502, 'chunked applied twice in a response');
  if (!pChunkedLast) return answer(502, 'response whose final transfer-coding is not chunked');
  if (clientMinor === 0) {
    if (pCount !== 1) return answer(502, 'transfer-codings other than chunked for an HTTP/1.0 client');
    return answer(0, '', null, true);
  }
  return answer(0, '', pNormalized);
}

/** Connection tokens that name other fields to drop; framing fields are never dropped. */
function connectionNominated(tokens: string | null): Set<string> | null {
  if (tokens === null) return null;
  let set: Set<string> | null = null;
  for (const raw of tokens.split(',')) {
    const t = raw.trim();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    if (t === 'content-length' || t === 'transfer-encoding' || t === 'host') continue;
    (set ??= new Set()).add(t);
  }
  return set;
}

export interface RequestRewrite {
  method: string;
  url: string;
  versionMinor: number; // 0 or 1: the upstream request keeps the client's HTTP/1.x
  headers: string[];
  facts: RequestFacts;
  clientAddress: string;
  proto: string; // 'http'
  upgrade: string | null; // the Upgrade value when tunnelling, else null
  // An absolute-form target's authority: it goes up as the only Host field,
  // first, whatever Host the client sent (RFC 9112 §3.2.2). Absent or null:
  // the client's Host passes unchanged.
  authority?: string | null;
}

/** The request head as sent upstream. */
export function buildRequestHead(r: RequestRewrite): string {
  const nominated = connectionNominated(r.facts.connectionTokens);
  let head = r.method + ' ' + r.url + (r.versionMinor === 0 ? ' HTTP/1.0\r\n' : ' HTTP/1.1\r\n');
  const authority = r.authority ?? null;
  if (authority !== null) head += 'Host: ' + authority + '\r\n';
  let xff: string | null = null;
  let via: string | null = null;
  let te = r.facts.transferEncoding;
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    const kind = classify(name);
    switch (kind) {
      case H_TRANSFER_ENCODING:
        // The judged value, once, where the first field was: the server reads the framing tcpvs read.
        if (te !== null) head += 'Transfer-Encoding: ' + te + '\r\n';
        te = null;
        continue;
      case H_OTHER:
      case H_HOST:
      case H_CONTENT_LENGTH:
        if (kind === H_HOST && authority !== null) continue; // sent first, above
        if (nominated?.has(name.toLowerCase())) continue;
        head += name + ': ' + h[i + 1] + '\r\n';
        continue;
      case H_XFF:
        xff = xff === null ? h[i + 1] : xff + ', ' + h[i + 1];
        continue;
      case H_VIA:
        via = via === null ? h[i + 1] : via + ', ' + h[i + 1];
        continue;
      default:
        continue; // hop-by-hop, or X-Forwarded-Proto/Host which we set ourselves
    }
  }
  head += 'X-Forwarded-For: ' + (xff === null ? r.clientAddress : xff + ', ' + r.clientAddress) + '\r\n';
  head += 'X-Forwarded-Proto: ' + r.proto + '\r\n';
  const host = authority ?? r.facts.host;
  if (host !== null) head += 'X-Forwarded-Host: ' + host + '\r\n';
  const hop = r.versionMinor === 0 ? '1.0 tcpvs' : '1.1 tcpvs';
  head += 'Via: ' + (via === null ? hop : via + ', ' + hop) + '\r\n';
  if (r.upgrade !== null) head += 'Connection: upgrade\r\nUpgrade: ' + r.upgrade + '\r\n';
  // An HTTP/1.0 upstream request asks to keep the connection for the pool.
  else if (r.versionMinor === 0) head += 'Connection: keep-alive\r\n';
  return head + '\r\n';
}

export interface ResponseRewrite {
  statusCode: number;
  statusMessage: string;
  versionMinor: number; // the upstream's, for Via
  headers: string[];
  connection: 'close' | 'keep-alive' | 'upgrade' | null; // what we tell the client; null: HTTP/1.1 default
  upgrade: string | null;
}

/** The response head as sent to the client. `facts` comes from scanHeaders over the same headers. */
export function buildResponseHead(r: ResponseRewrite, facts: RequestFacts): string {
  const nominated = connectionNominated(facts.connectionTokens);
  const h = r.headers;
  let head = 'HTTP/1.1 ' + r.statusCode + ' ' + r.statusMessage + '\r\n';
  let via: string | null = null;
  // No Transfer-Encoding on a 1xx or 204 (RFC 9110 §6.4.1, RFC 9112 §6.1).
  let te = r.statusCode < 200 || r.statusCode === 204 ? null : facts.transferEncoding;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    switch (classify(name)) {
      case H_TRANSFER_ENCODING:
        if (te !== null) head += 'Transfer-Encoding: ' + te + '\r\n';
        te = null;
        continue;
      case H_VIA:
        via = via === null ? h[i + 1] : via + ', ' + h[i + 1];
        continue;
      case H_CONNECTION:
      case H_KEEP_ALIVE:
      case H_PROXY_CONNECTION:
      case H_TE:
      case H_UPGRADE:
        continue; // hop-by-hop
    }
    if (nominated?.has(name.toLowerCase())) continue;
    head += name + ': ' + h[i + 1] + '\r\n';
  }
  const hop = r.versionMinor === 0 ? '1.0 tcpvs' : '1.1 tcpvs';
  head += 'Via: ' + (via === null ? hop : via + ', ' + hop) + '\r\n';
  if (r.connection === 'upgrade') head += 'Connection: upgrade\r\nUpgrade: ' + r.upgrade + '\r\n';
  else if (r.connection !== null) head += 'Connection: ' + r.connection + '\r\n';
  return head + '\r\n';
}

/** The value of the first header with this lower-case name. */
export function headerValue(headers: string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n.length === lowerName.length && n.toLowerCase() === lowerName) return headers[i + 1];
  }
  return undefined;
}

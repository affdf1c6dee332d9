// Transfer-Encoding, judged before a message is framed by it: a request's
// (400 or 501 when a strict parser could read it another way) and a
// response's (502), and the one form it is sent on in (head-rewrite.ts).
import { isOws, QDTEXT, QUOTED_PAIR, TCHAR } from './token.ts';

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

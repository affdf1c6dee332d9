// Admission: the rules a parsed request head must pass before anything of it
// goes upstream, and how its body is framed. Pure functions over the head and
// the service's limits, without sockets (test/proxy/admission.test.ts); the
// session answers a refusal with the status given here.
import { FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE } from '../http/body-framer.ts';
import { type RequestFacts, scanHeaders } from '../http/head-rewrite.ts';
import { judgeTransferEncoding } from '../http/transfer-encoding.ts';
import type { Limits } from '../config/model.ts';

/** The fields of a parsed request head that admission reads (HeadParser has them). */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly headers: string[];
}

export type AdmissionLimits = Pick<Limits, 'maxUriBytes' | 'maxHeaderCount'>;

/** A verdict; one object per session, overwritten by each admitRequest. */
export interface Admission {
  /** 0: admitted; else the status to answer. */
  status: number;
  reason: string;
  /** FRAME_NONE, FRAME_LENGTH or FRAME_CHUNKED, when admitted. */
  framing: number;
  /** The body's length for FRAME_LENGTH. */
  contentLength: number;
}

export function newAdmission(): Admission {
  return { status: 0, reason: '', framing: FRAME_NONE, contentLength: 0 };
}

function refuse(out: Admission, status: number, reason: string): Admission {
  out.status = status;
  out.reason = reason;
  return out;
}

/**
 * Judges a complete request head: `facts` is filled from its headers (the
 * Transfer-Encoding in it set to the one form judged, to be forwarded), and
 * `out` says the refusal status or how the body is framed.
 */
export function admitRequest(head: RequestHead, limits: AdmissionLimits, facts: RequestFacts, out: Admission): Admission {
  out.status = 0;
  out.reason = '';
  out.framing = FRAME_NONE;
  out.contentLength = 0;
  if (head.url.length > limits.maxUriBytes) return refuse(out, 414, 'URI over the limit');
  if (head.versionMajor !== 1) {
    // llhttp reads a bare "GET /" as HTTP/0.9; nothing but HTTP/1.x is forwarded.
    return head.versionMajor === 0
      ? refuse(out, 400, 'HTTP/0.9 request')
      : refuse(out, 505, `HTTP/${head.versionMajor}.${head.versionMinor} request`);
  }
  if (head.method === 'CONNECT') return refuse(out, 405, 'CONNECT is not supported');
  // Each field costs every hop: HAProxy stops at 101, tcpvs at `limit header-count`.
  if (head.headers.length > 2 * limits.maxHeaderCount) return refuse(out, 431, `more than ${limits.maxHeaderCount} header fields`);
  scanHeaders(head.headers, facts);
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1; two could route on one and serve the other.
  if (facts.hostCount > 1) return refuse(out, 400, 'more than one Host field');
  if (facts.hostCount === 0 && head.versionMinor >= 1) return refuse(out, 400, 'HTTP/1.1 request without Host');
  if (facts.contentLength > Number.MAX_SAFE_INTEGER) return refuse(out, 400, 'Content-Length too large');
  if (facts.transferEncoding !== null) {
    if (head.versionMinor === 0) return refuse(out, 400, 'Transfer-Encoding in an HTTP/1.0 request');
    const verdict = judgeTransferEncoding(facts.transferEncoding);
    if (verdict.status !== 0) return refuse(out, verdict.status, verdict.reason);
    facts.transferEncoding = verdict.normalized; // forwarded in the one form judged
    out.framing = FRAME_CHUNKED;
  } else if (facts.contentLength > 0) {
    out.framing = FRAME_LENGTH;
    out.contentLength = facts.contentLength;
  }
  return out;
}

/**
 * A request line still open after `headBytes` is over the URI limit (414)
 * before llhttp's whole-head limit would say so; 32 bytes for the method and
 * version around the URI.
 */
export function requestLineTooLong(headBytes: number, limits: Pick<Limits, 'maxUriBytes'>): boolean {
  return headBytes > limits.maxUriBytes + 32;
}

/**
 * The status for a head llhttp refused with `code`: an overflow inside the
 * request line is a URI too long (414), after it a head too large (431);
 * any other fault is 400.
 */
export function malformedHeadStatus(code: string, inRequestLine: boolean): number {
  if (code === 'HPE_HEADER_OVERFLOW') return inRequestLine ? 414 : 431;
  return 400;
}

/**
 * Whether the connection closes after tcpvs answers a request itself: only
 * a 404 or 503 for a request without a body leaves the stream in step.
 */
export function refusalCloses(status: number, bodyPending: boolean): boolean {
  return (status !== 404 && status !== 503) || bodyPending;
}

/** Methods a request can be sent again with, when nothing of its response came (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether a request may go again on a fresh connection after a reused one failed: idempotent, no body, no upgrade. */
export function retryable(method: string, framing: number, upgrade: string | null): boolean {
  return framing === FRAME_NONE && IDEMPOTENT.has(method) && upgrade === null;
}

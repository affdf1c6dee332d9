// Tracks where a message body ends in the raw byte stream, so the bytes can
// be spliced through unchanged. llhttp has already validated the head; this
// validates chunk framing against RFC 9112 §7.1: sizes and CRLFs, chunk
// extensions against their grammar, trailer lines as header field lines
// (token names, valid values) and never a field that must not be a trailer.
// It never copies body bytes.
import { QDTEXT, QUOTED_PAIR, TCHAR } from './token.ts';

export class FramingError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

export const FRAME_NONE = 0; // no body
export const FRAME_LENGTH = 1; // Content-Length
export const FRAME_CHUNKED = 2; // Transfer-Encoding: chunked
export const FRAME_CLOSE = 3; // delimited by the connection closing (responses only)

// Chunked parser states.
const S_SIZE_FIRST = 0; // first hex digit of a chunk size
const S_SIZE = 1; // more hex digits, BWS, ';' or CR
const S_SIZE_LF = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER_START = 6; // start of a trailer line, or the final CRLF
const S_TRAILER_NAME = 7;
const S_TRAILER_VALUE = 8;
const S_TRAILER_LF = 9;
const S_END_LF = 10;
const S_DONE = 11;
// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1)
const S_EXT_FIRST = 12;
const S_EXT_SEMI = 12; // BWS, then ';'
const S_EXT_NAME_START = 13; // after ';': BWS, then a token
const S_EXT_NAME = 14;
const S_EXT_NAME_END = 15; // BWS after the name, then '=' or ';'
const S_EXT_VALUE_START = 16; // after '=': BWS, then a token or a quoted-string
const S_EXT_TOKEN = 17;
const S_EXT_QUOTED = 18;
const S_EXT_QUOTED_PAIR = 19; // after a backslash
const S_EXT_VALUE_END = 20; // after the closing quote
const S_EXT_LAST = 20;

const CR = 13;
const LF = 10;
const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const MAX_CHUNK_SIZE = 2 ** 52; // keeps arithmetic exact in a double

/**
 * Fields that must never arrive as trailers (RFC 9110 §6.5.1: fields needed
 * before the content, "such as those that describe message framing,
 * routing, authentication, request modifiers, response controls, or content
 * format"), plus the hop-by-hop fields and the forwarding fields tcpvs sets
 * itself in the head, which a trailer would otherwise spoof for a server
 * that merges trailers into the header section. A message carrying one is
 * refused (400 for a request, 502 or a cut connection for a response).
 */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  // framing
  'content-length',
  'transfer-encoding',
  'trailer',
  // routing
  'host',
  // connection management (hop-by-hop, RFC 9110 §7.6.1)
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'upgrade',
  // authentication
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
  'cookie',
  'set-cookie',
  // request modifiers: controls, conditionals, range
  'cache-control',
  'expect',
  'max-forwards',
  'range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  // response controls that change what a cache or a browser does with the
  // response (Expires, Age, Retry-After are left: harmless after the content)
  'location',
  'vary',
  // content format
  'content-type',
  'content-encoding',
  'content-range',
  // set by tcpvs in the head
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'via',
]);
let longestForbidden = 0;
for (const name of FORBIDDEN_TRAILERS) longestForbidden = Math.max(longestForbidden, name.length);
const MAX_FORBIDDEN_NAME = longestForbidden;

/** Receives the data bytes of a chunked body, without the framing: buf[start, end). */
export type DataSink = (buf: Buffer, start: number, end: number) => void;

export class BodyFramer {
  mode = FRAME_NONE;
  /** Body bytes still expected (FRAME_LENGTH) or left in the current chunk. */
  remaining = 0;
  private state = S_DONE;
  private trailerBytes = 0;
  private extBytes = 0; // of the current chunk-size line's extensions
  /** The trailer field name being read, lower-case, while it could be a forbidden one. */
  private readonly trailerName = new Uint8Array(MAX_FORBIDDEN_NAME);
  private trailerNameLength = 0;
  /** When set, chunk data goes here as it is framed (de-chunking for an HTTP/1.0 client). */
  private sink: DataSink | null = null;
  /** Trailer section limit (and chunk extension limit); a config change may set a new one between messages. */
  maxTrailerBytes: number;

  constructor(maxTrailerBytes: number) {
    this.maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.mode === FRAME_NONE || (this.mode !== FRAME_CLOSE && this.state === S_DONE);
  }

  /** True when chunk data goes to a sink rather than through with its framing. */
  get dechunking(): boolean {
    return this.sink !== null;
  }

  none(): void {
    this.mode = FRAME_NONE;
    this.state = S_DONE;
    this.sink = null;
  }

  length(n: number): void {
    this.mode = n === 0 ? FRAME_NONE : FRAME_LENGTH;
    this.remaining = n;
    this.state = n === 0 ? S_DONE : S_DATA;
    this.sink = null;
  }

  /** A chunked body; with `sink`, its data bytes are handed to it as they are framed. */
  chunked(sink: DataSink | null = null): void {
    this.mode = FRAME_CHUNKED;
    this.remaining = 0;
    this.trailerBytes = 0;
    this.state = S_SIZE_FIRST;
    this.sink = sink;
  }

  untilClose(): void {
    this.mode = FRAME_CLOSE;
    this.state = S_DATA;
    this.sink = null;
  }

  /**
   * Consumes body bytes of `buf` from `start`. Returns the offset just past
   * the end of the body when it ends inside `buf`, else -1 (all consumed).
   */
  advance(buf: Buffer, start: number): number {
    switch (this.mode) {
      case FRAME_NONE:
        return start;
      case FRAME_CLOSE:
        return -1;
      case FRAME_LENGTH: {
        const avail = buf.length - start;
        if (avail < this.remaining) {
          this.remaining -= avail;
          return -1;
        }
        const end = start + this.remaining;
        this.remaining = 0;
        this.state = S_DONE;
        return end;
      }
      default:
        return this.advanceChunked(buf, start);
    }
  }

  private advanceChunked(buf: Buffer, start: number): number {
    let i = start;
    const len = buf.length;
    let state = this.state;
    while (i < len) {
      const c = buf[i];
      if (state >= S_EXT_FIRST && state <= S_EXT_LAST && ++this.extBytes > this.maxTrailerBytes) {
        throw new FramingError('chunk extensions too long', i);
      }
      switch (state) {
        case S_DATA: {
          const avail = len - i;
          if (avail < this.remaining) {
            this.remaining -= avail;
            this.state = state;
            if (this.sink !== null) this.sink(buf, i, len);
            return -1;
          }
          if (this.sink !== null && this.remaining > 0) this.sink(buf, i, i + this.remaining);
          i += this.remaining;
          this.remaining = 0;
          state = S_DATA_CR;
          continue;
        }
        case S_SIZE_FIRST: {
          const d = hexValue(c);
          if (d < 0) throw new FramingError('invalid chunk size', i);
          this.remaining = d;
          this.extBytes = 0;
          state = S_SIZE;
          break;
        }
        case S_SIZE: {
          const d = hexValue(c);
          if (d >= 0) {
            this.remaining = this.remaining * 16 + d;
            if (this.remaining > MAX_CHUNK_SIZE) throw new FramingError('chunk size too large', i);
          } else if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === SP || c === HTAB) state = S_EXT_SEMI;
          else throw new FramingError('invalid chunk size', i);
          break;
        }
        case S_EXT_SEMI:
          if (c === SEMI) state = S_EXT_NAME_START;
          else if (c !== SP && c !== HTAB) throw new FramingError('invalid chunk extension: expected ";"', i);
          break;
        case S_EXT_NAME_START:
          if (TCHAR[c] === 1) state = S_EXT_NAME;
          else if (c !== SP && c !== HTAB) throw new FramingError('invalid chunk extension name', i);
          break;
        case S_EXT_NAME:
          if (TCHAR[c] === 1) break;
          if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === 0x3d /* = */) state = S_EXT_VALUE_START;
          else if (c === SP || c === HTAB) state = S_EXT_NAME_END;
          else throw new FramingError('invalid chunk extension name', i);
          break;
        case S_EXT_NAME_END:
          if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === 0x3d) state = S_EXT_VALUE_START;
          else if (c !== SP && c !== HTAB) throw new FramingError('invalid chunk extension', i);
          break;
        case S_EXT_VALUE_START:
          if (TCHAR[c] === 1) state = S_EXT_TOKEN;
          else if (c === 0x22 /* " */) state = S_EXT_QUOTED;
          else if (c !== SP && c !== HTAB) throw new FramingError('invalid chunk extension value', i);
          break;
        case S_EXT_TOKEN:
          if (TCHAR[c] === 1) break;
          if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === SP || c === HTAB) state = S_EXT_SEMI;
          else throw new FramingError('invalid chunk extension value', i);
          break;
        case S_EXT_QUOTED:
          if (c === 0x22) state = S_EXT_VALUE_END;
          else if (c === 0x5c /* \ */) state = S_EXT_QUOTED_PAIR;
          else if (QDTEXT[c] !== 1) throw new FramingError('invalid byte in a quoted chunk extension value', i);
          break;
        case S_EXT_QUOTED_PAIR:
          if (QUOTED_PAIR[c] !== 1) throw new FramingError('invalid byte in a quoted chunk extension value', i);
          state = S_EXT_QUOTED;
          break;
        case S_EXT_VALUE_END:
          if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === SP || c === HTAB) state = S_EXT_SEMI;
          else throw new FramingError('invalid chunk extension', i);
          break;
        case S_SIZE_LF:
          if (c !== LF) throw new FramingError('expected LF after chunk size', i);
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA_CR:
          if (c !== CR) throw new FramingError('expected CRLF after chunk data', i);
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== LF) throw new FramingError('expected CRLF after chunk data', i);
          state = S_SIZE_FIRST;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            state = S_END_LF;
            break;
          }
          // A trailer field line is a header field line (RFC 9112 §7.1.2, §5):
          // it starts with a token (not with whitespace: no obs-fold).
          if (TCHAR[c] !== 1) throw new FramingError('invalid trailer field name', i);
          this.trailerNameLength = 0;
          state = S_TRAILER_NAME;
          continue; // re-read c as part of the name
        case S_TRAILER_NAME:
          if (++this.trailerBytes > this.maxTrailerBytes) throw new FramingError('trailers too large', i);
          if (TCHAR[c] === 1) {
            const n = this.trailerNameLength++;
            if (n < MAX_FORBIDDEN_NAME) this.trailerName[n] = c | (c >= 0x41 && c <= 0x5a ? 0x20 : 0);
          } else if (c === 0x3a /* : */) {
            const forbidden = this.forbiddenTrailer();
            if (forbidden !== null) throw new FramingError(`"${forbidden}" is not allowed as a trailer field`, i);
            state = S_TRAILER_VALUE;
          } else throw new FramingError('invalid trailer field name', i); // whitespace before ":" too (RFC 9112 §5.1)
          break;
        case S_TRAILER_VALUE:
          if (++this.trailerBytes > this.maxTrailerBytes) throw new FramingError('trailers too large', i);
          if (c === CR) state = S_TRAILER_LF;
          else if (isBadFieldByte(c)) throw new FramingError('invalid byte in trailer', i);
          break;
        case S_TRAILER_LF:
          if (c !== LF) throw new FramingError('bare CR in trailer', i);
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (c !== LF) throw new FramingError('expected LF at end of chunked body', i);
          this.state = S_DONE;
          return i + 1;
        default:
          throw new FramingError('data after end of body', i);
      }
      i++;
    }
    this.state = state;
    return -1;
  }

  /** The trailer name just read when it must not be a trailer, else null. */
  private forbiddenTrailer(): string | null {
    const n = this.trailerNameLength;
    if (n > MAX_FORBIDDEN_NAME) return null;
    let name = '';
    for (let k = 0; k < n; k++) name += String.fromCharCode(this.trailerName[k]);
    return FORBIDDEN_TRAILERS.has(name) ? name : null;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

// Control bytes other than HTAB (including a bare LF) never belong in a field line.
function isBadFieldByte(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

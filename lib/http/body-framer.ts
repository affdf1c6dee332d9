// Tracks where a message body ends in the raw byte stream, so the bytes can
// be spliced through unchanged. llhttp has already validated the head; this
// validates chunk framing (sizes, CRLFs, trailer lines) as strictly as llhttp
// would, and never copies body bytes.

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
const S_SIZE = 1; // more hex digits, ';' or CR
const S_EXT = 2; // chunk extension up to CR
const S_SIZE_LF = 3;
const S_DATA = 4;
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_TRAILER_START = 7; // start of a trailer line, or the final CRLF
const S_TRAILER = 8;
const S_TRAILER_LF = 9;
const S_END_LF = 10;
const S_DONE = 11;

const CR = 13;
const LF = 10;
const MAX_CHUNK_SIZE = 2 ** 52; // keeps arithmetic exact in a double

export class BodyFramer {
  mode = FRAME_NONE;
  /** Body bytes still expected (FRAME_LENGTH) or left in the current chunk. */
  remaining = 0;
  private state = S_DONE;
  private trailerBytes = 0;
  /** Trailer section limit; a config change may set a new one between messages. */
  maxTrailerBytes: number;

  constructor(maxTrailerBytes: number) {
    this.maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.mode === FRAME_NONE || (this.mode !== FRAME_CLOSE && this.state === S_DONE);
  }

  none(): void {
    this.mode = FRAME_NONE;
    this.state = S_DONE;
  }

  length(n: number): void {
    this.mode = n === 0 ? FRAME_NONE : FRAME_LENGTH;
    this.remaining = n;
    this.state = n === 0 ? S_DONE : S_DATA;
  }

  chunked(): void {
    this.mode = FRAME_CHUNKED;
    this.remaining = 0;
    this.trailerBytes = 0;
    this.state = S_SIZE_FIRST;
  }

  untilClose(): void {
    this.mode = FRAME_CLOSE;
    this.state = S_DATA;
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
      switch (state) {
        case S_DATA: {
          const avail = len - i;
          if (avail < this.remaining) {
            this.remaining -= avail;
            this.state = state;
            return -1;
          }
          i += this.remaining;
          this.remaining = 0;
          state = S_DATA_CR;
          continue;
        }
        case S_SIZE_FIRST: {
          const d = hexValue(c);
          if (d < 0) throw new FramingError('invalid chunk size', i);
          this.remaining = d;
          state = S_SIZE;
          break;
        }
        case S_SIZE: {
          const d = hexValue(c);
          if (d >= 0) {
            this.remaining = this.remaining * 16 + d;
            if (this.remaining > MAX_CHUNK_SIZE) throw new FramingError('chunk size too large', i);
          } else if (c === CR) state = S_SIZE_LF;
          else if (c === 0x3b /* ; */) state = S_EXT;
          else throw new FramingError('invalid chunk size', i);
          break;
        }
        case S_EXT:
          if (c === CR) state = S_SIZE_LF;
          else if (isBadFieldByte(c)) throw new FramingError('invalid byte in chunk extension', i);
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
          state = S_TRAILER;
          continue; // re-read c as part of the trailer line
        case S_TRAILER:
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

// pino, configured from the config's `log` section. The access log is one
// line per request; callers check `accessEnabled` first so a silent logger
// costs the hot path nothing.
import { fstatSync, mkdirSync, openSync, statSync, writeSync, type Stats } from 'node:fs';
import { isatty } from 'node:tty';
import { dirname } from 'node:path';
import pino from 'pino';
import type { LogSpec } from '../config/model.ts';

export type Logger = pino.Logger;

/** `base`: fields every line carries besides the pid (a worker thread's number). */
export function createLogger(spec: LogSpec, base: Record<string, unknown> = {}): Logger {
  const options = { level: spec.level, base: { pid: process.pid, ...base } };
  if (spec.level === 'silent') return pino(options, { write: () => {} });
  if (spec.destination === 'stdout' || spec.destination === 'stderr') {
    const fd = spec.destination === 'stdout' ? 1 : 2;
    return pino(options, neverBlocks(fd) ? new FileLineSink(fd) : pino.destination({ dest: fd, sync: false }));
  }
  let fd: number;
  try {
    let existing: Stats | undefined;
    try {
      existing = statSync(spec.destination);
    } catch {
      mkdirSync(dirname(spec.destination), { recursive: true });
    }
    // A FIFO would block the open until a reader comes; pino opens it asynchronously.
    if (existing?.isFIFO() || existing?.isSocket()) return pino(options, pino.destination({ dest: spec.destination, sync: false }));
    fd = openSync(spec.destination, 'a');
  } catch (err) {
    throw new Error(`log destination ${spec.destination}: cannot open it: ${(err as Error).message}`);
  }
  return pino(options, neverBlocks(fd) ? new FileLineSink(fd) : pino.destination({ dest: fd, sync: false }));
}

/** Flushes buffered log lines; used before exit. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // an async destination that is not ready yet has nothing to flush
  }
}

/** A regular file, or a device such as /dev/null that is not a terminal: a write returns at once. */
function neverBlocks(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFile() || (st.isCharacterDevice() && !isatty(fd));
  } catch {
    return false;
  }
}

/** A sink buffers this many bytes at most before it writes. */
const BUFFER_BYTES = 64 * 1024;
/** A line waits at most this long in the buffer. */
const FLUSH_AFTER_MS = 50;

/**
 * A log file written with write(2) on the thread that logs. A turn of the
 * event loop joins its lines into one string, encoded at the end of the
 * turn into a reused 64 KiB buffer; the buffer is written when it cannot
 * take another turn's lines, 50 ms after its first line, and at stop (as
 * nginx's `access_log … buffer= flush=`). Each write(2) to an ext4 file
 * costs several µs of journal work for the mtime, and at 100 B one write
 * per turn (about 20 requests) cost 1 µs per request. Keeping the lines
 * as a string until the write cost more: a string that lives 50 ms is
 * copied by the garbage collector, and one encoding call per line costs
 * more than the join. pino's asynchronous destination hands each write to
 * libuv's thread pool, and on a busy machine waking that thread and being
 * woken back cost more still (72.5 against 67.0 µs per request at 100 B).
 * A write to a file lands in the page cache and does not wait on a reader
 * as a pipe can, so pipes and terminals keep pino's destination. O_APPEND
 * keeps the lines of several worker threads whole. The cost: a process
 * killed with SIGKILL loses up to 50 ms of lines.
 */
export class FileLineSink {
  private readonly buffer = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  private used = 0; // bytes in `buffer`
  private turnLines = ''; // this turn's lines, not yet encoded
  private endOfTurnSet = false;
  private flushTimerSet = false;
  private failed = '';
  private readonly endOfTurn = (): void => {
    this.endOfTurnSet = false;
    this.encodeTurn();
  };
  private readonly flushLater = (): void => {
    this.flushTimerSet = false;
    this.flushSync();
  };

  private readonly fd: number;

  constructor(fd: number) {
    this.fd = fd;
  }

  write(line: string): boolean {
    this.turnLines += line;
    if (this.turnLines.length * 3 > BUFFER_BYTES) this.encodeTurn();
    else if (!this.endOfTurnSet) {
      this.endOfTurnSet = true;
      setImmediate(this.endOfTurn);
    }
    if (!this.flushTimerSet) {
      this.flushTimerSet = true;
      setTimeout(this.flushLater, FLUSH_AFTER_MS).unref();
    }
    return true;
  }

  // A UTF-16 unit takes at most 3 bytes in UTF-8.
  private encodeTurn(): void {
    const lines = this.turnLines;
    if (lines === '') return;
    this.turnLines = '';
    if (lines.length * 3 > BUFFER_BYTES - this.used) this.writeBuffered();
    if (lines.length * 3 > BUFFER_BYTES) {
      const bytes = Buffer.from(lines, 'utf8');
      this.writeAll(bytes, bytes.length);
    } else {
      this.used += this.buffer.write(lines, this.used, 'utf8');
    }
  }

  /** pino's `logger.flush(cb)`. */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  flushSync(): void {
    this.encodeTurn();
    this.writeBuffered();
  }

  private writeBuffered(): void {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    this.writeAll(this.buffer, used);
  }

  private writeAll(bytes: Buffer, length: number): void {
    try {
      for (let off = 0; off < length; ) off += writeSync(this.fd, bytes, off, length - off);
      this.failed = '';
    } catch (err) {
      // A full disk must not stop the proxy: the lines are dropped, and the
      // failure is told once on stderr until a write succeeds again.
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (code !== this.failed) process.stderr.write(`tcpvs: log lines lost: cannot write the log file (${code})\n`);
      this.failed = code;
    }
  }
}

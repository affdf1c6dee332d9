// How a message head goes out with the body bytes at hand: in one write
// when they are few (one small copy is cheaper than a writev of a string and
// a buffer), else head and body corked together.
import type net from 'node:net';

/** Heads travel with up to this many body bytes in one buffer. */
export const COALESCE_LIMIT = 16384;

/**
 * Writes `prefix` (a PROXY header, or null), `head` and the body bytes
 * buf[start, stop). `lent`: buf is borrowed and must be copied to be kept
 * (client-reads.ts). Returns what the last write returned.
 */
export function writeHead(
  s: net.Socket,
  prefix: Buffer | null,
  head: string,
  buf: Buffer | null,
  start: number,
  stop: number,
  lent: boolean,
): boolean {
  const bodyLength = stop - start;
  if (prefix === null && bodyLength === 0) return s.write(head, 'latin1');
  const prefixLength = prefix === null ? 0 : prefix.length;
  const inline = bodyLength <= COALESCE_LIMIT;
  if (prefix !== null || inline) {
    const out = Buffer.allocUnsafe(prefixLength + head.length + (inline ? bodyLength : 0));
    if (prefix !== null) prefix.copy(out, 0);
    out.write(head, prefixLength, 'latin1');
    if (inline) {
      if (bodyLength > 0) buf!.copy(out, prefixLength + head.length, start, stop);
      return s.write(out);
    }
    s.cork();
    s.write(out);
  } else {
    s.cork();
    s.write(head, 'latin1');
  }
  const body = start === 0 && stop === buf!.length ? buf! : buf!.subarray(start, stop);
  const ok = s.write(lent ? Buffer.from(body) : body);
  s.uncork();
  return ok;
}

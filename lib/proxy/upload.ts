// The request body on its way to the server: the bytes written while a
// connect is under way are kept to send again to another server if the
// connect fails, and lent bytes are copied into a buffer reused while the
// server's socket takes each write at once. One object per session.
import type net from 'node:net';

// Body bytes kept for a retry while a connect is under way: what the socket
// buffers before it pushes back (its high-water mark) and a read or two.
const RESEND_LIMIT = 1 << 20;
// A client read is at most 64 KiB (client-reads.ts).
const BODY_COPY_BYTES = 65536;

export class Upload {
  /** Epoch ms: the whole request body is due by then (0: no body). */
  deadline = 0;
  /** More body went out before the connect than is kept: no retry. */
  resendLost = false;
  private resend: Buffer | null = null;
  private copy: Buffer | null = null; // lent bytes copied for the server, reused (write)

  reset(deadline: number): void {
    this.deadline = deadline;
    this.resendLost = false;
    this.resend = null;
  }

  /** Body bytes written before the connect is up: kept (copied) for another server, up to RESEND_LIMIT. */
  keepForResend(bytes: Buffer): void {
    if (this.resendLost) return;
    const had = this.resend === null ? 0 : this.resend.length;
    if (had + bytes.length > RESEND_LIMIT) {
      this.resendLost = true;
      this.resend = null;
      return;
    }
    const copy = Buffer.allocUnsafe(had + bytes.length);
    if (this.resend !== null) this.resend.copy(copy, 0);
    bytes.copy(copy, had);
    this.resend = copy;
  }

  /** The kept bytes, to send to the next server; null when none. Forgets them. */
  takeResend(): Buffer | null {
    const bytes = this.resend;
    this.resend = null;
    return bytes;
  }

  /**
   * Writes body bytes buf[start, stop) to the server. Lent bytes must be
   * copied; the copy goes into a buffer of this session's, reused while the
   * server's socket takes each write at once (nothing left pending), so a
   * fast upload makes no garbage: a fresh 64 KiB copy per read made a 100 MB
   * upload's RSS climb towards V8's 64 MB external-memory GC trigger.
   */
  write(s: net.Socket, buf: Buffer, start: number, stop: number, lent: boolean): boolean {
    if (!lent) return s.write(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    const n = stop - start;
    let copy = this.copy;
    // Bytes still pending on the socket may point into the spare buffer: it is only free when none are.
    if (copy === null || copy.length < n || s.writableLength > 0) copy = Buffer.allocUnsafeSlow(Math.max(n, BODY_COPY_BYTES));
    buf.copy(copy, 0, start, stop);
    const ok = s.write(copy.length === n ? copy : copy.subarray(0, n));
    this.copy = s.writableLength > 0 ? null : copy;
    return ok;
  }
}

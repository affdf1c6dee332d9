// Client connections read into one buffer shared by every connection of this
// thread (Node's socket `onread`), instead of a fresh allocation per read
// behind a Readable stream. Measured at 100 B: about 3 µs of CPU per request.
//
// The buffer is overwritten by the next read on any connection, so a chunk
// is lent, not given: the session consumes it before it returns, and copies
// what it keeps (pipelined bytes, body bytes written upstream).
//
// Node offers `onread` only to sockets it creates from options, not to the
// ones a server accepts. So the server pauses new connections and we wrap the
// accepted handle in a socket of our own. That uses two undocumented parts of
// net.Socket, `_handle` and `_server` (present from Node 12 to 26); when
// either is missing, the accepted socket is used as it is, with 'data' events,
// as is a TLS socket (tls-listener.ts), whose bytes are decrypted first.
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { enterRead, leaveRead } from '../net/loop-turn.ts';

const READ_BUFFER_BYTES = 65536;
const shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

interface AcceptedInternals {
  _handle?: { readStart?: unknown } | null;
  _server?: unknown;
}

export interface ClientReads {
  socket: net.Socket;
  /** True when chunks are lent from the shared buffer and must be copied to be kept. */
  lent: boolean;
}

/**
 * Starts reading `accepted` (from a server created with pauseOnConnect) and
 * hands every chunk to `onData`.
 */
export function readClient(accepted: net.Socket, onData: (chunk: Buffer) => void): ClientReads {
  const inner = accepted as unknown as AcceptedInternals;
  const handle = inner._handle;
  // A TLS socket reads through its TLSWrap: it keeps its 'data' events.
  if (handle != null && typeof handle.readStart === 'function' && '_server' in inner && !(accepted instanceof TLSSocket)) {
    const options = {
      handle,
      allowHalfOpen: true,
      onread: {
        buffer: shared,
        callback: (n: number): boolean => {
          enterRead(); // the upstream pool's judge of stale bytes needs to know (loop-turn.ts)
          try {
            onData(shared.subarray(0, n));
          } finally {
            leaveRead();
          }
          return true;
        },
      },
    } as unknown as net.SocketConstructorOpts;
    const socket = new net.Socket(options);
    // The server counts its connections through the socket's _server: hand
    // the count over, so server.close() still waits for this one.
    (socket as unknown as AcceptedInternals)._server = inner._server;
    inner._server = null;
    return { socket, lent: true };
  }
  accepted.on('data', (chunk: Buffer) => {
    enterRead();
    try {
      onData(chunk);
    } finally {
      leaveRead();
    }
  });
  accepted.resume();
  return { socket: accepted, lent: false };
}

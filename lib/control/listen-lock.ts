// One owner per listen address. With worker threads every worker binds the
// address with SO_REUSEPORT, and the kernel would let a second tcpvs (same
// user) join the group and take half the connections without a word. So the
// control plane holds a lock per address before its workers bind: an
// abstract Unix socket named after the address (Linux; it lives in the
// network namespace, as the address does, and goes away with the process,
// however it ends). Whoever finds the lock taken asks the holder who it is and
// refuses to start with a clear error.
//
// The lock is among tcpvs processes. Before its workers bind, the control
// plane also binds the address once without SO_REUSEPORT and lets it go
// (probeExclusive), which fails when anything at all listens there: nginx,
// another program, a wildcard address that covers this one.
import net from 'node:net';

export class ListenLockError extends Error {
  readonly code = 'EADDRINUSE';
}

export interface ListenLock {
  readonly key: string;
  release(): Promise<void>;
}

function lockPath(host: string, port: number): string {
  return `\0tcpvs-listen ${host} ${port}`;
}

function describe(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Asks the holder of a lock who it is; '' when it does not say. */
function askHolder(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    let text = '';
    const done = () => {
      socket.destroy();
      resolve(text.trim());
    };
    socket.setTimeout(1000, done);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('end', done);
    socket.on('error', done);
  });
}

/**
 * Takes the lock of host:port; rejects with a ListenLockError naming the
 * tcpvs that holds it. `who` is what this process answers when asked.
 */
export function takeListenLock(host: string, port: number, who: string): Promise<ListenLock> {
  const path = lockPath(host, port);
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end(who + '\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(err);
      void askHolder(path).then((holder) =>
        reject(
          new ListenLockError(
            `listen ${describe(host, port)}: address in use (EADDRINUSE): another tcpvs listens there (${holder === '' ? 'it did not say which' : holder})`,
          ),
        ),
      );
    });
    server.listen({ path }, () => {
      server.unref(); // a lock never keeps the process alive
      resolve({
        key: `${host} ${port}`,
        release: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

/**
 * Binds host:port without SO_REUSEPORT and lets it go: rejects when anything
 * listens there. Resolves with the port (the one the kernel chose for 0).
 */
export function probeExclusive(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        reject(new ListenLockError(`listen ${describe(host, port)}: address in use (EADDRINUSE) by another program`));
      else reject(err);
    });
    probe.listen({ host, port, exclusive: true }, () => {
      const bound = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(bound));
    });
  });
}

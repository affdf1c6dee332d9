// Ports for tests: one bound on 127.0.0.1 and closed again, so the kernel
// gave it out and nothing listens on it now. A test either listens there
// itself (a process it starts later) or connects to it to be refused.
import dgram from 'node:dgram';
import net from 'node:net';

/** A TCP port on 127.0.0.1 with nothing listening: bound, noted, closed. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A UDP port on 127.0.0.1 that nothing is bound to. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

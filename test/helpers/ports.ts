// Ports for tests: free on 127.0.0.1 when asked for, so a test either listens
// there itself (a process it starts later) or connects to it to be refused.
//
// They come from below the kernel's ephemeral range (ip_local_port_range),
// not from a port-0 bind: a port the kernel handed out once can be handed out
// again as the local port of any outgoing connection (another director's
// sync connect, a health probe), and a tcpvs started later on it then fails
// with EADDRINUSE. Below the range only a listener can take it.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 20_000;

/** The first port of the kernel's ephemeral range (Linux), or null when unknown. */
function ephemeralLow(): number | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : null;
  } catch {
    return null;
  }
}

const HIGHEST = (ephemeralLow() ?? 0) - 1;
// Each test process walks the range from its own random start, so two files
// running side by side rarely try the same port, and one file never twice.
let next = HIGHEST > LOWEST ? LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST)) : 0;

function candidate(): number {
  if (next === 0) return 0; // no room below the ephemeral range: let the kernel choose
  const port = next;
  next = next >= HIGHEST ? LOWEST : next + 1;
  return port;
}

async function bindable(bind: (port: number) => Promise<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      return await bind(candidate());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw new Error('no free port below the ephemeral range after 200 tries');
}

/** A TCP port on 127.0.0.1 with nothing listening: bound, noted, closed. */
export function freePort(): Promise<number> {
  return bindable(async (port) => {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
    });
    const bound = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return bound;
  });
}

/** A UDP port on 127.0.0.1 that nothing is bound to. */
export function freeUdpPort(): Promise<number> {
  return bindable(async (port) => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    const bound = socket.address().port;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return bound;
  });
}

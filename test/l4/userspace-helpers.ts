// Real servers, clients and service set-up for the user-space L4 core's
// tests. Everything listens on 127.0.0.1 (clients may bind other 127.x
// addresses to look like different hosts) and every wait is bounded.
import type { Test } from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { L4Error } from '../../lib/l4/model.ts';
import { createUserspaceCore, type UserspaceCore } from '../../lib/l4/userspace/core.ts';
import { pollUntil } from '../helpers/wait.ts';
import { freePort as freeTcpPort, freeUdpPort } from '../helpers/ports.ts';
import type { L4Core, Persistence, RealServerConfig, ServiceKey } from '../../lib/l4/model.ts';

export { sleep } from '../helpers/wait.ts';

/** Polls `check` until it holds or `timeoutMs` passes; returns whether it held. */
export function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  return pollUntil(check, timeoutMs);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export interface TcpBackend {
  readonly name: string;
  readonly port: number;
  readonly sockets: Set<net.Socket>;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export type Behaviour = (socket: net.Socket, name: string) => void;

/** Says its name on a line, then echoes everything and ends when the client ends. */
export const greetAndEcho: Behaviour = (socket, name) => {
  socket.write(`${name}\n`);
  socket.pipe(socket);
};

export async function startTcpBackend(name: string, behaviour: Behaviour = greetAndEcho): Promise<TcpBackend> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    behaviour(socket, name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    sockets,
    accepted: () => accepted,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A UDP real server answering each datagram with "NAME:payload". */
export interface UdpBackend {
  readonly name: string;
  readonly port: number;
  /** Distinct client address:port pairs seen (the core's per-flow sockets). */
  readonly peers: Set<string>;
  close(): Promise<void>;
}

export async function startUdpBackend(name: string): Promise<UdpBackend> {
  const socket = dgram.createSocket('udp4');
  const peers = new Set<string>();
  socket.on('message', (msg, rinfo) => {
    peers.add(`${rinfo.address}:${rinfo.port}`);
    socket.send(Buffer.concat([Buffer.from(`${name}:`), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    name,
    port: socket.address().port,
    peers,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/** A client connection that records everything it receives. */
export class TestClient {
  readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  ended = false; // FIN received
  closed = false;
  errorCode: string | null = null;
  readonly closedPromise: Promise<void>;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.receivedBytes += chunk.length;
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.errorCode = err.code ?? err.message;
    });
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  get length(): number {
    return this.receivedBytes;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.received().toString('latin1');
  }

  /** The first line, once it has arrived. */
  async firstLine(timeoutMs = 3000): Promise<string> {
    const ok = await waitFor(() => this.text().includes('\n') || this.closed, timeoutMs);
    const text = this.text();
    if (!ok || !text.includes('\n')) throw new Error(`no line received (closed: ${this.closed}, error: ${this.errorCode})`);
    return text.slice(0, text.indexOf('\n'));
  }

  async waitForBytes(count: number, timeoutMs = 3000): Promise<boolean> {
    return waitFor(() => this.receivedBytes >= count || this.closed, timeoutMs).then(() => this.receivedBytes >= count);
  }

  /** Half-closes, then waits until the socket is fully closed. */
  async finish(timeoutMs = 3000): Promise<void> {
    this.socket.end();
    await withTimeout(this.closedPromise, timeoutMs, 'client close');
  }
}

export async function openClient(port: number, localAddress?: string, timeoutMs = 3000): Promise<TestClient> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true });
  const client = new TestClient(socket);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    }),
    timeoutMs,
    'connect',
  );
  return client;
}

/** Connects through the core, reads which real server answered, and closes. */
export async function askName(port: number, localAddress?: string): Promise<string> {
  const client = await openClient(port, localAddress);
  try {
    return await client.firstLine();
  } finally {
    await client.finish().catch(() => client.socket.destroy());
  }
}

export function freePort(protocol: 'tcp' | 'udp'): Promise<number> {
  return protocol === 'udp' ? freeUdpPort() : freeTcpPort();
}

export function serviceKey(protocol: 'tcp' | 'udp', port: number, address = '127.0.0.1'): ServiceKey {
  return { protocol, address, port, fwmark: 0, family: address.includes(':') ? 6 : 4 };
}

/**
 * Adds a service on a port that was free a moment ago. Another process may
 * take the port in between, so a failed bind is retried on a new port.
 */
export async function addServiceOnFreePort(
  core: L4Core,
  protocol: 'tcp' | 'udp',
  scheduler: string,
  persistence: Persistence | null = null,
): Promise<ServiceKey> {
  for (let attempt = 0; ; attempt++) {
    const key = serviceKey(protocol, await freePort(protocol));
    try {
      await core.addService({ key, scheduler, persistence });
      return key;
    } catch (err) {
      if (!(err instanceof L4Error) || err.code !== 'failed' || attempt >= 4) throw err;
    }
  }
}

export function realServer(port: number, weight = 1, extra: Partial<RealServerConfig> = {}): RealServerConfig {
  return { address: '127.0.0.1', port, weight, method: 'masq', upperThreshold: 0, lowerThreshold: 0, ...extra };
}

/** Counts of each name in `names`. */
export function tally(names: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/**
 * Connects and waits for the core to drop the connection: resolves with the
 * bytes that arrived first (none, for a refusal). A reset may arrive before
 * the connect completes, so a failed connect counts as a refusal too.
 */
export async function expectRefused(port: number, timeoutMs = 3000): Promise<number> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const client = new TestClient(socket);
  await withTimeout(client.closedPromise, timeoutMs, 'refusal');
  return client.length;
}

/** TCP backends for one test, closed when it ends. */
export async function tcpBackends(t: Test, names: string[]): Promise<TcpBackend[]> {
  const started = await Promise.all(names.map((name) => startTcpBackend(name)));
  t.teardown(() => Promise.all(started.map((b) => b.close())));
  return started;
}

/** UDP backends for one test, closed when it ends. */
export async function udpBackends(t: Test, names: string[]): Promise<UdpBackend[]> {
  const started = await Promise.all(names.map((name) => startUdpBackend(name)));
  t.teardown(() => Promise.all(started.map((b) => b.close())));
  return started;
}

/** A user-space L4 core for one test, closed when it ends. */
export function newCore(t: Test, options: Parameters<typeof createUserspaceCore>[0] = {}): UserspaceCore {
  const core = createUserspaceCore(options);
  t.teardown(() => core.close());
  return core;
}

// TLS ClientHellos for tests: captured from real clients (Node's tls.connect,
// `openssl s_client`) by a local server that records the first record, and
// built here field by field for the cases no real client sends.
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';

/** The first TLS record a client sends to a local server that answers nothing. */
export async function captureHello(connect: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const seen = new Promise<Buffer>((resolve) => {
      server.once('connection', (socket) => {
        let bytes = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk]);
          if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
            socket.destroy();
            resolve(bytes);
          }
        });
        socket.on('error', () => {});
      });
    });
    const stop = connect(port);
    const bytes = await seen;
    stop();
    return bytes;
  } finally {
    server.close();
  }
}

export function nodeHello(options: tls.ConnectionOptions): Promise<Buffer> {
  return captureHello((port) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.on('error', () => {});
    return () => socket.destroy();
  });
}

export function opensslHello(openssl: string, args: string[]): Promise<Buffer> {
  return captureHello((port) => {
    const child = spawn(openssl, ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    return () => child.kill();
  });
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function extension(type: number, body: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(body.length), body]);
}

export function serverName(...names: Array<string | Buffer>): Buffer {
  const entries = names.map((n) => {
    const name = typeof n === 'string' ? Buffer.from(n, 'latin1') : n;
    return Buffer.concat([Buffer.from([0]), u16(name.length), name]);
  });
  const list = Buffer.concat(entries);
  return extension(0, Buffer.concat([u16(list.length), list]));
}

export function alpn(...names: string[]): Buffer {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n, 'latin1')])));
  return extension(16, Buffer.concat([u16(list.length), list]));
}

export interface BodySpec {
  version?: number;
  sessionId?: number;
  suites?: Buffer;
  compression?: Buffer;
  extensions?: Buffer[] | null; // null: no extensions block at all
}

export function helloBody(spec: BodySpec = {}): Buffer {
  const parts = [u16(spec.version ?? 0x0303), Buffer.alloc(32, 7)];
  const sid = spec.sessionId ?? 32;
  parts.push(Buffer.from([sid]), Buffer.alloc(sid, 1));
  const suites = spec.suites ?? Buffer.from([0x13, 0x01, 0xc0, 0x2f]);
  parts.push(u16(suites.length), suites);
  const compression = spec.compression ?? Buffer.from([0]);
  parts.push(Buffer.from([compression.length]), compression);
  if (spec.extensions !== null) {
    const ext = Buffer.concat(spec.extensions ?? [serverName('example.com')]);
    parts.push(u16(ext.length), ext);
  }
  return Buffer.concat(parts);
}

export function handshake(body: Buffer, type = 1): Buffer {
  const head = Buffer.from([type, 0, 0, 0]);
  head.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([head, body]);
}

/** `message` framed as records, cut at the given message offsets. */
export function records(message: Buffer, cuts: number[] = [], version = 0x0301): Buffer {
  const bounds = [0, ...cuts, message.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const fragment = message.subarray(bounds[i], bounds[i + 1]);
    out.push(Buffer.from([22]), u16(version), u16(fragment.length), fragment);
  }
  return Buffer.concat(out);
}

export function hello(spec: BodySpec = {}): Buffer {
  return records(handshake(helloBody(spec)));
}

/** The handshake message inside a captured single-record hello. */
export function messageOf(captured: Buffer): Buffer {
  return captured.subarray(5, 5 + captured.readUInt16BE(3));
}

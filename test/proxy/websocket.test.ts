// WebSocket through tcpvs: the Upgrade handshake is forwarded, the 101 comes
// back with its Upgrade/Connection fields, and frames then flow both ways
// through the tunnel unchanged.
import t from 'tap';
import type { Test } from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { listen, closeServer, startIdentityBackend } from '../helpers/backends.ts';
import { fieldValue } from '../helpers/http-bytes.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, withTimeout, type InProcessTcpvs } from '../helpers/tcpvs.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  length: number; // bytes the frame took on the wire
}

/** One frame at the start of `buf`, unmasked; null while incomplete. */
function parseFrame(buf: Buffer): Frame | null {
  if (buf.length < 2) return null;
  const fin = (buf[0] & 0x80) !== 0;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    at = 10;
  }
  const maskAt = at;
  if (masked) at += 4;
  if (buf.length < at + len) return null;
  const payload = Buffer.from(buf.subarray(at, at + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskAt + (i & 3)];
  return { fin, opcode, payload, length: at + len };
}

/** A final frame; masked when `mask` is true (client to server). */
function makeFrame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, body]);
}

interface EchoBackend {
  port: number;
  handshakes: http.IncomingMessage[];
  framesSeen: Frame[];
  close(): Promise<void>;
}

/** node:http with an 'upgrade' handler: an RFC 6455 handshake, then echo every data frame. */
async function startWsEchoBackend(): Promise<EchoBackend> {
  const handshakes: http.IncomingMessage[] = [];
  const framesSeen: Frame[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-length': 0 });
    res.end();
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    handshakes.push(req);
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const handshake = Buffer.from(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n` +
        'X-Echo-Backend: yes\r\n' +
        '\r\n',
    );
    // /ws/greet: the server speaks first, its frame in the same write as the 101.
    socket.write(req.url === '/ws/greet' ? Buffer.concat([handshake, makeFrame(0x1, Buffer.from('welcome'), false)]) : handshake);
    let buf = head;
    const onBytes = () => {
      for (let guard = 0; guard < 10_000; guard++) {
        const f = parseFrame(buf);
        if (f === null) return;
        buf = buf.subarray(f.length);
        framesSeen.push(f);
        if (f.opcode === 0x8) {
          socket.end(makeFrame(0x8, f.payload, false));
          return;
        }
        if (f.opcode === 0x9) socket.write(makeFrame(0xa, f.payload, false));
        else if (f.opcode === 0x1 || f.opcode === 0x2) socket.write(makeFrame(f.opcode, f.payload, false));
      }
    };
    socket.on('data', (c: Buffer) => {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      onBytes();
    });
    socket.on('error', () => socket.destroy());
    onBytes();
  });
  const port = await listen(server);
  return { port, handshakes, framesSeen, close: () => closeServer(server, sockets) };
}

async function setup(t: Test): Promise<{ s: InProcessTcpvs; ws: EchoBackend }> {
  const ws = await startWsEchoBackend();
  t.teardown(() => ws.close());
  const web = await startIdentityBackend('web');
  t.teardown(() => web.close());
  const s = await startTcpvs(
    serviceConfig({
      groups: [
        { name: 'ws', servers: [ws.port] },
        { name: 'web', servers: [web.port] },
      ],
      routes: ['sockets prefix /ws to ws'],
      defaultGroup: 'web',
    }),
  );
  t.teardown(() => s.close());
  return { s, ws };
}

/** Reads one frame from a raw client. */
async function readFrame(c: RawClient): Promise<Frame> {
  const hdr = await c.readBytes(2);
  let len = hdr[1] & 0x7f;
  let ext: Buffer = Buffer.alloc(0);
  if (len === 126) {
    ext = await c.readBytes(2);
    len = ext.readUInt16BE(0);
  } else if (len === 127) {
    ext = await c.readBytes(8);
    len = Number(ext.readBigUInt64BE(0));
  }
  const masked = (hdr[1] & 0x80) !== 0;
  const rest = await c.readBytes((masked ? 4 : 0) + len);
  return parseFrame(Buffer.concat([hdr, ext, rest]))!;
}

t.test('raw handshake: 101 with Upgrade and Connection, then a masked frame is echoed', async (t) => {
  const { s, ws } = await setup(t);
  const c = await RawClient.connect(s.port);
  t.teardown(() => c.close());
  const key = randomBytes(16).toString('base64');
  const hello = Buffer.from('hello through tcpvs');
  // The first frame rides in the same write as the handshake: tcpvs must hold
  // it until the 101 and then pass it into the tunnel.
  c.write(
    Buffer.concat([
      Buffer.from(
        requestHead('GET', '/ws/chat', [
          ['Host', 'ws.example'],
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
          ['Sec-WebSocket-Key', key],
          ['Sec-WebSocket-Version', '13'],
        ]),
        'latin1',
      ),
      makeFrame(0x1, hello, true),
    ]),
  );
  const res = await c.readHead();
  t.equal(res.status, 101);
  t.match(res.header('upgrade') ?? '', /^websocket$/i, 'Upgrade: websocket');
  t.match(res.header('connection') ?? '', /^upgrade$/i, 'Connection: upgrade');
  t.equal(res.header('sec-websocket-accept'), acceptFor(key), 'the accept key is the backend one, unchanged');
  t.equal(res.header('x-echo-backend'), 'yes');

  const echo = await readFrame(c);
  t.equal(echo.opcode, 0x1, 'a text frame');
  t.ok(echo.fin);
  t.equal(echo.payload.toString(), hello.toString(), 'echoed');

  const hs = ws.handshakes[0];
  t.equal(hs.url, '/ws/chat');
  t.equal(hs.headers.upgrade, 'websocket', 'the backend saw Upgrade: websocket');
  t.match(String(hs.headers.connection), /upgrade/i, 'and Connection: upgrade');
  t.equal(hs.headers['sec-websocket-key'], key);
  t.equal(hs.headers['sec-websocket-version'], '13');
  t.equal(
    fieldValue(
      Object.entries(hs.headers).map(([k, v]) => [k, String(v)]),
      'via',
    ),
    '1.1 tcpvs',
  );

  // A 70 000-byte binary frame (64-bit length), a ping, then a clean close.
  const big = randomBytes(70_000);
  c.write(makeFrame(0x2, big, true));
  const bigEcho = await readFrame(c);
  t.equal(bigEcho.opcode, 0x2);
  t.ok(bigEcho.payload.equals(big), 'a 70 kB binary frame echoed byte for byte');
  c.write(makeFrame(0x9, Buffer.from('p'), true));
  const pong = await readFrame(c);
  t.equal(pong.opcode, 0xa, 'pong');
  t.equal(pong.payload.toString(), 'p');
  const closePayload = Buffer.from([0x03, 0xe8]);
  c.write(makeFrame(0x8, closePayload, true));
  const closeEcho = await readFrame(c);
  t.equal(closeEcho.opcode, 0x8, 'close echoed');
  t.ok(await c.waitEnd(2000), 'the tunnel closes after the backend ends it');
  t.same(
    ws.framesSeen.map((f) => f.opcode),
    [0x1, 0x2, 0x9, 0x8],
    'the backend saw every frame, in order',
  );
});

t.test('a frame glued to the 101 reaches the client right after the handshake', async (t) => {
  const { s } = await setup(t);
  const c = await RawClient.connect(s.port);
  t.teardown(() => c.close());
  const key = randomBytes(16).toString('base64');
  c.write(
    requestHead('GET', '/ws/greet', [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', key],
      ['Sec-WebSocket-Version', '13'],
    ]),
  );
  const res = await c.readHead();
  t.equal(res.status, 101);
  t.equal(res.header('sec-websocket-accept'), acceptFor(key));
  const greeting = await readFrame(c);
  t.equal(greeting.opcode, 0x1);
  t.equal(greeting.payload.toString(), 'welcome', 'the server-first frame');
  c.write(makeFrame(0x1, Buffer.from('and back'), true));
  t.equal((await readFrame(c)).payload.toString(), 'and back', 'then the echo works');
});

t.test("Node's WebSocket client talks through tcpvs", async (t) => {
  const { s } = await setup(t);
  const socket = new WebSocket(`ws://127.0.0.1:${s.port}/ws/node`);
  socket.binaryType = 'arraybuffer';
  t.teardown(() => socket.close());
  const received: Array<string | Buffer> = [];
  let wake: (() => void) | null = null;
  socket.addEventListener('message', (ev: MessageEvent) => {
    received.push(typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data as ArrayBuffer));
    wake?.();
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('error', () => reject(new Error('WebSocket error before open')));
    }),
    5000,
    'WebSocket open',
  );
  const binary = randomBytes(200_000);
  const sent: Array<string | Buffer> = ['one', 'two – ünïcödé', binary, 'x'.repeat(300)];
  for (const m of sent) socket.send(typeof m === 'string' ? m : new Uint8Array(m));
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (received.length >= sent.length ? resolve() : (wake = check));
      check();
    }),
    5000,
    'echoes',
  );
  t.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const want = sent[i];
    const got = received[i];
    if (typeof want === 'string') t.equal(got, want, `message ${i} echoed`);
    else t.ok(Buffer.isBuffer(got) && got.equals(want), `binary message ${i} echoed (${want.length} bytes)`);
  }
  const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener('close', (ev) => resolve(ev)));
  socket.close(1000, 'bye');
  const ev = await withTimeout(closed, 5000, 'WebSocket close');
  t.equal(ev.code, 1000, 'closed cleanly with the code we sent (echoed by the backend)');
});

t.test('a plain request on the same service is not tunnelled', async (t) => {
  const { s } = await setup(t);
  const c = await RawClient.connect(s.port);
  t.teardown(() => c.close());
  c.write(requestHead('GET', '/page'));
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'web GET /page\n');
  // An upgrade request that the backend answers with an ordinary response
  // (node:http without an 'upgrade' listener): no tunnel, HTTP goes on.
  c.write(
    requestHead('GET', '/page-upgrade', [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', 'x'],
    ]),
  );
  const plain = await c.readResponse();
  t.equal(plain.status, 200);
  t.equal(plain.body.toString(), 'web GET /page-upgrade\n');
  c.write(requestHead('GET', '/page-after'));
  const after = await c.readResponse();
  t.equal(after.body.toString(), 'web GET /page-after\n', 'the connection still speaks HTTP');
});

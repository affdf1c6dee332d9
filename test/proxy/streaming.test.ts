// Bodies through tcpvs: chunked framing (extensions, trailers) spliced byte
// for byte, 100 MB each way with bounded memory, and backpressure both ways:
// a slow client stops the backend's write(), a slow backend stops the client's.
import t from 'tap';
import type { Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startRawBackend, listen, closeServer, type RawBackend } from '../helpers/backends.ts';
import { parseHeadAt, fieldValue } from '../helpers/http-bytes.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import {
  kernelQueuedBytes,
  sampler,
  withTimeout,
  serviceConfig,
  sleep,
  spawnTcpvs,
  startTcpvs,
  type SpawnedTcpvs,
} from '../helpers/tcpvs.ts';
import { untilSteady } from '../helpers/wait.ts';

const MB = 1024 * 1024;
// Memory tcpvs may grow by while moving a large body: far below the body size.
const RSS_GROWTH_LIMIT = 64 * MB;

async function inProcess(t: Test, backendPort: number) {
  const s = await startTcpvs(serviceConfig({ groups: [{ name: 'g', servers: [backendPort] }], defaultGroup: 'g' }));
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

t.test('a chunked request with extensions and trailers reaches the backend byte for byte', async (t) => {
  const backend: RawBackend = await startRawBackend((req, socket) => {
    const reply = `got ${req.rawBody.length}`;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${reply.length}\r\n\r\n${reply}`);
  });
  t.teardown(() => backend.close());
  const s = await inProcess(t, backend.port);
  const c = await client(t, s.port);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  // Pieces cut inside sizes, extensions, data, CRLFs and trailers.
  const pieces = [
    '5;name=val',
    'ue\r\nhel',
    'lo\r\n6\r\n world\r',
    '\n1a;x="q ;"\r\n' + letters.slice(0, 10),
    letters.slice(10) + '\r\n1A\r\n' + letters.toUpperCase() + '\r\n',
    '0;last\r\nX-Checksum: abc',
    '123\r\nX-Other:  spaced \r\n',
    '\r\n',
  ];
  const body = pieces.join('');
  c.write(
    requestHead('POST', '/up', [
      ['Transfer-Encoding', 'chunked'],
      ['Trailer', 'X-Checksum, X-Other'],
    ]),
  );
  for (const p of pieces) {
    await sleep(5);
    c.write(p);
  }
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), `got ${body.length}`);
  t.equal(backend.requests.length, 1);
  const seen = backend.requests[0];
  t.equal(fieldValue(seen.head.headers, 'transfer-encoding'), 'chunked', 'still chunked upstream');
  t.equal(fieldValue(seen.head.headers, 'content-length'), undefined, 'no length invented');
  t.equal(seen.rawBody.toString('latin1'), body, 'sizes, extensions, data and trailers unchanged');

  // The connection goes on after the chunked body.
  c.write(requestHead('POST', '/next', [['Content-Length', '4']]) + 'next');
  const next = await c.readResponse();
  t.equal(next.body.toString(), 'got 4');
  t.equal(backend.requests[1].rawBody.toString(), 'next');
});

t.test('a chunked response with extensions and trailers reaches the client byte for byte', async (t) => {
  const pieces = [
    '4;ext=1\r\nWiki\r\n',
    '7\r\npedia i',
    '\r\n2\r\nn ',
    '\r\n',
    'b;quoted="a;b"\r\nchunks. and\r',
    '\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum: 42\r\n\r\n',
  ];
  const body = pieces.join('');
  const backend = await startRawBackend(async (req, socket) => {
    if (req.url !== '/chunked') {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter');
      return;
    }
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Expires, X-Sum\r\n\r\n');
    for (const p of pieces) {
      await sleep(5);
      socket.write(p);
    }
  });
  t.teardown(() => backend.close());
  const s = await inProcess(t, backend.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/chunked', [['TE', 'trailers']]));
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.framing, 'chunked');
  t.equal(res.rawBody.toString('latin1'), body, 'the chunked body is relayed unchanged');
  t.equal(res.body.toString(), 'Wikipedia in chunks. and');
  t.same(res.trailers, [
    ['Expires', 'Wed, 21 Oct 2015 07:28:00 GMT'],
    ['X-Sum', '42'],
  ]);
  c.write(requestHead('GET', '/after'));
  t.equal((await c.readResponse()).body.toString(), 'after', 'the connection goes on after the last chunk');
});

t.test('a response dribbled one byte per write arrives intact', async (t) => {
  const response = Buffer.from(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Dribble: yes\r\n\r\n3;e=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n',
  );
  const backend = await startRawBackend(async (req, socket) => {
    if (req.url !== '/dribble') {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext');
      return;
    }
    for (const byte of response) {
      if (socket.destroyed) return;
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
  });
  t.teardown(() => backend.close());
  const s = await inProcess(t, backend.port);
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/dribble'));
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.header('x-dribble'), 'yes');
  const headEnd = response.indexOf('\r\n\r\n') + 4;
  t.equal(res.rawBody.toString('latin1'), response.subarray(headEnd).toString('latin1'), 'the chunked body, byte for byte');
  c.write(requestHead('GET', '/next'));
  t.equal((await c.readResponse()).body.toString(), 'next');
});

// Upstream bytes are read into one buffer per connection, reused read after
// read: a write to the client that has not gone out must never be overwritten.
t.test('a client that takes its bytes in bursts gets every byte of a large response in order', async (t) => {
  const total = 24 * 1024 * 1024;
  const backend = await startRawBackend((_req, socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
    let offset = 0;
    const more = (): void => {
      while (offset < total && !socket.destroyed) {
        const b = Buffer.allocUnsafe(Math.min(65536, total - offset));
        for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((offset + i) / 4, i);
        offset += b.length;
        if (!socket.write(b)) return void socket.once('drain', more);
      }
    };
    more();
  });
  t.teardown(() => backend.close());
  const s = await inProcess(t, backend.port);
  const socket = net.connect(s.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let head = Buffer.alloc(0);
  let bodyAt = -1;
  let received = 0;
  let firstBad = -1;
  let carry = Buffer.alloc(0);
  let events = 0;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      if (bodyAt === -1) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        bodyAt = end + 4;
        chunk = head.subarray(bodyAt);
      }
      const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const whole = data.length - (data.length % 4);
      for (let i = 0; i < whole && firstBad === -1; i += 4) if (data.readUInt32LE(i) !== (received + i) / 4) firstBad = received + i;
      received += whole;
      carry = Buffer.from(data.subarray(whole));
      if (received >= total) return resolve();
      // Stop reading now and then, so tcpvs's writes to us go out in part.
      if (++events % 3 === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 1);
      }
    });
  });
  socket.write('GET /pattern HTTP/1.1\r\nHost: test\r\n\r\n');
  await withTimeout(done, 60_000, 'the whole response');
  t.equal(received, total, 'every byte arrived');
  t.equal(firstBad, -1, 'in order, none overwritten');
});

// ---- large bodies through the real CLI, watching its memory -----------------

/** Deterministic-but-varied data: a random block with a running counter stamped in. */
function* blocks(total: number, blockSize: number): Generator<Buffer> {
  const seed = randomBytes(blockSize);
  let sent = 0;
  for (let n = 0; sent < total; n++) {
    const size = Math.min(blockSize, total - sent);
    const b = Buffer.allocUnsafe(size);
    seed.copy(b, 0, 0, size);
    b.writeUInt32BE(n >>> 0, 0);
    sent += size;
    yield b;
  }
}

interface BigBackend {
  port: number;
  /** Upload: bytes received and their sha256, per request. */
  uploads: Array<{ bytes: number; sha256: string }>;
  /** Download: what the last download sent. */
  download: { bytes: number; sha256: string; done: boolean; blockedWrites: number; waitingForDrain: boolean; written: number };
  close(): Promise<void>;
}

/**
 * POST /upload: counts and hashes the body. GET /download?bytes=N: sends N
 * bytes, honouring backpressure (awaits 'drain' whenever write() says so).
 */
async function startBigBackend(): Promise<BigBackend> {
  const uploads: BigBackend['uploads'] = [];
  const download = { bytes: 0, sha256: '', done: false, blockedWrites: 0, waitingForDrain: false, written: 0 };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        const result = { bytes, sha256: hash.digest('hex') };
        uploads.push(result);
        const body = JSON.stringify(result);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (url.pathname === '/download') {
      const total = Number(url.searchParams.get('bytes'));
      Object.assign(download, { bytes: 0, sha256: '', done: false, blockedWrites: 0, waitingForDrain: false, written: 0 });
      const hash = createHash('sha256');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      const it = blocks(total, 64 * 1024);
      const pump = () => {
        for (;;) {
          const next = it.next();
          if (next.done) {
            download.sha256 = hash.digest('hex');
            download.done = true;
            res.end();
            return;
          }
          hash.update(next.value);
          download.written += next.value.length;
          download.bytes = download.written;
          if (!res.write(next.value)) {
            download.blockedWrites++;
            download.waitingForDrain = true;
            res.once('drain', () => {
              download.waitingForDrain = false;
              pump();
            });
            return;
          }
        }
      };
      pump();
      return;
    }
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return { port, uploads, download, close: () => closeServer(server, sockets) };
}

interface SlowReader {
  port: number;
  /** Body bytes read so far (on the current connection). */
  received(): number;
  /** Starts reading the body that has been held back. */
  resume(): void;
  close(): Promise<void>;
}

/**
 * A raw backend that reads a request head, then stops reading until told to
 * resume; it then reads the Content-Length body, hashing it, and answers
 * with its length and sha256.
 */
async function startSlowReader(): Promise<SlowReader> {
  const sockets = new Set<net.Socket>();
  let received = 0;
  let held: net.Socket | null = null;
  let released = false;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    received = 0;
    let head = Buffer.alloc(0);
    let expected = -1;
    const hash = createHash('sha256');
    socket.on('data', (chunk: Buffer) => {
      let body = chunk;
      if (expected === -1) {
        head = Buffer.concat([head, chunk]);
        const parsed = parseHeadAt(head, 0);
        if (parsed === null) return;
        expected = Number(fieldValue(parsed.head.headers, 'content-length') ?? 0);
        body = head.subarray(parsed.end);
        if (!released) {
          held = socket;
          socket.pause();
        }
      }
      received += body.length;
      hash.update(body);
      if (received >= expected) {
        const reply = JSON.stringify({ bytes: received, sha256: hash.digest('hex') });
        socket.end(
          `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${reply.length}\r\nConnection: close\r\n\r\n${reply}`,
        );
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    received: () => received,
    resume() {
      released = true;
      held?.resume();
    },
    close: () => closeServer(server, sockets),
  };
}

/** Reads one response head from a raw socket, then hands every body byte to `onBody`. */
function streamResponse(socket: net.Socket, onBody: (chunk: Buffer) => void): Promise<{ status: number; contentLength: number }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const parsed = parseHeadAt(head, 0);
      if (parsed === null) return;
      socket.off('data', onData);
      const status = Number(parsed.head.startLine.split(' ')[1]);
      const rest = head.subarray(parsed.end);
      resolve({ status, contentLength: Number(fieldValue(parsed.head.headers, 'content-length') ?? -1) });
      socket.on('data', onBody);
      if (rest.length > 0) onBody(rest);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

/** POSTs `total` generated bytes to /upload; resolves with the backend's count and hash, and ours. */
async function upload(port: number, total: number): Promise<{ result: { bytes: number; sha256: string }; sha256: string }> {
  const socket = await connect(port);
  try {
    const response = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    socket.write(
      requestHead('POST', '/upload', [
        ['Content-Length', String(total)],
        ['Connection', 'close'],
      ]),
    );
    const hash = createHash('sha256');
    const started = Date.now();
    for (const b of blocks(total, 256 * 1024)) {
      hash.update(b);
      if (!socket.write(b)) await withTimeout(new Promise((r) => socket.once('drain', r)), 10_000, 'upload drain');
      if (Date.now() - started > 50_000) throw new Error('upload took over 50 s');
    }
    const raw = await withTimeout(response, 20_000, 'upload response');
    const parsed = parseHeadAt(raw, 0);
    if (parsed === null || parsed.head.startLine !== 'HTTP/1.1 200 OK')
      throw new Error(`bad upload response ${raw.toString('latin1', 0, 200)}`);
    return { result: JSON.parse(raw.subarray(parsed.end).toString()), sha256: hash.digest('hex') };
  } finally {
    socket.destroy();
  }
}

/** GETs /download of `total` bytes, hashing them as they arrive. */
async function download(port: number, total: number): Promise<{ status: number; contentLength: number; received: number; sha256: string }> {
  const socket = await connect(port);
  try {
    const hash = createHash('sha256');
    let received = 0;
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.write(requestHead('GET', `/download?bytes=${total}`, [['Connection', 'close']]));
    const head = await withTimeout(
      streamResponse(socket, (c) => {
        received += c.length;
        hash.update(c);
      }),
      5000,
      'download head',
    );
    await withTimeout(ended, 30_000, 'end of the download');
    return { ...head, received, sha256: hash.digest('hex') };
  } finally {
    socket.destroy();
  }
}

t.test('large bodies through the CLI with bounded memory', async (t) => {
  const backend = await startBigBackend();
  t.teardown(() => backend.close());
  const slowReader = await startSlowReader();
  t.teardown(() => slowReader.close());
  const cli: SpawnedTcpvs = await spawnTcpvs(
    serviceConfig({
      groups: [
        { name: 'g', servers: [backend.port] },
        { name: 'slow', servers: [slowReader.port] },
      ],
      routes: ['slow prefix /slow-upload to slow'],
      defaultGroup: 'g',
      logLevel: 'warn',
      logDestination: 'stderr',
    }),
  );
  t.teardown(() => cli.stop());
  // Warm up before taking baselines: code compiled, and one large transfer
  // each way so the allocator and V8's external-memory GC trigger (which lets
  // up to 64 MB of released buffers wait for collection) reach their steady
  // state. The first large transfer of a fresh process grows RSS by that much
  // whatever the body size; what must not happen is growth with the body.
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.connect(cli.port);
    c.write(requestHead('GET', '/warm'));
    await c.readResponse();
    c.close();
  }
  await upload(cli.port, 32 * MB);
  await download(cli.port, 32 * MB);
  // Baselines are taken once RSS holds still after the warm-up (if it never does, they are taken anyway).
  await untilSteady(() => cli.rss(), 200, 5000, 50);

  t.test('a 100 MB upload is streamed through', async (t) => {
    const total = 100 * MB;
    const baseline = cli.rss();
    const rss = sampler(() => cli.rss(), 50);
    const { result, sha256 } = await upload(cli.port, total);
    const samples = rss.stop();
    t.equal(result.bytes, total, 'the backend received every byte');
    t.equal(result.sha256, sha256, 'and exactly those bytes');
    const growth = Math.max(...samples) - baseline;
    t.ok(samples.length >= 3, `RSS sampled during the transfer (${samples.length} samples)`);
    t.ok(growth < RSS_GROWTH_LIMIT, `tcpvs RSS grew by ${(growth / MB).toFixed(1)} MB (< ${RSS_GROWTH_LIMIT / MB} MB)`);
  });

  t.test('a 100 MB download is streamed through', async (t) => {
    const total = 100 * MB;
    const baseline = cli.rss();
    const rss = sampler(() => cli.rss(), 50);
    const { status, contentLength, received, sha256 } = await download(cli.port, total);
    const samples = rss.stop();
    t.equal(status, 200);
    t.equal(contentLength, total);
    t.equal(received, total, 'every byte arrived');
    t.ok(backend.download.done, 'the backend finished sending');
    t.equal(sha256, backend.download.sha256, 'exactly the bytes the backend sent');
    const growth = Math.max(...samples) - baseline;
    t.ok(growth < RSS_GROWTH_LIMIT, `tcpvs RSS grew by ${(growth / MB).toFixed(1)} MB (< ${RSS_GROWTH_LIMIT / MB} MB)`);
  });

  t.test('a slow backend holds the uploading client back; tcpvs does not buffer the difference', async (t) => {
    const total = 50 * MB;
    const baseline = cli.rss();
    const rss = sampler(() => cli.rss(), 50);
    const socket = await connect(cli.port);
    t.teardown(() => socket.destroy());
    const response = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    socket.write(
      requestHead('POST', '/slow-upload', [
        ['Content-Length', String(total)],
        ['Connection', 'close'],
      ]),
    );
    const hash = createHash('sha256');
    let accepted = 0;
    let blocked = false;
    const it = blocks(total, 64 * 1024);
    const pump = () => {
      for (;;) {
        const next = it.next();
        if (next.done) return;
        hash.update(next.value);
        accepted += next.value.length;
        if (!socket.write(next.value)) {
          blocked = true;
          socket.once('drain', () => {
            blocked = false;
            pump();
          });
          return;
        }
      }
    };
    pump();
    // Kernel buffers grow as they fill (TCP autotuning): wait until nothing more is accepted for 700 ms.
    const acceptedSteady = await untilSteady(() => accepted, 700, 20_000, 50);
    t.ok(acceptedSteady !== null, `the client's writes stopped (at ${(accepted / MB).toFixed(1)} MB)`);
    t.ok(blocked, 'the client is blocked waiting for drain');
    t.ok(accepted < total, `the client got ${(accepted / MB).toFixed(1)} MB of ${total / MB} MB out`);
    const inKernel = kernelQueuedBytes([cli.port, slowReader.port]);
    const inTcpvs = accepted - socket.writableLength - slowReader.received() - inKernel;
    t.ok(
      inTcpvs < 2 * MB,
      `tcpvs holds ${(inTcpvs / MB).toFixed(2)} MB (sent ${(accepted / MB).toFixed(1)}, backend read ${(slowReader.received() / MB).toFixed(1)}, kernel queues ${(inKernel / MB).toFixed(1)})`,
    );
    slowReader.resume();
    const raw = await withTimeout(response, 20_000, 'slow upload response');
    const growth = Math.max(...rss.stop()) - baseline;
    const parsed = parseHeadAt(raw, 0)!;
    t.equal(parsed.head.startLine, 'HTTP/1.1 200 OK');
    const result = JSON.parse(raw.subarray(parsed.end).toString()) as { bytes: number; sha256: string };
    t.equal(result.bytes, total, 'the backend received every byte');
    t.equal(result.sha256, hash.digest('hex'), 'and exactly those bytes');
    t.ok(growth < RSS_GROWTH_LIMIT, `tcpvs RSS grew by ${(growth / MB).toFixed(1)} MB`);
  });

  t.test('a slow client holds the backend back; tcpvs does not buffer the difference', async (t) => {
    const total = 50 * MB;
    const baseline = cli.rss();
    const rss = sampler(() => cli.rss(), 50);
    const socket = await connect(cli.port);
    t.teardown(() => socket.destroy());
    const hash = createHash('sha256');
    let received = 0;
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.write(requestHead('GET', `/download?bytes=${total}`, [['Connection', 'close']]));
    const head = await streamResponse(socket, (c) => {
      received += c.length;
      hash.update(c);
    });
    t.equal(head.status, 200);
    // Stop reading: the kernel buffers fill, then tcpvs must stop reading the backend.
    socket.pause();
    // Kernel buffers grow as they fill (TCP autotuning): wait until the backend has written nothing for 700 ms.
    const writtenLate = await untilSteady(() => backend.download.written, 700, 20_000, 50);
    t.ok(writtenLate !== null, `the backend's writes stopped (at ${((writtenLate ?? backend.download.written) / MB).toFixed(1)} MB)`);
    t.ok(backend.download.waitingForDrain, 'the backend is blocked waiting for drain');
    t.ok(backend.download.blockedWrites >= 1, 'write() returned false');
    const written = writtenLate ?? backend.download.written;
    t.ok(written < total, `the backend stopped at ${(written / MB).toFixed(1)} MB of ${total / MB} MB`);
    // Whatever left the backend and did not reach the client is in kernel
    // socket queues or in tcpvs: the kernel's share is known, so tcpvs's is too.
    const inKernel = kernelQueuedBytes([cli.port, backend.port]);
    const inTcpvs = written - received - inKernel;
    t.ok(
      inTcpvs < 2 * MB,
      `tcpvs holds ${(inTcpvs / MB).toFixed(2)} MB (sent ${(written / MB).toFixed(1)}, received ${(received / MB).toFixed(1)}, kernel queues ${(inKernel / MB).toFixed(1)})`,
    );
    const pausedGrowth = Math.max(...rss.stop()) - baseline;
    t.ok(pausedGrowth < RSS_GROWTH_LIMIT, `tcpvs RSS grew by ${(pausedGrowth / MB).toFixed(1)} MB while the client slept`);

    // Read slowly now: small bursts, paused in between, until the end.
    const rss2 = sampler(() => cli.rss(), 50);
    const deadline = Date.now() + 30_000;
    let done = false;
    void ended.then(() => (done = true));
    for (let burst = 0; !done && Date.now() < deadline && burst < 100_000; burst++) {
      socket.resume();
      await sleep(2);
      socket.pause();
      await sleep(1);
    }
    socket.resume();
    await withTimeout(ended, 5000, 'end of the slow download');
    const slowGrowth = Math.max(...rss2.stop()) - baseline;
    t.equal(received, total, 'the slow client got every byte');
    t.equal(hash.digest('hex'), backend.download.sha256, 'and exactly those bytes');
    t.ok(slowGrowth < RSS_GROWTH_LIMIT, `tcpvs RSS grew by ${(slowGrowth / MB).toFixed(1)} MB during the slow read`);
  });
});

// Client bytes are read into one buffer that every connection of a thread
// shares (lib/proxy/client-reads.ts): the next read on any connection
// overwrites it. These tests keep bytes of one connection waiting inside
// tcpvs while another connection reads, and check that the waiting bytes
// reach the backend as the client sent them.
import t from 'tap';
import type { Test } from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { startRawBackend, listen, closeServer } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, withTimeout } from '../helpers/tcpvs.ts';
import { waitUntil } from '../helpers/wait.ts';

/** Bytes in the kernel's receive queue of the connection local:remote (from /proc/net/tcp). */
function receiveQueue(localPort: number, remotePort: number): number {
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== '01') continue;
    if (parseInt(f[1].split(':')[1], 16) === localPort && parseInt(f[2].split(':')[1], 16) === remotePort)
      return parseInt(f[4].split(':')[1], 16);
  }
  return 0;
}

async function tcpvsFor(t: Test, backendPort: number) {
  const s = await startTcpvs(serviceConfig({ groups: [{ name: 'g', servers: [backendPort] }], defaultGroup: 'g' }));
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

t.test('a pipelined request waiting behind a slow response is not overwritten by another connection', async (t) => {
  let releaseSlow: (() => void) | null = null;
  const backend = await startRawBackend((req, socket) => {
    const answer = (): void => void socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.url.length}\r\n\r\n${req.url}`);
    if (req.url === '/slow') releaseSlow = answer;
    else answer();
  });
  t.teardown(() => backend.close());
  const s = await tcpvsFor(t, backend.port);
  const a = await client(t, s.port);
  const second = '/second-' + 'a'.repeat(200);
  // Both requests in one write: the second waits in tcpvs while /slow is out.
  a.write(requestHead('GET', '/slow') + requestHead('GET', second));
  await waitUntil(() => releaseSlow !== null, 5000, 'the slow request at the backend');
  // Another connection reads while the second request waits.
  const b = await client(t, s.port);
  const other = '/other-' + 'z'.repeat(400);
  b.write(requestHead('GET', other));
  t.equal((await b.readResponse()).body.toString(), other);
  releaseSlow!();
  t.equal((await a.readResponse()).body.toString(), '/slow');
  const res = await a.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), second, 'the waiting request reached the backend as sent');
  t.same(
    backend.requests.map((r) => r.url),
    ['/slow', other, second],
  );
});

t.test('upload bytes waiting for a backend that does not read are not overwritten by another connection', async (t) => {
  // A backend that stops reading after the head, until told to go on.
  const sockets = new Set<net.Socket>();
  let uploadSocket: net.Socket | null = null;
  const received = createHash('sha256');
  let bodyBytes = 0;
  const total = 32 * 1024 * 1024;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    let inBody = false;
    socket.on('data', (chunk: Buffer) => {
      if (!inBody) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        const line = head.subarray(0, head.indexOf('\r\n')).toString();
        if (line.startsWith('GET')) {
          const path = line.split(' ')[1];
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
          head = head.subarray(end + 4);
          return;
        }
        inBody = true;
        uploadSocket = socket;
        socket.pause();
        chunk = head.subarray(end + 4);
      }
      received.update(chunk);
      bodyBytes += chunk.length;
      if (bodyBytes === total) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        done();
      }
    });
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  const s = await tcpvsFor(t, port);
  const a = await client(t, s.port);
  const body = Buffer.alloc(total);
  for (let i = 0; i < total; i += 4) body.writeUInt32LE(i / 4, i);
  const sent = createHash('sha256').update(body).digest('hex');
  a.write(requestHead('POST', '/up', [['Content-Length', String(total)]]));
  a.write(body);
  // Wait until the upload is held up: tcpvs stopped reading the client
  // (its receive queue fills up) because bytes wait in tcpvs for the backend.
  await waitUntil(
    () => uploadSocket !== null && receiveQueue(s.port, a.socket.localPort!) >= 512 * 1024,
    // Generous: on a loaded machine filling the queues took over 5 s once.
    30_000,
    'the upload at the backend',
  );
  // Meanwhile other connections read through the shared buffer.
  for (let i = 0; i < 20; i++) {
    const b = await client(t, s.port);
    const path = `/other-${i}-` + String.fromCharCode(97 + i).repeat(1000);
    b.write(requestHead('GET', path));
    t.equal((await b.readResponse()).body.toString(), path);
    b.close();
  }
  uploadSocket!.resume();
  await withTimeout(finished, 30_000, 'the whole upload');
  t.equal(bodyBytes, total, 'every byte arrived');
  t.equal(received.digest('hex'), sent, 'and exactly the bytes sent');
  t.equal((await a.readResponse()).body.toString(), 'ok');
});

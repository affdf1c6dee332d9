// TLS passthrough by SNI end to end (docs/tls.md): two TLS backends with
// their own certificates from the test CA are two groups; a client reaches
// the one its server name routes to (checked by the certificate it got and
// an echo), and the backend receives the client's ClientHello byte for
// byte. A garbage first packet, an oversized ClientHello and a stalled one
// are closed, logged, and never reach a backend; no SNI goes to the default.
// Also: a PROXY header read and dropped (accept-proxy), a failed connect
// retried on another server, and a reload that reroutes new connections only.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch } from '../../lib/control/switch.ts';
import { readClientHello } from '../../lib/tls/client-hello.ts';
import { createTestCa, ensureOpenssl, type IssuedCert, type TestCa } from '../helpers/certs.ts';
import { handshake, helloBody, records, serverName, u16 } from '../helpers/client-hellos.ts';
import { captureLogger } from '../health/helpers.ts';
import { pollUntil } from '../helpers/wait.ts';
import { freePort } from '../helpers/ports.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`TLS passthrough tests skipped: ${skip}`);

let ca: TestCa;
const certs: Record<string, IssuedCert> = {};
if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  certs.a = ca.issue('a', { cn: 'a', dns: ['a.example.com'] });
  certs.b = ca.issue('b', { cn: 'b', dns: ['*.b.example.com'] });
}

const fingerprint = (c: IssuedCert): string => new X509Certificate(c.certPem).fingerprint256;

/** A TCP relay to `target` that keeps the first bytes of each connection, up to a whole ClientHello (or what is not one). */
interface Relay {
  port: number;
  connections: number;
  firstBytes: Buffer[];
}

async function relay(t: Test, target: number): Promise<Relay> {
  const recorded: Relay = { port: 0, connections: 0, firstBytes: [] };
  const server = net.createServer((socket) => {
    recorded.connections++;
    const at = recorded.firstBytes.push(Buffer.alloc(0)) - 1;
    const onward = net.connect(target, '127.0.0.1');
    const record = (chunk: Buffer): void => {
      recorded.firstBytes[at] = Buffer.concat([recorded.firstBytes[at], chunk]);
      if (readClientHello(recorded.firstBytes[at]).kind !== 'incomplete') socket.off('data', record);
    };
    socket.on('data', record);
    socket.pipe(onward).pipe(socket);
    socket.on('error', () => onward.destroy());
    onward.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  recorded.port = (server.address() as net.AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return recorded;
}

/** A TLS echo server that prefixes its name, behind a relay that records what it receives. */
async function tlsBackend(t: Test, name: string, cert: IssuedCert): Promise<Relay> {
  const secure = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => {
    socket.on('data', (d: Buffer) => socket.write(`${name}:${d.toString()}`));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => secure.close(() => resolve())));
  return relay(t, (secure.address() as net.AddressInfo).port);
}

interface Reply {
  fingerprint: string;
  echo: string;
}

/** A TLS client: writes `ping`, reads one echo. */
function exchange(port: number, servername: string | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: ca.caPem, rejectUnauthorized: false });
    socket.on('secureConnect', () => socket.write('ping'));
    socket.on('data', (d: Buffer) => {
      resolve({ fingerprint: socket.getPeerCertificate().fingerprint256, echo: d.toString() });
      socket.end();
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no echo within 5 s')));
  });
}

/** Sends `bytes` raw and resolves when the switch closes the connection. */
function closedAfter(port: number, bytes: Buffer | null): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      if (bytes !== null) socket.write(bytes);
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

t.test('passthrough by SNI to two groups; the backend sees the original ClientHello', { skip }, async (t) => {
  const a = await tlsBackend(t, 'A', certs.a);
  const b = await tlsBackend(t, 'B', certs.b);
  const text = [
    'service pass',
    '  listen 127.0.0.1:0',
    '  mode tls-passthrough',
    '  timeout client-header 300ms',
    '  group ga',
    `    server 127.0.0.1:${a.port}`,
    '  group gb scheduler rr',
    `    server 127.0.0.1:${b.port}`,
    '    persist source',
    '  route ra sni a.example.com to ga',
    '  route rb sni *.b.example.com to gb',
    '  default ga',
    '',
  ].join('\n');
  const { log, lines } = captureLogger('warn');
  const running = await startSwitch(parseConfigText(text, 'pass.tcpvs'), log);
  t.teardown(() => running.close());
  // Clients connect through a relay that records what they sent.
  const sent = await relay(t, running.services[0].address!.port);
  const port = sent.port;

  const toA = await exchange(port, 'a.example.com');
  t.equal(toA.fingerprint, fingerprint(certs.a), 'a.example.com: backend A’s certificate');
  t.equal(toA.echo, 'A:ping', 'echoed by A');
  const toB = await exchange(port, 'x.b.example.com');
  t.equal(toB.fingerprint, fingerprint(certs.b), 'x.b.example.com: backend B’s certificate');
  t.equal(toB.echo, 'B:ping', 'echoed by B');
  t.equal(a.connections, 1);
  t.equal(b.connections, 1);
  t.ok(
    a.firstBytes[0].length > 0 && a.firstBytes[0].equals(sent.firstBytes[0]),
    `A received the ClientHello byte for byte (${a.firstBytes[0].length} bytes)`,
  );
  t.ok(b.firstBytes[0].equals(sent.firstBytes[1]), 'B received the ClientHello byte for byte');
  const read = readClientHello(b.firstBytes[0]);
  t.match(read, { kind: 'hello', sni: 'x.b.example.com' }, 'the SNI read from what B received');

  const none = await exchange(port, undefined);
  t.equal(none.echo, 'A:ping', 'no SNI: the default group');
  const deeper = await exchange(port, 'y.x.b.example.com');
  t.equal(deeper.echo, 'A:ping', '*.b.example.com is one label: a deeper name goes to the default');
  t.equal(a.connections, 3);

  // Refusals: none reaches a backend, each logs one line.
  const before = lines.length;
  await closedAfter(port, Buffer.from('GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n'));
  const huge = records(
    handshake(helloBody({ extensions: [serverName('a.example.com'), Buffer.concat([u16(0xff01), u16(20000), Buffer.alloc(20000)])] })),
    [16000],
  );
  await closedAfter(port, huge);
  const started = Date.now();
  await closedAfter(port, Buffer.from([0x16, 0x03, 0x01])); // a hello that never completes
  t.ok(Date.now() - started >= 250, 'a stalled ClientHello is closed at timeout client-header');
  t.ok(await pollUntil(() => lines.length - before >= 3, 2000), 'three refusals logged');
  const refusals = lines.slice(before).filter((l) => l.msg === 'TLS passthrough refused');
  t.equal(refusals.length, 3, 'one line each');
  t.match(refusals[0].reason, /not a TLS handshake record/);
  t.match(refusals[1].reason, /ClientHello/);
  t.match(refusals[2].reason, /timeout client-header/);
  t.equal(a.connections + b.connections, 4, 'no refused connection reached a backend');
  t.ok(await pollUntil(() => running.services[0].connections === 0, 2000), 'every connection closed');

  // The server counts the connection as active while it is open, and only then.
  const server = running.services[0].groups.get('ga')!.servers[0];
  const held = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    held.once('secureConnect', () => resolve());
    held.once('error', reject);
  });
  t.equal(server.active, 1, 'an open passthrough connection is active on its server');
  held.destroy();
  t.ok(await pollUntil(() => server.active === 0, 2000), 'and ends when it closes');
});

/** A TLS client behind a PROXY v1 header: writes `ping`, reads one echo. */
function proxiedExchange(port: number, servername: string, header: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1', () => {
      raw.write(header);
      const socket = tls.connect({ socket: raw, servername, rejectUnauthorized: false });
      socket.on('secureConnect', () => socket.write('ping'));
      socket.on('data', (d: Buffer) => {
        resolve(d.toString());
        socket.end();
      });
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no echo within 5 s')));
    });
    raw.on('error', reject);
  });
}

t.test('accept-proxy: the PROXY header is read and dropped; the server gets the ClientHello first', { skip }, async (t) => {
  const a = await tlsBackend(t, 'A', certs.a);
  const text = (from: string): string =>
    [
      'service pass',
      '  listen 127.0.0.1:0',
      '  mode tls-passthrough',
      `  accept-proxy from ${from}`,
      '  timeout client-header 1s',
      '  group ga scheduler sh',
      `    server 127.0.0.1:${a.port}`,
      '  route ra sni a.example.com to ga',
      '',
    ].join('\n');
  const { log, lines } = captureLogger('warn');
  const running = await startSwitch(parseConfigText(text('127.0.0.1'), 'pass.tcpvs'), log);
  t.teardown(() => running.close());
  const port = running.services[0].address!.port;
  const header = 'PROXY TCP4 203.0.113.9 127.0.0.1 5555 443\r\n';
  t.equal(await proxiedExchange(port, 'a.example.com', header), 'A:ping', 'routed by SNI after the header');
  t.equal(a.firstBytes[0][0], 0x16, 'the server’s first byte begins the ClientHello');
  t.match(readClientHello(a.firstBytes[0]), { kind: 'hello', sni: 'a.example.com' });

  const untrusted = await startSwitch(parseConfigText(text('10.0.0.0/8'), 'pass.tcpvs'), log);
  t.teardown(() => untrusted.close());
  await closedAfter(untrusted.services[0].address!.port, Buffer.from(header));
  t.ok(
    await pollUntil(() => lines.some((l) => /accept-proxy does not name/.test(String(l.reason))), 2000),
    'a header from elsewhere is refused and logged',
  );
  t.equal(a.connections, 1, 'and reaches no server');
});

t.test('a failed connect goes to another server of the group', { skip }, async (t) => {
  const a = await tlsBackend(t, 'A', certs.a);
  const dead = net.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const text = [
    'service pass',
    '  listen 127.0.0.1:0',
    '  mode tls-passthrough',
    '  retries 1',
    '  group ga scheduler rr',
    `    server 127.0.0.1:${deadPort}`,
    `    server 127.0.0.1:${a.port}`,
    '  default ga',
    '',
  ].join('\n');
  const { log } = captureLogger('warn');
  const running = await startSwitch(parseConfigText(text, 'pass.tcpvs'), log);
  t.teardown(() => running.close());
  const port = running.services[0].address!.port;
  for (let i = 0; i < 3; i++)
    t.equal((await exchange(port, 'a.example.com')).echo, 'A:ping', `connection ${i + 1} reaches the live server`);
  t.equal(a.connections, 3);
  t.ok(
    a.firstBytes.every((b) => readClientHello(b).kind === 'hello'),
    'each time with the ClientHello first',
  );
});

t.test('a reload changes the sni routes for new connections; an open one keeps its server', { skip }, async (t) => {
  const a = await tlsBackend(t, 'A', certs.a);
  const b = await tlsBackend(t, 'B', certs.b);
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-pass-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pass.tcpvs');
  const text = (group: string): string =>
    [
      'log level silent',
      'service pass',
      '  listen 127.0.0.1:0',
      '  mode tls-passthrough',
      '  group ga',
      `    server 127.0.0.1:${a.port}`,
      '  group gb',
      `    server 127.0.0.1:${b.port}`,
      `  route r sni a.example.com to ${group}`,
      '  default gb',
      '',
    ].join('\n');
  writeFileSync(file, text('ga'));
  const running = await startSwitch(parseConfigText(text('ga'), file));
  t.teardown(() => running.close());
  const port = running.services[0].address!.port;
  const open = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', rejectUnauthorized: false });
  let replies = '';
  open.on('data', (d: Buffer) => (replies += d.toString()));
  await new Promise<void>((resolve, reject) => {
    open.once('secureConnect', () => resolve());
    open.once('error', reject);
  });
  writeFileSync(file, text('gb'));
  await running.control.reload(file);
  t.equal((await exchange(port, 'a.example.com')).echo, 'B:ping', 'a new connection follows the new route');
  open.write('still');
  t.ok(await pollUntil(() => replies === 'A:still', 5000), 'the open connection still reaches A');
  open.destroy();
});

t.test('an L4 VIP of the user-space core in front of a passthrough service: routed by SNI through both tiers', { skip }, async (t) => {
  const a = await tlsBackend(t, 'A', certs.a);
  const b = await tlsBackend(t, 'B', certs.b);
  const vipPort = await freePort();
  const tcpvs = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver userspace',
      'service pass',
      '  listen 127.0.0.1:0',
      '  mode tls-passthrough',
      '  group ga scheduler rr',
      `    server 127.0.0.1:${a.port}`,
      '  group gb scheduler rr',
      `    server 127.0.0.1:${b.port}`,
      '  route ra sni a.example.com to ga',
      '  route rb sni *.b.example.com to gb',
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  real self pass',
      '',
    ].join('\n'),
  );
  t.teardown(() => tcpvs.stop());
  // The VIP's real self sends a PROXY v2 header, which the service reads before the ClientHello.
  const viaVip = await exchange(vipPort, 'a.example.com');
  t.equal(viaVip.echo, 'A:ping', 'a.example.com through the VIP: group ga');
  t.equal(viaVip.fingerprint, fingerprint(certs.a), 'the handshake is the server’s own');
  t.equal((await exchange(vipPort, 'x.b.example.com')).echo, 'B:ping', 'x.b.example.com through the VIP: group gb');
  t.equal(a.firstBytes.at(-1)?.[0], 0x16, 'the server’s first byte begins the ClientHello: the PROXY header stopped at the service');
  t.equal((await exchange(tcpvs.port, 'a.example.com')).echo, 'A:ping', 'the service still answers directly');
});

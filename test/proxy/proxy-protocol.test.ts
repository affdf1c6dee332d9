// The client's address through every tier with the PROXY protocol: the L4
// core sends it to real servers that want it (and to tcpvs's own services,
// with no statement), services read it from the sources they trust and
// refuse it from any other. Real sockets; clients bind 127.0.0.x addresses.
import { freePort } from '../helpers/ports.ts';
import t from 'tap';
import net from 'node:net';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { serviceConfig, spawnTcpvs, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, sleep } from '../helpers/wait.ts';
import { createUserspaceCore } from '../../lib/l4/userspace/core.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local, parseProxyHeader } from '../../lib/net/proxy-protocol.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { probeTcp } from '../../lib/health/probes.ts';

/**
 * Connects from `from`, writes `parts` one by one (a pause between them, so
 * they arrive as separate reads), and resolves with all the bytes that came
 * back once the server has closed the connection (every exchange here ends
 * so: `Connection: close`, or a refusal); rejects after 10 s.
 */
function exchange(port: number, from: string, parts: (string | Buffer)[]): Promise<{ reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from the server within 10 s; got ${JSON.stringify(reply)}`));
    }, 10_000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply });
    };
    socket.on('error', done); // a reset is a close too
    socket.on('data', (c) => (reply += c.toString('latin1')));
    socket.on('end', done);
    socket.on('close', done);
    socket.on('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        await sleep(20);
      }
    });
  });
}

const GET = 'GET /who HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n';

function readLog(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('accept-proxy: a trusted source sets the client address, any other source is refused', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-pp-')), 'tcpvs.log');
  const config = serviceConfig({
    groups: [{ name: 'g', servers: [backend.port] }],
    defaultGroup: 'g',
    extra: ['accept-proxy from 127.0.0.2 127.0.9.0/24'],
    logLevel: 'info',
    logDestination: log,
  });
  const tcpvs = await startTcpvs(config);
  t.teardown(() => tcpvs.close());
  const xff = () => backend.header(backend.requests[backend.requests.length - 1], 'x-forwarded-for');
  const v4 = { family: 4 as const, sourceAddress: '192.0.2.9', sourcePort: 5555, destinationAddress: '198.51.100.1', destinationPort: 80 };

  let r = await exchange(tcpvs.port, '127.0.0.2', [encodeProxyV1(v4), GET]);
  t.match(r.reply, /^HTTP\/1\.1 200/, 'v1 from a trusted source: served');
  t.equal(xff(), '192.0.2.9', 'the backend sees the address in the header');

  const v2 = encodeProxyV2({ ...v4, sourceAddress: '203.0.113.7' });
  r = await exchange(tcpvs.port, '127.0.9.44', [v2.subarray(0, 5), v2.subarray(5, 14), Buffer.concat([v2.subarray(14), Buffer.from(GET)])]);
  t.match(r.reply, /^HTTP\/1\.1 200/, 'v2 in three pieces from a trusted network: served');
  t.equal(xff(), '203.0.113.7');

  const v6 = encodeProxyV2({
    family: 6,
    sourceAddress: '2001:db8::7',
    sourcePort: 1,
    destinationAddress: '2001:db8::1',
    destinationPort: 80,
  });
  r = await exchange(tcpvs.port, '127.0.0.2', [Buffer.concat([v6, Buffer.from(GET)])]);
  t.equal(xff(), '2001:db8::7', 'an IPv6 client through an IPv4 hop');

  r = await exchange(tcpvs.port, '127.0.0.2', [encodeProxyV2Local(), GET]);
  t.match(r.reply, /^HTTP\/1\.1 200/);
  t.equal(xff(), '127.0.0.2', 'LOCAL: the connection is the proxy’s own, its address stays');

  r = await exchange(tcpvs.port, '127.0.0.2', [GET]);
  t.equal(xff(), '127.0.0.2', 'a trusted source may still speak plain HTTP');

  const served = backend.requests.length;
  r = await exchange(tcpvs.port, '127.0.0.3', [encodeProxyV1(v4), GET]);
  t.equal(r.reply, '', 'an untrusted source: closed with no answer');
  r = await exchange(tcpvs.port, '127.0.0.2', ['PROXY TCP4 192.0.2.9  198.51.100.1 5555 80\r\n', GET]);
  t.equal(r.reply, '', 'a malformed header from a trusted source: closed with no answer');
  r = await exchange(tcpvs.port, '127.0.0.2', [Buffer.concat([Buffer.from(v2.subarray(0, 13)), Buffer.from([0x15, 0x00, 0x0c])]), GET]);
  t.equal(r.reply, '', 'a v2 header with an unknown family: closed with no answer');
  t.equal(backend.requests.length, served, 'nothing of a refused connection reached the backend');

  t.ok(
    await pollUntil(
      () => readLog(log).filter((l) => l.msg === 'refused' && typeof l.reason === 'string' && /PROXY/.test(l.reason)).length >= 3,
      5000,
    ),
    'each refusal is logged with its reason',
  );
  const reasons = readLog(log)
    .filter((l) => l.msg === 'refused')
    .map((l) => String(l.reason));
  t.ok(
    reasons.some((x) => /accept-proxy does not name/.test(x)),
    'the untrusted source',
  );
  t.ok(
    reasons.some((x) => /single spaces/.test(x)),
    'the malformed v1 header, with what is wrong',
  );
  t.ok(
    reasons.some((x) => /byte 13/.test(x)),
    'the malformed v2 header, with the byte at fault',
  );
  const access = readLog(log).filter((l) => l.msg === 'request');
  t.ok(
    access.some((l) => l.client === '192.0.2.9'),
    'the access log has the header’s address',
  );
});

// The L4 core's checks of a real that wants PROXY headers send one (v2 LOCAL)
// and reset the connection at once; a busy node accepts it after the reset,
// when its peer's address can no longer be read. Such a connection has nobody
// left to refuse: it is closed without a `refused` line (it was logged at each
// check, as from client "").
t.test('accept-proxy: a check that resets after its header is closed quietly; a live connection is still refused', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-pp-')), 'tcpvs.log');
  const config = serviceConfig({
    groups: [{ name: 'g', servers: [backend.port] }],
    defaultGroup: 'g',
    extra: ['accept-proxy from 127.0.0.2'],
    logLevel: 'warn',
    logDestination: log,
  });
  const tcpvs = await spawnTcpvs(config);
  t.teardown(() => tcpvs.stop());
  // Stopped, tcpvs accepts nothing: the kernel completes the checks' connections, queues
  // their headers, and takes their resets, all before tcpvs sees them.
  process.kill(tcpvs.pid, 'SIGSTOP');
  const stop = new AbortController();
  let results;
  try {
    results = await Promise.all([
      probeTcp('127.0.0.1', tcpvs.port, 5000, stop.signal, 2),
      probeTcp('127.0.0.1', tcpvs.port, 5000, stop.signal, 1),
    ]);
  } finally {
    process.kill(tcpvs.pid, 'SIGCONT');
  }
  t.ok(
    results.every((r) => r.ok),
    'the checks connected and sent their headers',
  );
  // Accepted after them, a live untrusted connection with a header: refused and logged.
  const v4 = { family: 4 as const, sourceAddress: '192.0.2.9', sourcePort: 5555, destinationAddress: '198.51.100.1', destinationPort: 80 };
  const r = await exchange(tcpvs.port, '127.0.0.3', [encodeProxyV1(v4), GET]);
  t.equal(r.reply, '', 'an untrusted source: closed with no answer');
  t.ok(await pollUntil(() => readLog(log).some((l) => l.msg === 'refused' && l.client === '127.0.0.3'), 5000), 'its refusal is logged');
  const refused = readLog(log).filter((l) => l.msg === 'refused');
  t.same(
    refused.map((l) => l.client),
    ['127.0.0.3'],
    'and is the only one: the reset checks left no line',
  );
  t.equal(backend.requests.length, 0, 'nothing reached the backend');
});

t.test('without accept-proxy a PROXY header is a malformed request (400)', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const tcpvs = await startTcpvs(serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' }));
  t.teardown(() => tcpvs.close());
  const r = await exchange(tcpvs.port, '127.0.0.2', ['PROXY TCP4 192.0.2.9 198.51.100.1 5555 80\r\n' + GET]);
  t.match(r.reply, /^HTTP\/1\.1 400/);
  t.equal(backend.requests.length, 0);
});

t.test('the L4 core sends a PROXY header (v1 or v2) to a real server that wants one', async (t) => {
  const seen: Buffer[] = [];
  const server = net.createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).includes('END')) {
        seen.push(Buffer.concat(chunks));
        s.end('ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const realPort = (server.address() as net.AddressInfo).port;
  const core = createUserspaceCore({});
  t.teardown(() => core.close());
  for (const version of [1, 2] as const) {
    const vipPort = await freePort();
    const key = { protocol: 'tcp' as const, address: '127.0.0.1', port: vipPort, fwmark: 0, family: 4 as const };
    await core.apply([
      {
        key,
        scheduler: 'rr',
        persistence: null,
        realServers: [
          { address: '127.0.0.1', port: realPort, weight: 1, method: 'masq', upperThreshold: 0, lowerThreshold: 0, proxyProtocol: version },
        ],
      },
    ]);
    const socket = net.connect({ host: '127.0.0.1', port: vipPort, localAddress: '127.0.0.88' });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const clientPort = socket.localPort!;
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c) => (text += c));
      socket.on('end', () => resolve(text));
      socket.end('hello END');
    });
    t.equal(reply, 'ok');
    const bytes = seen[seen.length - 1];
    const parsed = parseProxyHeader(bytes);
    if (parsed.kind !== 'header') throw new Error(`no header: ${JSON.stringify(parsed)}`);
    t.equal(parsed.version, version, `v${version}`);
    t.same(
      parsed.addresses,
      { family: 4, sourceAddress: '127.0.0.88', sourcePort: clientPort, destinationAddress: '127.0.0.1', destinationPort: vipPort },
      'the client and the VIP it reached',
    );
    t.equal(bytes.subarray(parsed.length).toString(), 'hello END', 'then the client’s bytes, untouched');
    if (version === 1) t.equal(bytes.subarray(0, parsed.length).toString(), `PROXY TCP4 127.0.0.88 127.0.0.1 ${clientPort} ${vipPort}\r\n`);
  }
});

t.test('two tiers: the client address crosses the user-space VIP to a real self service and on to the backend', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const vipPort = await freePort();
  const tcpvs = await spawnTcpvs(
    [
      'log level warn',
      'l4 driver userspace',
      'service web',
      '  listen 127.0.0.1:0',
      '  group g',
      `    server 127.0.0.1:${backend.port}`,
      '  default g',
      `vip front tcp 127.0.0.1:${vipPort}`,
      '  scheduler rr',
      '  real self web',
    ].join('\n') + '\n',
  );
  t.teardown(() => tcpvs.stop());
  const r = await exchange(vipPort, '127.0.0.88', [GET]);
  t.match(r.reply, /^HTTP\/1\.1 200/);
  t.equal(backend.header(backend.requests[0], 'x-forwarded-for'), '127.0.0.88', 'through the VIP: the client’s address, not the core’s');
  const direct = await exchange(tcpvs.port, '127.0.0.1', [GET]);
  t.match(direct.reply, /^HTTP\/1\.1 200/, 'the service still answers plain HTTP from its own host');
  const forged = await exchange(tcpvs.port, '127.0.0.77', [
    encodeProxyV1({ family: 4, sourceAddress: '192.0.2.1', sourcePort: 1, destinationAddress: '127.0.0.1', destinationPort: 1 }),
    GET,
  ]);
  t.equal(forged.reply, '', 'a header from another address than its own: closed with no answer');
});

t.test('config: accept-proxy and send-proxy are checked, with the field at fault', async (t) => {
  const problems = (text: string): string => {
    try {
      parseConfigText(text, 'x.conf');
      return '';
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
  };
  const svc = ['service web', '  listen 127.0.0.1:8080', '  group g', '    server 127.0.0.1:9000', '  default g'];
  t.match(problems([...svc, '  accept-proxy from 10.0.0.0/33'].join('\n')), /accept-proxy.*prefix length must be 0\.\.32/);
  t.match(problems([...svc, '  accept-proxy from 10.0.0.1/8'].join('\n')), /accept-proxy.*bits set past its \/8 prefix/);
  t.match(problems([...svc, '  accept-proxy 10.0.0.0/8'].join('\n')), /accept-proxy.*usage: accept-proxy from/);
  t.match(problems([...svc, '  accept-proxy from example.com'].join('\n')), /'example\.com' is not an address/);
  t.equal(problems([...svc, '  accept-proxy from 10.0.0.0/8,::1 fd00::/8'].join('\n')), '', 'lists by spaces or commas, both families');
  const vip = (driver: string, proto: string) => [
    'l4 driver ' + driver,
    ...svc,
    `vip v ${proto} 127.0.0.1:80`,
    '  real 127.0.0.1:9001 send-proxy-v2',
  ];
  t.equal(problems(vip('userspace', 'tcp').join('\n')), '');
  t.match(problems(vip('ipvs', 'tcp').join('\n')), /vip\.real\.send-proxy.*IPVS cannot send the PROXY protocol/);
  t.match(problems(vip('userspace', 'udp').join('\n')), /vip\.real\.send-proxy.*for tcp vips/);
});

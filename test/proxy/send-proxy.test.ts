// `server HOST:PORT send-proxy | send-proxy-v2`: every connection to such a
// server begins with a PROXY header naming the client, and serves that client
// alone (never pooled for another client's session, closed when the client
// goes). Real sockets: a raw backend records every byte of every connection;
// clients bind 127.0.0.x addresses.
import t from 'tap';
import type { Test } from 'tap';
import net from 'node:net';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type InProcessTcpvs } from '../helpers/tcpvs.ts';
import { waitUntil } from '../helpers/wait.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local, parseProxyHeader, type ProxyAddresses } from '../../lib/net/proxy-protocol.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { formatRuleTable } from '../../lib/config/print.ts';

interface BackendConnection {
  id: number;
  chunks: Buffer[]; // every read, in order
  bytes: Buffer; // all of them
  requests: number; // answered
  closed: boolean;
}

interface RecordingBackend {
  port: number;
  connections: BackendConnection[];
  close(): Promise<void>;
}

/**
 * A raw backend: records every byte per connection; skips a PROXY header at
 * the start (so the requests after it are answered) and answers each request
 * head (no bodies here) with `conn N` in a Content-Length response.
 */
async function recordingBackend(t: Test): Promise<RecordingBackend> {
  const connections: BackendConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const conn: BackendConnection = { id: connections.length + 1, chunks: [], bytes: Buffer.alloc(0), requests: 0, closed: false };
    connections.push(conn);
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      conn.chunks.push(Buffer.from(chunk));
      conn.bytes = Buffer.concat([conn.bytes, chunk]);
      const parsed = parseProxyHeader(conn.bytes);
      if (parsed.kind === 'incomplete') return;
      let at = parsed.kind === 'header' ? parsed.length : 0;
      let heads = 0;
      for (let end = conn.bytes.indexOf('\r\n\r\n', at); end !== -1; end = conn.bytes.indexOf('\r\n\r\n', at)) {
        heads++;
        at = end + 4;
      }
      while (conn.requests < heads) {
        conn.requests++;
        const body = `conn ${conn.id}\n`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend: RecordingBackend = {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  t.teardown(() => backend.close());
  return backend;
}

/** The PROXY header a connection began with, and the bytes after it; null header when it began with none. */
function split(conn: BackendConnection): { version: 1 | 2 | null; addresses: ProxyAddresses | null; header: Buffer; rest: string } {
  const parsed = parseProxyHeader(conn.bytes);
  if (parsed.kind !== 'header') return { version: null, addresses: null, header: Buffer.alloc(0), rest: conn.bytes.toString('latin1') };
  return {
    version: parsed.version,
    addresses: parsed.addresses,
    header: conn.bytes.subarray(0, parsed.length),
    rest: conn.bytes.toString('latin1', parsed.length),
  };
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

/** tcpvs with one group `g` of the given server lines (without the leading `server`). */
async function tcpvs(t: Test, servers: string[], extra: string[] = []): Promise<InProcessTcpvs> {
  const config = serviceConfig({ groups: [], extra: [...extra, 'group g', ...servers.map((s) => `  server ${s}`)], defaultGroup: 'g' });
  const s = await startTcpvs(config);
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number, from: string): Promise<RawClient> {
  const c = await RawClient.connect(port, '127.0.0.1', from);
  t.teardown(() => c.close());
  return c;
}

/** One GET; resolves with the backend connection that served it (its `conn N` body). */
async function get(c: RawClient, path: string, fields: Array<[string, string]> = []): Promise<number> {
  c.write(requestHead('GET', path, fields));
  const res = await c.readResponse();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.toString()}`);
  const m = /^conn (\d+)\n$/.exec(res.body.toString());
  if (m === null) throw new Error(`GET ${path}: unexpected body ${JSON.stringify(res.body.toString())}`);
  return Number(m[1]);
}

t.test('send-proxy and send-proxy-v2: the header names the client and where it connected, before the first request', async (t) => {
  for (const [option, version] of [
    ['send-proxy', 1],
    ['send-proxy-v2', 2],
  ] as const) {
    const backend = await recordingBackend(t);
    const s = await tcpvs(t, [`127.0.0.1:${backend.port} ${option}`]);
    const c = await client(t, s.port, '127.0.0.88');
    t.equal(await get(c, '/first'), 1, `${option}: served`);
    const conn = backend.connections[0];
    const { version: got, addresses, header, rest } = split(conn);
    t.equal(got, version, `${option}: a v${version} header`);
    const expected = {
      family: 4,
      sourceAddress: '127.0.0.88',
      sourcePort: c.socket.localPort,
      destinationAddress: '127.0.0.1',
      destinationPort: s.port,
    };
    t.same(addresses, expected, `${option}: the client's address and port, and the service's`);
    const wanted = version === 1 ? encodeProxyV1(expected as ProxyAddresses) : encodeProxyV2(expected as ProxyAddresses);
    t.same(header, wanted, `${option}: byte for byte`);
    if (version === 1) t.equal(header.toString('latin1'), `PROXY TCP4 127.0.0.88 127.0.0.1 ${c.socket.localPort} ${s.port}\r\n`);
    t.match(rest, /^GET \/first HTTP\/1\.1\r\n/, `${option}: then the request, untouched`);
    t.ok(conn.chunks[0].length > header.length, `${option}: header and request head came in one write`);
  }
});

t.test('keep-alive: one client, one backend connection, one header; closed when the client goes', async (t) => {
  const backend = await recordingBackend(t);
  const s = await tcpvs(t, [`127.0.0.1:${backend.port} send-proxy-v2`]);
  const c = await client(t, s.port, '127.0.0.88');
  for (let i = 0; i < 3; i++) t.equal(await get(c, `/r${i}`), 1, `request ${i} on backend connection 1`);
  t.equal(backend.connections.length, 1, 'one backend connection');
  const { addresses, rest } = split(backend.connections[0]);
  t.equal(addresses?.sourceAddress, '127.0.0.88');
  t.equal(count(rest, 'GET /r'), 3, 'three requests on it');
  t.equal(count(backend.connections[0].bytes.toString('latin1'), 'PROXY'), 0, 'v2: no text header anywhere');
  t.equal(parseProxyHeader(Buffer.from(rest, 'latin1')).kind, 'none', 'and no second header after the first');
  t.equal(s.group('g').pools[0].open, 1, 'between requests it stays open, parked for this client');
  c.close();
  await waitUntil(() => backend.connections[0].closed, 5000, 'the backend connection to close with its client');
  t.pass('the client left: its backend connection closed');
  await waitUntil(() => s.group('g').pools[0].open === 0, 5000, 'the pool to count it closed');
});

t.test('two clients never share a backend connection; each gets its own header', async (t) => {
  const backend = await recordingBackend(t);
  const s = await tcpvs(t, [`127.0.0.1:${backend.port} send-proxy`]);
  const a = await client(t, s.port, '127.0.0.88');
  const b = await client(t, s.port, '127.0.0.89');
  const served: Array<[string, number]> = [];
  // Interleaved, each waiting for its answer: every time the other's connection is idle and could be taken.
  for (let i = 0; i < 3; i++) {
    served.push(['127.0.0.88', await get(a, `/a${i}`)]);
    served.push(['127.0.0.89', await get(b, `/b${i}`)]);
  }
  t.same([...new Set(served.filter(([who]) => who === '127.0.0.88').map(([, n]) => n))], [1], 'a: always backend connection 1');
  t.same([...new Set(served.filter(([who]) => who === '127.0.0.89').map(([, n]) => n))], [2], 'b: always backend connection 2');
  t.equal(backend.connections.length, 2, 'two clients, two backend connections');
  for (const [conn, who, port, prefix] of [
    [backend.connections[0], '127.0.0.88', a.socket.localPort, '/a'],
    [backend.connections[1], '127.0.0.89', b.socket.localPort, '/b'],
  ] as const) {
    const { addresses, rest } = split(conn);
    t.same(
      addresses,
      { family: 4, sourceAddress: who, sourcePort: port, destinationAddress: '127.0.0.1', destinationPort: s.port },
      `connection ${conn.id}: ${who}'s header`,
    );
    t.equal(count(rest, `GET ${prefix}`), 3, `connection ${conn.id}: all of ${who}'s requests`);
    t.equal(count(rest, 'GET '), 3, `connection ${conn.id}: and no one else's`);
    t.equal(count(rest, 'PROXY'), 0, `connection ${conn.id}: one header`);
  }
  // One client after the other: the first one's connection is not handed on either.
  a.close();
  b.close();
  await waitUntil(() => backend.connections.every((c) => c.closed), 5000, 'both backend connections to close with their clients');
  for (const from of ['127.0.0.88', '127.0.0.89']) {
    const c = await client(t, s.port, from);
    await get(c, '/again', [['Connection', 'close']]);
    await c.waitEnd(5000);
    c.close();
  }
  t.equal(backend.connections.length, 4, 'two clients one after another: two more backend connections');
  t.same(
    backend.connections.slice(2).map((c) => split(c).addresses?.sourceAddress),
    ['127.0.0.88', '127.0.0.89'],
    'each with its client in the header',
  );
});

t.test('a client behind a trusted PROXY hop: the backend gets the original client', async (t) => {
  const backend = await recordingBackend(t);
  const s = await tcpvs(t, [`127.0.0.1:${backend.port} send-proxy-v2`], ['accept-proxy from 127.0.0.2']);
  const v4 = { family: 4 as const, sourceAddress: '192.0.2.9', sourcePort: 5555, destinationAddress: '198.51.100.1', destinationPort: 80 };

  let c = await client(t, s.port, '127.0.0.2');
  c.write(encodeProxyV1(v4));
  t.equal(await get(c, '/v1'), 1);
  t.same(split(backend.connections[0]).addresses, v4, 'the header it received, passed on (source and destination)');
  c.close();

  const v6 = { family: 6 as const, sourceAddress: '2001:db8::7', sourcePort: 1, destinationAddress: '2001:db8::1', destinationPort: 443 };
  c = await client(t, s.port, '127.0.0.2');
  c.write(encodeProxyV2(v6));
  t.equal(await get(c, '/v6'), 2);
  t.same(split(backend.connections[1]).addresses, v6, 'an IPv6 client through an IPv4 hop: a TCP6 header');
  c.close();

  c = await client(t, s.port, '127.0.0.2');
  c.write(encodeProxyV2Local());
  t.equal(await get(c, '/local'), 3);
  t.same(
    split(backend.connections[2]).addresses,
    { family: 4, sourceAddress: '127.0.0.2', sourcePort: c.socket.localPort, destinationAddress: '127.0.0.1', destinationPort: s.port },
    'LOCAL from the hop: the connection’s own addresses',
  );
});

t.test('a server without send-proxy is unchanged: no header, connections shared by clients', async (t) => {
  const plain = await recordingBackend(t);
  const proxied = await recordingBackend(t);
  // Group g: the plain server; /p/ goes to group p: the send-proxy one.
  const s = await tcpvs(
    t,
    [`127.0.0.1:${plain.port}`],
    ['group p', `  server 127.0.0.1:${proxied.port} send-proxy`, 'route p prefix /p/ to p'],
  );
  const a = await client(t, s.port, '127.0.0.88');
  const b = await client(t, s.port, '127.0.0.89');
  t.equal(await get(a, '/x'), 1);
  t.equal(await get(b, '/x'), 1, 'b reuses the connection a left idle');
  t.equal(await get(a, '/p/1'), 1, 'a on the send-proxy server');
  t.equal(await get(b, '/p/1'), 2, 'b gets its own');
  t.equal(await get(a, '/x'), 1, 'back on the plain server: still the shared connection');
  t.equal(await get(a, '/p/2'), 1, 'and a’s private connection was kept meanwhile');
  t.equal(plain.connections.length, 1, 'plain: one connection for both clients');
  const { version, rest } = split(plain.connections[0]);
  t.equal(version, null, 'plain: no PROXY header');
  t.match(rest, /^GET \/x HTTP\/1\.1\r\n/, 'plain: the first request first');
  t.equal(count(rest, 'GET /x'), 3);
  t.same(
    proxied.connections.map((c) => split(c).addresses?.sourceAddress),
    ['127.0.0.88', '127.0.0.89'],
  );
});

t.test('a config change that turns send-proxy on or off closes the idle connections', async (t) => {
  const backend = await recordingBackend(t);
  const text = (option: string) =>
    serviceConfig({ groups: [], extra: ['group g', `  server 127.0.0.1:${backend.port}${option}`], defaultGroup: 'g' });
  const s = await startTcpvs(text(''));
  t.teardown(() => s.close());
  const c = await client(t, s.port, '127.0.0.88');
  t.equal(await get(c, '/1'), 1);
  await s.running.control.apply(parseConfigText(text(' send-proxy'), 'next.tcpvs'), 'test');
  await waitUntil(() => backend.connections[0].closed, 5000, 'the idle shared connection to close');
  t.equal(await get(c, '/2'), 2, 'send-proxy on: a new connection');
  t.equal(split(backend.connections[1]).addresses?.sourceAddress, '127.0.0.88', 'with the header');
  t.equal(await get(c, '/3'), 2, 'then kept for this client');
  await s.running.control.apply(parseConfigText(text(''), 'last.tcpvs'), 'test');
  await waitUntil(() => backend.connections[1].closed, 5000, 'the parked connection to close');
  t.equal(await get(c, '/4'), 3, 'send-proxy off: a new connection');
  t.equal(split(backend.connections[2]).version, null, 'without a header');
});

t.test('config: send-proxy options, their errors, and the rule table', async (t) => {
  const problems = (servers: string[]): string[] => {
    try {
      parseConfigText(
        ['service web', '  listen 127.0.0.1:8080', '  group g', ...servers.map((s) => `    ${s}`), '  default g'].join('\n'),
        'x.tcpvs',
      );
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.field}: ${p.message}`);
      throw err;
    }
  };
  const servers = (lines: string[]) =>
    parseConfigText(
      ['service web', '  listen 127.0.0.1:8080', '  group g', ...lines.map((s) => `    ${s}`), '  default g'].join('\n'),
      'x.tcpvs',
    ).services[0].groups[0].servers;
  t.same(
    servers([
      'server 127.0.0.1:9000',
      'server 127.0.0.1:9001 send-proxy',
      'server 127.0.0.1:9002 send-proxy-v2',
      'server 127.0.0.1:9003 weight 3 send-proxy',
      'server 127.0.0.1:9004 send-proxy-v2 weight 0',
    ]),
    [
      { host: '127.0.0.1', port: 9000, weight: 1 },
      { host: '127.0.0.1', port: 9001, weight: 1, sendProxy: 1 },
      { host: '127.0.0.1', port: 9002, weight: 1, sendProxy: 2 },
      { host: '127.0.0.1', port: 9003, weight: 3, sendProxy: 1 },
      { host: '127.0.0.1', port: 9004, weight: 0, sendProxy: 2 },
    ],
    'flags with weight, in any order; none: no sendProxy field',
  );
  t.strictSame(servers(['server 127.0.0.1:9000'])[0], { host: '127.0.0.1', port: 9000, weight: 1 }, 'no sendProxy key when absent');

  const one = (line: string): string => {
    const p = problems([line]);
    t.equal(p.length, 1, `one problem for '${line}': ${p.join('; ')}`);
    return p[0] ?? '';
  };
  t.match(one('server 127.0.0.1:9000 send-proxy send-proxy'), /^4:server\.send-proxy: .*send-proxy or send-proxy-v2, once/);
  t.match(one('server 127.0.0.1:9000 send-proxy send-proxy-v2'), /^4:server\.send-proxy: 'send-proxy-v2' after 'send-proxy'/);
  t.match(one('server 127.0.0.1:9000 send-proxy-v2 weight 2 send-proxy'), /^4:server\.send-proxy: /);
  t.match(one('server 127.0.0.1:9000 weight 2 weight 3'), /^4:server\.weight: 'weight' given twice/);
  t.match(one('server 127.0.0.1:9000 send-proxy weight'), /^4:server\.weight: bad weight ''/);
  t.match(
    one('server 127.0.0.1:9000 send-proxy-v3'),
    /^4:server: unexpected 'send-proxy-v3': usage: server HOST:PORT \[weight N\] \[send-proxy\|send-proxy-v2\]/,
  );
  t.match(one('server'), /^4:server: missing argument: usage: server HOST:PORT \[weight N\] \[send-proxy\|send-proxy-v2\]/);

  const config = parseConfigText(
    [
      'service web',
      '  listen 127.0.0.1:8080',
      '  group g',
      '    server 127.0.0.1:9000',
      '    server 127.0.0.1:9001 send-proxy',
      '    server 127.0.0.1:9002 weight 2 send-proxy-v2',
      '  default g',
    ].join('\n'),
    'x.tcpvs',
  );
  const table = formatRuleTable(config);
  t.match(table, /127\.0\.0\.1:9000 +1\n/, 'a plain server as before');
  t.match(table, /127\.0\.0\.1:9001 send-proxy +1\n/, 'send-proxy on its server line');
  t.match(table, /127\.0\.0\.1:9002 send-proxy-v2 +2\n/, 'send-proxy-v2 too');
});

t.test('health checks to a send-proxy server begin with a header too: v2 LOCAL, v1 UNKNOWN', async (t) => {
  for (const [option, kind] of [
    ['send-proxy-v2', 'http'],
    ['send-proxy', 'tcp'],
  ] as const) {
    const backend = await recordingBackend(t);
    const check =
      kind === 'http' ? 'check http /health interval 100ms timeout 1s rise 1 fall 1' : 'check tcp interval 100ms timeout 1s rise 1 fall 1';
    const config = serviceConfig({
      groups: [],
      extra: ['group g', `  server 127.0.0.1:${backend.port} ${option}`, `  ${check}`],
      defaultGroup: 'g',
    });
    const s = await startTcpvs(config);
    t.teardown(() => s.close());
    await waitUntil(() => backend.connections.filter((c) => c.bytes.length > 0).length >= 2, 5000, `two ${kind} checks`);
    for (const conn of backend.connections.filter((c) => c.bytes.length > 0).slice(0, 2)) {
      const { version, addresses, rest } = split(conn);
      t.equal(version, option === 'send-proxy' ? 1 : 2, `${kind} check: a v${option === 'send-proxy' ? 1 : 2} header first`);
      t.equal(addresses, null, 'naming no client (LOCAL / UNKNOWN): the check is the proxy’s own connection');
      if (kind === 'http') t.match(rest, /^GET \/health HTTP\/1\.1\r\n/, 'then the check request');
      else t.equal(rest, '', 'and nothing else');
    }
  }
});

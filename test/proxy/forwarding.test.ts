// Black-box tests of request forwarding: tcpvs between a raw-socket client
// and real backends on 127.0.0.1, asserting the bytes each side sees.
import t from 'tap';
import type { Test } from 'tap';
import { startIdentityBackend, startRawBackend, type IdentityBackend, type RawBackend, type RawRequest } from '../helpers/backends.ts';
import { fieldValue, fieldValues } from '../helpers/http-bytes.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, spawnTcpvs, startTcpvs, type GroupDef, type InProcessTcpvs, type ServiceDef } from '../helpers/tcpvs.ts';
import type net from 'node:net';

async function identity(t: Test, name: string): Promise<IdentityBackend> {
  const b = await startIdentityBackend(name);
  t.teardown(() => b.close());
  return b;
}

async function raw(t: Test, onRequest: (req: RawRequest, socket: net.Socket) => void): Promise<RawBackend> {
  const b = await startRawBackend(onRequest);
  t.teardown(() => b.close());
  return b;
}

async function tcpvs(t: Test, def: ServiceDef): Promise<InProcessTcpvs> {
  const s = await startTcpvs(serviceConfig(def));
  t.teardown(() => s.close());
  return s;
}

async function client(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

function rawReply(socket: net.Socket, status: string, fields: Array<[string, string]>, body = ''): void {
  socket.write(`HTTP/1.1 ${status}\r\n` + fields.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n' + body, 'latin1');
}

t.test('one keep-alive connection switches every request to its own group', async (t) => {
  const images = await identity(t, 'images');
  const cgi = await identity(t, 'cgi');
  const rest = await identity(t, 'rest');
  const s = await tcpvs(t, {
    groups: [
      { name: 'images', servers: [images.port] },
      { name: 'cgi', servers: [cgi.port] },
      { name: 'rest', servers: [rest.port] },
    ],
    routes: ['img prefix /images/ to images', 'cgi prefix /cgi-bin/ to cgi'],
    defaultGroup: 'rest',
  });
  const c = await client(t, s.port);
  const expected: Array<[string, string]> = [
    ['/images/a', 'images'],
    ['/cgi-bin/b', 'cgi'],
    ['/x', 'rest'],
    ['/images/again', 'images'],
  ];
  for (const [path, backend] of expected) {
    c.write(requestHead('GET', path));
    const res = await c.readResponse();
    t.equal(res.status, 200, `${path} status`);
    t.equal(res.header('x-backend'), backend, `${path} went to ${backend}`);
    t.equal(res.body.toString(), `${backend} GET ${path}\n`, `${path} body`);
  }
  t.ok(await c.staysOpen(50), 'the client connection is still open after four requests');
  t.same(
    images.requests.map((r) => r.url),
    ['/images/a', '/images/again'],
  );
  t.same(
    cgi.requests.map((r) => r.url),
    ['/cgi-bin/b'],
  );
  t.same(
    rest.requests.map((r) => r.url),
    ['/x'],
  );
});

t.test('pipelined requests to different groups are answered complete and in order', async (t) => {
  const a = await identity(t, 'a');
  const b = await identity(t, 'b');
  const c3 = await identity(t, 'c');
  const s = await tcpvs(t, {
    groups: [
      { name: 'a', servers: [a.port] },
      { name: 'b', servers: [b.port] },
      { name: 'c', servers: [c3.port] },
    ],
    routes: ['to-a prefix /a/ to a', 'to-b prefix /b/ to b'],
    defaultGroup: 'c',
  });
  const c = await client(t, s.port);
  // The first answer is the slowest: later ones must still wait their turn.
  const plan: Array<[string, string]> = [
    ['/a/1?delay=300', 'a'],
    ['/b/2', 'b'],
    ['/c/3?delay=60', 'c'],
    ['/a/4', 'a'],
    ['/b/5?delay=120', 'b'],
  ];
  c.write(plan.map(([path]) => requestHead('GET', path)).join(''));
  for (const [path, backend] of plan) {
    const res = await c.readResponse();
    t.equal(res.status, 200, `${path} status`);
    t.equal(res.body.toString(), `${backend} GET ${path}\n`, `${path} answered by ${backend}, in order`);
  }
  t.ok(await c.staysOpen(50), 'nothing more arrives and the connection stays open');
});

t.test('2000 pipelined requests in one write (80 kB, beyond any head limit) are all answered in order', async (t) => {
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  const count = 2000;
  let all = '';
  for (let i = 0; i < count; i++) all += requestHead('GET', `/p${i}`);
  c.write(all);
  let inOrder = 0;
  for (let i = 0; i < count; i++) {
    const res = await c.readResponse();
    if (res.body.toString() !== `b GET /p${i}\n`) {
      t.fail(`response ${i}: ${JSON.stringify(res.body.toString())}`);
      break;
    }
    inOrder++;
  }
  t.equal(inOrder, count, `${count} responses, each to its own request`);
  t.equal(b.requests.length, count);
});

t.test('pipelined requests with bodies keep each body with its request, however the bytes are cut', async (t) => {
  const backend = await startIdentityBackend('echo', {
    handler: (seen, _req, res) => {
      const body = `${seen.method} ${seen.url} [${seen.body.toString()}]`;
      res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
  });
  t.teardown(() => backend.close());
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const stream =
    requestHead('POST', '/p1', [['Content-Length', '5']]) +
    'aaaaa' +
    requestHead('GET', '/g') +
    requestHead('POST', '/p2', [['Transfer-Encoding', 'chunked']]) +
    '3\r\nbbb\r\n2\r\nBB\r\n0\r\n\r\n' +
    requestHead('PUT', '/p3', [['Content-Length', '3']]) +
    'ccc';
  const expected = ['POST /p1 [aaaaa]', 'GET /g []', 'POST /p2 [bbbBB]', 'PUT /p3 [ccc]'];
  // Whole in one write, then in 7-byte pieces, then byte by byte.
  for (const piece of [stream.length, 7, 1]) {
    const c = await client(t, s.port);
    for (let i = 0; i < stream.length; i += piece) {
      c.write(stream.slice(i, i + piece));
      if (piece < stream.length) await new Promise((r) => setImmediate(r));
    }
    for (const want of expected) {
      const res = await c.readResponse();
      t.equal(res.body.toString(), want, `pieces of ${piece}: ${want}`);
    }
    t.ok(await c.staysOpen(30), `pieces of ${piece}: nothing more`);
  }
});

t.test('pipelined requests followed by a half-close are all answered, then the connection closes', async (t) => {
  const b = await identity(t, 'b');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [b.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  // Like `printf 'GET ...GET ...' | nc`: every request is complete before the FIN.
  c.write(requestHead('GET', '/1?delay=50') + requestHead('GET', '/2') + requestHead('GET', '/3'));
  c.socket.end();
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) {
    try {
      bodies.push((await c.readResponse()).body.toString());
    } catch (err) {
      bodies.push(`(no response: ${(err as Error).message.slice(0, 60)})`);
      break;
    }
  }
  t.same(bodies, ['b GET /1?delay=50\n', 'b GET /2\n', 'b GET /3\n'], 'three complete requests, three responses');
  t.ok(await c.waitEnd(2000), 'then the connection is closed');
});

t.test('bytes a backend sends after its response never reach the client', async (t) => {
  const backend = await raw(t, (req, socket) => {
    if (req.url === '/extra') {
      // A second, unrequested response glued to the first.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!');
    } else rawReply(socket, '200 OK', [['Content-Length', String(req.url.length)]], req.url);
  });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/extra'));
  const first = await c.readResponse();
  t.equal(first.body.toString(), 'ok');
  t.ok(await c.staysOpen(50), 'nothing follows the response');
  c.write(requestHead('GET', '/next'));
  const next = await c.readResponse();
  t.equal(next.body.toString(), '/next', 'the next request gets its own response, not the stray one');
  t.equal(backend.connections(), 2, 'the upstream connection that sent stray bytes was not reused');
});

t.test('every matcher kind routes end to end', async (t) => {
  const names = ['path', 'prefix', 'regex', 'host', 'wild', 'method', 'hpresent', 'hequals', 'hregex', 'cookie', 'query', 'dflt'];
  const backends = new Map<string, IdentityBackend>();
  for (const n of names) backends.set(n, await identity(t, n));
  const groups: GroupDef[] = names.map((n) => ({ name: n, servers: [backends.get(n)!.port] }));
  const s = await tcpvs(t, {
    groups,
    routes: [
      'r-path path /exact to path',
      'r-prefix prefix /pre/ to prefix',
      'r-regex path-regex "\\.png$" to regex',
      'r-host host www.example.com to host',
      'r-wild host *.example.com to wild',
      'r-method method PUT,DELETE to method',
      'r-hpresent header x-present present to hpresent',
      'r-hequals header x-eq = yes to hequals',
      'r-hregex header user-agent ~ "^bot/[0-9]+$" to hregex',
      'r-cookie cookie session = abc to cookie',
      'r-query query lang = fr to query',
    ],
    defaultGroup: 'dflt',
  });
  // [what, method, target, fields, expected group]
  const cases: Array<[string, string, string, Array<[string, string]>, string]> = [
    ['exact path', 'GET', '/exact', [], 'path'],
    ['exact path ignores the query', 'GET', '/exact?x=1', [], 'path'],
    ['exact path is not a prefix', 'GET', '/exact/more', [], 'dflt'],
    ['prefix', 'GET', '/pre/a/b', [], 'prefix'],
    ['prefix needs its slash', 'GET', '/pre', [], 'dflt'],
    ['path-regex on the path only', 'GET', '/img/logo.png?v=2', [], 'regex'],
    ['path-regex miss', 'GET', '/img/logo.pngx', [], 'dflt'],
    ['host exact, any case, port ignored', 'GET', '/h', [['Host', 'WWW.Example.com:8080']], 'host'],
    ['host wildcard with a port', 'GET', '/h', [['Host', 'a.b.example.com:81']], 'wild'],
    ['host wildcard does not match the apex', 'GET', '/h', [['Host', 'example.com']], 'dflt'],
    ['method PUT', 'PUT', '/m', [['Content-Length', '0']], 'method'],
    ['method DELETE', 'DELETE', '/m', [], 'method'],
    ['method GET is not in the list', 'GET', '/m', [], 'dflt'],
    ['header present', 'GET', '/m', [['X-Present', 'anything']], 'hpresent'],
    ['header equals', 'GET', '/m', [['X-Eq', 'yes']], 'hequals'],
    ['header equals miss', 'GET', '/m', [['X-Eq', 'yes!']], 'dflt'],
    ['header regex', 'GET', '/m', [['User-Agent', 'bot/12']], 'hregex'],
    ['header regex miss', 'GET', '/m', [['User-Agent', 'mybot/1']], 'dflt'],
    ['cookie', 'GET', '/m', [['Cookie', 'a=1; session=abc; z=2']], 'cookie'],
    ['cookie miss', 'GET', '/m', [['Cookie', 'session=abcd']], 'dflt'],
    ['query', 'GET', '/m?x=1&lang=fr', [], 'query'],
    ['query miss', 'GET', '/m?lang=fra', [], 'dflt'],
  ];
  const c = await client(t, s.port);
  for (const [what, method, target, fields, group] of cases) {
    const counts = new Map(names.map((n) => [n, backends.get(n)!.requests.length]));
    c.write(requestHead(method, target, fields));
    const res = await c.readResponse({ head: method === 'HEAD' });
    t.equal(res.status, 200, `${what}: status`);
    t.equal(res.header('x-backend'), group, `${what}: routed to ${group}`);
    t.equal(res.body.toString(), `${group} ${method} ${target}\n`, `${what}: body`);
    const moved = names.filter((n) => backends.get(n)!.requests.length !== counts.get(n));
    t.same(moved, [group], `${what}: only ${group} saw a request`);
  }
});

t.test('no rule and no default: 404 with a short body, the connection stays usable', async (t) => {
  const images = await identity(t, 'images');
  const s = await tcpvs(t, { groups: [{ name: 'images', servers: [images.port] }], routes: ['img prefix /images/ to images'] });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/nowhere'));
  const miss = await c.readResponse();
  t.equal(miss.status, 404);
  t.equal(miss.body.toString(), '404 Not Found\n');
  t.equal(miss.header('content-length'), String(miss.body.length));
  t.equal(images.requests.length, 0, 'no backend saw the unrouted request');
  c.write(requestHead('GET', '/images/after-404'));
  const hit = await c.readResponse();
  t.equal(hit.status, 200);
  t.equal(hit.body.toString(), 'images GET /images/after-404\n');
  // HEAD of an unrouted target: the same head, no body, and the next request still parses.
  c.write(requestHead('HEAD', '/nowhere') + requestHead('GET', '/images/after-head-404'));
  const headMiss = await c.readResponse({ head: true });
  t.equal(headMiss.status, 404);
  const after = await c.readResponse();
  t.equal(after.body.toString(), 'images GET /images/after-head-404\n');
});

t.test('head rewriting: forwarding fields added, hop-by-hop fields dropped both ways', async (t) => {
  const backend = await raw(t, (req, socket) => {
    if (req.url === '/hdr') {
      rawReply(
        socket,
        '200 OK',
        [
          ['Content-Length', '2'],
          ['Connection', 'keep-alive, X-Backend-Secret'],
          ['Keep-Alive', 'timeout=5, max=100'],
          ['Proxy-Connection', 'keep-alive'],
          ['X-Backend-Secret', 's3cr3t'],
          ['X-Visible', 'v'],
          ['Via', '1.1 origin'],
        ],
        'ok',
      );
    } else rawReply(socket, '200 OK', [['Content-Length', '0']]);
  });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  c.write(
    requestHead('GET', '/hdr', [
      ['Host', 'h.example:8080'],
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'spoofed.example'],
      ['Connection', 'keep-alive, X-Secret'],
      ['Keep-Alive', 'timeout=5'],
      ['Proxy-Connection', 'keep-alive'],
      ['TE', 'trailers'],
      ['X-Secret', '1'],
      ['X-Keep', 'kept'],
    ]),
  );
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'ok');

  const seen = backend.requests[0].head.headers;
  t.equal(backend.requests[0].head.startLine, 'GET /hdr HTTP/1.1', 'request line unchanged');
  t.same(fieldValues(seen, 'host'), ['h.example:8080'], 'Host passed as sent');
  t.same(fieldValues(seen, 'x-forwarded-for'), ['10.0.0.1, 127.0.0.1'], 'client address appended to X-Forwarded-For');
  t.same(fieldValues(seen, 'x-forwarded-proto'), ['http'], 'X-Forwarded-Proto set, the client value replaced');
  t.same(fieldValues(seen, 'x-forwarded-host'), ['h.example:8080'], 'X-Forwarded-Host from Host, the client value replaced');
  t.same(fieldValues(seen, 'via'), ['1.1 tcpvs'], 'Via added');
  t.same(fieldValues(seen, 'x-keep'), ['kept'], 'end-to-end fields pass');
  for (const hop of ['connection', 'keep-alive', 'proxy-connection', 'te', 'x-secret']) {
    t.same(fieldValues(seen, hop), [], `backend does not see ${hop}`);
  }

  t.same(res.headerAll('x-visible'), ['v'], 'client sees end-to-end response fields');
  t.equal(res.header('via'), '1.1 origin, 1.1 tcpvs', 'client sees Via with tcpvs appended');
  for (const hop of ['keep-alive', 'proxy-connection', 'x-backend-secret']) {
    t.same(res.headerAll(hop), [], `client does not see ${hop}`);
  }
  t.notMatch(res.header('connection') ?? '', /x-backend-secret/i, 'the backend Connection tokens are not relayed');

  // A second request on the connection: an incoming Via is kept and extended.
  c.write(requestHead('GET', '/second', [['Via', '1.0 fred']]));
  const second = await c.readResponse();
  t.equal(second.status, 200);
  const seen2 = backend.requests[1].head.headers;
  t.equal(fieldValue(seen2, 'via'), '1.0 fred, 1.1 tcpvs');
  t.same(fieldValues(seen2, 'x-forwarded-for'), ['127.0.0.1']);
});

t.test('HEAD, 204 and 304 carry no body and the connection goes on', async (t) => {
  const backend = await raw(t, (req, socket) => {
    if (req.method === 'HEAD')
      rawReply(socket, '200 OK', [
        ['Content-Length', '1234'],
        ['Content-Type', 'text/plain'],
      ]);
    else if (req.url === '/204') rawReply(socket, '204 No Content', [['X-A', '1']]);
    else if (req.url === '/304')
      rawReply(socket, '304 Not Modified', [
        ['ETag', '"v1"'],
        ['Content-Length', '99'],
      ]);
    else rawReply(socket, '200 OK', [['Content-Length', String(6 + req.url.length)]], `after ${req.url}`);
  });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);

  c.write(requestHead('HEAD', '/h'));
  const head = await c.readResponse({ head: true });
  t.equal(head.status, 200);
  t.equal(head.header('content-length'), '1234', 'HEAD keeps the Content-Length');
  c.write(requestHead('GET', '/g1'));
  const g1 = await c.readResponse();
  t.equal(g1.body.toString(), 'after /g1', 'a request after HEAD gets its own response');

  c.write(requestHead('GET', '/204'));
  const noContent = await c.readResponse();
  t.equal(noContent.status, 204);
  t.equal(noContent.header('x-a'), '1');
  c.write(requestHead('GET', '/g2'));
  t.equal((await c.readResponse()).body.toString(), 'after /g2', 'a request after 204 works');

  c.write(requestHead('GET', '/304', [['If-None-Match', '"v1"']]));
  const notModified = await c.readResponse();
  t.equal(notModified.status, 304);
  t.equal(notModified.header('etag'), '"v1"');
  c.write(requestHead('GET', '/g3'));
  t.equal((await c.readResponse()).body.toString(), 'after /g3', 'a request after 304 works');

  // All three again, pipelined in one write.
  c.write(requestHead('HEAD', '/h') + requestHead('GET', '/204') + requestHead('GET', '/304') + requestHead('GET', '/g4'));
  t.equal((await c.readResponse({ head: true })).status, 200);
  t.equal((await c.readResponse()).status, 204);
  t.equal((await c.readResponse()).status, 304);
  t.equal((await c.readResponse()).body.toString(), 'after /g4');
  t.ok(await c.staysOpen(50), 'no stray bytes follow');
  // A connection is not reused in the event loop turn it was released in (lib/upstream/pool.ts):
  // bytes its server sent after the response could still be unread. Pipelined requests alternate.
  t.ok(backend.connections() <= 2, `one upstream connection, two with the pipelined ones (${backend.connections()})`);
});

t.test('a close-delimited response arrives whole, then the client connection closes', async (t) => {
  const backend = await raw(t, (_req, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ');
    setTimeout(() => {
      socket.write('second part');
      socket.end();
    }, 50);
  });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/eof'));
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.framing, 'close', 'relayed without length, delimited by close');
  t.equal(res.body.toString(), 'first part, second part');
  t.match(res.header('connection') ?? '', /close/i, 'the client is told the connection closes');
  t.ok(await c.waitEnd(2000), 'the client connection is closed after the body');
});

t.test('HTTP/1.0 clients: closed after the response, or kept alive when asked', async (t) => {
  const backend = await identity(t, 'ten');
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });

  const c = await client(t, s.port);
  c.write('GET /ten HTTP/1.0\r\n\r\n');
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'ten GET /ten\n');
  t.ok(await c.waitEnd(2000), 'connection closed after an HTTP/1.0 response');
  t.equal(backend.requests[0].httpVersion, '1.0', 'the backend saw an HTTP/1.0 request');

  const k = await client(t, s.port);
  k.write('GET /ka1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const r1 = await k.readResponse();
  t.equal(r1.body.toString(), 'ten GET /ka1\n');
  t.match(r1.header('connection') ?? '', /keep-alive/i, 'keep-alive acknowledged to the HTTP/1.0 client');
  t.equal(r1.framing, 'length', 'a length-delimited response');
  k.write('GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const r2 = await k.readResponse();
  t.equal(r2.body.toString(), 'ten GET /ka2\n', 'a second request on the kept connection');
});

t.test('Expect: 100-continue: the interim 100 reaches the client before it sends the body', async (t) => {
  const backend = await startIdentityBackend('echo', {
    handler: (seen, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': seen.body.length });
      res.end(seen.body);
    },
  });
  t.teardown(() => backend.close());
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  const body = 'hello there';
  c.write(
    requestHead('POST', '/upload', [
      ['Content-Length', String(body.length)],
      ['Expect', '100-continue'],
    ]),
  );
  const interim = await c.readHead();
  t.equal(interim.status, 100, 'the 100 Continue is relayed');
  t.equal(backend.requests.length, 0, 'the backend has not seen a body yet');
  c.write(body);
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), body, 'the body went through after the 100');
  t.equal(backend.requests[0].method, 'POST');
  t.equal(fieldValue(backend.requests[0].rawHeaders, 'expect'), '100-continue', 'Expect is end-to-end');
  // And the connection carries another request afterwards.
  c.write(requestHead('POST', '/again', [['Content-Length', '3']]) + 'abc');
  const again = await c.readResponse();
  t.equal(again.body.toString(), 'abc');
});

t.test('103 Early Hints reaches an HTTP/1.1 client before the final response, not an HTTP/1.0 one', async (t) => {
  const backend = await raw(t, (_req, socket) => {
    socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
    setTimeout(() => rawReply(socket, '200 OK', [['Content-Length', '5']], 'final'), 20);
  });
  const s = await tcpvs(t, { groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g' });
  const c = await client(t, s.port);
  c.write(requestHead('GET', '/hints'));
  const res = await c.readResponse();
  t.same(
    res.interim.map((r) => [r.status, r.header('link')]),
    [[103, '</style.css>; rel=preload']],
    'the 103 with its Link field',
  );
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'final');
  c.write(requestHead('GET', '/hints-again'));
  t.equal((await c.readResponse()).body.toString(), 'final', 'the connection goes on');

  const old = await client(t, s.port);
  old.write('GET /hints HTTP/1.0\r\n\r\n');
  const res10 = await old.readResponse();
  t.equal(res10.interim.length, 0, 'HTTP/1.0 clients get no 1xx (RFC 9110 §15.2)');
  t.equal(res10.status, 200);
  t.equal(res10.body.toString(), 'final');
});

t.test('the real CLI: start -c FILE, forward a request, stop by PID', async (t) => {
  const backend = await identity(t, 'cli');
  const cli = await spawnTcpvs(
    serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g', logLevel: 'warn', logDestination: 'stderr' }),
  );
  t.teardown(() => cli.stop());
  t.ok(cli.port > 0, 'listening on the port the kernel picked for port 0');
  const c = await client(t, cli.port);
  c.write(requestHead('GET', '/through-the-cli'));
  const res = await c.readResponse();
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'cli GET /through-the-cli\n');
  t.equal(res.header('via'), '1.1 tcpvs');
  await cli.stop();
  t.equal(cli.child.exitCode, 0, 'SIGTERM stops it cleanly with exit code 0');
});

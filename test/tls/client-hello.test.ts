// The ClientHello reader (lib/tls/client-hello.ts) on real hellos captured
// from Node's tls.connect and from `openssl s_client` against a local server
// that records the first bytes: the name and ALPN list read, every prefix
// `incomplete`, every inner truncation refused (never thrown), the same hello
// split over several records, a 1.8 KB hello like those with post-quantum key
// shares, the caps, each refusal the reader names, and a seeded fuzz loop.
import t, { type Test } from 'tap';
import { CLIENT_HELLO_LIMITS, type ClientHelloRead, clientHelloBufferLimit, readClientHello } from '../../lib/tls/client-hello.ts';
import { ensureOpenssl } from '../helpers/certs.ts';
import {
  alpn,
  extension,
  handshake,
  hello,
  helloBody,
  messageOf,
  nodeHello,
  opensslHello,
  records,
  serverName,
} from '../helpers/client-hellos.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

function expectHello(t: Test, r: ClientHelloRead, sni: string | null, alpnList: string[], recordBytes: number, what: string): void {
  t.same(r, { kind: 'hello', sni, alpn: alpnList, recordBytes }, what);
}

function expectRefused(t: Test, input: Buffer, reason: RegExp, at: number | null, what: string): void {
  const r = readClientHello(input);
  t.equal(r.kind, 'refused', `${what}: refused`);
  if (r.kind !== 'refused') return;
  t.match(r.reason, reason, `${what}: ${r.reason}`);
  if (at !== null) t.equal(r.at, at, `${what}: at byte ${at}`);
  t.match(r.reason, new RegExp(`\\(byte ${r.at}\\)$`), `${what}: the reason names the byte`);
}

// --- real hellos -------------------------------------------------------------

const openssl = ensureOpenssl();
const captured: Array<{ what: string; bytes: Buffer; sni: string | null; alpn: string[] }> = [];

t.before(async () => {
  captured.push(
    {
      what: 'node, servername and ALPN',
      bytes: await nodeHello({ servername: 'WWW.Example.com', ALPNProtocols: ['h2', 'http/1.1'] }),
      sni: 'www.example.com',
      alpn: ['h2', 'http/1.1'],
    },
    { what: 'node, no servername', bytes: await nodeHello({}), sni: null, alpn: [] },
    { what: 'node, TLS 1.2 only', bytes: await nodeHello({ servername: 'a.example', maxVersion: 'TLSv1.2' }), sni: 'a.example', alpn: [] },
  );
  if ('path' in openssl) {
    const o = openssl.path;
    captured.push(
      {
        what: 'openssl -servername -alpn',
        bytes: await opensslHello(o, ['-servername', 'api.example.org', '-alpn', 'http/1.1']),
        sni: 'api.example.org',
        alpn: ['http/1.1'],
      },
      { what: 'openssl -noservername', bytes: await opensslHello(o, ['-noservername']), sni: null, alpn: [] },
      { what: 'openssl -tls1_2', bytes: await opensslHello(o, ['-tls1_2', '-servername', 'x.example']), sni: 'x.example', alpn: [] },
    );
  } else {
    t.comment(`openssl hellos skipped: ${openssl.skip}`);
  }
});

t.test('real hellos: the name, lowercased, and the ALPN list', async (t) => {
  for (const c of captured) {
    expectHello(t, readClientHello(c.bytes), c.sni, c.alpn, c.bytes.length, c.what);
    // bytes after the hello (early data, or whatever the client sends next) are left for the caller
    const more = Buffer.concat([c.bytes, Buffer.from([23, 3, 3, 0, 1, 0])]);
    expectHello(t, readClientHello(more), c.sni, c.alpn, c.bytes.length, `${c.what}, more bytes after`);
  }
});

t.test('fed byte by byte: incomplete until the last byte, then the hello', async (t) => {
  for (const c of captured) {
    let firstAnswer = -1;
    for (let n = 0; n <= c.bytes.length; n++) {
      if (readClientHello(c.bytes.subarray(0, n)).kind !== 'incomplete') {
        firstAnswer = n;
        break;
      }
    }
    t.equal(firstAnswer, c.bytes.length, `${c.what}: every prefix of ${c.bytes.length} bytes is incomplete`);
  }
});

t.test('truncated inside: lengths cut to every offset are refused or (at a field end) read, never thrown', async (t) => {
  for (const c of captured) {
    const message = messageOf(c.bytes);
    const counts = { refused: 0, hello: 0 };
    for (let cut = 4; cut < message.length; cut++) {
      const short = Buffer.from(message.subarray(0, cut));
      short.writeUIntBE(cut - 4, 1, 3);
      const r = readClientHello(records(short));
      if (r.kind === 'incomplete') t.fail(`${c.what}: cut at ${cut} answered incomplete`);
      else counts[r.kind]++;
    }
    // only the cut right after legacy_compression_methods leaves a well-formed (extension-less) hello
    t.same(counts, { refused: message.length - 5, hello: 1 }, `${c.what}: ${JSON.stringify(counts)}`);
  }
});

t.test('the same hello split over several records reads the same', async (t) => {
  for (const c of captured) {
    const message = messageOf(c.bytes);
    let same = 0;
    for (let cut = 1; cut < message.length; cut++) {
      const split = records(message, [cut]);
      const r = readClientHello(split);
      if (r.kind === 'hello' && r.sni === c.sni && r.alpn.join() === c.alpn.join() && r.recordBytes === split.length) same++;
      else t.fail(`${c.what}: cut at ${cut}: ${JSON.stringify(r)}`);
    }
    t.equal(same, message.length - 1, `${c.what}: every two-record split`);
    const four = records(message, [1, 3, 50]);
    expectHello(t, readClientHello(four), c.sni, c.alpn, four.length, `${c.what}: four records, the handshake header split`);
    for (let n = 0; n < four.length; n++) {
      if (readClientHello(four.subarray(0, n)).kind !== 'incomplete') t.fail(`${c.what}: four records, prefix ${n}`);
    }
    expectRefused(t, records(message, [1, 2, 3, 4]), /spans more than 4 records/, 4 * 6, `${c.what}: five records`);
  }
});

t.test('a 1.8 KB hello (a post-quantum key share) fits the default cap; a smaller cap refuses it', async (t) => {
  const big = hello({ extensions: [serverName('pq.example'), extension(51, Buffer.alloc(1216 + 36 + 500, 9)), alpn('h2')] });
  t.ok(big.length > 1800, `${big.length} bytes`);
  expectHello(t, readClientHello(big), 'pq.example', ['h2'], big.length, 'default cap');
  const r = readClientHello(big.subarray(0, 9), { maxHandshakeBytes: 1024, maxRecords: 4 });
  t.match(
    r,
    { kind: 'refused', at: 6, reason: /ClientHello length \d+ exceeds the limit of 1024/ },
    'refused from the handshake header alone',
  );
  const split = records(messageOf(big), [2]).subarray(0, 14);
  const r2 = readClientHello(split, { maxHandshakeBytes: 1024, maxRecords: 4 });
  t.match(
    r2,
    { kind: 'refused', at: 6, reason: /exceeds the limit of 1024/ },
    'the header split over records: the length named where it begins',
  );
});

t.test('no input longer than the buffer limit is incomplete', async (t) => {
  const limit = clientHelloBufferLimit();
  t.equal(limit, CLIENT_HELLO_LIMITS.maxHandshakeBytes + 4 + 5 * CLIENT_HELLO_LIMITS.maxRecords);
  // the worst case: the largest message the cap allows, in the most records allowed
  const body = Buffer.alloc(CLIENT_HELLO_LIMITS.maxHandshakeBytes, 0);
  const worst = records(handshake(body), [1, 2, 3]);
  t.equal(worst.length, limit, 'the worst case is exactly the limit');
  t.not(readClientHello(worst).kind, 'incomplete', 'answered at the limit');
  t.not(
    readClientHello(Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0]), Buffer.from([1, 0, 0x40, 1])])).kind,
    'incomplete',
    'over the cap',
  );
});

t.test('refusals name the field and the byte', async (t) => {
  expectRefused(t, Buffer.from('GET / HTTP/1.1\r\n'), /byte 0 is 0x47, not a TLS handshake record/, 0, 'plain HTTP');
  expectRefused(t, Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), /SSLv2 record header/, 0, 'SSLv2');
  expectRefused(t, Buffer.from([22, 2]), /version major 2 is not 3/, 1, 'record version 2.x');
  expectRefused(t, Buffer.from([22, 3, 9]), /version 3\.9 is not a TLS version/, 2, 'record version 3.9');
  expectRefused(t, Buffer.from([22, 3, 1, 0, 0]), /zero-length handshake record/, 3, 'zero-length record');
  expectRefused(t, Buffer.from([22, 3, 1, 0x40, 1]), /length 16385 exceeds the TLS limit of 16384/, 3, 'oversized record');
  expectRefused(t, Buffer.from([22, 3, 1, 0, 4, 2]), /handshake type 2 is not a ClientHello/, 5, 'a ServerHello');
  const message = handshake(helloBody());
  expectRefused(
    t,
    Buffer.concat([records(message.subarray(0, 10)), Buffer.from([21, 3, 3, 0, 2, 2, 40])]),
    /record 2 at byte 15 is of type 21/,
    15,
    'an alert inside the hello',
  );
  const trailing = records(Buffer.concat([message, Buffer.from([0, 0])]));
  expectRefused(t, trailing.subarray(0, 9), /record 1: length \d+ runs 2 bytes past the ClientHello/, 3, 'a record running past the hello');
  expectRefused(t, hello({ version: 0x0202 }), /legacy_version 0x202 is not TLS/, 9, 'legacy_version');
  expectRefused(t, hello({ sessionId: 33 }), /legacy_session_id length 33 exceeds 32/, 43, 'session id');
  expectRefused(t, hello({ suites: Buffer.from([0x13, 0x01, 0xc0]) }), /cipher_suites length 3/, 76, 'odd cipher suites');
  expectRefused(t, hello({ suites: Buffer.alloc(0) }), /cipher_suites length 0/, 76, 'no cipher suites');
  expectRefused(t, hello({ compression: Buffer.alloc(0) }), /legacy_compression_methods is empty/, 82, 'no compression methods');
  expectRefused(t, records(handshake(Buffer.alloc(20))), /body of 20 bytes is too short/, null, 'a short body');
  const bad = helloBody();
  bad.writeUInt16BE(bad.readUInt16BE(75) + 1, 75); // the extensions length, 75 bytes into the body
  expectRefused(t, records(handshake(bad)), /extensions length \d+, but \d+ bytes of the ClientHello remain/, 84, 'extensions length');
  expectRefused(
    t,
    hello({ extensions: [extension(10, Buffer.alloc(4)), Buffer.from([0, 1])] }),
    /2 stray bytes where an extension header belongs/,
    null,
    'stray bytes',
  );
  const overrun = extension(10, Buffer.alloc(4));
  overrun.writeUInt16BE(5, 2);
  expectRefused(t, hello({ extensions: [overrun, Buffer.alloc(0)] }), /extension 10: length 5 runs past/, 86, 'an extension too long');
  expectRefused(
    t,
    hello({ extensions: [serverName('a.example'), alpn('h2'), serverName('b.example')] }),
    /a second server_name extension/,
    null,
    'duplicate SNI',
  );
  expectRefused(
    t,
    hello({ extensions: [alpn('h2'), alpn('http/1.1')] }),
    /a second application_layer_protocol_negotiation/,
    null,
    'duplicate ALPN',
  );
  expectRefused(t, hello({ extensions: [serverName('a.example', 'b.example')] }), /a second name in the list/, null, 'two host names');
  // split before the list ends: the byte named is counted across the record header
  const twoNames = records(handshake(helloBody({ extensions: [serverName('a.example', 'b.example')] })), [95]);
  expectRefused(t, twoNames, /a second name in the list/, 109, 'two host names, the list split over records');
  const otherType = serverName('a.example');
  otherType[6] = 1;
  expectRefused(t, hello({ extensions: [otherType] }), /name type 1 is not host_name/, 92, 'another name type');
  expectRefused(
    t,
    hello({ extensions: [extension(0, Buffer.alloc(0))] }),
    /server_name: the extension is too short/,
    86,
    'an empty server_name (only servers send one)',
  );
  expectRefused(t, hello({ extensions: [serverName(Buffer.alloc(0))] }), /an empty host_name/, 93, 'empty name');
  expectRefused(t, hello({ extensions: [serverName('my_host.example')] }), /byte 0x5f at 2, not a letter/, 95, 'underscore');
  expectRefused(t, hello({ extensions: [serverName('a..example')] }), /empty label at byte 2/, 95, 'empty label');
  expectRefused(t, hello({ extensions: [serverName('.example')] }), /empty label at byte 0/, 95, 'leading dot');
  expectRefused(t, hello({ extensions: [serverName('a.example\0.evil')] }), /byte 0x00 at 9/, 95, 'NUL');
  expectRefused(t, hello({ extensions: [serverName(`${'a'.repeat(64)}.example`)] }), /label longer than 63 bytes/, 95, 'long label');
  const long = Array.from({ length: 5 }, () => 'b'.repeat(60)).join('.');
  expectRefused(t, hello({ extensions: [serverName(long)] }), /longer than 255 bytes/, 95, 'long name');
  expectRefused(t, hello({ extensions: [alpn('h2', '')] }), /an empty protocol name/, null, 'empty ALPN name');
  const alpnShort = alpn('h2');
  alpnShort.writeUInt16BE(2, 4);
  expectRefused(t, hello({ extensions: [alpnShort] }), /list length 2, but the extension holds 3 bytes/, 90, 'ALPN list length');
});

t.test('what is tolerated', async (t) => {
  expectHello(
    t,
    readClientHello(hello({ extensions: [serverName('Host.Example.')] })),
    'host.example',
    [],
    hello({}).length + 2,
    'a trailing dot, dropped',
  );
  expectHello(
    t,
    readClientHello(hello({ extensions: null })),
    null,
    [],
    hello({ extensions: null }).length,
    'no extensions block (TLS 1.0-era)',
  );
  expectHello(t, readClientHello(hello({ extensions: [] })), null, [], hello({ extensions: [] }).length, 'an empty extensions block');
  const single = hello({ extensions: [serverName('x')] });
  expectHello(t, readClientHello(single), 'x', [], single.length, 'a one-label name');
  const max = Array.from({ length: 4 }, () => 'c'.repeat(63)).join('.');
  const maxHello = hello({ extensions: [serverName(max), alpn('h2', 'http/1.1', 'x'.repeat(255))] });
  expectHello(
    t,
    readClientHello(maxHello),
    max,
    ['h2', 'http/1.1', 'x'.repeat(255)],
    maxHello.length,
    'a 255-byte name, a 255-byte protocol',
  );
  const ip = hello({ extensions: [serverName('192.0.2.1')] });
  expectHello(
    t,
    readClientHello(ip),
    '192.0.2.1',
    [],
    ip.length,
    'an IPv4 literal (RFC 6066 forbids it; routing simply finds no such name)',
  );
  t.equal(readClientHello(Buffer.alloc(0)).kind, 'incomplete', 'nothing yet');
});

t.test('fuzz: mutated real hellos never throw; a name read is a valid lowercase host name', async (t) => {
  const random = seededRandom(14);
  const valid = /^[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$/;
  const kinds = { incomplete: 0, hello: 0, refused: 0 };
  const limit = clientHelloBufferLimit();
  let bad = 0;
  for (const c of captured) {
    for (let i = 0; i < 1500; i++) {
      const m = Buffer.from(random() < 0.3 ? records(messageOf(c.bytes), [1 + Math.floor(random() * 200)]) : c.bytes);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
      const input = random() < 0.2 ? m.subarray(0, Math.floor(random() * m.length)) : m;
      let r: ClientHelloRead;
      try {
        r = readClientHello(input);
      } catch (err) {
        bad++;
        t.fail(`threw on a mutation of ${c.what}: ${(err as Error).message}`);
        continue;
      }
      kinds[r.kind]++;
      if (r.kind === 'hello' && r.sni !== null && !valid.test(r.sni)) bad++;
      if (r.kind === 'refused' && !(r.at >= 0 && r.at <= input.length)) bad++;
      if (r.kind === 'incomplete' && input.length > limit) bad++;
    }
  }
  t.equal(bad, 0, `no throw, no invalid name, no fault outside the input: ${JSON.stringify(kinds)}`);
  t.ok(kinds.refused > 0 && kinds.hello > 0, 'mutations both refused and read');
});

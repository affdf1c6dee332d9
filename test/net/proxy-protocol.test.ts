// Unit tests of the PROXY protocol codec (lib/net/proxy-protocol.ts), against
// HAProxy's spec (versions 1 and 2): the spec's v1 examples and their worst
// case lengths, each way a v1 line can be malformed, incremental parsing
// (every prefix of a header is `incomplete`, other bytes are `none`), v2
// round trips and exact bytes, v2 TLVs and malformed v2 headers, the v1
// encoder, and a seeded fuzz loop over random bytes after a header's start.
import t, { type Test } from 'tap';
import {
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  type ProxyAddresses,
  type ProxyHeaderParse,
} from '../../lib/net/proxy-protocol.ts';

/** The 12-byte v2 signature, written out here from the spec rather than taken from the module. */
const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const F6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

function parse(input: string | Buffer): ProxyHeaderParse {
  return parseProxyHeader(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
}

/** A v2 header: signature, byte 12, byte 13, a length (the body's unless given) and the body. */
function v2(versionCommand: number, familyProtocol: number, body: Buffer | number[], length?: number): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(4);
  head[0] = versionCommand;
  head[1] = familyProtocol;
  head.writeUInt16BE(length ?? b.length, 2);
  return Buffer.concat([SIG, head, b]);
}

/** A TLV: type, 16-bit length, value. */
function tlv(type: number, value: string | Buffer): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(v.length, 1);
  return Buffer.concat([head, v]);
}

/** 192.0.2.1:12345 -> 198.51.100.2:443, the 12 address bytes of a v2 AF_INET block. */
const IPV4_BLOCK = [192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0x01, 0xbb];
const IPV4_ADDRESSES: ProxyAddresses = {
  family: 4,
  sourceAddress: '192.0.2.1',
  sourcePort: 12345,
  destinationAddress: '198.51.100.2',
  destinationPort: 443,
};

function expectError(t: Test, input: string | Buffer, message: RegExp, what: string): void {
  const r = parse(input);
  t.equal(r.kind, 'error', `${what}: an error`);
  if (r.kind === 'error') t.match(r.message, message, `${what}: the message names the fault (${r.message})`);
}

t.test('v1: the spec’s examples', async (t) => {
  const tcp4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n';
  t.equal(tcp4.length, 56, 'the TCP4 worst case is 56 bytes');
  t.strictSame(parse(tcp4), {
    kind: 'header',
    length: 56,
    version: 1,
    addresses: {
      family: 4,
      sourceAddress: '255.255.255.255',
      sourcePort: 65535,
      destinationAddress: '255.255.255.255',
      destinationPort: 65535,
    },
  });

  const tcp6 = `PROXY TCP6 ${F6} ${F6} 65535 65535\r\n`;
  t.equal(tcp6.length, 104, 'the TCP6 worst case is 104 bytes');
  t.strictSame(parse(tcp6), {
    kind: 'header',
    length: 104,
    version: 1,
    addresses: { family: 6, sourceAddress: F6, sourcePort: 65535, destinationAddress: F6, destinationPort: 65535 },
  });

  t.strictSame(parse('PROXY UNKNOWN\r\n'), { kind: 'header', length: 15, version: 1, addresses: null }, 'UNKNOWN alone');
  const unknown = `PROXY UNKNOWN ${F6} ${F6} 65535 65535\r\n`;
  t.equal(unknown.length, PROXY_V1_MAX_BYTES, 'the UNKNOWN worst case is the 107-byte maximum');
  t.strictSame(parse(unknown), { kind: 'header', length: 107, version: 1, addresses: null }, 'UNKNOWN with addresses: they are ignored');

  t.strictSame(
    parse('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
    {
      kind: 'header',
      length: 47,
      version: 1,
      addresses: { family: 4, sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 443 },
    },
    'the spec’s TCP4 example',
  );
  t.strictSame(
    parse('PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n'),
    {
      kind: 'header',
      length: 33,
      version: 1,
      addresses: { family: 4, sourceAddress: '0.0.0.0', sourcePort: 0, destinationAddress: '10.0.0.1', destinationPort: 0 },
    },
    'port 0 and a 0 octet are not leading zeros',
  );
  const mapped = parse('PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1 2\r\n');
  t.match(
    mapped,
    { kind: 'header', addresses: { family: 6, sourceAddress: '::ffff:192.0.2.1', destinationAddress: '2001:db8::1' } },
    'TCP6 with an IPv4-mapped address',
  );

  for (const line of [tcp4, tcp6, 'PROXY UNKNOWN\r\n', unknown]) {
    const r = parse(line + 'GET / HTTP/1.1\r\n');
    t.match(r, { kind: 'header', length: line.length }, `followed by a request: the header’s ${line.length} bytes only`);
  }
});

t.test('v1: malformed lines are errors that name the fault', async (t) => {
  expectError(t, 'PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n', /single spaces/, 'a double space between fields');
  expectError(t, 'PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n', /protocol ''/, 'a double space after PROXY');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n', /single spaces/, 'a trailing space');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n', /needs 4 fields/, 'a missing field');
  expectError(t, 'PROXY TCP4\r\n', /needs 4 fields/, 'no fields at all');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n', /needs 4 fields/, 'an extra field');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n', /line feed without a carriage return at byte 33/, 'LF without CR');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX', /carriage return without a line feed at byte 33/, 'CR without LF');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r\n', /carriage return without a line feed/, 'CR CR LF');

  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n', /source port '65536'/, 'source port 65536');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n', /destination port '65536'/, 'destination port 65536');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 443\r\n', /source port '99999'/, 'port 99999');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n', /source port '080'.*leading zeros/, 'a port with a leading zero');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 00\r\n', /destination port '00'/, 'port 00');
  for (const port of ['+80', '-1', '0x50', '8o', '1e3', '']) {
    expectError(t, `PROXY TCP4 1.2.3.4 5.6.7.8 ${port} 443\r\n`, /source port/, `port '${port}'`);
  }

  expectError(t, 'PROXY TCP4 ::1 5.6.7.8 80 443\r\n', /source address '::1' is not an IPv4 address/, 'TCP4 with an IPv6 source');
  expectError(
    t,
    'PROXY TCP4 1.2.3.4 2001:db8::1 80 443\r\n',
    /destination address '2001:db8::1' is not an IPv4 address/,
    'TCP4 with an IPv6 destination',
  );
  expectError(t, 'PROXY TCP6 1.2.3.4 ::1 80 443\r\n', /source address '1.2.3.4' is not an IPv6 address/, 'TCP6 with an IPv4 source');
  expectError(
    t,
    'PROXY TCP6 ::1 1.2.3.4 80 443\r\n',
    /destination address '1.2.3.4' is not an IPv6 address/,
    'TCP6 with an IPv4 destination',
  );
  expectError(t, 'PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n', /'01.2.3.4' is not an IPv4 address/, 'IPv4 with a leading zero');
  expectError(
    t,
    'PROXY TCP4 1.2.3.004 5.6.7.8 80 443\r\n',
    /'1.2.3.004' is not an IPv4 address/,
    'IPv4 with leading zeros in the last octet',
  );
  expectError(t, 'PROXY TCP4 1.2.3.256 5.6.7.8 80 443\r\n', /'1.2.3.256'/, 'an octet past 255');
  expectError(t, 'PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n', /'1.2.3'/, 'three octets');
  expectError(t, 'PROXY TCP4 localhost 5.6.7.8 80 443\r\n', /'localhost'/, 'a name');
  expectError(t, 'PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n', /'fe80::1%eth0' is not an IPv6 address/, 'IPv6 with a zone');
  expectError(t, 'PROXY TCP6 [::1] ::1 80 443\r\n', /'\[::1\]'/, 'IPv6 in brackets');

  expectError(t, 'PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n', /protocol 'TCP5'/, 'protocol TCP5');
  expectError(t, 'PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n', /protocol 'UDP4'/, 'protocol UDP4');
  expectError(t, 'PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n', /protocol 'tcp4'/, 'lower case');
  expectError(t, 'PROXY UNKNOWNX\r\n', /protocol 'UNKNOWNX'/, 'UNKNOWN with a suffix');
  expectError(t, 'PROXY / HTTP/1.1\r\n', /protocol '\/'/, 'a method-like line');

  expectError(t, 'PROXY TCP4 1.2.3.4\t5.6.7.8 80 443\r\n', /byte 0x09 at 18/, 'a tab');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\0\r\n', /byte 0x00 at 33/, 'a NUL');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 44\x7f\r\n', /byte 0x7f at 32/, 'DEL');
  expectError(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\x80\r\n', /byte 0x80 at 33/, 'a byte 0x80');
  expectError(t, 'PROXY UNKNOWN caf\xe9\r\n', /byte 0xe9 at 17/, 'a byte 0xe9 even in UNKNOWN’s ignored part');
  expectError(
    t,
    Buffer.concat([Buffer.from('PROXY TCP4 '), Buffer.from([0xff])]),
    /byte 0xff at 11/,
    'a byte 0xff before the line is complete',
  );

  const long = 'PROXY UNKNOWN ' + 'x'.repeat(PROXY_V1_MAX_BYTES - 14);
  t.equal(long.length, 107);
  expectError(t, long, /no CRLF within 107 bytes/, 'no CRLF within 107 bytes');
  expectError(t, long + '\r\n', /no CRLF within 107 bytes/, 'a 109-byte line');
  const line107 = 'PROXY UNKNOWN ' + 'x'.repeat(PROXY_V1_MAX_BYTES - 16) + '\r\n';
  t.equal(line107.length, 107);
  t.strictSame(parse(line107), { kind: 'header', length: 107, version: 1, addresses: null }, 'a 107-byte line is the longest accepted');
  const line108 = 'PROXY UNKNOWN ' + 'x'.repeat(PROXY_V1_MAX_BYTES - 15) + '\r\n';
  t.equal(line108.length, 108);
  expectError(t, line108, /no CRLF within 107 bytes/, 'a 108-byte line, its CR at byte 106');
  expectError(t, line108.slice(0, 107), /no CRLF within 107 bytes/, 'the first 107 bytes of that line');
  expectError(t, line108.slice(0, 106), /no CRLF within 107 bytes/, 'its first 106 bytes: no room left for CRLF');
  t.equal(parse(line107.slice(0, 105)).kind, 'incomplete', '105 bytes without CR: the CR may still come at byte 105');
});

t.test('incremental: prefixes are incomplete, other bytes are none', async (t) => {
  const whole: Array<[string, Buffer]> = [
    ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n')],
    ['v1 TCP6', Buffer.from(`PROXY TCP6 ${F6} 2001:db8::1 65535 1\r\n`)],
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n')],
    ['v2 IPv4', encodeProxyV2(IPV4_ADDRESSES)],
    ['v2 IPv6', encodeProxyV2({ family: 6, sourceAddress: '2001:db8::7', sourcePort: 1, destinationAddress: '::1', destinationPort: 2 })],
    ['v2 LOCAL', encodeProxyV2Local()],
    ['v2 IPv4 with TLVs', v2(0x21, 0x11, Buffer.concat([Buffer.from(IPV4_BLOCK), tlv(0x01, 'h2'), tlv(0x04, '')]))],
  ];
  for (const [name, bytes] of whole) {
    const wrong: number[] = [];
    for (let n = 1; n < bytes.length; n++) if (parseProxyHeader(bytes.subarray(0, n)).kind !== 'incomplete') wrong.push(n);
    t.strictSame(wrong, [], `${name}: each of the ${bytes.length - 1} proper prefixes is incomplete`);
    t.match(parseProxyHeader(bytes), { kind: 'header', length: bytes.length }, `${name}: the whole is a header`);
  }

  for (const text of ['P', 'PR', 'PRO', 'PROX', 'PROXY', 'PROXY ', 'PROXY T', 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r']) {
    t.equal(parse(text).kind, 'incomplete', `'${JSON.stringify(text).slice(1, -1)}' is incomplete`);
  }
  for (const bytes of [[0x0d], [0x0d, 0x0a, 0x0d, 0x0a, 0x00], [...SIG], [...SIG, 0x21, 0x11, 0x00]]) {
    t.equal(parse(Buffer.from(bytes)).kind, 'incomplete', `${bytes.length} bytes of the v2 signature/head are incomplete`);
  }

  for (const text of ['GET / HTTP/1.1\r\n', 'PROXZ', 'PX', 'PROXY\r\n', 'PROXYTCP4', 'proxy TCP4', 'X', ' PROXY ', '\r\n\r\nX', '\n']) {
    t.equal(parse(text).kind, 'none', `'${JSON.stringify(text).slice(1, -1)}' is none`);
  }
  const badSig = Buffer.from(SIG);
  badSig[11] = 0x0b;
  t.equal(
    parse(Buffer.concat([badSig, Buffer.from([0x21, 0x11, 0x00, 0x0c, ...IPV4_BLOCK])])).kind,
    'none',
    'a signature wrong in its last byte is none',
  );
  t.equal(parse(Buffer.from([0x16, 0x03, 0x01, 0x00])).kind, 'none', 'a TLS ClientHello is none');
});

t.test('v2: encode and parse round trip', async (t) => {
  const cases: Array<[string, string]> = [
    // [address given to encodeProxyV2, address parseProxyHeader gives back]
    ['::1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8::A', '2001:db8::a'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:102:304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    [F6, F6],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['0:0:1:0:0:0:0:0', '0:0:1::'],
    ['fe80::0001:0:0:2', 'fe80::1:0:0:2'],
  ];
  for (const [given, expected] of cases) {
    const a: ProxyAddresses = { family: 6, sourceAddress: given, sourcePort: 1234, destinationAddress: '2001:db8::2', destinationPort: 80 };
    const bytes = encodeProxyV2(a);
    t.equal(bytes.length, 16 + 36, `${given}: 52 bytes`);
    t.strictSame(
      parseProxyHeader(bytes),
      { kind: 'header', length: 52, version: 2, addresses: { ...a, sourceAddress: expected } },
      `${given} comes back as ${expected}`,
    );
  }
  for (const address of ['0.0.0.0', '127.0.0.1', '255.255.255.255', '10.20.30.40']) {
    const a: ProxyAddresses = { family: 4, sourceAddress: address, sourcePort: 0, destinationAddress: '192.0.2.1', destinationPort: 65535 };
    t.strictSame(parseProxyHeader(encodeProxyV2(a)), { kind: 'header', length: 28, version: 2, addresses: a }, `IPv4 ${address}`);
  }
  const withRequest = Buffer.concat([encodeProxyV2(IPV4_ADDRESSES), Buffer.from('GET / HTTP/1.1\r\n')]);
  t.match(parseProxyHeader(withRequest), { kind: 'header', length: 28 }, 'bytes after a v2 header are not consumed');
});

t.test('v2: exact bytes', async (t) => {
  const ipv4 = Buffer.from([...SIG, 0x21, 0x11, 0x00, 0x0c, ...IPV4_BLOCK]);
  t.strictSame(encodeProxyV2(IPV4_ADDRESSES), ipv4, 'IPv4: signature, 0x21, 0x11, length 12, addresses, ports');

  const ipv6 = Buffer.from([
    ...SIG,
    0x21,
    0x21,
    0x00,
    0x24,
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0x01, // 2001:db8::1
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0xff,
    0xff,
    192,
    0,
    2,
    1, // ::ffff:192.0.2.1
    0x00,
    0x01,
    0xff,
    0xff, // ports 1 and 65535
  ]);
  t.strictSame(
    encodeProxyV2({
      family: 6,
      sourceAddress: '2001:db8::1',
      sourcePort: 1,
      destinationAddress: '::ffff:192.0.2.1',
      destinationPort: 65535,
    }),
    ipv6,
    'IPv6: 0x21, length 36',
  );

  t.strictSame(encodeProxyV2Local(), Buffer.from([...SIG, 0x20, 0x00, 0x00, 0x00]), 'LOCAL: 0x20, UNSPEC, length 0');
  t.strictSame(
    parseProxyHeader(encodeProxyV2Local()),
    { kind: 'header', length: 16, version: 2, addresses: null },
    'LOCAL parses with no addresses',
  );
});

t.test('v2: TLVs', async (t) => {
  const tlvs = Buffer.concat([tlv(0x01, 'h2'), tlv(0x04, Buffer.alloc(5))]);
  const withTlvs = v2(0x21, 0x11, Buffer.concat([Buffer.from(IPV4_BLOCK), tlvs]));
  t.strictSame(
    parseProxyHeader(Buffer.concat([withTlvs, Buffer.from('GET /')])),
    { kind: 'header', length: 16 + 12 + 5 + 8, version: 2, addresses: IPV4_ADDRESSES },
    'ALPN and NOOP TLVs: the length covers them, the addresses are read',
  );
  t.match(parseProxyHeader(v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x04, '')])), { kind: 'header', length: 31 }, 'an empty NOOP TLV');
  t.match(parseProxyHeader(v2(0x20, 0x00, tlv(0x04, 'pad'))), { kind: 'header', length: 22, addresses: null }, 'LOCAL with a TLV');
  t.match(parseProxyHeader(v2(0x21, 0x00, tlv(0x01, 'http/1.1'))), { kind: 'header', length: 27, addresses: null }, 'UNSPEC with a TLV');

  const past = Buffer.concat([Buffer.from(IPV4_BLOCK), Buffer.from([0x01, 0x00, 0x05]), Buffer.from('h2')]);
  expectError(t, v2(0x21, 0x11, past), /TLV at byte 28 \(type 0x01\) runs past the header/, 'a TLV longer than what is left');
  expectError(t, Buffer.concat([v2(0x21, 0x11, past), Buffer.from('xyz')]), /runs past the header/, 'even when bytes follow the header');
  expectError(t, v2(0x21, 0x11, [...IPV4_BLOCK, 0x04]), /TLV at byte 28 is cut short/, 'one byte of a TLV');
  expectError(t, v2(0x21, 0x11, [...IPV4_BLOCK, 0x04, 0x00]), /TLV at byte 28 is cut short/, 'two bytes of a TLV');
  expectError(t, v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x04, 'ok'), 0x01]), /TLV at byte 33 is cut short/, 'a good TLV then a cut one');
  expectError(t, v2(0x20, 0x00, [0x04, 0x00, 0x01]), /runs past the header/, 'LOCAL: TLVs are checked too');
});

t.test('v2: malformed or unusable heads', async (t) => {
  expectError(t, v2(0x11, 0x11, IPV4_BLOCK), /version 1 \(byte 12 is 0x11\)/, 'version nibble 1');
  expectError(t, v2(0x31, 0x11, IPV4_BLOCK), /version 3/, 'version nibble 3');
  expectError(t, v2(0x01, 0x11, IPV4_BLOCK), /version 0/, 'version nibble 0');
  expectError(t, Buffer.from([...SIG, 0x11, 0x11, 0x00, 0x00]), /version 1/, 'a bad version with no body');
  expectError(t, v2(0x22, 0x11, IPV4_BLOCK), /command 2/, 'command 2');
  expectError(t, v2(0x2f, 0x11, IPV4_BLOCK), /command 15/, 'command 15');
  expectError(t, v2(0x21, 0x41, IPV4_BLOCK), /0x41 \(byte 13\)/, 'family 4');
  expectError(t, v2(0x21, 0x13, IPV4_BLOCK), /0x13 \(byte 13\)/, 'protocol 3');
  expectError(t, v2(0x21, 0xff, IPV4_BLOCK), /0xff \(byte 13\)/, 'byte 13 0xff');
  expectError(t, v2(0x20, 0x41, []), /byte 13/, 'family 4 with LOCAL: still an invalid byte');

  expectError(t, v2(0x21, 0x12, IPV4_BLOCK), /UDP/, 'UDP over IPv4 with PROXY');
  expectError(t, v2(0x21, 0x22, Buffer.alloc(36)), /UDP/, 'UDP over IPv6 with PROXY');
  expectError(t, v2(0x21, 0x02, []), /UDP/, 'UNSPEC family, DGRAM with PROXY');
  t.strictSame(
    parse(v2(0x20, 0x12, IPV4_BLOCK)),
    { kind: 'header', length: 28, version: 2, addresses: null },
    'UDP with LOCAL: the family is ignored',
  );
  t.strictSame(
    parse(v2(0x20, 0x11, IPV4_BLOCK)),
    { kind: 'header', length: 28, version: 2, addresses: null },
    'TCP4 with LOCAL: the addresses are ignored',
  );

  t.strictSame(parse(v2(0x21, 0x00, [])), { kind: 'header', length: 16, version: 2, addresses: null }, 'UNSPEC with PROXY: no addresses');
  t.strictSame(parse(v2(0x21, 0x00, tlv(0x04, ''))), { kind: 'header', length: 19, version: 2, addresses: null }, 'UNSPEC with a NOOP TLV');
  t.strictSame(
    parse(v2(0x21, 0x31, Buffer.alloc(216))),
    { kind: 'header', length: 232, version: 2, addresses: null },
    'AF_UNIX stream with 216 bytes: no addresses',
  );
  expectError(t, v2(0x21, 0x31, Buffer.alloc(215)), /length 215 is shorter than the 216 bytes/, 'AF_UNIX with 215 bytes');
  t.strictSame(
    parse(v2(0x21, 0x10, IPV4_BLOCK)),
    { kind: 'header', length: 28, version: 2, addresses: null },
    'AF_INET with an UNSPEC protocol: the addresses are not TCP ones and are ignored',
  );
  t.strictSame(
    parse(v2(0x21, 0x20, Buffer.alloc(36))),
    { kind: 'header', length: 52, version: 2, addresses: null },
    'AF_INET6 with an UNSPEC protocol: likewise',
  );

  expectError(t, v2(0x21, 0x11, IPV4_BLOCK.slice(0, 8)), /length 8 is shorter than the 12 bytes of its addresses/, 'TCP4 with length 8');
  expectError(t, v2(0x21, 0x11, [], 8), /length 8 is shorter/, 'TCP4 with length 8, nothing after the head: an error at once');
  expectError(t, v2(0x21, 0x21, Buffer.alloc(12)), /length 12 is shorter than the 36 bytes/, 'TCP6 with length 12');
  expectError(
    t,
    v2(0x21, 0x11, [], PROXY_V2_MAX_BYTES - 16 + 1),
    /2049 bytes of addresses and TLVs, more than 2048/,
    'length past the maximum: an error at once',
  );
  expectError(t, v2(0x21, 0x11, [], 0xffff), /65535 bytes/, 'length 65535');
  const longest = v2(0x21, 0x11, Buffer.concat([Buffer.from(IPV4_BLOCK), tlv(0x04, Buffer.alloc(PROXY_V2_MAX_BYTES - 16 - 12 - 3))]));
  t.equal(longest.length, PROXY_V2_MAX_BYTES);
  t.match(
    parse(longest),
    { kind: 'header', length: PROXY_V2_MAX_BYTES, addresses: IPV4_ADDRESSES },
    'a header of exactly PROXY_V2_MAX_BYTES',
  );
  t.equal(parse(longest.subarray(0, longest.length - 1)).kind, 'incomplete', 'one byte short of it: incomplete');
});

t.test('v1 encode', async (t) => {
  t.equal(encodeProxyV1(IPV4_ADDRESSES).toString('latin1'), 'PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n');
  const v6: ProxyAddresses = {
    family: 6,
    sourceAddress: '2001:db8::7',
    sourcePort: 0,
    destinationAddress: '::ffff:192.0.2.1',
    destinationPort: 65535,
  };
  t.equal(encodeProxyV1(v6).toString('latin1'), 'PROXY TCP6 2001:db8::7 ::ffff:192.0.2.1 0 65535\r\n');
  for (const a of [IPV4_ADDRESSES, v6]) {
    const bytes = encodeProxyV1(a);
    t.strictSame(
      parseProxyHeader(bytes),
      { kind: 'header', length: bytes.length, version: 1, addresses: a },
      `IPv${a.family}: parses back`,
    );
  }

  const bad: Array<[string, ProxyAddresses, RegExp]> = [
    ['IPv6 with family 4', { ...IPV4_ADDRESSES, sourceAddress: '::1' }, /'::1' is not an IPv4 address/],
    ['IPv4 with family 6', { ...v6, destinationAddress: '192.0.2.1' }, /'192.0.2.1' is not an IPv6 address/],
    ['a leading zero', { ...IPV4_ADDRESSES, destinationAddress: '010.0.0.1' }, /'010.0.0.1'/],
    ['a zone', { ...v6, sourceAddress: 'fe80::1%eth0' }, /'fe80::1%eth0'/],
    ['a name', { ...IPV4_ADDRESSES, sourceAddress: 'example.com' }, /'example.com'/],
    ['port 65536', { ...IPV4_ADDRESSES, sourcePort: 65536 }, /port 65536 is out of range/],
    ['port -1', { ...IPV4_ADDRESSES, destinationPort: -1 }, /port -1 is out of range/],
    ['port 1.5', { ...IPV4_ADDRESSES, sourcePort: 1.5 }, /port 1.5 is out of range/],
    ['port NaN', { ...v6, destinationPort: NaN }, /port NaN is out of range/],
  ];
  for (const [what, a, message] of bad) {
    t.throws(() => encodeProxyV1(a), message, `encodeProxyV1 throws on ${what}`);
    t.throws(() => encodeProxyV2(a), message, `encodeProxyV2 throws on ${what}`);
  }
});

/** mulberry32: a small seeded PRNG, so the fuzz loop is the same on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fuzz: random bytes after a header’s start never throw', async (t) => {
  const random = mulberry32(0x5eed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const kinds = { none: 0, incomplete: 0, header: 0, error: 0 };
  const failures: string[] = [];
  const v1Alphabet = Buffer.from('TCP46UNKOW 0123456789.:abcdef\r\n\r\n   ', 'latin1');
  for (let i = 0; i < 2000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      // v2: often a plausible head (so some parse), with random length, addresses and TLV bytes.
      const head = Buffer.from([pick([0x20, 0x21, 0x21, 0x21, int(256)]), pick([0x00, 0x11, 0x21, 0x31, 0x12, int(256)]), 0, int(64)]);
      if (int(8) === 0) head.writeUInt16BE(int(0x10000), 2);
      const rest = Buffer.from(Array.from({ length: int(100) }, () => (int(4) === 0 ? 0 : int(256))));
      const whole = Buffer.concat([SIG, head, rest]);
      buf = int(5) === 0 ? whole.subarray(0, SIG.length + int(whole.length - SIG.length + 1)) : whole;
    } else {
      // v1: mostly bytes of a plausible line, sometimes any byte.
      const body = Array.from({ length: int(120) }, () => (int(16) === 0 ? int(256) : pick([...v1Alphabet])));
      const prefix = pick(['TCP4 ', 'TCP6 ', 'UNKNOWN', '']);
      buf = Buffer.concat([Buffer.from('PROXY ' + prefix, 'latin1'), Buffer.from(body)]);
      if (int(4) === 0)
        buf = Buffer.from(`PROXY TCP4 ${int(300)}.${int(256)}.0.1 10.0.0.${int(256)} ${int(70000)} ${int(70000)}\r\n`, 'latin1');
    }
    let r: ProxyHeaderParse;
    try {
      r = parseProxyHeader(buf);
    } catch (err) {
      failures.push(`#${i} ${buf.toString('hex')}: threw ${String(err)}`);
      continue;
    }
    if (!(r.kind in kinds)) {
      failures.push(`#${i}: kind ${String(r.kind)}`);
      continue;
    }
    kinds[r.kind]++;
    if (r.kind === 'header') {
      if (r.length > buf.length) failures.push(`#${i} ${buf.toString('hex')}: length ${r.length} > ${buf.length}`);
      const again = parseProxyHeader(buf.subarray(0, r.length));
      if (JSON.stringify(again) !== JSON.stringify(r)) failures.push(`#${i} ${buf.toString('hex')}: the header alone parses differently`);
    }
    if (r.kind === 'error' && (typeof r.message !== 'string' || !r.message.startsWith('PROXY v')))
      failures.push(`#${i}: message ${r.message}`);
  }
  t.strictSame(failures, [], '2000 buffers: no throw, a known kind, a header within the buffer');
  t.ok(kinds.header > 0 && kinds.incomplete > 0 && kinds.error > 0, `each outcome was reached: ${JSON.stringify(kinds)}`);
});

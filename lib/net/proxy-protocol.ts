// The PROXY protocol (HAProxy's spec, versions 1 and 2): a header a proxy
// sends first on a connection to tell the receiver whom the connection is
// really from. The L4 core sends it to real servers that want it, tcpvs's
// services read it from trusted sources, and the upstream pool sends it to
// servers configured for it.
//
// Parsing is strict, as the spec asks of a receiver: exact spacing and CRLF
// in v1, decimal ports without leading zeros, addresses of the family the
// header names, a v2 length that covers the addresses and well-formed TLVs.
// Anything else is an error, never a guess.
import net from 'node:net';

export interface ProxyAddresses {
  family: 4 | 6;
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

export type ProxyHeaderParse =
  | { kind: 'none' } // the bytes do not begin a PROXY header
  | { kind: 'incomplete' } // a header has begun; it needs more bytes
  // null addresses: v1 UNKNOWN, v2 LOCAL or an address family without TCP
  // addresses; the receiver keeps the connection's own.
  | { kind: 'header'; length: number; version: 1 | 2; addresses: ProxyAddresses | null }
  | { kind: 'error'; message: string };

/** v1: "PROXY" and the longest line the spec allows, CRLF included. */
export const PROXY_V1_MAX_BYTES = 107;
/** v2: what a header may take here, TLVs included (the spec allows 16 + 65535; HAProxy stops at its buffer). */
export const PROXY_V2_MAX_BYTES = 16 + 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEAD_BYTES = 16;

/** Where `a.family` is 4, both addresses must be IPv4 literals; 6, IPv6. */
export function encodeProxyV1(a: ProxyAddresses): Buffer {
  checkAddresses(a);
  const proto = a.family === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${proto} ${a.sourceAddress} ${a.destinationAddress} ${a.sourcePort} ${a.destinationPort}\r\n`, 'latin1');
}

/** A v2 PROXY command over TCP, without TLVs. */
export function encodeProxyV2(a: ProxyAddresses): Buffer {
  checkAddresses(a);
  const addressBytes = a.family === 4 ? 4 : 16;
  const length = addressBytes * 2 + 4;
  const out = Buffer.alloc(V2_HEAD_BYTES + length);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = a.family === 4 ? 0x11 : 0x21; // AF_INET or AF_INET6, STREAM
  out.writeUInt16BE(length, 14);
  writeAddress(out, V2_HEAD_BYTES, a.sourceAddress, a.family);
  writeAddress(out, V2_HEAD_BYTES + addressBytes, a.destinationAddress, a.family);
  out.writeUInt16BE(a.sourcePort, V2_HEAD_BYTES + addressBytes * 2);
  out.writeUInt16BE(a.destinationPort, V2_HEAD_BYTES + addressBytes * 2 + 2);
  return out;
}

/** A v2 LOCAL command: the connection is the proxy's own (a health check), no addresses. */
export function encodeProxyV2Local(): Buffer {
  const out = Buffer.alloc(V2_HEAD_BYTES);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20;
  return out;
}

/**
 * The addresses of a connection as a PROXY header gives them: an IPv4-mapped
 * IPv6 address (a dual-stack socket's) as IPv4; family 4 when both sides are
 * IPv4, else 6 with an IPv4 side in its mapped form (::ffff:a.b.c.d). null
 * when either side is no address a header can carry (unknown, zone-scoped):
 * then send encodeProxyHeader(version, null).
 */
export function proxyAddresses(
  source: string | undefined,
  sourcePort: number | undefined,
  destination: string | undefined,
  destinationPort: number | undefined,
): ProxyAddresses | null {
  if (source === undefined || destination === undefined || sourcePort === undefined || destinationPort === undefined) return null;
  const src = unmapped(source);
  const dst = unmapped(destination);
  const src4 = isAddress(src, 4);
  const dst4 = isAddress(dst, 4);
  if ((!src4 && !isAddress(src, 6)) || (!dst4 && !isAddress(dst, 6))) return null;
  if (src4 && dst4) return { family: 4, sourceAddress: src, sourcePort, destinationAddress: dst, destinationPort };
  return {
    family: 6,
    sourceAddress: src4 ? `::ffff:${src}` : src,
    sourcePort,
    destinationAddress: dst4 ? `::ffff:${dst}` : dst,
    destinationPort,
  };
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * A header of `version` for these addresses; for null (addresses it cannot
 * carry, or a connection of tcpvs's own such as a health check), v1's
 * `PROXY UNKNOWN` or v2's LOCAL command, as HAProxy sends.
 */
export function encodeProxyHeader(version: 1 | 2, addresses: ProxyAddresses | null): Buffer {
  if (addresses === null) return version === 1 ? Buffer.from('PROXY UNKNOWN\r\n', 'latin1') : encodeProxyV2Local();
  return version === 1 ? encodeProxyV1(addresses) : encodeProxyV2(addresses);
}

/**
 * Reads a PROXY header (v1 or v2) at the start of `buf`: none when the bytes
 * cannot begin one, incomplete while they could, else the header or what is
 * wrong with it.
 */
export function parseProxyHeader(buf: Buffer): ProxyHeaderParse {
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_HEAD_BYTES ? { kind: 'incomplete' } : parseV2(buf);
  return { kind: 'none' };
}

/** True when `buf` and `prefix` agree on their common length (and buf is not empty). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  if (n === 0) return false;
  return buf.compare(prefix, 0, n, 0, n) === 0;
}

function parseV1(buf: Buffer): ProxyHeaderParse {
  // The CR must leave room for its LF within PROXY_V1_MAX_BYTES.
  const crLimit = PROXY_V1_MAX_BYTES - 1;
  const limit = Math.min(buf.length, crLimit);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i];
    if (c === 0x0a) return error(`PROXY v1: a line feed without a carriage return at byte ${i}`);
    if (c === 0x0d) {
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return error(`PROXY v1: byte 0x${c.toString(16).padStart(2, '0')} at ${i}`);
  }
  if (end === -1) return buf.length < crLimit ? { kind: 'incomplete' } : error(`PROXY v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`);
  if (end + 1 >= buf.length) return { kind: 'incomplete' };
  if (buf[end + 1] !== 0x0a) return error(`PROXY v1: a carriage return without a line feed at byte ${end}`);
  const length = end + 2;
  const fields = buf.toString('latin1', V1_PREFIX.length, end).split(' ');
  const proto = fields[0];
  if (proto === 'UNKNOWN') return { kind: 'header', length, version: 1, addresses: null };
  if (proto !== 'TCP4' && proto !== 'TCP6') return error(`PROXY v1: protocol '${proto}': TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 5) return error(`PROXY v1: ${proto} needs 4 fields separated by single spaces, got '${fields.slice(1).join(' ')}'`);
  const family = proto === 'TCP4' ? 4 : 6;
  const [, src, dst, sport, dport] = fields;
  for (const [name, value] of [
    ['source', src],
    ['destination', dst],
  ] as const) {
    if (!isAddress(value, family)) return error(`PROXY v1: ${name} address '${value}' is not an IPv${family} address`);
  }
  const sourcePort = parsePort(sport);
  if (sourcePort === null) return error(`PROXY v1: source port '${sport}': a decimal 0..65535 without leading zeros`);
  const destinationPort = parsePort(dport);
  if (destinationPort === null) return error(`PROXY v1: destination port '${dport}': a decimal 0..65535 without leading zeros`);
  return {
    kind: 'header',
    length,
    version: 1,
    addresses: { family, sourceAddress: src, sourcePort, destinationAddress: dst, destinationPort },
  };
}

function parseV2(buf: Buffer): ProxyHeaderParse {
  const versionCommand = buf[12];
  if (versionCommand >> 4 !== 2) return error(`PROXY v2: version ${versionCommand >> 4} (byte 12 is 0x${hex(versionCommand)})`);
  const command = versionCommand & 0x0f;
  if (command > 1) return error(`PROXY v2: command ${command} (byte 12 is 0x${hex(versionCommand)}): LOCAL (0) or PROXY (1)`);
  const familyProtocol = buf[13];
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family > 3 || protocol > 2) return error(`PROXY v2: address family and protocol 0x${hex(familyProtocol)} (byte 13)`);
  const length = buf.readUInt16BE(14);
  if (V2_HEAD_BYTES + length > PROXY_V2_MAX_BYTES)
    return error(`PROXY v2: ${length} bytes of addresses and TLVs, more than ${PROXY_V2_MAX_BYTES - V2_HEAD_BYTES}`);
  const addressBytes = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (length < addressBytes) return error(`PROXY v2: length ${length} is shorter than the ${addressBytes} bytes of its addresses`);
  if (buf.length < V2_HEAD_BYTES + length) return { kind: 'incomplete' };
  const total = V2_HEAD_BYTES + length;
  // TLVs: type, 16-bit length, value, to the end exactly.
  for (let at = V2_HEAD_BYTES + addressBytes; at < total; ) {
    if (at + 3 > total) return error(`PROXY v2: a TLV at byte ${at} is cut short`);
    const tlvLength = buf.readUInt16BE(at + 1);
    if (at + 3 + tlvLength > total) return error(`PROXY v2: the TLV at byte ${at} (type 0x${hex(buf[at])}) runs past the header`);
    at += 3 + tlvLength;
  }
  if (command === 0) return { kind: 'header', length: total, version: 2, addresses: null };
  if (protocol === 2) return error('PROXY v2: a datagram (UDP) address on a stream connection (byte 13)');
  // Only TCP (STREAM over AF_INET/AF_INET6) addresses are read; an UNSPEC protocol's are ignored, as the spec asks.
  if (protocol !== 1 || (family !== 1 && family !== 2)) return { kind: 'header', length: total, version: 2, addresses: null };
  const fam = family === 1 ? 4 : 6;
  const n = fam === 4 ? 4 : 16;
  const at = V2_HEAD_BYTES;
  return {
    kind: 'header',
    length: total,
    version: 2,
    addresses: {
      family: fam,
      sourceAddress: readAddress(buf, at, fam),
      destinationAddress: readAddress(buf, at + n, fam),
      sourcePort: buf.readUInt16BE(at + 2 * n),
      destinationPort: buf.readUInt16BE(at + 2 * n + 2),
    },
  };
}

function error(message: string): ProxyHeaderParse {
  return { kind: 'error', message };
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function parsePort(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

/** Dotted-quad IPv4 without leading zeros, or an IPv6 literal without a zone. */
function isAddress(text: string, family: 4 | 6): boolean {
  if (family === 4) return /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/.test(text);
  return !text.includes('%') && net.isIPv6(text);
}

function checkAddresses(a: ProxyAddresses): void {
  for (const address of [a.sourceAddress, a.destinationAddress]) {
    if (!isAddress(address, a.family)) throw new Error(`PROXY header: '${address}' is not an IPv${a.family} address`);
  }
  for (const port of [a.sourcePort, a.destinationPort]) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PROXY header: port ${port} is out of range`);
  }
}

function writeAddress(out: Buffer, at: number, address: string, family: 4 | 6): void {
  if (family === 4) {
    const parts = address.split('.');
    for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
    return;
  }
  const groups = expandIPv6(address);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i], at + 2 * i);
}

function readAddress(buf: Buffer, at: number, family: 4 | 6): string {
  if (family === 4) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i).toString(16));
  // An IPv4-mapped address keeps its dotted tail (RFC 5952 §5), as Node shows it.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff')
    return `::ffff:${buf[at + 12]}.${buf[at + 13]}.${buf[at + 14]}.${buf[at + 15]}`;
  return compressIPv6(groups);
}

/** The eight 16-bit groups of an IPv6 literal (with :: and an embedded IPv4 tail). */
function expandIPv6(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16));
  if (tail.length === 2) {
    groups[6] = tail[0];
    groups[7] = tail[1];
  }
  return groups;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as ::. */
function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

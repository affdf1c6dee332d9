// Addresses the way ipvsadm prints them: glibc's inet_ntop text, IPv6 in
// brackets before a port. Desired state is normalised to this form so that a
// desired address and the kernel's read-back compare equal as strings.
import { isIPv4, isIPv6 } from 'node:net';

export interface CanonicalAddress {
  address: string;
  family: 4 | 6;
}

/** The inet_ntop form of an IPv4 or IPv6 literal, or null when it is neither. */
export function canonicalAddress(text: string): CanonicalAddress | null {
  if (isIPv4(text)) return { address: ipv4Octets(text).join('.'), family: 4 };
  if (isIPv6(text) && !text.includes('%')) return { address: formatIpv6(ipv6Words(text)), family: 6 };
  return null;
}

function ipv4Octets(text: string): number[] {
  return text.split('.').map((part) => Number(part));
}

export function ipv4ToUint(text: string): number {
  const o = ipv4Octets(text);
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

/** Eight 16-bit words of a valid IPv6 literal (an IPv4 tail is two words). */
export function ipv6Words(text: string): number[] {
  let literal = text;
  const lastColon = literal.lastIndexOf(':');
  const tail = literal.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToUint(tail);
    literal = `${literal.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const hex = (part: string): number[] => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const gap = literal.indexOf('::');
  if (gap === -1) return hex(literal);
  const head = hex(literal.slice(0, gap));
  const rest = hex(literal.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}

/** glibc's inet_ntop6: the longest run (first on ties) of two or more zero words becomes "::". */
export function formatIpv6(words: number[]): string {
  let bestBase = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > bestLength) {
      bestBase = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (bestLength < 2) bestBase = -1;
  // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) keep the dotted tail
  const dottedTail = bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::';
      i += bestLength - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    if (dottedTail && i === 6) {
      out += `${words[6] >>> 8}.${words[6] & 0xff}.${words[7] >>> 8}.${words[7] & 0xff}`;
      break;
    }
    out += words[i].toString(16);
  }
  return out;
}

/** "10.0.0.1:80" or "[2001:db8::1]:80", as ipvsadm -n prints an address and port. */
export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The inverse of formatHostPort; null when the text is not address:port. */
export function splitHostPort(text: string): { address: string; port: number } | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  const canonical = canonicalAddress(host);
  if (canonical === null || port > 65535) return null;
  if (canonical.family === 6 && !text.startsWith('[')) return null;
  return { address: canonical.address, port };
}

/**
 * libipvs's address order: 32-bit words compared by C int subtraction of
 * unsigned values, wrap-around included (so 200.0.0.1 sorts before 10.0.0.1).
 */
export function compareAddresses(a: string, b: string): number {
  const wa = addressWords(a);
  const wb = addressWords(b);
  if (wa.length !== wb.length) return wa.length - wb.length; // AF_INET (2) before AF_INET6 (10)
  for (let i = 0; i < wa.length; i++) {
    const r = (wa[i] - wb[i]) | 0;
    if (r !== 0) return r;
  }
  return 0;
}

function addressWords(address: string): number[] {
  if (!address.includes(':')) return [ipv4ToUint(address)];
  const w = ipv6Words(address);
  return [0, 2, 4, 6].map((i) => ((w[i] << 16) | w[i + 1]) >>> 0);
}

// Client addresses reduced to the network that persistence groups them by, as
// ipvsadm's -M netmask does. IPv4 keys are numbers (the masked address as an
// unsigned 32-bit integer), so the common case allocates nothing; IPv6 keys
// are strings of eight hex groups. The two can never collide.

/** Parses a dotted-quad IPv4 address in s[start..end); -1 when it is not one. */
export function parseIPv4(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet === -1 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = (octet === -1 ? 0 : octet * 10) + (c - 48);
      if (octet > 255) return -1;
    } else return -1;
  }
  if (octet === -1 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** The 16-bit groups of an IPv6 address (zone id excluded), or null when it is not one. */
export function parseIPv6(s: string): number[] | null {
  const percent = s.indexOf('%');
  const text = percent === -1 ? s : s.slice(0, percent);
  if (text.indexOf(':') === -1) return null;
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return null;
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const parts = gap === -1 ? left : right;
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) counts as two groups.
  const last = parts.length > 0 ? parts[parts.length - 1] : '';
  let trailingV4 = -1;
  if (last.indexOf('.') !== -1) {
    trailingV4 = parseIPv4(last);
    if (trailingV4 === -1) return null;
    parts.pop();
  }
  for (const part of left) {
    const g = parseGroup(part);
    if (g === -1) return null;
    groups.push(g);
  }
  const rightGroups: number[] = [];
  for (const part of right) {
    const g = parseGroup(part);
    if (g === -1) return null;
    rightGroups.push(g);
  }
  if (trailingV4 !== -1) rightGroups.push(Math.floor(trailingV4 / 65536), trailingV4 % 65536);
  if (gap === -1) {
    // No "::": every group is in `left` (plus a trailing dotted quad).
    groups.push(...rightGroups);
    return groups.length === 8 ? groups : null;
  }
  const zeros = 8 - groups.length - rightGroups.length;
  if (zeros < 1) return null;
  for (let i = 0; i < zeros; i++) groups.push(0);
  groups.push(...rightGroups);
  return groups;
}

function parseGroup(part: string): number {
  if (part.length === 0 || part.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i) | 0x20; // lower-case letters; digits are unchanged by this bit
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/** The IPv4 mask for a prefix length 0..32, as an unsigned integer. */
export function ipv4Mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Reduces client addresses to persistence keys: IPv4 (and IPv4-mapped IPv6,
 * which is the same client) to its masked address as a number, other IPv6 to
 * its masked groups as a string. null for anything that is not an address
 * (a Unix socket peer): such clients are not pinned.
 */
export class AddressMasker {
  private readonly maskV4: number;
  private readonly bitsV6: number;

  constructor(netmaskV4: number, netmaskV6: number) {
    this.maskV4 = ipv4Mask(netmaskV4);
    this.bitsV6 = netmaskV6;
  }

  key(address: string): number | string | null {
    const v4 = parseIPv4(address);
    if (v4 !== -1) return (v4 & this.maskV4) >>> 0;
    // Node writes a mapped peer as ::ffff:a.b.c.d; check that form before the general parse.
    if (address.length > 7 && address.charCodeAt(0) === 58 && address.slice(0, 7).toLowerCase() === '::ffff:') {
      const mapped = parseIPv4(address, 7);
      if (mapped !== -1) return (mapped & this.maskV4) >>> 0;
    }
    const groups = parseIPv6(address);
    if (groups === null) return null;
    if (isMappedV4(groups)) return ((groups[6] * 65536 + groups[7]) & this.maskV4) >>> 0;
    let remaining = this.bitsV6;
    let key = '';
    for (let i = 0; i < 8; i++) {
      const keep = remaining >= 16 ? 16 : remaining > 0 ? remaining : 0;
      remaining -= keep;
      const g = keep === 0 ? 0 : groups[i] & ((0xffff << (16 - keep)) & 0xffff);
      key += (i === 0 ? '' : ':') + g.toString(16);
    }
    return key;
  }
}

function isMappedV4(groups: number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

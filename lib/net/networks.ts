// Address networks ("10.0.0.0/8", "::1", "fd00::/8"): which sources a
// service trusts with a PROXY header. An IPv4-mapped IPv6 peer
// (::ffff:10.1.2.3, what a dual-stack listener reports) is the IPv4 address.
import { ipv4Mask, parseIPv4, parseIPv6 } from '../affinity/address.ts';

export type Network = { family: 4; base: number; bits: number; text: string } | { family: 6; groups: number[]; bits: number; text: string };

/** "ADDR" or "ADDR/BITS"; an error message naming the fault when it is neither. */
export function parseNetwork(text: string): Network | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? null : text.slice(slash + 1);
  const v4 = parseIPv4(address);
  const v6 = v4 === -1 ? parseIPv6(address) : null;
  if (v4 === -1 && (v6 === null || address.includes('%'))) return `'${text}' is not an address or ADDRESS/BITS network`;
  const max = v4 !== -1 ? 32 : 128;
  let bits = max;
  if (bitsText !== null) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > max) return `'${text}': the prefix length must be 0..${max}`;
    bits = Number(bitsText);
  }
  if (v4 !== -1) {
    const mask = ipv4Mask(bits);
    if ((v4 & mask) >>> 0 !== v4) return `'${text}' has bits set past its /${bits} prefix`;
    return { family: 4, base: v4, bits, text };
  }
  const groups = v6!;
  const masked = maskGroups(groups, bits);
  if (masked.some((g, i) => g !== groups[i])) return `'${text}' has bits set past its /${bits} prefix`;
  return { family: 6, groups, bits, text };
}

/** True when `address` (as a socket reports it) is in one of `networks`. */
export function inNetworks(address: string, networks: readonly Network[]): boolean {
  const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const v4 = parseIPv4(plain);
  const v6 = v4 === -1 ? parseIPv6(plain) : null;
  for (const n of networks) {
    if (n.family === 4) {
      if (v4 !== -1 && (v4 & ipv4Mask(n.bits)) >>> 0 === n.base) return true;
    } else if (v6 !== null) {
      const masked = maskGroups(v6, n.bits);
      if (masked.every((g, i) => g === n.groups[i])) return true;
    }
  }
  return false;
}

function maskGroups(groups: number[], bits: number): number[] {
  return groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    return keep === 0 ? 0 : g & ((0xffff << (16 - keep)) & 0xffff);
  });
}

// Host and port names on ipvsadm's command line: like ipvsadm, a host may be
// an IPv4 name (resolved to its first IPv4 address) and a port may be a
// service name from /etc/services ("http"). Output is always numeric.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';

export interface NameResolver {
  /** The IPv4 address of a host name, or null. */
  host(name: string): Promise<string | null>;
  /** The port of a service name for a protocol, or null. */
  port(name: string, protocol: 'tcp' | 'udp'): number | null;
}

// Used when /etc/services is missing (minimal containers).
const FALLBACK_SERVICES: Record<string, number> = {
  ftp: 21,
  ssh: 22,
  smtp: 25,
  domain: 53,
  http: 80,
  www: 80,
  pop3: 110,
  imap: 143,
  https: 443,
  imaps: 993,
  pop3s: 995,
};

let servicesTable: Map<string, number> | null = null;

/** Reads /etc/services once: "name port/proto aliases..." lines to `name/proto` -> port. */
function services(): Map<string, number> {
  if (servicesTable !== null) return servicesTable;
  const table = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync('/etc/services', 'latin1');
  } catch {
    for (const [name, port] of Object.entries(FALLBACK_SERVICES)) {
      table.set(`${name}/tcp`, port);
      table.set(`${name}/udp`, port);
    }
  }
  for (const raw of text.split('\n')) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (words.length < 2) continue;
    const m = /^(\d+)\/(\w+)$/.exec(words[1]);
    if (m === null) continue;
    const port = Number(m[1]);
    for (const name of [words[0], ...words.slice(2)]) {
      const key = `${name}/${m[2]}`;
      if (!table.has(key)) table.set(key, port);
    }
  }
  servicesTable = table;
  return table;
}

export const systemResolver: NameResolver = {
  async host(name) {
    try {
      return (await lookup(name, { family: 4 })).address;
    } catch {
      return null;
    }
  },
  port(name, protocol) {
    return services().get(`${name}/${protocol}`) ?? null;
  },
};

/** An IPv6 address in its canonical compressed lowercase form ("2001:DB8:0::1" -> "2001:db8::1"). */
export function canonicalIPv6(address: string): string {
  if (!isIPv6(address)) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

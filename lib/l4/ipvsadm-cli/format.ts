// ipvsadm 1.31's output, column for column: -L (and its --stats, --rate,
// --thresholds, --persistent-conn, --tun-info variants), -L -c, -L --daemon and -S.
// printf's padding is kept as ipvsadm prints it, trailing blanks included.
// Addresses are always numeric: tcpvs does not reverse-resolve names, so -n
// changes nothing here.
import type { ConnectionEntry, RealServerStatus, ServiceKey, SyncDaemon, VirtualServiceStatus } from '../model.ts';
import type { ListFormat } from './parse.ts';

/** What `ipvsadm -L` reports as the kernel's IPVS version and connection table size. */
export const IPVS_VERSION = '1.2.1';
export const IPVS_TABLE_SIZE = 4096;

const FORWARD_NAME = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel' } as const;
const FORWARD_SWITCH = { masq: '-m', route: '-g', tunnel: '-i' } as const;

const left = (s: string, width: number): string => s.padEnd(width);
const right = (s: string, width: number): string => s.padStart(width);
const uint = (n: number): string => String(Math.max(0, Math.trunc(n)));

/** ipvsadm's print_largenum: 9 columns, scaled to K/M/G/T unless --exact. */
export function largeNumber(value: number, exact: boolean): string {
  const i = Math.max(0, Math.trunc(value));
  if (exact) {
    const digits = String(i);
    return right(digits, digits.length <= 8 ? 9 : digits.length + 1);
  }
  if (i < 1e8) return right(String(i), 9);
  if (i < 1e9) return right(String(Math.trunc(i / 1e3)), 8) + 'K';
  if (i < 1e11) return right(String(Math.trunc(i / 1e6)), 8) + 'M';
  if (i < 1e14) return right(String(Math.trunc(i / 1e9)), 8) + 'G';
  return right(String(Math.trunc(i / 1e12)), 8) + 'T';
}

const isV6 = (address: string): boolean => address.includes(':');

/** "10.0.0.1:80" or "[2001:db8::1]:80", as ipvsadm's addrport_to_anyname with -n. */
export function addrPort(address: string, port: number): string {
  return isV6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

function serviceFamily(key: ServiceKey): 4 | 6 {
  return key.protocol === 'fwmark' ? key.family : isV6(key.address) ? 6 : 4;
}

/** The service column of -L: "TCP  10.0.0.1:80", "FWM  1", "FWM  1 IPv6". */
function listName(key: ServiceKey): string {
  if (key.protocol === 'fwmark') return `FWM  ${key.fwmark}${key.family === 6 ? ' IPv6' : ''}`;
  const name = `${left(key.protocol.toUpperCase(), 4)} ${addrPort(key.address, key.port)}`;
  return isV6(key.address) ? name : name.slice(0, 33);
}

/** The service as -S writes it: "-t 10.0.0.1:80", "-f 1 -6". */
function ruleName(key: ServiceKey): string {
  if (key.protocol === 'fwmark') return `-f ${key.fwmark}${key.family === 6 ? ' -6' : ''}`;
  return `${key.protocol === 'tcp' ? '-t' : '-u'} ${addrPort(key.address, key.port)}`;
}

/** " mask 255.255.255.0" / " -M 64" when the persistence granularity is not a single host. */
function maskSuffix(service: VirtualServiceStatus, word: string): string {
  const p = service.persistence!;
  const full = serviceFamily(service.key) === 6 ? '128' : '255.255.255.255';
  return p.netmask === full || p.netmask === '' ? '' : ` ${word} ${p.netmask}`;
}

// ---- sorting, as ipvsadm's ipvs_cmp_services / ipvs_cmp_dests -------------------

function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // an embedded IPv4 tail ("::ffff:10.0.0.1") is the last two groups
    const [a, b, c, d] = last.split('.').map(Number);
    tail.push(a * 256 + b, c * 256 + d);
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16) || 0));
  const gap = text.indexOf('::');
  if (gap === -1) return [...parse(text), ...tail];
  const head = parse(text.slice(0, gap));
  const rest = parse(text.slice(gap + 2));
  const fill = Math.max(0, 8 - tail.length - head.length - rest.length);
  return [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
}

/** Compares two addresses numerically: IPv4 before IPv6, then byte by byte. */
function compareAddress(a: string, b: string): number {
  const fa = isV6(a) ? 6 : 4;
  const fb = isV6(b) ? 6 : 4;
  if (fa !== fb) return fa - fb;
  const ga = fa === 6 ? ipv6Groups(a) : a.split('.').map(Number);
  const gb = fb === 6 ? ipv6Groups(b) : b.split('.').map(Number);
  for (let i = 0; i < Math.max(ga.length, gb.length); i++) {
    const d = (ga[i] ?? 0) - (gb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const PROTOCOL_NUMBER = { tcp: 6, udp: 17, fwmark: 6 } as const;

function compareServices(a: VirtualServiceStatus, b: VirtualServiceStatus): number {
  return (
    a.key.fwmark - b.key.fwmark ||
    serviceFamily(a.key) - serviceFamily(b.key) ||
    PROTOCOL_NUMBER[a.key.protocol] - PROTOCOL_NUMBER[b.key.protocol] ||
    compareAddress(a.key.address, b.key.address) ||
    a.key.port - b.key.port
  );
}

function compareDests(a: RealServerStatus, b: RealServerStatus): number {
  return compareAddress(a.address, b.address) || a.port - b.port;
}

function ordered(services: readonly VirtualServiceStatus[], format: ListFormat): VirtualServiceStatus[] {
  if (format.noSort) return [...services];
  return [...services].sort(compareServices);
}

function orderedDests(service: VirtualServiceStatus, format: ListFormat): RealServerStatus[] {
  if (format.noSort) return [...service.realServers];
  return [...service.realServers].sort(compareDests);
}

// ---- -L ---------------------------------------------------------------------------

function title(format: ListFormat): string {
  const prot = left('Prot LocalAddress:Port', 33);
  if (format.stats)
    return `${prot} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => right(h, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (format.rate)
    return `${prot} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => right(h, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (format.thresholds)
    return `${prot} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((h) => left(h, 10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (format.persistentConn)
    return `${prot} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (format.tunInfo)
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

function serviceLine(service: VirtualServiceStatus, format: ListFormat): string {
  const name = listName(service.key);
  if (format.stats) {
    const s = service.stats;
    return left(name, 33) + [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes].map((n) => largeNumber(n, format.exact)).join('');
  }
  if (format.rate) {
    const r = service.rates;
    return left(name, 33) + [r.cps, r.inPps, r.outPps, r.inBps, r.outBps].map((n) => largeNumber(n, format.exact)).join('');
  }
  let line = `${name} ${service.scheduler}`;
  if (service.persistence !== null) line += ` persistent ${uint(service.persistence.timeoutSec)}${maskSuffix(service, 'mask')}`;
  return line;
}

function destLine(dest: RealServerStatus, format: ListFormat): string {
  let name = addrPort(dest.address, dest.port);
  if (!isV6(dest.address)) name = name.slice(0, 28);
  const head = `  -> ${left(name, 28)}`;
  if (format.stats) {
    const s = dest.stats;
    return head + [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes].map((n) => largeNumber(n, format.exact)).join('');
  }
  if (format.rate) {
    const r = dest.rates;
    return `${head} ${right(uint(r.cps), 8)} ${right(uint(r.inPps), 8)} ${right(uint(r.outPps), 8)}${largeNumber(r.inBps, format.exact)}${largeNumber(r.outBps, format.exact)}`;
  }
  if (format.thresholds) {
    return `${head} ${[dest.upperThreshold, dest.lowerThreshold, dest.activeConns, dest.inactiveConns].map((n) => left(uint(n), 10)).join(' ')}`;
  }
  if (format.persistentConn) {
    return `${head} ${left(uint(dest.weight), 9)} ${left(uint(dest.persistentConns), 11)} ${left(uint(dest.activeConns), 10)} ${left(uint(dest.inactiveConns), 10)}`;
  }
  const forward = left(FORWARD_NAME[dest.method], 7);
  const counts = `${left(uint(dest.weight), 6)} ${left(uint(dest.activeConns), 10)} ${left(uint(dest.inactiveConns), 10)}`;
  if (format.tunInfo) return `${head} ${forward} ${left(dest.method === 'tunnel' ? 'ipip' : 'n/a', 13)} ${counts}`;
  return `${head} ${forward} ${counts}`;
}

function serviceBlock(service: VirtualServiceStatus, format: ListFormat): string {
  let out = serviceLine(service, format) + '\n';
  for (const dest of orderedDests(service, format)) out += destLine(dest, format) + '\n';
  return out;
}

/** `ipvsadm -L [-n] [--stats|--rate|...]`: the version line, the column titles, every service. */
export function formatList(services: readonly VirtualServiceStatus[], format: ListFormat): string {
  let out = `IP Virtual Server version ${IPVS_VERSION} (size=${IPVS_TABLE_SIZE})\n` + title(format);
  for (const service of ordered(services, format)) out += serviceBlock(service, format);
  return out;
}

/** `ipvsadm -L -t ADDR`: one service, without the version line. */
export function formatListService(service: VirtualServiceStatus, format: ListFormat): string {
  return title(format) + serviceBlock(service, format);
}

// ---- -S ---------------------------------------------------------------------------

/** `ipvsadm -S [-n]`: the commands that rebuild the table, for `ipvsadm -R`. */
export function formatSave(services: readonly VirtualServiceStatus[], format: ListFormat): string {
  let out = '';
  for (const service of ordered(services, format)) {
    const name = ruleName(service.key);
    out += `-A ${name} -s ${service.scheduler}`;
    if (service.persistence !== null) out += ` -p ${uint(service.persistence.timeoutSec)}${maskSuffix(service, '-M')}`;
    out += '\n';
    for (const dest of orderedDests(service, format)) {
      out += `-a ${name} -r ${addrPort(dest.address, dest.port)} ${FORWARD_SWITCH[dest.method]} -w ${uint(dest.weight)}`;
      if (dest.method === 'tunnel') out += ' --tun-type ipip';
      if (dest.proxyProtocol !== undefined) out += ` --proxy-protocol ${dest.proxyProtocol}`;
      out += '\n';
    }
  }
  return out;
}

// ---- -L -c ------------------------------------------------------------------------

/** "10.0.0.1:80" stays; a bare "2001:db8::1:80" becomes "[2001:db8::1]:80". */
function endpoint(text: string): string {
  if (text.startsWith('[') || text.split(':').length <= 2) return text;
  const colon = text.lastIndexOf(':');
  return `[${text.slice(0, colon)}]${text.slice(colon)}`;
}

function expires(seconds: number): string {
  const s = Math.max(0, Math.trunc(seconds));
  return `${String(Math.trunc(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** `ipvsadm -L -c [--persistent-conn]`: the connection table. */
export function formatConnections(entries: readonly ConnectionEntry[], format: ListFormat): string {
  let out = 'IPVS connection entries\n';
  out += format.persistentConn
    ? `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${left('destination', 18)} ${left('pe name', 16)} pe_data\n`
    : `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} destination\n`;
  for (const e of entries) {
    out += `${left(e.protocol.toUpperCase(), 3)} ${left(expires(e.expiresInSec), 6)} ${left(e.state, 11)} ${left(endpoint(e.source), 18)} ${left(endpoint(e.virtual), 18)} ${endpoint(e.destination)}\n`;
  }
  return out;
}

// ---- -L --daemon ------------------------------------------------------------------

/**
 * `ipvsadm -L --daemon`: "master sync daemon (mcast=eth0, syncid=1, maxlen=1472,
 * group=224.0.0.81, port=8848, ttl=1)", master first; maxlen, group, port and
 * ttl only when known. Nothing at all when no daemon runs.
 */
export function formatDaemons(daemons: readonly SyncDaemon[]): string {
  let out = '';
  for (const role of ['master', 'backup'] as const) {
    for (const d of daemons.filter((x) => x.role === role)) {
      out += `${role} sync daemon (mcast=${d.mcastInterface}, syncid=${d.syncId}`;
      if (d.syncMaxLen !== null) out += `, maxlen=${d.syncMaxLen}`;
      if (d.mcastGroup !== null) out += `, group=${d.mcastGroup}`;
      if (d.mcastPort !== null) out += `, port=${d.mcastPort}`;
      if (d.mcastTtl !== null) out += `, ttl=${d.mcastTtl}`;
      out += ')\n';
    }
  }
  return out;
}

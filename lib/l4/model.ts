// The L4 core's model: IPVS's virtual services and real servers, in the terms
// ipvsadm(8) uses. Both drivers (the embedded user-space forwarder and the
// ipvsadm-backed kernel driver) take and report exactly this.
import { isIPv4, isIPv6 } from 'node:net';

export type L4Protocol = 'tcp' | 'udp' | 'fwmark'; // -t, -u, -f
export type ForwardMethod = 'masq' | 'route' | 'tunnel'; // -m, -g, -i

/** Identifies a virtual service: protocol with address and port, or a firewall mark. */
export interface ServiceKey {
  protocol: L4Protocol;
  address: string; // IPv4 or IPv6 literal; '' for fwmark services
  port: number; // 0 for fwmark services
  fwmark: number; // 0 unless protocol is 'fwmark'
  family: 4 | 6; // for fwmark services the family of its real servers (-6)
}

export interface Persistence {
  timeoutSec: number; // -p [timeout]: ipvsadm(8) documents 300 (Debian's 1.31 gives 360 for a bare -p; tcpvs always writes it out)
  netmask: string; // -M: IPv4 dotted mask (default 255.255.255.255) or IPv6 prefix length as "128"
}

export interface RealServerConfig {
  address: string;
  port: number; // 0 for fwmark services means "the client's destination port"
  weight: number; // -w, 0 = quiescent
  method: ForwardMethod; // -g (route, the default), -i (tunnel), -m (masq)
  upperThreshold: number; // -x, 0 = none
  lowerThreshold: number; // -y, 0 = none
  proxyProtocol?: 1 | 2; // a PROXY header (v1 text or v2 binary) first on each connection; user-space core only
}

export interface VirtualServiceConfig {
  key: ServiceKey;
  scheduler: string; // -s, ipvsadm's default wlc
  persistence: Persistence | null;
  realServers: RealServerConfig[];
}

/** Counters as `ipvsadm -L --stats` shows them, and rates as `--rate` does. */
export interface Counters {
  conns: number;
  inPackets: number;
  outPackets: number;
  inBytes: number;
  outBytes: number;
}
export interface Rates {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface RealServerStatus extends RealServerConfig {
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  stats: Counters;
  rates: Rates;
}

export interface VirtualServiceStatus extends Omit<VirtualServiceConfig, 'realServers'> {
  realServers: RealServerStatus[];
  stats: Counters;
  rates: Rates;
}

/** One entry of the connection table (`ipvsadm -L -c`). */
export interface ConnectionEntry {
  protocol: 'tcp' | 'udp';
  state: string; // ESTABLISHED, FIN_WAIT, CLOSE_WAIT, UDP, NONE (persistence template), ...
  expiresInSec: number;
  source: string; // "addr:port"
  virtual: string; // "addr:port" or fwmark
  destination: string; // "addr:port"
}

/** The role of a connection sync daemon: `ipvsadm --start-daemon master|backup`. */
export type SyncDaemonRole = 'master' | 'backup';

/**
 * IPVS's connection sync daemon (`ipvsadm --start-daemon`, `-L --daemon`): a
 * kernel thread that multicasts the director's connections and persistence
 * templates (master) or adopts another director's (backup). Only the kernel
 * has one; the user-space core syncs its templates by the config file's
 * `sync listen|peer|secret` statements instead (lib/control/director-sync.ts).
 * null: the option was not given (start) or the kernel did not report it
 * (list); the kernel then uses its default.
 */
export interface SyncDaemon {
  role: SyncDaemonRole;
  mcastInterface: string; // --mcast-interface, 1..15 characters; ipvsadm's default eth0
  syncId: number; // --syncid 0..255; 0 (the default) filters nothing
  syncMaxLen: number | null; // --sync-maxlen 1..65507 (UDP payload); default from the interface's MTU
  mcastGroup: string | null; // --mcast-group, an IPv4 or IPv6 multicast address; default 224.0.0.81
  mcastPort: number | null; // --mcast-port 1..65535; default 8848
  mcastTtl: number | null; // --mcast-ttl 1..255; default 1
}

export const SYNC_MAX_LEN = 65535 - 20 - 8;
export const IPVSADM_DEFAULT_MCAST_INTERFACE = 'eth0';

/** Linux's rule for an interface name (dev_valid_name): 1..15 bytes, not . or .., no '/', ':' or white space. */
export function interfaceNameProblem(name: string): string | null {
  if (name === '') return 'an interface name cannot be empty';
  if (Buffer.byteLength(name) > 15) return `\`${name}' is longer than 15 characters`;
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) return `\`${name}' is not an interface name (no '/', ':' or blanks)`;
  return null;
}

/** True for an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast address. */
export function isMulticastAddress(address: string): boolean {
  if (isIPv4(address)) {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return isIPv6(address) && /^ff[0-9a-f]{2}:/i.test(address);
}

/** What is wrong with a sync daemon's settings, naming the ipvsadm option; null when nothing is. */
export function syncDaemonProblem(daemon: SyncDaemon): string | null {
  if (daemon.role !== 'master' && daemon.role !== 'backup')
    return `the sync daemon's role must be master or backup, not ${String(daemon.role)}`;
  const name = interfaceNameProblem(daemon.mcastInterface);
  if (name !== null) return `--mcast-interface: ${name}`;
  const whole = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;
  const optional = (n: number | null, min: number, max: number): boolean => n === null || whole(n, min, max);
  if (!whole(daemon.syncId, 0, 255)) return `--syncid must be 0..255, not ${daemon.syncId}`;
  if (!optional(daemon.syncMaxLen, 1, SYNC_MAX_LEN)) return `--sync-maxlen must be 1..${SYNC_MAX_LEN}, not ${daemon.syncMaxLen}`;
  if (daemon.mcastGroup !== null && !isMulticastAddress(daemon.mcastGroup))
    return `--mcast-group must be an IPv4 or IPv6 multicast address, not ${daemon.mcastGroup}`;
  if (!optional(daemon.mcastPort, 1, 65535)) return `--mcast-port must be 1..65535, not ${daemon.mcastPort}`;
  if (!optional(daemon.mcastTtl, 1, 255)) return `--mcast-ttl must be 1..255, not ${daemon.mcastTtl}`;
  return null;
}

/** An error with ipvsadm's kind of message, e.g. "Service not defined". */
export class L4Error extends Error {
  readonly code: 'exists' | 'no-service' | 'no-dest' | 'invalid' | 'unavailable' | 'failed';
  constructor(code: L4Error['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * What both drivers do. Imperative calls mirror ipvsadm's commands; `apply`
 * makes the services this caller owns match a desired list, touching nothing else.
 */
export interface L4Core {
  readonly driver: 'userspace' | 'ipvs';
  list(): Promise<VirtualServiceStatus[]>;
  addService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void>; // -A
  editService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void>; // -E
  deleteService(key: ServiceKey): Promise<void>; // -D
  clear(): Promise<void>; // -C
  addRealServer(key: ServiceKey, server: RealServerConfig): Promise<void>; // -a
  editRealServer(key: ServiceKey, server: RealServerConfig): Promise<void>; // -e
  deleteRealServer(key: ServiceKey, address: string, port: number): Promise<void>; // -d
  connections(): Promise<ConnectionEntry[]>; // -L -c
  /** Make the given services exist exactly as described; leaves every other service alone. */
  apply(desired: VirtualServiceConfig[]): Promise<void>;
  /** --start-daemon: start the kernel's connection sync daemon in this role. */
  startDaemon(daemon: SyncDaemon): Promise<void>;
  /** --stop-daemon: stop the one running in this role. */
  stopDaemon(role: SyncDaemonRole): Promise<void>;
  /** -L --daemon: the sync daemons running, master first; none is []. */
  daemons(): Promise<SyncDaemon[]>;
  close(): Promise<void>;
}

export const IPVSADM_DEFAULT_SCHEDULER = 'wlc';
export const IPVSADM_DEFAULT_PERSISTENCE_SEC = 300;

export function serviceId(key: ServiceKey): string {
  if (key.protocol === 'fwmark') return `FWM:${key.fwmark}${key.family === 6 ? ':6' : ''}`;
  const host = key.address.includes(':') ? `[${key.address}]` : key.address;
  return `${key.protocol.toUpperCase()}:${host}:${key.port}`;
}

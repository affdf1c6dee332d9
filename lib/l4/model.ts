// The L4 core's model: IPVS's virtual services and real servers, in the terms
// ipvsadm(8) uses. Both drivers (the embedded user-space forwarder and the
// ipvsadm-backed kernel driver) take and report exactly this.

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
  close(): Promise<void>;
}

export const IPVSADM_DEFAULT_SCHEDULER = 'wlc';
export const IPVSADM_DEFAULT_PERSISTENCE_SEC = 300;

export function serviceId(key: ServiceKey): string {
  if (key.protocol === 'fwmark') return `FWM:${key.fwmark}${key.family === 6 ? ':6' : ''}`;
  const host = key.address.includes(':') ? `[${key.address}]` : key.address;
  return `${key.protocol.toUpperCase()}:${host}:${key.port}`;
}

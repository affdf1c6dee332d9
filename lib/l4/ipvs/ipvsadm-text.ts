// ipvsadm's text forms: the rule lines of `ipvsadm -S -n` / `ipvsadm -R`, the
// tables of `ipvsadm -L -n` (--stats, --rate, --thresholds, --persistent-conn),
// the connection table of `ipvsadm -L -n -c`, and the sync daemons of
// `ipvsadm --start-daemon` / `-L --daemon`. Formats follow Debian's ipvsadm
// 1.31 byte for byte (checked against it in a VM: test/l4/ipvs-vm.test.ts
// boots test/l4/vm/run-ipvs-vm.sh).
import { L4Error, IPVSADM_DEFAULT_SCHEDULER, serviceId } from '../model.ts';
import type {
  ConnectionEntry,
  ForwardMethod,
  Persistence,
  RealServerConfig,
  ServiceKey,
  SyncDaemon,
  VirtualServiceConfig,
} from '../model.ts';
import { compareAddresses, formatHostPort, splitHostPort } from './address.ts';

/** A real server as read from the kernel; `extra` holds options the model has no field for (e.g. --tun-type gue). */
export interface SavedRealServer extends RealServerConfig {
  extra: string[];
}

/** A service as read from the kernel; `extra` holds options the model has no field for (-b flags, -o, --pe). */
export interface SavedService extends VirtualServiceConfig {
  realServers: SavedRealServer[];
  extra: string[];
}

export type ServiceOptions = Omit<VirtualServiceConfig, 'realServers'> & { extra?: string[] };

export type RuleLine =
  | { op: 'add-service' | 'edit-service'; service: Omit<SavedService, 'realServers'> }
  | { op: 'delete-service'; key: ServiceKey }
  | { op: 'add-server' | 'edit-server'; key: ServiceKey; server: SavedRealServer }
  | { op: 'delete-server'; key: ServiceKey; address: string; port: number }
  | { op: 'clear' }
  // a service the model cannot express (SCTP): kept out of every list and diff
  | { op: 'unsupported'; line: string };

const COMMANDS: Record<string, Exclude<RuleLine['op'], 'unsupported'>> = {
  '-A': 'add-service',
  '-E': 'edit-service',
  '-D': 'delete-service',
  '-a': 'add-server',
  '-e': 'edit-server',
  '-d': 'delete-server',
  '-C': 'clear',
};

const METHOD_SWITCH: Record<ForwardMethod, string> = { route: '-g', tunnel: '-i', masq: '-m' };
const SWITCH_METHOD: Record<string, ForwardMethod> = { '-g': 'route', '-i': 'tunnel', '-m': 'masq' };

/** What ipvsadm -S prints after a tunnel server whose tunnel options are the defaults. */
export const DEFAULT_TUNNEL_OPTIONS: readonly string[] = ['--tun-type', 'ipip'];

export function defaultNetmask(family: 4 | 6): string {
  return family === 6 ? '128' : '255.255.255.255';
}

function unreadable(line: string, why: string): L4Error {
  return new L4Error('failed', `cannot read ipvsadm rule "${line}": ${why}`);
}

function wholeNumber(line: string, option: string, text: string | undefined, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) {
    throw unreadable(line, `${option} needs a number up to ${max}, got ${text ?? 'nothing'}`);
  }
  return Number(text);
}

/** One line of `ipvsadm -S -n` output or `ipvsadm -R` input. */
export function parseRuleLine(line: string): RuleLine {
  const tokens = line.trim().split(/\s+/);
  const op = COMMANDS[tokens[0]];
  if (op === undefined) throw unreadable(line, `unknown command ${tokens[0]}`);
  if (op === 'clear') return { op };

  let protocol: ServiceKey['protocol'] | null = null;
  let hostPort: { address: string; port: number } | null = null;
  let fwmark = 0;
  let ipv6Mark = false;
  let scheduler = IPVSADM_DEFAULT_SCHEDULER;
  let timeoutSec = -1;
  let netmask = '';
  let server: { address: string; port: number } | null = null;
  let method: ForwardMethod = 'route';
  let weight = 1;
  let upperThreshold = 0;
  let lowerThreshold = 0;
  const extra: string[] = [];

  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i];
    switch (token) {
      case '-t':
      case '-u':
        protocol = token === '-t' ? 'tcp' : 'udp';
        hostPort = splitHostPort(tokens[++i] ?? '');
        if (hostPort === null) throw unreadable(line, `bad service address ${tokens[i]}`);
        break;
      case '-f':
        protocol = 'fwmark';
        fwmark = wholeNumber(line, '-f', tokens[++i], 0xffffffff);
        break;
      case '--sctp-service':
        return { op: 'unsupported', line };
      case '-6':
        ipv6Mark = true;
        break;
      case '-s':
        scheduler = tokens[++i] ?? '';
        if (scheduler === '') throw unreadable(line, '-s needs a scheduler');
        break;
      case '-p':
        timeoutSec = wholeNumber(line, '-p', tokens[++i], 0x7fffffff);
        break;
      case '-M':
        netmask = tokens[++i] ?? '';
        break;
      case '-r':
        server = splitHostPort(tokens[++i] ?? '');
        if (server === null) throw unreadable(line, `bad real server address ${tokens[i]}`);
        break;
      case '-g':
      case '-i':
      case '-m':
        method = SWITCH_METHOD[token];
        break;
      case '-w':
        weight = wholeNumber(line, '-w', tokens[++i], 65535);
        break;
      case '-x':
        upperThreshold = wholeNumber(line, '-x', tokens[++i], 0x7fffffff);
        break;
      case '-y':
        lowerThreshold = wholeNumber(line, '-y', tokens[++i], 0x7fffffff);
        break;
      default:
        extra.push(token);
    }
  }

  if (protocol === null) throw unreadable(line, 'no -t, -u or -f service');
  const key: ServiceKey =
    protocol === 'fwmark'
      ? { protocol, address: '', port: 0, fwmark, family: ipv6Mark ? 6 : 4 }
      : {
          protocol,
          address: hostPort!.address,
          port: hostPort!.port,
          fwmark: 0,
          family: hostPort!.address.includes(':') ? 6 : 4,
        };

  if (op === 'delete-service') return { op, key };
  if (op === 'add-service' || op === 'edit-service') {
    const persistence: Persistence | null =
      timeoutSec < 0 ? null : { timeoutSec, netmask: netmask === '' ? defaultNetmask(key.family) : netmask };
    return { op, service: { key, scheduler, persistence, extra } };
  }
  if (server === null) throw unreadable(line, 'no -r real server');
  if (op === 'delete-server') return { op, key, address: server.address, port: server.port };
  return {
    op,
    key,
    server: { address: server.address, port: server.port, weight, method, upperThreshold, lowerThreshold, extra },
  };
}

/** Split rule text into lines, skipping blank ones. */
export function parseRules(text: string): RuleLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(parseRuleLine);
}

/** The services of `ipvsadm -S -n` output, in its order (thresholds read 0: -S does not print them). */
export function parseSave(text: string): SavedService[] {
  const services: SavedService[] = [];
  const byId = new Map<string, SavedService>();
  for (const rule of parseRules(text)) {
    if (rule.op === 'add-service') {
      const service: SavedService = { ...rule.service, realServers: [] };
      services.push(service);
      byId.set(serviceId(rule.service.key), service);
    } else if (rule.op === 'add-server') {
      const service = byId.get(serviceId(rule.key));
      if (service === undefined) {
        throw new L4Error('failed', `cannot read ipvsadm -S output: real server for unknown service ${serviceId(rule.key)}`);
      }
      service.realServers.push(rule.server);
    } else if (rule.op !== 'unsupported') {
      throw new L4Error('failed', `cannot read ipvsadm -S output: unexpected ${rule.op} line`);
    }
  }
  return services;
}

/** "-t 10.0.0.1:80", "-f 7" or "-f 7 -6", as ipvsadm names a service. */
export function formatServiceSpec(key: ServiceKey): string {
  if (key.protocol === 'fwmark') return key.family === 6 ? `-f ${key.fwmark} -6` : `-f ${key.fwmark}`;
  return `${key.protocol === 'tcp' ? '-t' : '-u'} ${formatHostPort(key.address, key.port)}`;
}

/** "-A -t 10.0.0.1:80 -s wlc -p 300 -M 255.255.255.0" (or -E): the options in ipvsadm -S's order. */
export function formatServiceLine(op: '-A' | '-E', service: ServiceOptions): string {
  let line = `${op} ${formatServiceSpec(service.key)} -s ${service.scheduler}`;
  const p = service.persistence;
  if (p !== null) {
    line += ` -p ${p.timeoutSec}`;
    if (p.netmask !== defaultNetmask(service.key.family)) line += ` -M ${p.netmask}`;
  }
  for (const option of service.extra ?? []) line += ` ${option}`;
  return line;
}

export function formatDeleteService(key: ServiceKey): string {
  return `-D ${formatServiceSpec(key)}`;
}

/**
 * "-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1 -x 100 -y 10" (or -e). Every
 * option is spelled out because -e resets what it omits to ipvsadm's defaults.
 */
export function formatServerLine(op: '-a' | '-e', key: ServiceKey, server: RealServerConfig): string {
  let line = `${op} ${formatServiceSpec(key)} -r ${formatHostPort(server.address, server.port)} ${METHOD_SWITCH[server.method]} -w ${server.weight}`;
  if (server.upperThreshold !== 0) line += ` -x ${server.upperThreshold}`;
  if (server.lowerThreshold !== 0) line += ` -y ${server.lowerThreshold}`;
  return line;
}

export function formatDeleteServer(key: ServiceKey, address: string, port: number): string {
  return `-d ${formatServiceSpec(key)} -r ${formatHostPort(address, port)}`;
}

const PROTOCOL_NUMBER = { tcp: 6, udp: 17, fwmark: 6 } as const; // ipvsadm files fwmark services as TCP

/** libipvs's ipvs_cmp_services: fwmark, family, protocol, address, port (C int arithmetic). */
export function compareServiceKeys(a: ServiceKey, b: ServiceKey): number {
  return (
    (a.fwmark - b.fwmark) | 0 ||
    a.family - b.family ||
    PROTOCOL_NUMBER[a.protocol] - PROTOCOL_NUMBER[b.protocol] ||
    (a.protocol === 'fwmark' ? 0 : compareAddresses(a.address, b.address)) ||
    a.port - b.port
  );
}

/** libipvs's ipvs_cmp_dests: address, then port. */
export function compareServers(a: { address: string; port: number }, b: { address: string; port: number }): number {
  return compareAddresses(a.address, b.address) || a.port - b.port;
}

/**
 * What `ipvsadm -S -n` prints for these services: sorted as ipvsadm sorts,
 * thresholds left out (-S never prints them), tunnel servers with their
 * tunnel options. ipvsadm's sort compares addresses with wrapping C
 * subtraction, which is no total order when addresses are 2^31 or more apart;
 * for such tables ipvsadm's own order depends on the kernel's.
 */
export function formatSave(services: ReadonlyArray<VirtualServiceConfig & { extra?: string[] }>): string {
  const lines: string[] = [];
  for (const service of [...services].sort((a, b) => compareServiceKeys(a.key, b.key))) {
    lines.push(formatServiceLine('-A', service));
    const servers = [...service.realServers].sort(compareServers);
    for (const server of servers) {
      let line = `-a ${formatServiceSpec(service.key)} -r ${formatHostPort(server.address, server.port)} ${METHOD_SWITCH[server.method]} -w ${server.weight}`;
      const extra = (server as Partial<SavedRealServer>).extra;
      const options = extra !== undefined && extra.length > 0 ? extra : server.method === 'tunnel' ? DEFAULT_TUNNEL_OPTIONS : [];
      for (const option of options) line += ` ${option}`;
      lines.push(line);
    }
  }
  return lines.map((line) => `${line}\n`).join('');
}

// ---- ipvsadm -L -n tables ----------------------------------------------------

export interface TableRow {
  key: ServiceKey;
  /** The service line's numbers (--stats, --rate); empty for tables whose service line shows the scheduler. */
  numbers: number[];
  /** Real server "address:port" (ipvsadm's text) to that line's numbers. */
  servers: Map<string, number[]>;
}

const SUFFIX_SCALE: Record<string, number> = { K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** A table number: plain, or without --exact scaled by a K/M/G/T suffix. */
function tableNumber(text: string): number {
  const m = /^(\d+)([KMGT]?)$/.exec(text);
  if (m === null) return NaN;
  return Number(m[1]) * (m[2] === '' ? 1 : SUFFIX_SCALE[m[2]]);
}

function numbersOrEmpty(tokens: string[]): number[] {
  const numbers = tokens.map(tableNumber);
  return numbers.some(Number.isNaN) ? [] : numbers;
}

/** The service named at the start of a table line ("TCP  10.0.0.1:80", "FWM  7 IPv6"), or null for SCTP and the like. */
function tableServiceKey(tokens: string[]): { key: ServiceKey; used: number } | null {
  if (tokens[0] === 'FWM') {
    const fwmark = Number(tokens[1]);
    if (!/^\d+$/.test(tokens[1] ?? '')) return null;
    const ipv6 = tokens[2] === 'IPv6';
    return { key: { protocol: 'fwmark', address: '', port: 0, fwmark, family: ipv6 ? 6 : 4 }, used: ipv6 ? 3 : 2 };
  }
  if (tokens[0] !== 'TCP' && tokens[0] !== 'UDP') return null;
  const hostPort = splitHostPort(tokens[1] ?? '');
  if (hostPort === null) return null;
  const protocol = tokens[0] === 'TCP' ? 'tcp' : 'udp';
  const family = hostPort.address.includes(':') ? 6 : 4;
  return { key: { protocol, address: hostPort.address, port: hostPort.port, fwmark: 0, family }, used: 2 };
}

/** Any `ipvsadm -L -n [--stats|--rate|--thresholds|--persistent-conn] [--exact]` listing, by service. */
export function parseListTable(text: string): TableRow[] {
  const rows: TableRow[] = [];
  let current: TableRow | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('  -> ')) {
      const tokens = line.slice(5).trim().split(/\s+/);
      if (current === null || tokens[0] === 'RemoteAddress:Port') continue;
      const server = splitHostPort(tokens[0]);
      if (server !== null) current.servers.set(formatHostPort(server.address, server.port), numbersOrEmpty(tokens.slice(1)));
      continue;
    }
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === '' || tokens[0] === 'Prot' || line.startsWith('IP Virtual Server')) continue;
    const named = tableServiceKey(tokens);
    current = named === null ? null : { key: named.key, numbers: numbersOrEmpty(tokens.slice(named.used)), servers: new Map() };
    if (current !== null) rows.push(current);
  }
  return rows;
}

/** `ipvsadm -L -n -c`: TCP and UDP entries (fwmark persistence templates, protocol "IP", are left out). */
export function parseConnections(text: string): ConnectionEntry[] {
  const entries: ConnectionEntry[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 6 || (tokens[0] !== 'TCP' && tokens[0] !== 'UDP')) continue;
    const expire = /^(\d+):(\d\d)$/.exec(tokens[1]);
    if (expire === null) continue;
    entries.push({
      protocol: tokens[0] === 'TCP' ? 'tcp' : 'udp',
      state: tokens[2],
      expiresInSec: Number(expire[1]) * 60 + Number(expire[2]),
      source: tokens[3],
      virtual: tokens[4],
      destination: tokens[5],
    });
  }
  return entries;
}

// ---- sync daemons -----------------------------------------------------------------

/** `ipvsadm --start-daemon ROLE ...` arguments; options left null are left to the kernel. */
export function formatStartDaemon(daemon: SyncDaemon): string[] {
  const args = ['--start-daemon', daemon.role, '--mcast-interface', daemon.mcastInterface, '--syncid', String(daemon.syncId)];
  if (daemon.syncMaxLen !== null) args.push('--sync-maxlen', String(daemon.syncMaxLen));
  if (daemon.mcastGroup !== null) args.push('--mcast-group', daemon.mcastGroup);
  if (daemon.mcastPort !== null) args.push('--mcast-port', String(daemon.mcastPort));
  if (daemon.mcastTtl !== null) args.push('--mcast-ttl', String(daemon.mcastTtl));
  return args;
}

// "master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)";
// ipvsadm prints maxlen, group, port and ttl only when the kernel reports them (Linux 4.3 and later do)
const DAEMON_LINE =
  /^(master|backup) sync daemon \(mcast=(.*), syncid=(\d+)(?:, maxlen=(\d+))?(?:, group=([0-9A-Fa-f:.]+))?(?:, port=(\d+))?(?:, ttl=(\d+))?\)$/;

/** `ipvsadm -L --daemon`: one line per running daemon, none when none runs. */
export function parseDaemons(text: string): SyncDaemon[] {
  const daemons: SyncDaemon[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = DAEMON_LINE.exec(line.trimEnd());
    if (m === null) throw new L4Error('failed', `cannot read ipvsadm -L --daemon line "${line}"`);
    const number = (text: string | undefined): number | null => (text === undefined ? null : Number(text));
    daemons.push({
      role: m[1] as SyncDaemon['role'],
      mcastInterface: m[2],
      syncId: Number(m[3]),
      syncMaxLen: number(m[4]),
      mcastGroup: m[5] ?? null,
      mcastPort: number(m[6]),
      mcastTtl: number(m[7]),
    });
  }
  return daemons;
}

// ipvsadm(8)'s command line, with its rules: the first option is the command
// (-A -E -D -C -a -e -d -L -S -R -Z -h -v --start-daemon --stop-daemon);
// options follow in any order,
// short ones may be clustered (-Ln, -At ADDR) and -p takes an optional
// timeout. Which options each command takes, and the error messages, follow
// ipvsadm 1.31.
import { isIPv4, isIPv6 } from 'node:net';
import {
  IPVSADM_DEFAULT_MCAST_INTERFACE,
  IPVSADM_DEFAULT_PERSISTENCE_SEC,
  IPVSADM_DEFAULT_SCHEDULER,
  SYNC_MAX_LEN,
  interfaceNameProblem,
  isMulticastAddress,
  type ForwardMethod,
  type Persistence,
  type RealServerConfig,
  type ServiceKey,
  type SyncDaemon,
  type SyncDaemonRole,
} from '../model.ts';
import { canonicalIPv6, type NameResolver } from './names.ts';

export type CommandName =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'delete-server'
  | 'edit-server'
  | 'restore'
  | 'save'
  | 'zero'
  | 'set'
  | 'start-daemon'
  | 'stop-daemon';

/** How -L and -S print: ipvsadm's FMT_* flags. */
export interface ListFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  tunInfo: boolean;
  exact: boolean;
  noSort: boolean;
}

export interface IpvsadmInvocation {
  command: CommandName;
  /** -t/-u/-f; null when not given. */
  service: ServiceKey | null;
  scheduler: string;
  persistence: Persistence | null;
  /** -r with -g/-i/-m, -w, -x, -y (defaults: route, weight 1) */
  server: RealServerConfig | null;
  /** -L -c */
  connections: boolean;
  /** -L --daemon */
  daemons: boolean;
  /** --start-daemon ROLE and --stop-daemon ROLE; null for the other commands. */
  role: SyncDaemonRole | null;
  /** --start-daemon: the daemon with ipvsadm's defaults (--mcast-interface eth0, --syncid 0); null otherwise. */
  daemon: SyncDaemon | null;
  format: ListFormat;
}

export type ParseResult =
  | { kind: 'run'; invocation: IpvsadmInvocation }
  | { kind: 'help' }
  | { kind: 'version' }
  /** exitCode 2: a usage error, as ipvsadm's fail(2, ...); tryHelp: print only the "Try ... -h" line. */
  | { kind: 'error'; message: string; exitCode: number; tryHelp: boolean };

const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;

type ArgKind = 'none' | 'required' | 'optional';
interface OptionSpec {
  long: string;
  short?: string;
  arg: ArgKind;
}

/** Every option ipvsadm 1.31 knows; the unsupported ones are recognised so the error can say so. */
const OPTIONS: readonly OptionSpec[] = [
  { long: 'add-service', short: 'A', arg: 'none' },
  { long: 'edit-service', short: 'E', arg: 'none' },
  { long: 'delete-service', short: 'D', arg: 'none' },
  { long: 'clear', short: 'C', arg: 'none' },
  { long: 'list', short: 'L', arg: 'none' },
  { long: 'list', short: 'l', arg: 'none' },
  { long: 'zero', short: 'Z', arg: 'none' },
  { long: 'add-server', short: 'a', arg: 'none' },
  { long: 'edit-server', short: 'e', arg: 'none' },
  { long: 'delete-server', short: 'd', arg: 'none' },
  { long: 'set', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'v', arg: 'none' },
  { long: 'restore', short: 'R', arg: 'none' },
  { long: 'save', short: 'S', arg: 'none' },
  { long: 'start-daemon', arg: 'required' },
  { long: 'stop-daemon', arg: 'required' },
  { long: 'tcp-service', short: 't', arg: 'required' },
  { long: 'udp-service', short: 'u', arg: 'required' },
  { long: 'sctp-service', arg: 'required' },
  { long: 'fwmark-service', short: 'f', arg: 'required' },
  { long: 'scheduler', short: 's', arg: 'required' },
  { long: 'persistent', short: 'p', arg: 'optional' },
  { long: 'netmask', short: 'M', arg: 'required' },
  { long: 'real-server', short: 'r', arg: 'required' },
  { long: 'masquerading', short: 'm', arg: 'none' },
  { long: 'ipip', short: 'i', arg: 'none' },
  { long: 'gatewaying', short: 'g', arg: 'none' },
  { long: 'weight', short: 'w', arg: 'required' },
  { long: 'u-threshold', short: 'x', arg: 'required' },
  { long: 'l-threshold', short: 'y', arg: 'required' },
  { long: 'numeric', short: 'n', arg: 'none' },
  { long: 'connection', short: 'c', arg: 'none' },
  { long: 'mcast-interface', arg: 'required' },
  { long: 'syncid', arg: 'required' },
  { long: 'timeout', arg: 'none' },
  { long: 'daemon', arg: 'none' },
  { long: 'stats', arg: 'none' },
  { long: 'rate', arg: 'none' },
  { long: 'thresholds', arg: 'none' },
  { long: 'persistent-conn', arg: 'none' },
  { long: 'nosort', arg: 'none' },
  { long: 'sort', arg: 'none' },
  { long: 'exact', short: 'X', arg: 'none' },
  { long: 'ipv6', short: '6', arg: 'none' },
  { long: 'ops', short: 'o', arg: 'none' },
  { long: 'pe', arg: 'required' },
  { long: 'sched-flags', short: 'b', arg: 'required' },
  { long: 'mcast-group', arg: 'required' },
  { long: 'mcast-port', arg: 'required' },
  { long: 'mcast-ttl', arg: 'required' },
  { long: 'sync-maxlen', arg: 'required' },
  { long: 'tun-info', arg: 'none' },
  { long: 'tun-type', arg: 'required' },
  { long: 'proxy-protocol', arg: 'required' }, // tcpvs: a PROXY header (v1 or v2) to this real server
  { long: 'tun-port', arg: 'required' },
  { long: 'tun-nocsum', arg: 'none' },
  { long: 'tun-csum', arg: 'none' },
  { long: 'tun-remcsum', arg: 'none' },
];

const BY_LONG = new Map(OPTIONS.map((o) => [o.long, o]));
const BY_SHORT = new Map(OPTIONS.filter((o) => o.short !== undefined).map((o) => [o.short!, o]));

const COMMAND_OF: Record<string, CommandName> = {
  'add-service': 'add-service',
  'edit-service': 'edit-service',
  'delete-service': 'delete-service',
  clear: 'flush',
  list: 'list',
  zero: 'zero',
  'add-server': 'add-server',
  'edit-server': 'edit-server',
  'delete-server': 'delete-server',
  set: 'set',
  restore: 'restore',
  save: 'save',
  'start-daemon': 'start-daemon',
  'stop-daemon': 'stop-daemon',
};

/** Options tcpvs recognises but cannot honour, with the reason. */
const UNSUPPORTED_OPTION: Record<string, string> = {
  'sctp-service': 'SCTP services are not supported by tcpvs',
  ops: 'one-packet scheduling (--ops) is not supported by tcpvs',
  pe: 'persistence engines (--pe) are not supported by tcpvs',
  'sched-flags': 'scheduler flags (-b) are not supported by tcpvs',
  'tun-port': 'only ipip tunnels are supported by tcpvs',
  'tun-nocsum': 'only ipip tunnels are supported by tcpvs',
  'tun-csum': 'only ipip tunnels are supported by tcpvs',
  'tun-remcsum': 'only ipip tunnels are supported by tcpvs',
  timeout: 'IPVS connection timeouts (--timeout) are not kept by tcpvs',
};

const UNSUPPORTED_COMMAND: Partial<Record<CommandName, string>> = {
  zero: 'zeroing counters (-Z) is not supported by tcpvs',
  set: 'IPVS connection timeouts (--set) are not kept by tcpvs',
};

// ipvsadm's option columns (its optnames), in its order, so the first violated rule is the same one.
export const OPT_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'proxy-protocol',
] as const;
type OptName = (typeof OPT_NAMES)[number];

// Per command, one character per OPT_NAMES column: '+' required, 'x' illegal, '1' at most one of these, ' ' optional.
// Key: n numeric, c connection, v service-address, s scheduler, p persistent, M netmask, r real-server,
// f forwarding-method, w weight, x u-threshold, y l-threshold, I mcast-interface, D daemon, S stats, R rate,
// H thresholds, P persistent-conn, N nosort, i syncid, e exact, G mcast-group, O mcast-port, L mcast-ttl,
// z sync-maxlen, t tun-info, T tun-type, X proxy-protocol (tcpvs's). As in ipvsadm, -L takes --syncid and
// ignores it, and --stop-daemon takes it too (the kernel stops a daemon by its role alone).
// columns:                  ncvspMrfwxyIDSRHPNieGOLztTX
export const COMMAND_OPTIONS: Readonly<Record<CommandName, string>> = {
  'add-service': /*      */ 'xx+   xxxxxxxxxxxxxxxxxxxxx',
  'edit-service': /*     */ 'xx+   xxxxxxxxxxxxxxxxxxxxx',
  'delete-service': /*   */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxx',
  flush: /*              */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  list: /*               */ ' 11xxxxxxxxx1       xxxx xx',
  'add-server': /*       */ 'xx+xxx+    xxxxxxxxxxxxxx  ',
  'delete-server': /*    */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxx',
  'edit-server': /*      */ 'xx+xxx+    xxxxxxxxxxxxxx  ',
  restore: /*            */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  save: /*               */ ' xxxxxxxxxxxxxxxxxxxxxxxxxx',
  zero: /*               */ 'xx xxxxxxxxxxxxxxxxxxxxxxxx',
  set: /*                */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon': /*     */ 'xxxxxxxxxxx xxxxxx x    xxx',
  'stop-daemon': /*      */ 'xxxxxxxxxxxxxxxxxx xxxxxxxx',
};

type Event =
  | { kind: 'option'; spec: OptionSpec; arg: string | undefined; text: string }
  | { kind: 'positional'; value: string }
  | { kind: 'error'; message: string };

/** popt's view of argv: options in order, clusters split, arguments attached. */
function* scan(argv: readonly string[]): Generator<Event> {
  let i = 0;
  while (i < argv.length) {
    const word = argv[i++];
    if (word === '--') {
      while (i < argv.length) yield { kind: 'positional', value: argv[i++] };
      return;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      const text = eq === -1 ? word : word.slice(0, eq);
      const spec = BY_LONG.get(name);
      if (spec === undefined) {
        yield { kind: 'error', message: `${text}: unknown option` };
        return;
      }
      let arg: string | undefined = eq === -1 ? undefined : word.slice(eq + 1);
      if (spec.arg === 'none' && arg !== undefined) {
        yield { kind: 'error', message: `${text}: option does not take an argument` };
        return;
      }
      if (spec.arg === 'required' && arg === undefined) {
        if (i >= argv.length) {
          yield { kind: 'error', message: `${text}: missing argument` };
          return;
        }
        arg = argv[i++];
      }
      if (spec.arg === 'optional' && arg === undefined && i < argv.length && !argv[i].startsWith('-')) arg = argv[i++];
      yield { kind: 'option', spec, arg, text };
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      for (let j = 1; j < word.length; j++) {
        const letter = word[j];
        const spec = BY_SHORT.get(letter);
        if (spec === undefined) {
          yield { kind: 'error', message: `-${letter}: unknown option` };
          return;
        }
        if (spec.arg === 'none') {
          yield { kind: 'option', spec, arg: undefined, text: `-${letter}` };
          continue;
        }
        const rest = word.slice(j + 1);
        let arg: string | undefined = rest === '' ? undefined : rest;
        if (arg === undefined) {
          if (spec.arg === 'required') {
            if (i >= argv.length) {
              yield { kind: 'error', message: `-${letter}: missing argument` };
              return;
            }
            arg = argv[i++];
          } else if (i < argv.length && !argv[i].startsWith('-')) arg = argv[i++];
        }
        yield { kind: 'option', spec, arg, text: `-${letter}` };
        break;
      }
      continue;
    }
    yield { kind: 'positional', value: word };
  }
}

class UsageError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

function unsupported(reason: string): never {
  throw new UsageError(reason, 1);
}

/** ipvsadm's string_to_number: a whole decimal string within [min, max], else null. */
function toNumber(s: string, min: number, max: number): number | null {
  // strtol: optional leading blanks and sign, then digits to the end
  if (!/^\s*[+-]?\d+$/.test(s)) return null;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

interface ParsedAddress {
  address: string;
  family: 4 | 6;
  port: number | null;
}

/** ipvsadm's parse_service: host[:port] or [ipv6]:port or a bare IPv6 address; null when illegal. */
async function parseAddress(text: string, protocol: 'tcp' | 'udp', names: NameResolver): Promise<ParsedAddress | null> {
  if (text === '' || /^\d+$/.test(text)) return null;
  let host: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return null;
  } else if (isIPv6(text)) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? null : text.slice(colon + 1);
  }
  let address: string;
  let family: 4 | 6;
  if (isIPv6(host)) {
    address = canonicalIPv6(host);
    family = 6;
  } else if (isIPv4(host)) {
    address = host;
    family = 4;
  } else {
    const resolved = host === '' ? null : await names.host(host);
    if (resolved === null) return null;
    address = resolved;
    family = 4;
  }
  let port: number | null = null;
  if (portText !== null) {
    port = toNumber(portText, 0, 65535) ?? names.port(portText, protocol);
    if (port === null) return null;
  }
  return { address, family, port };
}

/** Parses one ipvsadm command line (without the program name). */
export async function parseIpvsadmArgs(argv: readonly string[], names: NameResolver): Promise<ParseResult> {
  try {
    return await parse(argv, names);
  } catch (err) {
    if (err instanceof UsageError) return { kind: 'error', message: err.message, exitCode: err.exitCode, tryHelp: false };
    throw err;
  }
}

async function parse(argv: readonly string[], names: NameResolver): Promise<ParseResult> {
  const events = scan(argv);
  const first = events.next();
  if (first.done || first.value.kind !== 'option') {
    if (!first.done && first.value.kind === 'error') return { kind: 'error', message: first.value.message, exitCode: 2, tryHelp: true };
    return { kind: 'error', message: '', exitCode: 2, tryHelp: true };
  }
  const head = first.value;
  if (head.spec.long === 'help') return { kind: 'help' };
  if (head.spec.long === 'version') return { kind: 'version' };
  const command = COMMAND_OF[head.spec.long];
  if (command === undefined) return { kind: 'error', message: '', exitCode: 2, tryHelp: true };
  let role: SyncDaemonRole | null = null;
  if (command === 'start-daemon' || command === 'stop-daemon') {
    // ipvsadm's messages, its typo in the second included
    if (head.arg !== 'master' && head.arg !== 'backup')
      fail(command === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
    role = head.arg;
  }
  const unsupportedCommand = UNSUPPORTED_COMMAND[command];
  if (unsupportedCommand !== undefined) unsupported(unsupportedCommand);

  const seen = new Set<OptName>();
  const setOption = (name: OptName): void => {
    if (seen.has(name)) fail(`multiple '${name}' options specified`);
    seen.add(name);
  };

  let protocol: ServiceKey['protocol'] | null = null;
  let serviceAddress: ParsedAddress | null = null;
  let fwmark = 0;
  let fwmarkFamily: 4 | 6 = 4;
  let scheduler = '';
  let persistentTimeout: number | null = null;
  let netmaskText: string | null = null;
  let serverText: string | null = null;
  let method: ForwardMethod = 'route';
  let weight = 1;
  let upper = 0;
  let lower = 0;
  let proxyProtocol: 1 | 2 | undefined;
  const format: ListFormat = {
    numeric: false,
    stats: false,
    rate: false,
    thresholds: false,
    persistentConn: false,
    tunInfo: false,
    exact: false,
    noSort: false,
  };
  let connections = false;
  let daemons = false;
  let mcastInterface = '';
  let syncId = 0;
  let syncMaxLen: number | null = null;
  let mcastGroup: string | null = null;
  let mcastPort: number | null = null;
  let mcastTtl: number | null = null;
  const positionals: string[] = [];

  for (const ev of events) {
    if (ev.kind === 'error') fail(ev.message);
    if (ev.kind === 'positional') {
      positionals.push(ev.value);
      continue;
    }
    const { spec, arg } = ev;
    const value = arg ?? '';
    if (Object.hasOwn(COMMAND_OF, spec.long) || spec.long === 'help' || spec.long === 'version') fail('multiple commands specified');
    const reason = UNSUPPORTED_OPTION[spec.long];
    if (reason !== undefined) unsupported(reason);
    switch (spec.long) {
      case 'tcp-service':
      case 'udp-service': {
        setOption('service-address');
        protocol = spec.long === 'tcp-service' ? 'tcp' : 'udp';
        serviceAddress = await parseAddress(value, protocol, names);
        if (serviceAddress === null) fail('illegal virtual server address[:port] specified');
        break;
      }
      case 'fwmark-service': {
        setOption('service-address');
        protocol = 'fwmark';
        const mark = toNumber(value, 1, 0xffffffff);
        if (mark === null) fail(`invalid fwmark value \`${value}' specified`);
        fwmark = mark;
        break;
      }
      case 'ipv6':
        if (protocol !== 'fwmark') fail('-6 used before -f');
        fwmarkFamily = 6;
        break;
      case 'scheduler':
        setOption('scheduler');
        scheduler = value.slice(0, 15);
        break;
      case 'persistent': {
        setOption('persistent');
        if (arg === undefined) persistentTimeout = IPVSADM_DEFAULT_PERSISTENCE_SEC;
        else {
          persistentTimeout = toNumber(arg, 1, MAX_TIMEOUT);
          if (persistentTimeout === null) fail(`invalid timeout value \`${arg}' specified`);
        }
        break;
      }
      case 'netmask':
        setOption('netmask');
        netmaskText = value;
        break;
      case 'real-server':
        setOption('real-server');
        serverText = value;
        break;
      case 'masquerading':
      case 'ipip':
      case 'gatewaying':
        setOption('forwarding-method');
        method = spec.long === 'masquerading' ? 'masq' : spec.long === 'ipip' ? 'tunnel' : 'route';
        break;
      case 'weight': {
        setOption('weight');
        const w = toNumber(value, 0, 65535);
        if (w === null) fail('illegal weight specified');
        weight = w;
        break;
      }
      case 'u-threshold': {
        setOption('u-threshold');
        const x = toNumber(value, 0, INT_MAX);
        if (x === null) fail('illegal u_threshold specified');
        upper = x;
        break;
      }
      case 'l-threshold': {
        setOption('l-threshold');
        const y = toNumber(value, 0, INT_MAX);
        if (y === null) fail('illegal l_threshold specified');
        lower = y;
        break;
      }
      case 'proxy-protocol':
        setOption('proxy-protocol');
        if (value !== '1' && value !== '2') fail(`illegal PROXY protocol version \`${value}' specified (1 or 2)`);
        proxyProtocol = value === '1' ? 1 : 2;
        break;
      case 'numeric':
        setOption('numeric');
        format.numeric = true;
        break;
      case 'connection':
        setOption('connection');
        connections = true;
        break;
      case 'stats':
        setOption('stats');
        format.stats = true;
        break;
      case 'rate':
        setOption('rate');
        format.rate = true;
        break;
      case 'thresholds':
        setOption('thresholds');
        format.thresholds = true;
        break;
      case 'persistent-conn':
        setOption('persistent-conn');
        format.persistentConn = true;
        break;
      case 'nosort':
        setOption('nosort');
        format.noSort = true;
        break;
      case 'sort':
        // sorting is the default; ipvsadm keeps --sort as a no-op too
        break;
      case 'exact':
        setOption('exact');
        format.exact = true;
        break;
      case 'tun-info':
        setOption('tun-info');
        format.tunInfo = true;
        break;
      case 'daemon':
        setOption('daemon');
        daemons = true;
        break;
      case 'mcast-interface': {
        setOption('mcast-interface');
        // ipvsadm cuts a longer name to 15 characters; tcpvs refuses it
        const problem = interfaceNameProblem(value);
        if (problem !== null) fail(`illegal mcast-interface specified: ${problem}`);
        mcastInterface = value;
        break;
      }
      case 'syncid': {
        setOption('syncid');
        const id = toNumber(value, 0, 255);
        if (id === null) fail('illegal syncid specified (0..255)');
        syncId = id;
        break;
      }
      case 'sync-maxlen':
        setOption('sync-maxlen');
        syncMaxLen = toNumber(value, 1, SYNC_MAX_LEN);
        if (syncMaxLen === null) fail(`illegal sync-maxlen specified (1..${SYNC_MAX_LEN})`);
        break;
      case 'mcast-group': {
        setOption('mcast-group');
        // as ipvsadm: a ':' means IPv6; either way a multicast address
        const six = value.includes(':');
        if (!(six ? isIPv6(value) : isIPv4(value)) || !isMulticastAddress(value)) fail(`invalid IPv${six ? 6 : 4} mcast-group \`${value}'`);
        mcastGroup = six ? canonicalIPv6(value) : value;
        break;
      }
      case 'mcast-port':
        setOption('mcast-port');
        mcastPort = toNumber(value, 1, 65535);
        if (mcastPort === null) fail('illegal mcast-port specified (1..65535)');
        break;
      case 'mcast-ttl':
        setOption('mcast-ttl');
        mcastTtl = toNumber(value, 1, 255);
        if (mcastTtl === null) fail('illegal mcast-ttl specified (1..255)');
        break;
      case 'tun-type':
        setOption('tun-type');
        if (value === 'gue' || value === 'gre') unsupported('only ipip tunnels are supported by tcpvs');
        if (value !== 'ipip') fail('illegal tunnel type specified');
        break;
      default:
        fail(`invalid option \`${ev.text}'`);
    }
  }

  if (positionals.length > 0) fail(`unexpected argument ${positionals[0]}`);
  checkOptions(command, seen);

  // The service key, now that -f and -6 are both known.
  let service: ServiceKey | null = null;
  let serviceFamily: 4 | 6 = 4;
  if (protocol === 'fwmark') {
    serviceFamily = fwmarkFamily;
    service = { protocol, address: '', port: 0, fwmark, family: fwmarkFamily };
  } else if (protocol !== null && serviceAddress !== null) {
    serviceFamily = serviceAddress.family;
    service = { protocol, address: serviceAddress.address, port: serviceAddress.port ?? 0, fwmark: 0, family: serviceAddress.family };
  }

  let netmask = serviceFamily === 6 ? '128' : '255.255.255.255';
  if (netmaskText !== null) {
    if (serviceFamily === 6) {
      const bits = /^\s*\d+/.exec(netmaskText);
      const n = bits === null ? 0 : Number(bits[0]);
      if (n < 1 || n > 128) fail('illegal ipv6 netmask specified');
      netmask = String(n);
    } else {
      if (!isIPv4(netmaskText)) fail('illegal virtual server persistent mask specified');
      netmask = netmaskText;
    }
  }
  // -M without -p is accepted and has no effect, as in ipvsadm.
  const persistence: Persistence | null = persistentTimeout === null ? null : { timeoutSec: persistentTimeout, netmask };

  if ((command === 'add-service' || command === 'edit-service') && service !== null) {
    if (service.protocol !== 'fwmark' && service.port === 0 && persistence === null) fail('Zero port specified for non-persistent service');
  }

  let server: RealServerConfig | null = null;
  if (serverText !== null && service !== null) {
    const parsed = await parseAddress(serverText, service.protocol === 'udp' ? 'udp' : 'tcp', names);
    if (parsed === null) fail('illegal real server address[:port] specified');
    let port = parsed.port ?? service.port;
    if ((command === 'add-server' || command === 'edit-server') && service.protocol !== 'fwmark' && method !== 'masq') {
      // Direct routing and tunnels cannot change the port: the packet reaches the server as the client sent it.
      port = service.port;
    }
    if ((command === 'add-server' || command === 'edit-server') && parsed.family !== serviceFamily && method !== 'tunnel') {
      fail('Different address family is allowed only for tunneling servers');
    }
    server = { address: parsed.address, port, weight, method, upperThreshold: upper, lowerThreshold: lower };
    if (proxyProtocol !== undefined) server.proxyProtocol = proxyProtocol;
  }
  if (seen.has('tun-type') && method !== 'tunnel') fail('Tunnel options conflict with forward method');

  if (command === 'list') {
    const counters = format.stats || format.rate || format.thresholds;
    if (((connections || daemons) && counters) || (daemons && format.persistentConn)) fail('options conflicts in the list command');
  }
  const daemon: SyncDaemon | null =
    command === 'start-daemon' && role !== null
      ? {
          role,
          mcastInterface: mcastInterface === '' ? IPVSADM_DEFAULT_MCAST_INTERFACE : mcastInterface,
          syncId,
          syncMaxLen,
          mcastGroup,
          mcastPort,
          mcastTtl,
        }
      : null;

  return {
    kind: 'run',
    invocation: {
      command,
      service,
      scheduler: scheduler === '' ? IPVSADM_DEFAULT_SCHEDULER : scheduler,
      persistence,
      server,
      connections,
      daemons,
      role,
      daemon,
      format,
    },
  };
}

/** ipvsadm's generic_opt_check over the commands-versus-options table. */
function checkOptions(command: CommandName, seen: ReadonlySet<OptName>): void {
  const row = COMMAND_OPTIONS[command];
  let exclusive: OptName | null = null;
  OPT_NAMES.forEach((name, j) => {
    const rule = row[j];
    if (!seen.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${command}' command`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${command}' command`);
    if (rule === '1') {
      if (exclusive === null) exclusive = name;
      else fail(`The option '${name}' conflicts with the '${exclusive}' option in the '${command}' command`);
    }
  });
}

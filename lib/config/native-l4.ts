// The native format's L4 part: `l4` settings and `vip` blocks, which tell
// tcpvs what to program into its L4 core (the embedded user-space one, kernel
// IPVS, or another tcpvs's core it registers itself in).
//
//   l4 driver userspace|ipvs|remote
//   l4 admin PATH
//   l4 admin tcp://HOST:PORT [token T]  (driver remote: the director's `admin tcp` listener)
//   l4 drain-timeout DURATION
//
//   vip NAME tcp|udp ADDR:PORT
//     scheduler S                        (default wlc, as ipvsadm)
//     persistent [DURATION] [netmask M]  (ipvsadm -p, default 300 s; -M)
//     real self SERVICE [weight N]       (this tcpvs's service, at its listen address)
//     real ADDR:PORT [weight N] [method masq|route|tunnel]
//     ... [send-proxy|send-proxy-v2]     (a PROXY header first, user-space core only;
//                                         a real self of the user-space core gets v2 anyway)
//     weight-follows-load
//     check tcp|http ...                 (as in a group; the director removes a
//                                         failed real server until it rises)
import net from 'node:net';

/** The keywords inside a vip block. */
const VIP_KEYWORDS = ['scheduler', 'persistent', 'real', 'weight-follows-load'] as const;
/** Every keyword of the L4 part, for the native parser's table of words (suggestions, its error text). */
export const L4_KEYWORDS: readonly string[] = ['l4', 'vip', ...VIP_KEYWORDS, 'vrrp', 'sync', 'notify'];
import type { ConfigProblem } from './errors.ts';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  type GroupSpec,
  type L4Spec,
  type ServiceSpec,
  type VipRealSpec,
  type VipSpec,
  type VrrpSpec,
  type L4SyncSpec,
} from './model.ts';
import { parseDuration, parseEndpoint, parseInteger, checkName, type Token } from './tokenize.ts';
import { parseWeight, unknownSchedulerMessage } from './validate.ts';
import { knownSchedulers } from '../sched/index.ts';
import { healthStatement } from './native-health.ts';
import type { ProblemSink } from './errors.ts';

const DRIVERS = ['userspace', 'ipvs', 'remote'] as const;
const METHODS = ['masq', 'route', 'tunnel'] as const;
const VRRP_SETTINGS = ['interface', 'router-id', 'priority', 'advert', 'auth', 'source', 'peer', 'prefix', 'notify'];
const IPV4_MASK = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export class L4Draft {
  private readonly file: string;
  private readonly problem: ProblemSink;
  private driver: L4Spec['driver'] | null = null;
  private admin: string | null = null;
  private adminToken: string | null = null;
  private adminTcpLine = 0; // the line of an `l4 admin tcp://...`
  private drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS;
  private readonly settingLines = new Map<string, number>();
  private readonly vips: VipSpec[] = [];
  private readonly vipSettings = new Map<VipSpec, Map<string, number>>();
  private readonly rejectedReals = new Set<VipSpec>(); // vips with a bad `real` line, already reported
  private vrrp: VrrpSpec | null = null;
  private sync: L4SyncSpec | null = null;
  private notify: string[] | null = null;
  private notifyLine = 0;
  private readonly syncLines = new Map<string, number>();
  private readonly vrrpLines = new Map<string, number>();
  current: VipSpec | null = null;

  private reported = 0; // problems reported so far, to tell whether a line was bad

  constructor(file: string, problem: ProblemSink) {
    this.file = file;
    this.problem = (line, field, message) => {
      this.reported++;
      problem(line, field, message);
    };
  }

  /** `l4 driver|admin|drain-timeout VALUE` */
  l4Statement(line: number, tokens: Token[]): void {
    const what = tokens[1]?.text;
    const field = `l4.${what ?? ''}`;
    const tcpAdmin = what === 'admin' && /^tcp:\/\//.test(tokens[2]?.text ?? '');
    const withToken = tcpAdmin && tokens.length === 5 && tokens[3].text === 'token';
    if ((tokens.length !== 3 && !withToken) || (what !== 'driver' && what !== 'admin' && what !== 'drain-timeout')) {
      return this.problem(
        line,
        'l4',
        'usage: l4 driver userspace|ipvs|remote | l4 admin PATH | l4 admin tcp://HOST:PORT [token T] | l4 drain-timeout DURATION',
      );
    }
    const first = this.settingLines.get(what);
    if (first !== undefined) return this.problem(line, field, `'l4 ${what}' is already set at line ${first}`);
    this.settingLines.set(what, line);
    const value = tokens[2].text;
    if (what === 'driver') {
      if (!(DRIVERS as readonly string[]).includes(value))
        return this.problem(line, field, `unknown driver '${value}': userspace, ipvs or remote`);
      this.driver = value as L4Spec['driver'];
    } else if (what === 'admin') {
      if (tcpAdmin) {
        // Another host's admin listener: only a remote node registers through one (checked in finish()).
        const ep = parseEndpoint(value.slice('tcp://'.length).replace(/\/$/, ''));
        if (!ep.ok) return this.problem(line, field, ep.message);
        if (ep.value.port === 0) return this.problem(line, field, `${value}: a port is needed`);
        this.adminTcpLine = line;
        if (withToken) {
          const token = tokens[4].text;
          if (token === '' || /[\s\x00-\x1f\x7f]/.test(token))
            return this.problem(line, 'l4.admin.token', 'the token must be non-empty, without spaces or control characters');
          this.adminToken = token;
        }
      } else if (!value.startsWith('/')) return this.problem(line, field, `the admin socket path must be absolute, not '${value}'`);
      this.admin = value;
    } else {
      const d = parseDuration(value);
      if (!d.ok) return this.problem(line, field, d.message);
      this.drainTimeoutMs = d.value;
    }
  }

  /** `vip NAME tcp|udp ADDR:PORT` opens a block. */
  vipStatement(line: number, tokens: Token[]): void {
    // A bad vip line still opens a (detached) block, so the lines inside it
    // are checked against it instead of each reporting "outside a vip".
    const detached = (field: string, message: string): void => {
      this.problem(line, field, message);
      this.current = this.draft(tokens[1]?.text ?? '', 'tcp', '', 0, line);
      this.vipSettings.set(this.current, new Map());
      this.rejectedReals.add(this.current);
    };
    if (tokens.length !== 4) return detached('vip', 'usage: vip NAME tcp|udp ADDR:PORT');
    const name = tokens[1].text;
    const bad = checkName(name);
    if (bad !== null) return detached('vip', bad);
    if (this.vips.some((v) => v.name === name)) return detached('vip', `vip '${name}' is already defined`);
    const protocol = tokens[2].text;
    if (protocol !== 'tcp' && protocol !== 'udp') return detached('vip.protocol', `protocol must be tcp or udp, not '${protocol}'`);
    const ep = parseEndpoint(tokens[3].text);
    if (!ep.ok) return detached('vip.address', ep.message);
    const vip = this.draft(name, protocol, ep.value.host, ep.value.port, line);
    this.vips.push(vip);
    this.vipSettings.set(vip, new Map());
    this.current = vip;
  }

  private draft(name: string, protocol: 'tcp' | 'udp', address: string, port: number, line: number): VipSpec {
    return {
      name,
      protocol,
      address,
      port,
      scheduler: 'wlc',
      persistence: null,
      reals: [],
      weightFollowsLoad: false,
      file: this.file,
      line,
    };
  }

  /** True when the keyword belongs to a vip block or is a `vrrp` statement (and was handled). */
  /** The statements of the L4 part that are not `l4` or `vip` lines; false when `tokens` is none of them (L4_KEYWORDS). */
  vipMember(line: number, tokens: Token[]): boolean {
    const keyword = tokens[0].text;
    if (keyword === 'vrrp') {
      this.vrrpStatement(line, tokens);
      return true;
    }
    if (keyword === 'sync') {
      this.syncStatement(line, tokens);
      return true;
    }
    if (keyword === 'notify') {
      if (tokens.length < 2) this.problem(line, 'notify', 'usage: notify COMMAND [ARG...]');
      else if (this.notify !== null) this.problem(line, 'notify', `'notify' is already set at line ${this.notifyLine}`);
      else if (!tokens[1].text.startsWith('/'))
        this.problem(line, 'notify', `the command must be an absolute path, not '${tokens[1].text}'`);
      else {
        this.notify = tokens.slice(1).map((t) => t.text);
        this.notifyLine = line;
      }
      return true;
    }
    if (!(VIP_KEYWORDS as readonly string[]).includes(keyword)) return false;
    const vip = this.current;
    if (vip === null) {
      this.problem(line, `vip.${keyword}`, `'${keyword}' must follow a 'vip NAME tcp|udp ADDR:PORT' line`);
      return true;
    }
    if (keyword !== 'real') {
      const settings = this.vipSettings.get(vip)!;
      const first = settings.get(keyword);
      if (first !== undefined) {
        this.problem(line, `vip.${keyword}`, `'${keyword}' is already set at line ${first}`);
        return true;
      }
      settings.set(keyword, line);
    }
    switch (keyword) {
      case 'scheduler': {
        const s = tokens[1]?.text;
        if (tokens.length !== 2 || s === undefined) this.problem(line, 'vip.scheduler', 'usage: scheduler NAME');
        else if (!knownSchedulers().includes(s)) this.problem(line, 'vip.scheduler', unknownSchedulerMessage(s));
        else vip.scheduler = s;
        break;
      }
      case 'persistent':
        this.persistent(line, tokens, vip);
        break;
      case 'real':
        this.real(line, tokens, vip);
        break;
      case 'weight-follows-load':
        if (tokens.length !== 1) this.problem(line, 'vip.weight-follows-load', 'takes no argument');
        else vip.weightFollowsLoad = true;
        break;
    }
    return true;
  }

  /**
   * `vrrp interface|router-id|priority|advert|auth|source|peer|prefix|notify VALUE`:
   * top-level, each once but `peer`; `tcpvs keepalived` turns them into keepalived's config.
   */
  private vrrpStatement(line: number, tokens: Token[]): void {
    const what = tokens[1]?.text ?? '';
    const field = `vrrp.${what}`;
    const usage =
      'usage: vrrp interface IF | router-id N | priority N | advert D | auth SECRET | source ADDR | peer ADDR | prefix N | notify COMMAND...';
    if (!VRRP_SETTINGS.includes(what)) return this.problem(line, 'vrrp', usage);
    if (what !== 'notify' && tokens.length !== 3) return this.problem(line, field, usage);
    if (what === 'notify' && tokens.length < 3) return this.problem(line, field, 'usage: vrrp notify COMMAND [ARG...]');
    if (what !== 'peer') {
      const first = this.vrrpLines.get(what);
      if (first !== undefined) return this.problem(line, field, `'vrrp ${what}' is already set at line ${first}`);
    }
    this.vrrpLines.set(what, this.vrrpLines.get(what) ?? line);
    const v = (this.vrrp ??= {
      interface: '',
      routerId: 0,
      priority: 0,
      advertMs: 1000,
      auth: null,
      source: null,
      peers: [],
      prefix: null,
      notify: null,
      line,
    });
    const value = tokens[2].text;
    switch (what) {
      case 'interface':
        if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(value)) return this.problem(line, field, `'${value}' is not an interface name`);
        v.interface = value;
        return;
      case 'router-id':
      case 'priority': {
        const max = what === 'priority' ? 254 : 255;
        const n = parseInteger(value, 1, max);
        if (n === null) return this.problem(line, field, `bad ${what} '${value}': an integer 1..${max}`);
        if (what === 'priority') v.priority = n;
        else v.routerId = n;
        return;
      }
      case 'advert': {
        const d = parseDuration(value);
        if (!d.ok) return this.problem(line, field, d.message);
        if (d.value < 10 || d.value > 255_000) return this.problem(line, field, `advert ${value}: 10ms..255s`);
        v.advertMs = d.value;
        return;
      }
      case 'auth':
        if (!/^[\x21-\x7e]{1,8}$/.test(value)) return this.problem(line, field, 'the VRRP password is 1 to 8 visible ASCII characters');
        v.auth = value;
        return;
      case 'source':
      case 'peer':
        if (net.isIP(value) === 0) return this.problem(line, field, `'${value}' is not an IP address`);
        if (what === 'source') v.source = value;
        else if (v.peers.includes(value)) return this.problem(line, field, `peer ${value} is already listed`);
        else v.peers.push(value);
        return;
      case 'prefix': {
        const n = parseInteger(value, 1, 128);
        if (n === null) return this.problem(line, field, `bad prefix '${value}': 1..32 (IPv4) or 1..128 (IPv6)`);
        v.prefix = n;
        return;
      }
      case 'notify':
        v.notify = tokens
          .slice(2)
          .map((t) => t.text)
          .join(' ');
        return;
    }
  }

  /** `sync listen ADDR:PORT | peer ADDR:PORT | secret TEXT`, each once. */
  private syncStatement(line: number, tokens: Token[]): void {
    const what = tokens[1]?.text ?? '';
    const field = `sync.${what}`;
    if ((what !== 'listen' && what !== 'peer' && what !== 'secret') || tokens.length !== 3)
      return this.problem(line, 'sync', 'usage: sync listen ADDR:PORT | sync peer ADDR:PORT | sync secret TEXT');
    const first = this.syncLines.get(what);
    if (first !== undefined) return this.problem(line, field, `'sync ${what}' is already set at line ${first}`);
    this.syncLines.set(what, line);
    const s = (this.sync ??= { listen: { host: '', port: 0 }, peer: { host: '', port: 0 }, secret: '', line });
    const value = tokens[2].text;
    if (what === 'secret') {
      if (value.length < 16) return this.problem(line, field, 'the shared secret must be at least 16 characters');
      s.secret = value;
      return;
    }
    const ep = parseEndpoint(value);
    if (!ep.ok) return this.problem(line, field, ep.message);
    if (net.isIP(ep.value.host) === 0) return this.problem(line, field, `'${ep.value.host}' is not an IP address`);
    if (what === 'listen') s.listen = ep.value;
    else s.peer = ep.value;
  }

  /** `check tcp|http ...` in a vip block: the same statement as in a group, run by the director on every real server. */
  vipCheck(line: number, tokens: Token[]): void {
    const vip = this.current!;
    const settings = this.vipSettings.get(vip)!;
    const first = settings.get('check');
    if (first !== undefined) return this.problem(line, 'vip.check', `'check' is already set at line ${first}`);
    settings.set('check', line);
    if (vip.protocol !== 'tcp') return this.problem(line, 'vip.check', 'checks are for tcp vips');
    const shim: { spec: GroupSpec } = { spec: { name: vip.name, scheduler: vip.scheduler, servers: [] } };
    healthStatement(shim, line, tokens, (at, field, message) => this.problem(at, `vip.${field}`, message));
    if (shim.spec.health?.check !== undefined) vip.check = shim.spec.health.check;
  }

  private persistent(line: number, tokens: Token[], vip: VipSpec): void {
    let timeoutSec = 300;
    let netmask = '255.255.255.255';
    let i = 1;
    if (i < tokens.length && tokens[i].text !== 'netmask') {
      const d = parseDuration(tokens[i].text);
      if (!d.ok) return this.problem(line, 'vip.persistent', d.message);
      timeoutSec = Math.max(1, Math.round(d.value / 1000));
      i++;
    }
    if (i < tokens.length) {
      if (tokens[i].text !== 'netmask' || i + 1 >= tokens.length || i + 2 < tokens.length)
        return this.problem(line, 'vip.persistent', 'usage: persistent [DURATION] [netmask A.B.C.D]');
      const m = IPV4_MASK.exec(tokens[i + 1].text);
      if (m === null || !isContiguousMask(m.slice(1).map(Number)))
        return this.problem(line, 'vip.persistent.netmask', `bad netmask '${tokens[i + 1].text}': a dotted mask like 255.255.255.0`);
      netmask = tokens[i + 1].text;
    }
    vip.persistence = { timeoutSec, netmask };
  }

  private real(line: number, tokens: Token[], vip: VipSpec): void {
    const before = this.reported;
    this.parseReal(line, tokens, vip);
    if (this.reported !== before) this.rejectedReals.add(vip);
  }

  private parseReal(line: number, tokens: Token[], vip: VipSpec): void {
    const target = tokens[1]?.text;
    if (target === undefined)
      return this.problem(
        line,
        'vip.real',
        'usage: real self SERVICE [weight N] [send-proxy|send-proxy-v2] | real ADDR:PORT [weight N] [method M] [send-proxy|send-proxy-v2]',
      );
    let i: number;
    let real: VipRealSpec;
    if (target === 'self') {
      const service = tokens[2]?.text;
      if (service === undefined) return this.problem(line, 'vip.real', 'usage: real self SERVICE [weight N]');
      real = { kind: 'self', service, weight: 1, line };
      i = 3;
    } else {
      const ep = parseEndpoint(target);
      if (!ep.ok) return this.problem(line, 'vip.real', ep.message);
      real = { kind: 'address', address: ep.value.host, port: ep.value.port, weight: 1, method: 'masq', line };
      i = 2;
    }
    for (; i < tokens.length; i += 2) {
      const option = tokens[i].text;
      if (option === 'send-proxy' || option === 'send-proxy-v2') {
        if (real.sendProxy !== undefined) return this.problem(line, 'vip.real.send-proxy', 'send-proxy or send-proxy-v2, once');
        real.sendProxy = option === 'send-proxy' ? 1 : 2;
        i--; // a flag: no value
        continue;
      }
      const value = tokens[i + 1]?.text;
      if (value === undefined) return this.problem(line, `vip.real.${option}`, `'${option}' needs a value`);
      if (option === 'weight') {
        const w = parseWeight(value);
        if (!w.ok) return this.problem(line, 'vip.real.weight', w.message);
        real.weight = w.value;
      } else if (option === 'method' && real.kind === 'address') {
        if (!(METHODS as readonly string[]).includes(value))
          return this.problem(line, 'vip.real.method', `unknown method '${value}': masq, route or tunnel`);
        real.method = value as (typeof METHODS)[number];
      } else return this.problem(line, `vip.real.${option}`, `unknown option '${option}'`);
    }
    vip.reals.push(real);
  }

  /** Cross-checks against the services; returns the spec, or null when there is no L4 part. */
  finish(services: readonly ServiceSpec[], problems: ConfigProblem[]): L4Spec | null {
    const report = (line: number, field: string, message: string) => problems.push({ file: this.file, line, field, message });
    if (
      this.vips.length === 0 &&
      this.driver === null &&
      this.admin === null &&
      this.vrrp === null &&
      this.sync === null &&
      this.notify === null
    )
      return null;
    const driver = this.driver ?? 'userspace';
    const vrrp = this.vrrp;
    if (vrrp !== null) {
      for (const [what, name] of [
        ['interface', 'interface IF'],
        ['router-id', 'router-id N'],
        ['priority', 'priority N'],
      ] as const) {
        if (!this.vrrpLines.has(what)) report(vrrp.line, `vrrp.${what}`, `a backup director needs 'vrrp ${name}'`);
      }
      if (driver === 'remote') report(vrrp.line, 'vrrp', 'a node with driver remote holds no vip addresses: vrrp belongs in the directors');
      if (vrrp.auth !== null && vrrp.advertMs % 1000 !== 0)
        report(
          this.vrrpLines.get('auth')!,
          'vrrp.auth',
          'VRRP authentication needs VRRPv2, whose advert is whole seconds; this advert needs VRRPv3',
        );
      if (this.vips.length === 0) report(vrrp.line, 'vrrp', 'vrrp without a vip: no address to share');
      const families = new Set(this.vips.map((v) => (v.address.includes(':') ? 6 : 4)));
      if (vrrp.prefix !== null && vrrp.prefix > 32 && families.has(4))
        report(this.vrrpLines.get('prefix')!, 'vrrp.prefix', `prefix ${vrrp.prefix} is longer than an IPv4 address`);
    }
    if (driver === 'remote' && this.admin === null)
      report(
        this.settingLines.get('driver') ?? 0,
        'l4.admin',
        "driver remote needs 'l4 admin PATH' or 'l4 admin tcp://HOST:PORT': the admin socket of the tcpvs that runs the L4 core",
      );
    if (driver !== 'remote' && this.adminTcpLine !== 0)
      report(
        this.adminTcpLine,
        'l4.admin',
        "'l4 admin tcp://...' is where a node with 'l4 driver remote' registers; this tcpvs serves its own admin socket at a PATH (and 'admin tcp HOST:PORT token T' over TCP)",
      );
    for (const vip of this.vips) {
      if (vip.reals.length === 0 && !this.rejectedReals.has(vip)) report(vip.line, 'vip.real', `vip '${vip.name}' has no real servers`);
      for (const real of vip.reals) {
        if (real.kind !== 'self') continue;
        const service = services.find((s) => s.name === real.service);
        if (service === undefined) report(real.line, 'vip.real', `no service '${real.service}' in this file`);
        else if (service.listen.host === '0.0.0.0' || service.listen.host === '::')
          report(
            real.line,
            'vip.real',
            `service '${real.service}' listens on every address; give it a specific listen address to register`,
          );
        else if (driver === 'userspace' && vip.protocol === 'tcp') service.acceptProxyFromL4 = true;
      }
      for (const real of vip.reals) {
        if (real.sendProxy === undefined) continue;
        if (vip.protocol !== 'tcp') report(real.line, 'vip.real.send-proxy', 'the PROXY protocol is for tcp vips');
        else if (driver === 'ipvs')
          report(real.line, 'vip.real.send-proxy', "the kernel's IPVS cannot send the PROXY protocol: use 'l4 driver userspace'");
      }
      if (driver === 'remote' && vip.check !== undefined)
        report(
          this.vipSettings.get(vip)?.get('check') ?? vip.line,
          'vip.check',
          "a node with driver remote does not check its vips: put 'check' in the director's vip block",
        );
      if (driver === 'remote' && vip.reals.some((r) => r.kind === 'address'))
        report(vip.line, 'vip.real', 'with driver remote a node registers only its own services (real self ...)');
    }
    const sync = this.sync;
    if (sync !== null) {
      for (const what of ['listen', 'peer', 'secret']) {
        if (!this.syncLines.has(what)) report(sync.line, `sync.${what}`, `state sync needs 'sync ${what} ...'`);
      }
    }
    return {
      driver,
      admin: this.admin,
      ...(this.adminToken === null ? {} : { adminToken: this.adminToken }),
      drainTimeoutMs: this.drainTimeoutMs,
      vips: this.vips,
      ...(vrrp === null ? {} : { vrrp }),
      ...(sync === null ? {} : { sync }),
      ...(this.notify === null ? {} : { notify: this.notify }),
    };
  }
}

function isContiguousMask(octets: number[]): boolean {
  if (octets.some((o) => o > 255)) return false;
  const value = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const inverted = ~value >>> 0;
  return (inverted & (inverted + 1)) === 0; // the zero bits are all at the end
}

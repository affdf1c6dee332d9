// Parser for tcpvs's own rule-set format: one statement per line, `#`
// comments, indentation cosmetic. A `service` line opens a block that lasts
// until the next `service`; inside it `group` opens a server group that the
// following `server` lines fill and `key`, `balance-factor`, `table-size`...
// tune. Every problem in the file is collected (with file, line and field)
// before anything is thrown; a half-built config is never returned.

import {
  DEFAULT_LIMITS,
  DEFAULT_LOG,
  DEFAULT_TIMEOUTS,
  MAX_TABLE_ENTRIES,
  type Config,
  type Endpoint,
  type GroupSpec,
  type HashKey,
  type Limits,
  type LogSpec,
  type Matcher,
  type RuleSpec,
  type ServerSpec,
  type ServerTlsSpec,
  type ServiceSpec,
  type Timeouts,
} from './model.ts';
import { dirname, resolve } from 'node:path';
import type { ConfigProblem } from './errors.ts';
import { FileProblems, readStatements } from './statements.ts';
import { L4Draft, L4_KEYWORDS } from './native-l4.ts';
import { AdminDraft } from './native-admin.ts';
import { healthStatement } from './native-health.ts';
import { parseNetwork, type Network } from '../net/networks.ts';
import { affinityProblems, withAffinityDefaults, type AffinityInput } from '../affinity/index.ts';
import {
  checkListenConflicts,
  checkName,
  formatEndpoint,
  parseDuration,
  parseEndpoint,
  parseInteger,
  parseSize,
  type ListenSite,
  type Token,
} from './tokenize.ts';
import { knobStatements, knownSchedulers, schedulerDescriptor } from '../sched/index.ts';
import type { SchedulerKnob } from '../sched/scheduler.ts';
import { parseMatcher } from './route-syntax.ts';
import { finishTls, tlsStatement, type TlsDraft } from './native-tls.ts';
import { nearest } from './suggest.ts';
import {
  checkGroupScheduling,
  checkSubmatchSource,
  duplicateNameMessage,
  noMatchersMessage,
  parseWeight,
  serverTwiceMessage,
  unknownGroupMessage,
  unknownSchedulerMessage,
} from './validate.ts';

const LOG_LEVELS: readonly LogSpec['level'][] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const TIMEOUT_FIELDS: Record<string, keyof Timeouts> = {
  'client-header': 'clientHeaderMs',
  'client-idle': 'clientIdleMs',
  connect: 'connectMs',
  response: 'responseMs',
  'upstream-idle': 'upstreamIdleMs',
  'client-body': 'clientBodyMs',
};

const MAX_POOL_IDLE = 100_000;
const MAX_HEADER_COUNT = 10_000;
const MAX_RETRIES = 10;

const KEY_USAGE = 'key path | key path-query | key host | key client | key header NAME | key cookie NAME | key submatch N';
// Header and cookie names are both RFC 9110 tokens.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface GroupDraft {
  spec: GroupSpec;
  line: number;
  hashLine: number; // line of `hash-submatch`, 0 when absent
  rejectedServers: number; // bad `server` lines, already reported
  // False when the group line was bad: `key` and knobs are then not checked
  // against a scheduler the user did not choose.
  schedulerKnown: boolean;
  settings: Map<string, number>; // `key`, `table-size`, ...: where each was set
}

interface ServiceDraft {
  name: string;
  line: number;
  listen: Endpoint | null;
  listenLine: number;
  groups: GroupDraft[];
  rules: RuleSpec[];
  defaultGroup: string | null;
  defaultLine: number;
  timeouts: Timeouts;
  limits: Limits;
  acceptProxy: Network[] | null;
  forwardNormalizedPath: boolean; // `normalize-path forward`
  tls: TlsDraft; // `listen ... tls`, `certificate`, `ciphers`, `strict-sni`
  passthrough: boolean; // `mode tls-passthrough`
  // `listen`, `timeout connect`, `limit uri`, `default`...: where each was first set.
  settings: Map<string, number>;
}

export function parseNativeConfig(text: string, file: string): Config {
  return new NativeParser(file).parse(text);
}

class NativeParser {
  private readonly file: string;
  private readonly report: FileProblems;
  private readonly problems: ConfigProblem[];
  private readonly services: ServiceDraft[] = [];
  private service: ServiceDraft | null = null;
  private group: GroupDraft | null = null;
  private readonly log: LogSpec = { ...DEFAULT_LOG };
  private readonly l4: L4Draft;
  private readonly logLines = new Map<string, number>();
  private readonly admin = new AdminDraft(
    (l, f, m) => this.problem(l, f, m),
    (l, f, m) => this.warn(l, f, m),
  );

  constructor(file: string) {
    this.file = file;
    this.report = new FileProblems(file);
    this.problems = this.report.problems;
    this.l4 = new L4Draft(file, (line, field, message) => this.problem(line, field, message));
  }

  parse(text: string): Config {
    readStatements(text, '', this.report.problem, (line, tokens) => this.statement(line, tokens));

    const specs = this.services.map((s) => this.finishService(s));
    // No service is fine: KTCPVS and IPVS start empty and are built up with
    // tcpvsadm / ipvsadm, and a director may run only an L4 core.
    checkListenConflicts(
      this.services
        .filter((s) => s.listen !== null)
        .map(
          (s): ListenSite => ({
            service: s.name,
            listen: s.listen as Endpoint,
            file: this.file,
            line: s.listenLine,
          }),
        ),
      this.problems,
    );
    const l4 = this.l4.finish(specs, this.problems);
    const adminHttp = this.admin.finish(specs);
    this.report.throwIfAny();
    return {
      format: 'native',
      file: this.file,
      services: specs,
      log: this.log,
      l4,
      adminHttp,
      adminTcp: this.admin.tcp,
      warnings: this.report.sortedWarnings(),
    };
  }

  private problem(line: number, field: string, message: string): void {
    this.report.problem(line, field, message);
  }

  private warn(line: number, field: string, message: string): void {
    this.report.warn(line, field, message);
  }

  /** Checks the argument count (after the keyword); false after reporting. */
  private arity(line: number, tokens: Token[], field: string, min: number, max: number, usage: string): boolean {
    const n = tokens.length - 1;
    if (n < min) {
      this.problem(line, field, `missing argument: usage: ${usage}`);
      return false;
    }
    if (n > max) {
      this.problem(line, field, `unexpected '${tokens[max + 1].text}': usage: ${usage}`);
      return false;
    }
    return true;
  }

  /** The enclosing service, or null after reporting that there is none. */
  private inService(line: number, field: string): ServiceDraft | null {
    if (this.service === null) this.problem(line, field, `'${field}' must be inside a service block (after a 'service NAME' line)`);
    return this.service;
  }

  /** Reports a setting given twice in one scope; true when it is new. */
  private firstSetting(line: number, settings: Map<string, number>, key: string, field: string): boolean {
    const first = settings.get(key);
    if (first !== undefined) {
      this.problem(line, field, `'${key}' is already set at line ${first}`);
      return false;
    }
    settings.set(key, line);
    return true;
  }

  private statement(line: number, tokens: Token[]): void {
    const keyword = tokens[0];
    if (keyword.quoted) {
      this.problem(line, 'syntax', `a line must start with a keyword, not the quoted string "${keyword.text}"`);
      return;
    }
    const handler = this.statements.get(keyword.text);
    if (handler !== undefined) return handler(line, tokens);
    if (this.l4.vipMember(line, tokens)) return;
    const knob = knobStatements().get(keyword.text)?.knob;
    if (knob !== undefined) return this.tuningStatement(line, tokens, knob);
    const keywords = this.keywords();
    const guess = nearest(keyword.text, keywords);
    this.problem(
      line,
      keyword.text,
      guess !== null
        ? `unknown keyword '${keyword.text}': did you mean '${guess}'?`
        : `unknown keyword '${keyword.text}' (expected one of: ${keywords.join(', ')})`,
    );
  }

  /** Every keyword a line may start with: the statement table's, the L4 part's and the tuning knobs. */
  keywords(): string[] {
    return [...new Set([...this.statements.keys(), ...L4_KEYWORDS, ...knobStatements().keys()])];
  }

  // The statements a line may start with, one entry each (the L4 part's
  // other keywords and the tuning knobs are looked up after).
  private readonly statements: ReadonlyMap<string, (line: number, tokens: Token[]) => void> = new Map<
    string,
    (line: number, tokens: Token[]) => void
  >([
    ['log', (line, tokens) => this.logStatement(line, tokens)],
    [
      'service',
      (line, tokens) => {
        this.l4.current = null;
        this.serviceStatement(line, tokens);
      },
    ],
    ['l4', (line, tokens) => this.l4.l4Statement(line, tokens)],
    [
      'vip',
      (line, tokens) => {
        // A vip block ends the service block before it.
        this.service = null;
        this.group = null;
        this.l4.vipStatement(line, tokens);
      },
    ],
    ['listen', (line, tokens) => this.listenStatement(line, tokens)],
    ['accept-proxy', (line, tokens) => this.acceptProxyStatement(line, tokens)],
    ['certificate', (line, tokens) => this.tlsStatement(line, tokens)],
    ['ciphers', (line, tokens) => this.tlsStatement(line, tokens)],
    ['strict-sni', (line, tokens) => this.tlsStatement(line, tokens)],
    ['normalize-path', (line, tokens) => this.normalizePathStatement(line, tokens)],
    ['mode', (line, tokens) => this.modeStatement(line, tokens)],
    ['timeout', (line, tokens) => this.timeoutStatement(line, tokens)],
    ['limit', (line, tokens) => this.limitStatement(line, tokens)],
    ['retries', (line, tokens) => this.retriesStatement(line, tokens)],
    ['group', (line, tokens) => this.groupStatement(line, tokens)],
    ['server', (line, tokens) => this.serverStatement(line, tokens)],
    ['route', (line, tokens) => this.routeStatement(line, tokens)],
    ['default', (line, tokens) => this.defaultStatement(line, tokens)],
    ['key', (line, tokens) => this.keyStatement(line, tokens)],
    ['admin', (line, tokens) => this.admin.statement(line, tokens)],
    ['persist', (line, tokens) => this.persistStatement(line, tokens)],
    [
      'check',
      (line, tokens) => {
        if (this.l4.current !== null) return this.l4.vipCheck(line, tokens);
        this.health(line, tokens);
      },
    ],
    ['eject', (line, tokens) => this.health(line, tokens)],
    ['slow-start', (line, tokens) => this.health(line, tokens)],
    ['agent', (line, tokens) => this.health(line, tokens)],
  ]);

  private health(line: number, tokens: Token[]): void {
    healthStatement(this.inGroup(line, tokens[0].text), line, tokens, (at, field, message) => this.problem(at, field, message));
  }

  private logStatement(line: number, tokens: Token[]): void {
    const what = tokens[1]?.text;
    if (what !== 'level' && what !== 'destination') {
      this.problem(line, 'log', 'usage: log level LEVEL | log destination stdout|stderr|PATH');
      return;
    }
    const field = `log.${what}`;
    if (!this.arity(line, tokens, field, 2, 2, `log ${what} VALUE`)) return;
    if (!this.firstSetting(line, this.logLines, `log ${what}`, field)) return;
    const value = tokens[2].text;
    if (what === 'level') {
      const level = LOG_LEVELS.find((l) => l === value);
      if (level === undefined) this.problem(line, field, `unknown log level '${value}' (${LOG_LEVELS.join(', ')})`);
      else this.log.level = level;
    } else if (value === '') {
      this.problem(line, field, 'empty destination');
    } else {
      this.log.destination = value;
    }
  }

  private serviceStatement(line: number, tokens: Token[]): void {
    // Open the block even when the line is bad, so its contents are checked
    // against it instead of producing a cascade of "outside a service" errors.
    const name = tokens[1]?.text ?? '';
    this.service = {
      name,
      line,
      listen: null,
      listenLine: 0,
      groups: [],
      rules: [],
      defaultGroup: null,
      defaultLine: 0,
      timeouts: { ...DEFAULT_TIMEOUTS },
      limits: { ...DEFAULT_LIMITS },
      acceptProxy: null,
      forwardNormalizedPath: false,
      tls: { listenTls: false, certificates: [], certificateLines: 0, ciphers: null, strictSni: false },
      passthrough: false,
      settings: new Map(),
    };
    this.group = null;
    this.services.push(this.service);
    if (!this.arity(line, tokens, 'service', 1, 1, 'service NAME')) return;
    const bad = checkName(name);
    if (bad !== null) return this.problem(line, 'service', bad);
    const first = this.services.find((s) => s.name === name);
    if (first !== undefined && first !== this.service) {
      this.problem(line, 'service', duplicateNameMessage('service', name, first.line));
    }
  }

  private listenStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'listen');
    // Recorded even when the line is bad, so the block is not also "without listen".
    if (service === null || !this.firstSetting(line, service.settings, 'listen', 'listen')) return;
    if (!this.arity(line, tokens, 'listen', 1, 2, 'listen HOST:PORT [tls]')) return;
    if (tokens.length === 3) {
      if (tokens[2].text !== 'tls') return this.problem(line, 'listen', `unexpected '${tokens[2].text}': usage: listen HOST:PORT [tls]`);
      service.tls.listenTls = true;
    }
    const parsed = parseEndpoint(tokens[1].text, true);
    if (!parsed.ok) return this.problem(line, 'listen', parsed.message);
    service.listen = parsed.value;
    service.listenLine = line;
  }

  /** `certificate FILE key FILE`, `ciphers STRING`, `strict-sni` (native-tls.ts). */
  private tlsStatement(line: number, tokens: Token[]): void {
    const keyword = tokens[0].text;
    const service = this.inService(line, keyword);
    if (service === null) return;
    if (keyword !== 'certificate' && !this.firstSetting(line, service.settings, keyword, keyword)) return;
    tlsStatement(service.tls, this.file, line, tokens, (l, f, m) => this.problem(l, f, m));
  }

  /** `mode tls-passthrough`: routed by the ClientHello's SNI, never decrypted (docs/tls.md). */
  private modeStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'mode');
    if (service === null || !this.arity(line, tokens, 'mode', 1, 1, 'mode tls-passthrough')) return;
    if (!this.firstSetting(line, service.settings, 'mode', 'mode')) return;
    if (tokens[1].text !== 'tls-passthrough')
      return this.problem(line, 'mode', `unknown mode '${tokens[1].text}': usage: mode tls-passthrough`);
    service.passthrough = true;
  }

  /**
   * A passthrough service never reads HTTP: a statement about HTTP there is
   * a mistake, and so is an `sni` matcher in a service without TLS.
   */
  private checkMode(s: ServiceDraft): void {
    if (!s.passthrough) {
      for (const r of s.rules) {
        if (!s.tls.listenTls && r.matchers.some((m) => m.kind === 'sni'))
          this.problem(r.line, 'route.sni', "'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'");
      }
      return;
    }
    const httpOnly = (line: number, what: string): void =>
      this.problem(line, what, `'${what}' is for HTTP; a 'mode tls-passthrough' service reads no HTTP`);
    for (const [key, line] of s.settings) {
      if (PASSTHROUGH_SETTINGS.has(key)) continue;
      httpOnly(line, key);
    }
    if (s.tls.listenTls)
      this.problem(s.listenLine, 'listen', "'listen ... tls' terminates TLS; a 'mode tls-passthrough' service passes it through");
    const certificate = s.tls.certificates[0]?.line;
    if (certificate !== undefined) httpOnly(certificate, 'certificate');
    for (const r of s.rules) {
      const other = r.matchers.find((m) => m.kind !== 'sni');
      if (other !== undefined)
        this.problem(r.line, `route.${other.kind}`, `a 'mode tls-passthrough' service routes by 'sni' only, not '${other.kind}'`);
    }
    for (const g of s.groups) {
      const kind = g.spec.affinity?.kind;
      if (kind !== undefined && kind !== 'source')
        this.problem(g.line, 'group.persist', `'persist ${kind}' reads HTTP; a 'mode tls-passthrough' service persists by 'source' only`);
    }
  }

  /** `accept-proxy from NET [NET ...]`: PROXY headers from these sources only. */
  private acceptProxyStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'accept-proxy');
    const usage = 'accept-proxy from ADDRESS[/BITS] [ADDRESS[/BITS] ...]';
    if (service === null || !this.firstSetting(line, service.settings, 'accept-proxy', 'accept-proxy')) return;
    if (tokens.length < 3 || tokens[1].text !== 'from') return this.problem(line, 'accept-proxy', `usage: ${usage}`);
    const networks: Network[] = [];
    for (const token of tokens.slice(2)) {
      for (const text of token.text.split(',')) {
        if (text === '') continue;
        const parsed = parseNetwork(text);
        if (typeof parsed === 'string') return this.problem(line, 'accept-proxy', parsed);
        networks.push(parsed);
      }
    }
    if (networks.length === 0) return this.problem(line, 'accept-proxy', `usage: ${usage}`);
    service.acceptProxy = networks;
  }

  /**
   * `normalize-path route|forward`: rules always see the normalised path;
   * `forward` sends it upstream too, `route` (the default) the client's.
   */
  private normalizePathStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'normalize-path');
    const usage = 'normalize-path route|forward';
    if (service === null || !this.arity(line, tokens, 'normalize-path', 1, 1, usage)) return;
    if (!this.firstSetting(line, service.settings, 'normalize-path', 'normalize-path')) return;
    const mode = tokens[1].text;
    if (mode !== 'route' && mode !== 'forward') return this.problem(line, 'normalize-path', `unknown mode '${mode}': usage: ${usage}`);
    service.forwardNormalizedPath = mode === 'forward';
  }

  private timeoutStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'timeout');
    const usage = `timeout ${Object.keys(TIMEOUT_FIELDS).join('|')} DURATION`;
    if (service === null || !this.arity(line, tokens, 'timeout', 2, 2, usage)) return;
    const which = tokens[1].text;
    const key = TIMEOUT_FIELDS[which];
    if (key === undefined || !Object.hasOwn(TIMEOUT_FIELDS, which)) {
      return this.problem(line, 'timeout', `unknown timeout '${which}': usage: ${usage}`);
    }
    const field = `timeout.${which}`;
    if (!this.firstSetting(line, service.settings, `timeout ${which}`, field)) return;
    const parsed = parseDuration(tokens[2].text);
    if (!parsed.ok) return this.problem(line, field, parsed.message);
    service.timeouts[key] = parsed.value;
  }

  private limitStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'limit');
    const usage = 'limit uri SIZE | limit headers SIZE | limit header-count COUNT | limit body-rate SIZE | limit pool-idle COUNT';
    if (service === null || !this.arity(line, tokens, 'limit', 2, 2, usage)) return;
    const which = tokens[1].text;
    const field = `limit.${which}`;
    if (which !== 'uri' && which !== 'headers' && which !== 'pool-idle' && which !== 'header-count' && which !== 'body-rate') {
      return this.problem(line, 'limit', `unknown limit '${which}': usage: ${usage}`);
    }
    if (!this.firstSetting(line, service.settings, `limit ${which}`, field)) return;
    const value = tokens[2].text;
    if (which === 'pool-idle' || which === 'header-count') {
      const [lo, hi] = which === 'pool-idle' ? [0, MAX_POOL_IDLE] : [1, MAX_HEADER_COUNT];
      const n = parseInteger(value, lo, hi);
      if (n === null) return this.problem(line, field, `bad count '${value}': must be an integer ${lo}..${hi}`);
      if (which === 'pool-idle') service.limits.poolMaxIdlePerServer = n;
      else service.limits.maxHeaderCount = n;
      return;
    }
    const parsed = parseSize(value);
    if (!parsed.ok) return this.problem(line, field, parsed.message);
    if (which === 'uri') service.limits.maxUriBytes = parsed.value;
    else if (which === 'body-rate') service.limits.bodyMinRate = parsed.value;
    else service.limits.maxHeaderBytes = parsed.value;
  }

  /** `retries N`: a failed connect goes to another server of the group, at most N times (HAProxy's retries with redispatch). */
  private retriesStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'retries');
    if (service === null || !this.arity(line, tokens, 'retries', 1, 1, 'retries COUNT')) return;
    if (!this.firstSetting(line, service.settings, 'retries', 'retries')) return;
    const n = parseInteger(tokens[1].text, 0, MAX_RETRIES);
    if (n === null) return this.problem(line, 'retries', `bad count '${tokens[1].text}': must be an integer 0..${MAX_RETRIES}`);
    service.limits.retries = n;
  }

  private groupStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'group');
    if (service === null) return;
    const name = tokens[1]?.text ?? '';
    const draft: GroupDraft = {
      spec: { name, scheduler: 'wlc', servers: [] },
      line,
      hashLine: 0,
      rejectedServers: 0,
      schedulerKnown: false,
      settings: new Map(),
    };
    // Servers that follow belong to this group even if the line is bad.
    this.group = draft;
    const usage = 'group NAME [scheduler NAME] [hash-submatch N]';
    if (!this.arity(line, tokens, 'group', 1, 5, usage)) return;
    const bad = checkName(name);
    if (bad !== null) this.problem(line, 'group', bad);
    const first = service.groups.find((g) => g.spec.name === name);
    if (first !== undefined) this.problem(line, 'group', duplicateNameMessage('group', name, first.line));
    else service.groups.push(draft);

    const options = new Map<string, number>();
    for (let i = 2; i < tokens.length; i += 2) {
      const option = tokens[i].text;
      if (option !== 'scheduler' && option !== 'hash-submatch') {
        this.problem(line, 'group', `unknown group option '${option}': usage: ${usage}`);
        return;
      }
      const field = `group.${option}`;
      if (!this.firstSetting(line, options, option, field)) continue;
      const value = tokens[i + 1]?.text;
      if (value === undefined) {
        this.problem(line, field, `missing value after '${option}'`);
        continue;
      }
      if (option === 'scheduler') {
        if (!knownSchedulers().includes(value)) this.problem(line, field, unknownSchedulerMessage(value));
        else {
          draft.spec.scheduler = value;
          draft.schedulerKnown = true;
        }
      } else {
        const n = parseInteger(value, 0, 99);
        if (n === null) this.problem(line, field, `bad submatch number '${value}': must be an integer 0..99`);
        else {
          draft.spec.hashSubmatch = n;
          draft.hashLine = line;
        }
      }
    }
    if (!options.has('scheduler')) draft.schedulerKnown = true; // the default, wlc
  }

  /** The group a group statement belongs to (null after reporting); each statement once per group. */
  private inGroup(line: number, keyword: string): GroupDraft | null {
    const field = `group.${keyword}`;
    const group = this.group;
    if (group === null) {
      this.problem(line, field, `'${keyword}' must follow a 'group NAME' line`);
      return null;
    }
    return this.firstSetting(line, group.settings, keyword, field) ? group : null;
  }

  private keyStatement(line: number, tokens: Token[]): void {
    const field = 'group.key';
    const group = this.inGroup(line, 'key');
    if (group === null) return;
    // A key its scheduler ignores is the validator's to report, whatever it
    // says: it is kept unread, so a typo in it is not reported instead.
    if (group.schedulerKnown && schedulerDescriptor(group.spec.scheduler)?.usesKey === false) {
      group.spec.key = { kind: 'path' };
      return;
    }
    const kind = tokens[1];
    if (kind === undefined) return this.problem(line, field, `missing argument: usage: ${KEY_USAGE}`);
    let key: HashKey;
    switch (kind.quoted ? '' : kind.text) {
      case 'path':
      case 'path-query':
      case 'host':
      case 'client': {
        if (!this.arity(line, tokens, field, 1, 1, `key ${kind.text}`)) return;
        key = { kind: kind.text as 'path' | 'path-query' | 'host' | 'client' };
        break;
      }
      case 'header':
      case 'cookie': {
        if (!this.arity(line, tokens, field, 2, 2, `key ${kind.text} NAME`)) return;
        const name = tokens[2].text;
        if (!TOKEN_RE.test(name)) return this.problem(line, field, `bad ${kind.text} name '${name}'`);
        key = kind.text === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name };
        break;
      }
      case 'submatch': {
        if (!this.arity(line, tokens, field, 2, 2, 'key submatch N')) return;
        const n = parseInteger(tokens[2].text, 0, 99);
        if (n === null) return this.problem(line, field, `bad submatch number '${tokens[2].text}': must be an integer 0..99`);
        key = { kind: 'submatch', index: n };
        break;
      }
      default:
        return this.problem(line, field, `unknown key '${kind.text}': usage: ${KEY_USAGE}`);
    }
    // `hash-submatch N` on the group line is the hhttp spelling of `key submatch N`.
    if (group.hashLine > 0 && !(key.kind === 'submatch' && key.index === group.spec.hashSubmatch)) {
      return this.problem(
        line,
        field,
        `conflicts with 'hash-submatch ${group.spec.hashSubmatch}' on the group line (line ${group.hashLine}), which makes the key submatch ${group.spec.hashSubmatch}`,
      );
    }
    group.spec.key = key;
    if (key.kind === 'submatch') group.spec.hashSubmatch = key.index;
  }

  /**
   * `persist source [timeout D] [netmask BITS|A.B.C.D] [netmask6 BITS] [max-entries N]`
   * `persist cookie NAME insert|rewrite|prefix [path P] [domain D] [max-age D] [httponly] [secure] [same-site S] [secret K]`
   * `persist header NAME [timeout D] [max-entries N]`
   */
  private persistStatement(line: number, tokens: Token[]): void {
    const field = 'group.persist';
    const group = this.inGroup(line, 'persist');
    if (group === null) return;
    const kind = tokens[1]?.text;
    const usage =
      'persist source [timeout D] [netmask BITS] [netmask6 BITS] [max-entries N] | ' +
      'persist cookie NAME insert|rewrite|prefix [path P] [domain D] [max-age D] [httponly] [secure] [same-site S] [secret K] | ' +
      'persist header NAME [timeout D] [max-entries N]';
    let input: AffinityInput;
    let rest: Token[];
    if (kind === 'source') {
      input = { kind: 'source' };
      rest = tokens.slice(2);
    } else if (kind === 'header' || kind === 'cookie') {
      const name = tokens[2];
      if (name === undefined) return this.problem(line, field, `missing ${kind} name: usage: ${usage}`);
      if (kind === 'header') {
        input = { kind: 'header', name: name.text };
        rest = tokens.slice(3);
      } else {
        const mode = tokens[3]?.text;
        if (mode !== 'insert' && mode !== 'rewrite' && mode !== 'prefix')
          return this.problem(line, 'persist.mode', `cookie mode must be insert, rewrite or prefix, not '${mode ?? ''}'`);
        input = { kind: 'cookie', name: name.text, mode };
        rest = tokens.slice(4);
      }
    } else return this.problem(line, field, `usage: ${usage}`);

    const options = input as Record<string, unknown>;
    const FLAGS: Record<string, string> = { httponly: 'httpOnly', secure: 'secure' };
    const allowed: Record<string, string[]> = {
      source: ['timeout', 'netmask', 'netmask6', 'max-entries'],
      header: ['timeout', 'max-entries'],
      cookie: ['path', 'domain', 'max-age', 'httponly', 'secure', 'same-site', 'secret'],
    };
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i].text;
      const optField = `persist.${word}`;
      if (!allowed[input.kind].includes(word))
        return this.problem(
          line,
          optField,
          `'${word}' is not an option of persist ${input.kind} (options: ${allowed[input.kind].join(', ')})`,
        );
      if (word in FLAGS) {
        options[FLAGS[word]] = true;
        continue;
      }
      const value = rest[++i]?.text;
      if (value === undefined) return this.problem(line, optField, `'${word}' needs a value`);
      switch (word) {
        case 'timeout':
        case 'max-age': {
          const d = parseDuration(value);
          if (!d.ok) return this.problem(line, optField, d.message);
          if (word === 'timeout') options.timeoutMs = d.value;
          else options.maxAgeSec = Math.ceil(d.value / 1000);
          break;
        }
        case 'netmask': {
          // ipvsadm -M writes a dotted mask; a prefix length is accepted too.
          const bits = /^\d+\.\d+\.\d+\.\d+$/.test(value) ? dottedMaskBits(value) : parseInteger(value, 0, 32);
          if (bits === null)
            return this.problem(line, optField, `bad netmask '${value}': a prefix length 0..32 or a dotted mask like 255.255.255.0`);
          options.netmaskV4 = bits;
          break;
        }
        case 'netmask6': {
          const bits = parseInteger(value, 0, 128);
          if (bits === null) return this.problem(line, optField, `bad netmask6 '${value}': a prefix length 0..128`);
          options.netmaskV6 = bits;
          break;
        }
        case 'max-entries': {
          const n = parseInteger(value, 1, MAX_TABLE_ENTRIES);
          if (n === null) return this.problem(line, optField, `bad max-entries '${value}': an integer 1..${MAX_TABLE_ENTRIES}`);
          options.maxEntries = n;
          break;
        }
        case 'same-site':
          options.sameSite = value;
          break;
        default:
          options[word] = value; // path, domain, secret
      }
    }
    const spec = withAffinityDefaults(input);
    const problems = affinityProblems(spec);
    for (const p of problems) this.problem(line, p.field.replace(/^affinity\./, 'persist.'), p.message);
    if (problems.length === 0) group.spec.affinity = spec;
  }

  /** A scheduler knob (the registry's); whether the group's scheduler takes it is the validator's rule. */
  private tuningStatement(line: number, tokens: Token[], knob: SchedulerKnob): void {
    const keyword = tokens[0].text;
    const field = `group.${keyword}`;
    const group = this.inGroup(line, keyword);
    if (group === null) return;
    // A knob its scheduler ignores is the validator's to report, whatever
    // its value: it is kept unread, so a bad value is not reported instead.
    if (group.schedulerKnown && !knobStatements().get(keyword)?.schedulers.includes(group.spec.scheduler)) {
      Object.assign((group.spec.tuning ??= {}), { [knob.field]: tokens[1]?.text ?? '' });
      return;
    }
    if (!this.arity(line, tokens, field, 1, 1, knob.usage)) return;
    const parsed = knob.parse(tokens[1].text);
    if (!parsed.ok) return this.problem(line, field, parsed.message);
    // Each knob's parse() yields its own field's type; TypeScript cannot
    // pair a field and a value of a union, hence the merge.
    Object.assign((group.spec.tuning ??= {}), { [knob.field]: parsed.value });
  }

  private serverStatement(line: number, tokens: Token[]): void {
    const group = this.group;
    if (group === null) {
      this.problem(line, 'server', "'server' must follow a 'group NAME' line");
      return;
    }
    const before = this.problems.length;
    this.serverInto(group, line, tokens);
    if (this.problems.length > before) group.rejectedServers++;
  }

  private serverInto(group: GroupDraft, line: number, tokens: Token[]): void {
    const usage = 'server HOST:PORT [weight N] [send-proxy|send-proxy-v2] [tls [verify CA-FILE | no-verify] [sni NAME]]';
    if (!this.arity(line, tokens, 'server', 1, Infinity, usage)) return; // the options are checked one by one below
    const parsed = parseEndpoint(tokens[1].text);
    if (!parsed.ok) this.problem(line, 'server', parsed.message);
    let weight: number | undefined;
    let sendProxy: 1 | 2 | undefined;
    let tls: ServerTlsSpec | undefined;
    let verifyGiven = false;
    for (let i = 2; i < tokens.length; i++) {
      const option = tokens[i].text;
      if (option === 'tls') {
        if (tls !== undefined) {
          this.problem(line, 'server.tls', `'tls' given twice: usage: ${usage}`);
          return;
        }
        tls = { verify: 'system', line };
        continue;
      }
      if (option === 'verify' || option === 'no-verify' || option === 'sni') {
        if (tls === undefined) {
          this.problem(line, 'server.tls', `'${option}' needs 'tls' before it: usage: ${usage}`);
          return;
        }
        if (option === 'sni') {
          if (tls.sni !== undefined || i + 1 >= tokens.length) {
            this.problem(line, 'server.tls', `'sni' takes one NAME, once: usage: ${usage}`);
            return;
          }
          tls.sni = tokens[++i].text;
          continue;
        }
        if (verifyGiven) {
          this.problem(line, 'server.tls', `'${option}' after another 'verify' or 'no-verify': one of them, once`);
          return;
        }
        verifyGiven = true;
        if (option === 'no-verify') tls.verify = 'no-verify';
        else {
          if (i + 1 >= tokens.length) {
            this.problem(line, 'server.tls', `'verify' takes a CA-FILE: usage: ${usage}`);
            return;
          }
          tls.verify = 'ca';
          tls.caFile = resolve(dirname(this.file), tokens[++i].text);
        }
        continue;
      }
      if (option === 'send-proxy' || option === 'send-proxy-v2') {
        if (sendProxy !== undefined) {
          this.problem(
            line,
            'server.send-proxy',
            `'${option}' after '${sendProxy === 1 ? 'send-proxy' : 'send-proxy-v2'}': send-proxy or send-proxy-v2, once`,
          );
          return;
        }
        sendProxy = option === 'send-proxy' ? 1 : 2;
        continue;
      }
      if (option !== 'weight') {
        this.problem(line, 'server', `unexpected '${option}': usage: ${usage}`);
        return;
      }
      if (weight !== undefined) {
        this.problem(line, 'server.weight', `'weight' given twice: usage: ${usage}`);
        return;
      }
      const parsed = parseWeight(tokens[++i]?.text ?? '');
      if (!parsed.ok) {
        this.problem(line, 'server.weight', parsed.message);
        return;
      }
      weight = parsed.value;
    }
    if (tls !== undefined && sendProxy !== undefined) {
      // The PROXY header goes before the handshake, in clear; the pool writes it into the TLS stream.
      this.problem(line, 'server.tls', "'tls' with 'send-proxy' is not supported: one or the other");
      return;
    }
    if (!parsed.ok) return;
    const { host, port } = parsed.value;
    if (group.spec.servers.some((s) => s.host === host && s.port === port)) {
      this.problem(line, 'server', serverTwiceMessage(formatEndpoint(parsed.value), group.spec.name));
      return;
    }
    const server: ServerSpec = { host, port, weight: weight ?? 1 };
    if (sendProxy !== undefined) server.sendProxy = sendProxy;
    if (tls !== undefined) server.tls = tls;
    group.spec.servers.push(server);
  }

  private routeStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'route');
    if (service === null) return;
    const usage = 'route NAME MATCHER... to GROUP';
    const name = tokens[1]?.text;
    if (name === undefined) return this.problem(line, 'route', `missing route name: usage: ${usage}`);
    const bad = checkName(name);
    if (bad !== null) this.problem(line, 'route', bad);
    const first = service.rules.find((r) => r.name === name);
    if (first !== undefined) this.problem(line, 'route', duplicateNameMessage('route', name, first.line));

    const n = tokens.length;
    const last = tokens[n - 1];
    if (!last.quoted && last.text === 'to' && n > 2) {
      return this.problem(line, 'route.to', "missing group name after 'to'");
    }
    const toAt = n - 2;
    if (toAt < 2 || tokens[toAt].quoted || tokens[toAt].text !== 'to') {
      return this.problem(line, 'route.to', `missing 'to GROUP' at the end: usage: ${usage}`);
    }
    const matchers: Matcher[] = [];
    let ok = true;
    for (let i = 2; i < toAt; ) {
      const result = parseMatcher(tokens, i, toAt);
      if (result.problem !== null) {
        this.problem(line, result.problem.field, result.problem.message);
        ok = false;
      } else matchers.push(result.matcher);
      if (result.next < 0) break;
      i = result.next;
    }
    if (ok && matchers.length === 0) {
      this.problem(line, 'route', noMatchersMessage(name));
    }
    const rule: RuleSpec = { name, matchers, group: tokens[n - 1].text, file: this.file, line };
    if (first === undefined) service.rules.push(rule);
  }

  private defaultStatement(line: number, tokens: Token[]): void {
    const service = this.inService(line, 'default');
    if (service === null || !this.arity(line, tokens, 'default', 1, 1, 'default GROUP')) return;
    if (!this.firstSetting(line, service.settings, 'default', 'default')) return;
    service.defaultGroup = tokens[1].text;
    service.defaultLine = line;
  }

  /** End-of-block checks (references may point forward) and the final spec. */
  private finishService(s: ServiceDraft): ServiceSpec {
    if (s.listen === null && !s.settings.has('listen')) {
      this.problem(s.line, 'listen', `service '${s.name}' has no 'listen HOST:PORT' line`);
    }
    if (s.groups.length === 0) this.problem(s.line, 'group', `service '${s.name}' has no groups`);
    const groups = new Map<string, GroupDraft>();
    const keyUsable = new Set<GroupDraft>();
    const problem = (line: number, field: string, message: string): void => this.problem(line, field, message);
    for (const g of s.groups) {
      groups.set(g.spec.name, g);
      if (g.spec.servers.length === 0 && g.rejectedServers === 0) this.problem(g.line, 'group', `group '${g.spec.name}' has no servers`);
      // hhttp keys on submatch 0 (the whole match) unless told otherwise, as in KTCPVS.
      if (g.spec.scheduler === 'hhttp' && g.spec.key === undefined) g.spec.hashSubmatch ??= 0;
      // A bad group line was reported; its group is not checked against a scheduler the user did not choose.
      if (!g.schedulerKnown) continue;
      const lineOf = (statement?: string): number | undefined =>
        statement === undefined ? g.line : statement === 'hash-submatch' ? g.hashLine || undefined : g.settings.get(statement);
      if (checkGroupScheduling(g.spec, lineOf, problem)) keyUsable.add(g);
    }
    const used = new Set<string>();
    for (const rule of s.rules) {
      const target = groups.get(rule.group);
      if (target === undefined) {
        this.problem(rule.line, 'route.to', unknownGroupMessage(rule.group, s.name));
        continue;
      }
      used.add(rule.group);
      if (keyUsable.has(target)) checkSubmatchSource(rule, rule.line, target.spec, problem, (l, f, m) => this.warn(l, f, m));
    }
    if (s.defaultGroup !== null) {
      const target = groups.get(s.defaultGroup);
      if (target === undefined) this.problem(s.defaultLine, 'default', unknownGroupMessage(s.defaultGroup, s.name));
      else if (target.spec.hashSubmatch !== undefined) {
        this.warn(
          s.defaultLine,
          'default',
          `group '${s.defaultGroup}' keys on submatch ${target.spec.hashSubmatch} of a route's regex; requests that reach it as the default carry no key`,
        );
      }
      used.add(s.defaultGroup);
    }
    for (const g of s.groups) {
      if (!used.has(g.spec.name)) this.warn(g.line, 'group', `group '${g.spec.name}' is not used by any route or default`);
    }
    this.checkMode(s);
    const tls = s.passthrough ? null : finishTls(s.tls, s.line, s.listenLine, problem);
    return {
      name: s.name,
      listen: s.listen ?? { host: '', port: 0 },
      groups: s.groups.map((g) => g.spec),
      rules: s.rules,
      defaultGroup: s.defaultGroup,
      timeouts: s.timeouts,
      limits: s.limits,
      ...(s.acceptProxy === null ? {} : { acceptProxy: s.acceptProxy }),
      ...(s.forwardNormalizedPath ? { forwardNormalizedPath: true } : {}),
      ...(tls === null ? {} : { tls }),
      ...(s.passthrough ? { mode: 'tls-passthrough' as const } : {}),
      file: this.file,
      line: s.line,
    };
  }
}

// The service settings a passthrough service uses (`settings` keys); any other is HTTP's.
const PASSTHROUGH_SETTINGS: ReadonlySet<string> = new Set([
  'listen',
  'mode',
  'default',
  'accept-proxy',
  'retries',
  'timeout client-header',
  'timeout connect',
  'timeout client-idle',
]);

/** Prefix length of a dotted IPv4 netmask, or null when the mask is not contiguous. */
function dottedMaskBits(mask: string): number | null {
  const parts = mask.split('.').map(Number);
  if (parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  const value = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  const bits = Math.clz32(~value >>> 0); // leading one bits
  // Contiguous: the mask equals the one its prefix length makes.
  const rebuilt = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return rebuilt === value ? bits : null;
}

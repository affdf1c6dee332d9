// Parser for KTCPVS configs, the file tcpvsadm(8) read:
//
//   virtual web {
//       listen = 127.0.0.1:8080
//       scheduler = http
//       server = 127.0.0.1:9001 1
//       rule = pattern "^/cgi-bin/" use server 127.0.0.1:9001
//   }
//
// Each `virtual` block becomes one service. Under the content schedulers
// (http, hhttp) every distinct rule pattern becomes a route plus a group made
// of the servers its rules name, in order of first appearance; http spreads a
// pattern's servers by weighted least-connection, hhttp hashes a submatch.
// Under any other scheduler tcpvs knows (rr, wlc, lblc, mh, ...) rules are
// ignored and one group holds every server, keyed by the default key (the path)
// with the scheduler's default tuning; the native format sets key and tuning.
// Keys for KTCPVS's kernel threads are accepted with a warning.

import {
  DEFAULT_LIMITS,
  DEFAULT_LOG,
  DEFAULT_TIMEOUTS,
  type Config,
  type ConfigWarning,
  type Endpoint,
  type GroupSpec,
  type RuleSpec,
  type ServerSpec,
  type ServiceSpec,
  type Timeouts,
} from './model.ts';
import { ConfigError, type ConfigProblem } from './errors.ts';
import {
  captureCount,
  checkListenConflicts,
  checkName,
  compileRegex,
  formatEndpoint,
  parseEndpoint,
  parseInteger,
  parsePort,
  quoteToken,
  sortProblems,
  tokenizeLine,
  type ListenSite,
  type Token,
} from './tokenize.ts';
import { knownSchedulers } from '../sched/index.ts';
import { MAX_WEIGHT } from './native.ts';

/** Keys KTCPVS used to size its kernel thread pool; meaningless here. */
const THREAD_KEYS = new Set(['startservers', 'maxclients', 'minspareservers', 'maxspareservers']);

// Exported with the two mapping helpers below for tcpvsadm, which builds the same services command by command.
export const CONTENT_SCHEDULERS: ReadonlySet<string> = new Set(['http', 'hhttp']);
export const DEFAULT_SCHEDULER = 'wlc';
/** The group a virtual's servers form; under any scheduler but http and hhttp it takes every request. */
export const SERVERS_GROUP = 'servers';

/** The group and route one rule pattern becomes under a content scheduler; `name` is ruleN. */
export function patternRoute(name: string, re: RegExp, scheduler: string, file: string, line: number): { group: GroupSpec; rule: RuleSpec } {
  const group: GroupSpec = scheduler === 'hhttp' ? { name, scheduler: 'hhttp', servers: [], hashSubmatch: 0 } : { name, scheduler: 'wlc', servers: [] };
  return { group, rule: { name, matchers: [{ kind: 'url-regex', re }], group: name, file, line } };
}

// `timeout = N` is in seconds; keep it within what a timer can hold.
const MAX_TIMEOUT_SECONDS = 2_000_000;

interface RuleDraft {
  pattern: string;
  re: RegExp | null; // null when the pattern did not compile (already reported)
  submatch: number | null; // `match N`, null when absent
  server: Endpoint;
  line: number;
}

interface VirtualDraft {
  name: string;
  line: number;
  listen: Endpoint | null;
  listenLine: number;
  scheduler: string | null;
  servers: { spec: ServerSpec; line: number }[];
  rules: RuleDraft[];
  timeouts: Timeouts;
  settings: Map<string, number>; // key -> line first set, for duplicates
}

export function parseKtcpvsConfig(text: string, file: string): Config {
  return new KtcpvsParser(file).parse(text);
}

class KtcpvsParser {
  private readonly file: string;
  private readonly problems: ConfigProblem[] = [];
  private readonly warnings: ConfigWarning[] = [];
  private readonly virtuals: VirtualDraft[] = [];
  private readonly services: ServiceSpec[] = [];
  private open: VirtualDraft | null = null;

  constructor(file: string) {
    this.file = file;
  }

  parse(text: string): Config {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = i + 1;
      const { tokens, error } = tokenizeLine(lines[i], '{}=');
      if (error !== null) {
        this.problem(line, tokens.length > 0 ? tokens[0].text : 'syntax', error);
        continue;
      }
      if (tokens.length === 0) continue;
      this.statement(line, tokens);
    }
    if (this.open !== null) {
      this.problem(this.open.line, 'virtual', `virtual '${this.open.name}' is never closed with '}'`);
      this.close();
    }
    if (this.virtuals.length === 0 && this.problems.length === 0) {
      this.problem(0, 'virtual', "no virtual service defined (expected 'virtual NAME {')");
    }
    checkListenConflicts(
      this.virtuals.filter((v) => v.listen !== null).map((v): ListenSite => ({
        service: v.name,
        listen: v.listen as Endpoint,
        file: this.file,
        line: v.listenLine,
      })),
      this.problems,
    );
    if (this.problems.length > 0) throw new ConfigError(sortProblems(this.problems));
    return {
      format: 'ktcpvs',
      l4: null,
      file: this.file,
      services: this.services,
      log: { ...DEFAULT_LOG },
      warnings: sortProblems(this.warnings),
    };
  }

  private problem(line: number, field: string, message: string): void {
    this.problems.push({ file: this.file, line, field, message });
  }

  private warn(line: number, field: string, message: string): void {
    this.warnings.push({ file: this.file, line, field, message });
  }

  private statement(line: number, tokens: Token[]): void {
    const first = tokens[0];
    const word = first.quoted ? '' : first.text;
    if (word === 'virtual') {
      if (this.open !== null) {
        this.problem(line, 'virtual', `virtual '${this.open.name}' (line ${this.open.line}) is not closed with '}' before this line`);
        this.close();
      }
      return this.openVirtual(line, tokens);
    }
    if (word === '}') {
      if (this.open === null) return this.problem(line, 'syntax', "'}' without an open virtual block");
      if (tokens.length > 1) this.problem(line, 'syntax', `unexpected '${tokens[1].text}' after '}'`);
      return this.close();
    }
    if (this.open === null) {
      return this.problem(line, word || 'syntax', `unexpected '${first.text}' outside a virtual block (expected 'virtual NAME {')`);
    }
    if (word === '' || word === '{' || word === '=' || tokens[1]?.text !== '=' || tokens[1].quoted) {
      return this.problem(line, word || 'syntax', `expected 'KEY = VALUE'`);
    }
    this.setting(this.open, line, word, tokens.slice(2));
  }

  private openVirtual(line: number, tokens: Token[]): void {
    const name = tokens[1]?.text ?? '';
    this.open = {
      name,
      line,
      listen: null,
      listenLine: 0,
      scheduler: null,
      servers: [],
      rules: [],
      timeouts: { ...DEFAULT_TIMEOUTS },
      settings: new Map(),
    };
    if (tokens.length !== 3 || tokens[2].text !== '{' || tokens[2].quoted) {
      return this.problem(line, 'virtual', "expected 'virtual NAME {' on one line");
    }
    const bad = checkName(name);
    if (bad !== null) return this.problem(line, 'virtual', bad);
    const earlier = this.virtuals.find((v) => v.name === name);
    if (earlier !== undefined) this.problem(line, 'virtual', `duplicate virtual name '${name}' (first at line ${earlier.line})`);
  }

  /** False (after reporting) when `key` was already set in this block. */
  private firstSetting(v: VirtualDraft, line: number, key: string, field = key): boolean {
    const first = v.settings.get(key);
    if (first !== undefined) {
      this.problem(line, field, `already set at line ${first}`);
      return false;
    }
    v.settings.set(key, line);
    return true;
  }

  private setting(v: VirtualDraft, line: number, key: string, values: Token[]): void {
    const one = (usage: string): string | null => {
      if (values.length !== 1) {
        this.problem(line, key, `${values.length === 0 ? 'missing value' : `unexpected '${values[1].text}'`}: usage: ${usage}`);
        return null;
      }
      return values[0].text;
    };
    switch (key) {
      case 'listen': {
        const value = one('listen = HOST:PORT');
        if (value === null || !this.firstSetting(v, line, 'listen')) return;
        const parsed = parseEndpoint(value, true);
        if (!parsed.ok) return this.problem(line, 'listen', parsed.message);
        v.listen = parsed.value;
        v.listenLine = line;
        return;
      }
      case 'port': {
        // `port = N` was KTCPVS's way to listen on every address.
        const value = one('port = PORT');
        if (value === null || !this.firstSetting(v, line, 'listen', 'port')) return;
        const port = parsePort(value);
        if (port === null) return this.problem(line, 'port', `bad port '${value}': must be 1..65535`);
        v.listen = { host: '0.0.0.0', port };
        v.listenLine = line;
        return;
      }
      case 'scheduler': {
        const value = one(`scheduler = ${[...new Set(['http', 'hhttp', ...knownSchedulers()])].join('|')}`);
        if (value === null || !this.firstSetting(v, line, 'scheduler')) return;
        if (!CONTENT_SCHEDULERS.has(value) && !knownSchedulers().includes(value)) {
          const names = [...new Set(['http', 'hhttp', ...knownSchedulers()])].join(', ');
          return this.problem(line, 'scheduler', `unknown scheduler '${value}' (known: ${names})`);
        }
        v.scheduler = value;
        return;
      }
      case 'server':
        return this.serverSetting(v, line, values);
      case 'rule':
        return this.ruleSetting(v, line, values);
      case 'timeout': {
        const value = one('timeout = SECONDS');
        if (value === null || !this.firstSetting(v, line, 'timeout')) return;
        const seconds = parseInteger(value, 1, MAX_TIMEOUT_SECONDS);
        if (seconds === null) return this.problem(line, 'timeout', `bad timeout '${value}': whole seconds, 1..${MAX_TIMEOUT_SECONDS}`);
        v.timeouts.clientIdleMs = seconds * 1000;
        return;
      }
      default:
        if (THREAD_KEYS.has(key)) this.warn(line, key, 'ignored: tcpvs has no kernel threads to size (Node handles connections in one event loop)');
        else if (key === 'documentroot') this.warn(line, key, 'ignored: tcpvs serves no local files; every request goes to a real server');
        else this.warn(line, key, `ignored: unknown KTCPVS key '${key}'`);
    }
  }

  private serverSetting(v: VirtualDraft, line: number, values: Token[]): void {
    if (values.length < 1 || values.length > 2) {
      return this.problem(line, 'server', `${values.length === 0 ? 'missing address' : `unexpected '${values[2].text}'`}: usage: server = HOST:PORT [WEIGHT]`);
    }
    const parsed = parseEndpoint(values[0].text);
    if (!parsed.ok) this.problem(line, 'server', parsed.message);
    let weight = 1;
    if (values.length === 2) {
      const n = parseInteger(values[1].text, 0, MAX_WEIGHT);
      if (n === null) {
        return this.problem(line, 'server.weight', `bad weight '${values[1].text}': must be an integer 0..${MAX_WEIGHT} (0 = quiescent)`);
      }
      weight = n;
    }
    if (!parsed.ok) return;
    const { host, port } = parsed.value;
    const earlier = v.servers.find((s) => s.spec.host === host && s.spec.port === port);
    if (earlier !== undefined) {
      return this.problem(line, 'server', `${formatEndpoint(parsed.value)} is already a server at line ${earlier.line}`);
    }
    v.servers.push({ spec: { host, port, weight }, line });
  }

  /** `rule = pattern REGEX [match N] use server HOST:PORT` */
  private ruleSetting(v: VirtualDraft, line: number, values: Token[]): void {
    const usage = 'usage: rule = pattern REGEX [match N] use server HOST:PORT';
    const word = (i: number, text: string): boolean => values[i] !== undefined && !values[i].quoted && values[i].text === text;
    if (!word(0, 'pattern') || values[1] === undefined) return this.problem(line, 'rule', `expected 'pattern REGEX': ${usage}`);
    let i = 2;
    let submatch: number | null = null;
    let ok = true;
    if (word(i, 'match')) {
      const n = values[i + 1] === undefined ? null : parseInteger(values[i + 1].text, 0, 99);
      if (n === null) {
        this.problem(line, 'rule.match', `bad submatch number '${values[i + 1]?.text ?? ''}': must be an integer 0..99`);
        ok = false;
      }
      submatch = n;
      i += 2;
    }
    if (!word(i, 'use') || !word(i + 1, 'server') || values[i + 2] === undefined) {
      return this.problem(line, 'rule', `expected 'use server HOST:PORT' after the pattern: ${usage}`);
    }
    if (values.length > i + 3) return this.problem(line, 'rule', `unexpected '${values[i + 3].text}': ${usage}`);
    const server = parseEndpoint(values[i + 2].text);
    if (!server.ok) {
      this.problem(line, 'rule.server', server.message);
      ok = false;
    }
    const pattern = values[1].text;
    const re = compileRegex(pattern);
    if (!re.ok) {
      this.problem(line, 'rule.pattern', re.message);
      ok = false;
    } else if (submatch !== null && submatch > captureCount(re.value)) {
      this.problem(line, 'rule.match', `submatch ${submatch} does not exist: the pattern has ${captureCount(re.value)} capture group(s)`);
      ok = false;
    }
    if (!ok || !server.ok) return;
    v.rules.push({ pattern, re: re.ok ? re.value : null, submatch, server: server.value, line });
  }

  private close(): void {
    const v = this.open as VirtualDraft;
    this.open = null;
    this.virtuals.push(v);
    if (v.listen === null && !v.settings.has('listen')) {
      this.problem(v.line, 'listen', `virtual '${v.name}' has no 'listen = HOST:PORT' (or 'port = N')`);
    }
    if (v.servers.length === 0) this.problem(v.line, 'server', `virtual '${v.name}' has no 'server = HOST:PORT' lines`);
    const scheduler = v.scheduler ?? DEFAULT_SCHEDULER;
    const built = CONTENT_SCHEDULERS.has(scheduler) ? this.contentRouted(v, scheduler) : this.balancedOnly(v, scheduler);
    this.services.push({
      name: v.name,
      listen: v.listen ?? { host: '', port: 0 },
      groups: built.groups,
      rules: built.rules,
      defaultGroup: built.defaultGroup,
      timeouts: v.timeouts,
      limits: { ...DEFAULT_LIMITS },
      file: this.file,
      line: v.line,
    });
  }

  /** Not a content scheduler: KTCPVS balanced over all servers and never read the rules. */
  private balancedOnly(v: VirtualDraft, scheduler: string): Built {
    if (v.rules.length > 0) {
      const why = v.scheduler === null ? `no 'scheduler =' line, so the default ${scheduler} applies` : `scheduler ${scheduler}`;
      this.warn(
        v.rules[0].line,
        'rule',
        `ignored: ${why}, which balances over every server; ${v.rules.length} rule(s) only apply with scheduler http or hhttp`,
      );
    }
    return {
      groups: [{ name: SERVERS_GROUP, scheduler, servers: v.servers.map((s) => s.spec) }],
      rules: [],
      defaultGroup: SERVERS_GROUP,
    };
  }

  private contentRouted(v: VirtualDraft, scheduler: string): Built {
    const hashing = scheduler === 'hhttp';
    const byAddress = new Map<string, ServerSpec>();
    for (const s of v.servers) byAddress.set(formatEndpoint(s.spec), s.spec);
    // A pattern's submatch is the one its rules' `match` give (they must agree),
    // 0 (the whole match) when none gives one.
    const sets = new Map<string, { group: GroupSpec; rule: RuleSpec; matchLine: number }>();
    const usedServers = new Set<string>();
    for (const r of v.rules) {
      const address = formatEndpoint(r.server);
      const server = byAddress.get(address);
      if (server === undefined) {
        this.problem(r.line, 'rule.server', `${address} has no 'server =' line in virtual '${v.name}'`);
        continue;
      }
      usedServers.add(address);
      if (!hashing && r.submatch !== null) {
        this.warn(r.line, 'rule.match', `ignored: 'match' only matters with scheduler hhttp (this virtual uses ${scheduler})`);
      }
      let set = sets.get(r.pattern);
      if (set === undefined) {
        set = { ...patternRoute(`rule${sets.size + 1}`, r.re as RegExp, scheduler, this.file, r.line), matchLine: 0 };
        sets.set(r.pattern, set);
      }
      if (hashing && r.submatch !== null) {
        if (set.matchLine === 0) {
          set.group.hashSubmatch = r.submatch;
          set.matchLine = r.line;
        } else if (r.submatch !== set.group.hashSubmatch) {
          this.problem(
            r.line,
            'rule.match',
            `pattern ${quoteToken(r.pattern, true)} already hashes submatch ${set.group.hashSubmatch} (match at line ${set.matchLine})`,
          );
          continue;
        }
      }
      if (set.group.servers.some((s) => s.host === server.host && s.port === server.port)) {
        this.warn(r.line, 'rule', `${address} is already in the server set of this pattern (line ${set.rule.line})`);
        continue;
      }
      // A copy per group: groups never share mutable server records.
      set.group.servers.push({ ...server });
    }
    if (v.rules.length === 0) {
      this.warn(v.line, 'rule', `scheduler ${scheduler} routes by rules and this virtual has none: every request gets 404`);
    }
    for (const s of v.servers) {
      if (!usedServers.has(formatEndpoint(s.spec)) && v.rules.length > 0) {
        this.warn(s.line, 'server', `${formatEndpoint(s.spec)} is named by no rule and gets no requests`);
      }
    }
    const groups: GroupSpec[] = [];
    const rules: RuleSpec[] = [];
    for (const set of sets.values()) {
      groups.push(set.group);
      rules.push(set.rule);
    }
    // KTCPVS dropped a request no rule matched; here that is a 404.
    return { groups, rules, defaultGroup: null };
  }
}

interface Built {
  groups: GroupSpec[];
  rules: RuleSpec[];
  defaultGroup: string | null;
}

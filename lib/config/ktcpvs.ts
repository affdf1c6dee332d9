// Parser for KTCPVS configs, the file tcpvsadm(8) read:
//
//   virtual web {
//       listen = 127.0.0.1:8080
//       scheduler = http
//       server = 127.0.0.1:9001 1
//       rule = pattern "^/cgi-bin/" use server 127.0.0.1:9001
//   }
//
// Each `virtual` block becomes one service; its real servers form group
// `servers`. Under the content schedulers (http, hhttp, chttp, phttp) every
// distinct rule pattern becomes a route plus a group made of the servers its
// rules name, in order of first appearance, and `servers` takes no requests:
// http and phttp spread a pattern's servers by weighted least-connection,
// hhttp hashes a submatch, chttp is http plus KTCPVS's session cookie
// (KTCPVS_SID, `persist cookie KTCPVS_SID insert`). Under any other scheduler
// tcpvs knows (rr, wlc, lblc, mh, ...) rules are ignored and `servers` takes
// every request, keyed by the default key (the path) with the scheduler's
// default tuning; the native format sets key and tuning.
//
// Keys are matched without regard to case, as KTCPVS's parser did. KTCPVS's
// own keys that mean nothing here (its kernel thread pool, `redirect`) are
// accepted with a warning; any other key is an error, with the nearest known
// key suggested.

import { isDeepStrictEqual } from 'node:util';
import type { CookieAffinitySpec } from '../affinity/spec.ts';
import {
  DEFAULT_LIMITS,
  DEFAULT_LOG,
  DEFAULT_TIMEOUTS,
  type Config,
  type Endpoint,
  type GroupSpec,
  type RuleSpec,
  type ServerSpec,
  type ServiceSpec,
  type Timeouts,
} from './model.ts';
import type { ConfigProblem } from './errors.ts';
import { FileProblems, readStatements } from './statements.ts';
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
  regexText,
  type ListenSite,
  type Token,
} from './tokenize.ts';
import { knownSchedulers } from '../sched/index.ts';
import { checkGroupScheduling, parseWeight } from './validate.ts';
import { didYouMean } from './suggest.ts';

/** The keys tcpvs reads in a virtual block. */
const KEYS = ['listen', 'port', 'scheduler', 'server', 'rule', 'timeout'] as const;

const THREADS = 'ignored: tcpvs has no kernel threads to size (Node handles connections in one event loop)';
/**
 * KTCPVS's own keys that mean nothing to tcpvs, with why: accepted with a
 * warning. KTCPVS 0.0.18's parser (userspace/tcpvs_config.c) knew listen,
 * scheduler, startservers, maxclients, minspareservers, maxspareservers,
 * redirect, server and rule (and refused anything else); `port` and `timeout`
 * are tcpvs's, and `documentroot`, which tcpvs has always let pass, stays
 * accepted.
 */
const IGNORED_KEYS: ReadonlyMap<string, string> = new Map([
  ['startservers', THREADS],
  ['maxclients', THREADS],
  ['minspareservers', THREADS],
  ['maxspareservers', THREADS],
  [
    'redirect',
    'ignored: KTCPVS passed what no rule matched to this local server; tcpvs answers 404 (add a rule with pattern ".*" to send it to a server)',
  ],
  ['documentroot', 'ignored: tcpvs serves no local files; every request goes to a real server'],
]);

/** Every key a virtual block may hold: what a misspelt key is compared with. */
export const KTCPVS_KEYS: readonly string[] = [...KEYS, ...IGNORED_KEYS.keys()];

// Exported with the mapping helpers below for tcpvsadm, which builds the same services command by command.
/** KTCPVS's content-based schedulers: requests go by the rules. */
export const CONTENT_SCHEDULERS: ReadonlySet<string> = new Set(['http', 'hhttp', 'chttp', 'phttp']);
export const DEFAULT_SCHEDULER = 'wlc';
/** The group a virtual's servers form; under a balancing scheduler it takes every request, under a content one none. */
export const SERVERS_GROUP = 'servers';
/** The cookie KTCPVS's chttp injected to pin a session to its server. */
export const KTCPVS_SESSION_COOKIE = 'KTCPVS_SID';

/**
 * The scheduler names tcpvs takes in KTCPVS terms (config files, tcpvsadm -s):
 * the content schedulers, then every scheduler of its own.
 */
export function ktcpvsSchedulers(): string[] {
  return [...new Set([...CONTENT_SCHEDULERS, ...knownSchedulers()])];
}

/**
 * chttp's session affinity: KTCPVS set `KTCPVS_SID=<session>; Path=/` (a
 * browser-session cookie) and sent a request carrying it to the server of
 * that session. Here the cookie carries an opaque id of the server; every
 * group of one virtual shares the secret, so the id is the same in each
 * pattern's server set.
 */
export function chttpAffinity(virtual: string): CookieAffinitySpec {
  return { kind: 'cookie', mode: 'insert', name: KTCPVS_SESSION_COOKIE, path: '/', secret: `ktcpvs chttp, virtual ${virtual}` };
}

/**
 * The group a KTCPVS content scheduler makes of a set of servers: wlc for
 * http and phttp, wlc with chttp's cookie for chttp, hhttp hashing submatch 0
 * for hhttp (the caller sets another). A balancing scheduler is used as is.
 */
export function ktcpvsGroup(name: string, scheduler: string, virtual: string, servers: ServerSpec[] = []): GroupSpec {
  switch (scheduler) {
    case 'hhttp':
      return { name, scheduler: 'hhttp', servers, hashSubmatch: 0 };
    case 'chttp':
      return { name, scheduler: 'wlc', servers, affinity: chttpAffinity(virtual) };
    case 'http':
    case 'phttp':
      return { name, scheduler: 'wlc', servers };
    default:
      return { name, scheduler, servers };
  }
}

/**
 * Which content scheduler made group `g` of virtual `virtual` (phttp reads as
 * http: they make the same groups); null when it is no such group.
 */
export function ktcpvsGroupScheduler(g: GroupSpec, virtual: string): 'http' | 'hhttp' | 'chttp' | null {
  if (g.key !== undefined || g.tuning !== undefined) return null;
  if (g.scheduler === 'hhttp') return g.affinity === undefined ? 'hhttp' : null;
  if (g.scheduler !== 'wlc' || g.hashSubmatch !== undefined) return null;
  if (g.affinity === undefined) return 'http';
  return isDeepStrictEqual(g.affinity, chttpAffinity(virtual)) ? 'chttp' : null;
}

/** The group and route one rule pattern becomes under a content scheduler; `name` is ruleN. */
export function patternRoute(
  name: string,
  pattern: string,
  re: RegExp,
  scheduler: string,
  virtual: string,
  file: string,
  line: number,
): { group: GroupSpec; rule: RuleSpec } {
  const group = ktcpvsGroup(name, scheduler, virtual);
  return { group, rule: { name, matchers: [{ kind: 'url-regex', re, text: pattern }], group: name, file, line } };
}

/** A KTCPVS rule's pattern as it was written (RegExp#source would escape '/'). */
export function patternText(m: { re: RegExp; text?: string }): string {
  return m.text ?? regexText(m.re);
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
  private readonly report: FileProblems;
  private readonly problems: ConfigProblem[];
  private readonly virtuals: VirtualDraft[] = [];
  private readonly services: ServiceSpec[] = [];
  private open: VirtualDraft | null = null;

  constructor(file: string) {
    this.file = file;
    this.report = new FileProblems(file);
    this.problems = this.report.problems;
  }

  parse(text: string): Config {
    readStatements(text, '{}=', this.report.problem, (line, tokens) => this.statement(line, tokens));
    if (this.open !== null) {
      this.problem(this.open.line, 'virtual', `virtual '${this.open.name}' is never closed with '}'`);
      this.close();
    }
    if (this.virtuals.length === 0 && this.problems.length === 0) {
      this.problem(0, 'virtual', "no virtual service defined (expected 'virtual NAME {')");
    }
    checkListenConflicts(
      this.virtuals
        .filter((v) => v.listen !== null)
        .map(
          (v): ListenSite => ({
            service: v.name,
            listen: v.listen as Endpoint,
            file: this.file,
            line: v.listenLine,
          }),
        ),
      this.problems,
    );
    this.report.throwIfAny();
    return {
      format: 'ktcpvs',
      l4: null,
      file: this.file,
      services: this.services,
      log: { ...DEFAULT_LOG },
      warnings: this.report.sortedWarnings(),
    };
  }

  private problem(line: number, field: string, message: string): void {
    this.report.problem(line, field, message);
  }

  private warn(line: number, field: string, message: string): void {
    this.report.warn(line, field, message);
  }

  private statement(line: number, tokens: Token[]): void {
    const first = tokens[0];
    // KTCPVS compared keys and keywords without regard to case (its own -L printed `Virtual NAME {`).
    const word = first.quoted ? '' : first.text.toLowerCase();
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
      return this.problem(line, word || 'syntax', `expected 'KEY = VALUE'${this.known(word) ? '' : didYouMean(word, KTCPVS_KEYS)}`);
    }
    this.setting(this.open, line, word, tokens.slice(2), first.text);
  }

  private known(key: string): boolean {
    return (KEYS as readonly string[]).includes(key) || IGNORED_KEYS.has(key) || key === '';
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

  /** `key` is lower-case; `written` is the key as the file has it. */
  private setting(v: VirtualDraft, line: number, key: string, values: Token[], written: string): void {
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
        const value = one(`scheduler = ${ktcpvsSchedulers().join('|')}`);
        if (value === null || !this.firstSetting(v, line, 'scheduler')) return;
        const names = ktcpvsSchedulers();
        if (!names.includes(value)) {
          return this.problem(line, 'scheduler', `unknown scheduler '${value}' (known: ${names.join(', ')})${didYouMean(value, names)}`);
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
      default: {
        const why = IGNORED_KEYS.get(key);
        if (why !== undefined) return this.warn(line, key, why);
        // A typo (`sheduler = http`) must not quietly leave the virtual on the default scheduler.
        this.problem(line, written, `unknown key '${written}' (keys: ${KEYS.join(', ')})${didYouMean(key, KTCPVS_KEYS)}`);
      }
    }
  }

  private serverSetting(v: VirtualDraft, line: number, values: Token[]): void {
    if (values.length < 1 || values.length > 2) {
      return this.problem(
        line,
        'server',
        `${values.length === 0 ? 'missing address' : `unexpected '${values[2].text}'`}: usage: server = HOST:PORT [WEIGHT]`,
      );
    }
    const parsed = parseEndpoint(values[0].text);
    if (!parsed.ok) this.problem(line, 'server', parsed.message);
    let weight = 1;
    if (values.length === 2) {
      const w = parseWeight(values[1].text);
      if (!w.ok) return this.problem(line, 'server.weight', w.message);
      weight = w.value;
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
    const word = (i: number, text: string): boolean =>
      values[i] !== undefined && !values[i].quoted && values[i].text.toLowerCase() === text;
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
    // The rules a native file's groups keep (mh's table against its servers, say), at the scheduler line.
    const schedulerLine = v.settings.get('scheduler') ?? v.line;
    for (const group of built.groups) {
      checkGroupScheduling(
        group,
        (statement) => (statement === undefined ? schedulerLine : undefined),
        (line, field, message) => this.problem(line, field, message),
      );
    }
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
        `ignored: ${why}, which balances over every server; ${v.rules.length} rule(s) only apply with scheduler http, hhttp, chttp or phttp`,
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
        set = { ...patternRoute(`rule${sets.size + 1}`, r.pattern, r.re as RegExp, scheduler, v.name, this.file, r.line), matchLine: 0 };
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
    // Group `servers` holds every real server, as tcpvsadm's -a makes it: it
    // takes no requests, but keeps a server no rule names (yet) a real server
    // of the virtual, for -L and --add-rule.
    const groups: GroupSpec[] = [
      ktcpvsGroup(
        SERVERS_GROUP,
        scheduler,
        v.name,
        v.servers.map((s) => ({ ...s.spec })),
      ),
    ];
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

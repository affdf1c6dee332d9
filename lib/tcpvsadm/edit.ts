// tcpvsadm's edits: pure functions from the current Config and one command to
// the next Config. The input is never modified: every object on the path to a
// change is copied, the rest (matchers, regexes, tuning) is shared and never
// written. A command that cannot apply throws EditError naming the field at
// fault; the whole result is then checked by validateConfig before anything
// is applied.
//
// KTCPVS virtuals map onto services as lib/config/ktcpvs.ts maps them: group
// `servers` holds the virtual's real servers; under a balancing scheduler (wlc,
// rr, ...) it takes every request, under a content scheduler (http, hhttp,
// chttp, phttp) each rule pattern is a route (one url-regex) to its own group
// ruleN holding the servers its rules name, and `servers` takes none (a
// request no rule matches gets 404).
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  type Config,
  type Endpoint,
  type GroupSpec,
  type Limits,
  type Matcher,
  type RuleSpec,
  type ServerSpec,
  type ServiceSpec,
  type Timeouts,
} from '../config/model.ts';
import {
  CONTENT_SCHEDULERS,
  DEFAULT_SCHEDULER,
  SERVERS_GROUP,
  ktcpvsGroup,
  ktcpvsGroupScheduler,
  ktcpvsSchedulers,
  patternRoute,
  patternText,
} from '../config/ktcpvs.ts';
import { parseMatcher } from '../config/route-syntax.ts';
import { weightProblem } from '../config/validate.ts';
import { didYouMean } from '../config/suggest.ts';
import { captureCount, checkName, compileRegex, formatEndpoint, parseEndpoint, type Token } from '../config/tokenize.ts';
import { knownSchedulers } from '../sched/index.ts';
import { DEFAULT_LISTEN, MAX_SUBMATCH, type ContentScheduler, type EditCommand, type KtcpvsShape } from './wire.ts';

/** Where services made by tcpvsadm say they come from (problems print `tcpvsadm: FIELD: ...`). */
export const TCPVSADM_FILE = 'tcpvsadm';

/** A refused command: what is wrong, and with which part of it. */
export class EditError extends Error {
  readonly code = 'refused';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

export interface EditResult {
  config: Config;
  warnings: string[];
}

export interface KtcpvsRule {
  pattern: string;
  submatch: number | null; // hhttp only
  server: ServerSpec;
  route: string; // the route (and group) the pattern became
}

export function ktcpvsShape(s: ServiceSpec): KtcpvsShape {
  const servers = s.groups.find((g) => g.name === SERVERS_GROUP);
  if (s.defaultGroup !== null) {
    if (s.defaultGroup === SERVERS_GROUP && s.rules.length === 0 && s.groups.length === 1) {
      return { kind: 'balanced', scheduler: (servers as GroupSpec).scheduler };
    }
    return {
      kind: 'native',
      reason: `it has ${s.groups.length} group(s), ${s.rules.length} route(s) and default group '${s.defaultGroup}'`,
    };
  }
  const targets = new Set<string>();
  for (const r of s.rules) {
    if (r.matchers.length !== 1 || r.matchers[0].kind !== 'url-regex') {
      return { kind: 'native', reason: `route '${r.name}' matches on more than one url-regex` };
    }
    if (r.group === SERVERS_GROUP || targets.has(r.group)) return { kind: 'native', reason: `route '${r.name}' shares group '${r.group}'` };
    targets.add(r.group);
  }
  const others = s.groups.filter((g) => g.name !== SERVERS_GROUP);
  const extra = others.find((g) => !targets.has(g.name));
  if (extra !== undefined) return { kind: 'native', reason: `group '${extra.name}' is not a rule pattern's group` };
  const all = servers === undefined ? others : [servers, ...others];
  if (all.length === 0) return { kind: 'native', reason: 'it has no groups' };
  // Group `servers` says which content scheduler the virtual has (a file-made one may lack it: then its first group).
  const want = ktcpvsGroupScheduler(all[0], s.name);
  if (want === null)
    return { kind: 'native', reason: `group '${all[0].name}' (${groupSummary(all[0])}) is not what a KTCPVS content scheduler makes` };
  const odd = all.find((g) => ktcpvsGroupScheduler(g, s.name) !== want);
  if (odd !== undefined) return { kind: 'native', reason: `group '${odd.name}' (${groupSummary(odd)}) is not what KTCPVS's ${want} makes` };
  return { kind: 'content', scheduler: want };
}

/** A group's scheduler and what else sets it apart, for reasons. */
function groupSummary(g: GroupSpec): string {
  const parts = [g.scheduler];
  if (g.hashSubmatch !== undefined) parts.push(`submatch ${g.hashSubmatch}`);
  if (g.key !== undefined) parts.push(`key ${g.key.kind}`);
  if (g.tuning !== undefined) parts.push('tuning');
  if (g.affinity !== undefined)
    parts.push(`persist ${g.affinity.kind}${g.affinity.kind === 'cookie' ? ` ${g.affinity.name} ${g.affinity.mode}` : ''}`);
  return parts.join(', ');
}

// The native statements of the timeouts and limits a KTCPVS block has no key for (its `timeout` is client-idle).
const DROPPED_TIMEOUTS: [keyof Timeouts, string][] = [
  ['clientHeaderMs', 'timeout client-header'],
  ['connectMs', 'timeout connect'],
  ['responseMs', 'timeout response'],
  ['upstreamIdleMs', 'timeout upstream-idle'],
  ['clientBodyMs', 'timeout client-body'],
];
const DROPPED_LIMITS: [keyof Limits, string][] = [
  ['maxUriBytes', 'limit uri'],
  ['maxHeaderBytes', 'limit headers'],
  ['maxHeaderCount', 'limit header-count'],
  ['bodyMinRate', 'limit body-rate'],
  ['poolMaxIdlePerServer', 'limit pool-idle'],
  ['retries', 'retries'],
];

/**
 * What a service has that its KTCPVS block (as -L prints it) does not say, so
 * `tcpvsadm -L > FILE` would not bring it back: settings of the native format
 * on a service KTCPVS commands otherwise treat as a virtual. Empty for
 * everything KTCPVS commands and files make.
 */
export function ktcpvsDropped(s: ServiceSpec, shape: KtcpvsShape): string[] {
  if (shape.kind === 'native') return [];
  const out: string[] = [];
  for (const [field, statement] of DROPPED_TIMEOUTS) if (s.timeouts[field] !== DEFAULT_TIMEOUTS[field]) out.push(statement);
  if (s.timeouts.clientIdleMs % 1000 !== 0) out.push("timeout client-idle (KTCPVS's timeout is whole seconds)");
  for (const [field, statement] of DROPPED_LIMITS) if (s.limits[field] !== DEFAULT_LIMITS[field]) out.push(statement);
  if (s.acceptProxy !== undefined || s.acceptProxyFromL4 === true) out.push('accept-proxy');
  if (s.forwardNormalizedPath === true) out.push('normalize-path forward');
  if (s.tls !== undefined) out.push('listen ... tls and its certificates');
  for (const g of s.groups) {
    const parts: string[] = [];
    if (shape.kind === 'balanced') {
      if (g.key !== undefined) parts.push(`key ${g.key.kind}`);
      if (g.tuning !== undefined) parts.push('tuning');
      if (g.affinity !== undefined) parts.push(`persist ${g.affinity.kind}`);
    }
    if (g.health !== undefined) parts.push('health checks');
    if (g.servers.some((x) => x.sendProxy !== undefined)) parts.push('send-proxy');
    if (g.servers.some((x) => x.tls !== undefined)) parts.push('server tls');
    if (parts.length > 0) out.push(`group ${g.name}: ${parts.join(', ')}`);
  }
  return out;
}

/** The virtual's real servers: group `servers`, else every group's, in order of first appearance. */
export function ktcpvsServers(s: ServiceSpec): ServerSpec[] {
  const group = s.groups.find((g) => g.name === SERVERS_GROUP);
  const out: ServerSpec[] = group === undefined ? [] : [...group.servers];
  const seen = new Set(out.map(formatEndpoint));
  for (const g of s.groups) {
    for (const server of g.servers) {
      const address = formatEndpoint(server);
      if (!seen.has(address)) {
        seen.add(address);
        out.push(server);
      }
    }
  }
  return out;
}

/** A content virtual's rules: per route in order, one per server of its group. */
export function ktcpvsRules(s: ServiceSpec, hashing: boolean): KtcpvsRule[] {
  const out: KtcpvsRule[] = [];
  for (const r of s.rules) {
    const m = r.matchers[0];
    const group = s.groups.find((g) => g.name === r.group);
    if (m?.kind !== 'url-regex' || group === undefined) continue;
    for (const server of group.servers) {
      out.push({ pattern: patternText(m), submatch: hashing ? (group.hashSubmatch ?? 0) : null, server, route: r.name });
    }
  }
  return out;
}

// ---- copying ----

function copyService(s: ServiceSpec): ServiceSpec {
  return {
    ...s,
    listen: { ...s.listen },
    groups: s.groups.map(copyGroup),
    rules: [...s.rules],
    timeouts: { ...s.timeouts },
    limits: { ...s.limits },
  };
}

function copyGroup(g: GroupSpec): GroupSpec {
  return { ...g, servers: g.servers.map((s) => ({ ...s })) };
}

/** The config with service `name` replaced by what `change` makes of a copy of it. */
function editService(config: Config, name: string, field: string, change: (s: ServiceSpec, warnings: string[]) => void): EditResult {
  const index = config.services.findIndex((s) => s.name === name);
  if (index === -1) throw new EditError(field, `no service '${name}'${known(config)}`);
  const service = copyService(config.services[index]);
  const warnings: string[] = [];
  change(service, warnings);
  const services = [...config.services];
  services[index] = service;
  return { config: { ...config, services }, warnings };
}

function known(config: Config): string {
  return config.services.length === 0 ? ' (there are no services)' : ` (services: ${config.services.map((s) => s.name).join(', ')})`;
}

// ---- checking a command's values ----

function name(text: string, field: string): string {
  const bad = checkName(text);
  if (bad !== null) throw new EditError(field, bad);
  return text;
}

function endpoint(text: string, field: string, listen = false): Endpoint {
  const parsed = parseEndpoint(text, listen);
  if (!parsed.ok) throw new EditError(field, parsed.message);
  return parsed.value;
}

function weight(value: number | undefined): number {
  if (value === undefined) return 1;
  const problem = weightProblem(value);
  if (problem !== null) throw new EditError('weight', problem);
  return value;
}

function scheduler(text: string, allowContent: boolean): string {
  const names = allowContent ? ktcpvsSchedulers() : knownSchedulers();
  if (names.includes(text)) return text;
  throw new EditError('scheduler', `unknown scheduler '${text}' (known: ${names.join(', ')})${didYouMean(text, names)}`);
}

function same(a: Endpoint, b: Endpoint): boolean {
  return a.host === b.host && a.port === b.port;
}

function group(s: ServiceSpec, groupName: string, field = 'group'): GroupSpec {
  const g = s.groups.find((x) => x.name === groupName);
  if (g === undefined)
    throw new EditError(
      field,
      `no group '${groupName}' in service '${s.name}' (groups: ${s.groups.map((x) => x.name).join(', ') || 'none'})`,
    );
  return g;
}

/** Group `servers` of a KTCPVS virtual, made from every group's servers when a KTCPVS file left it out. */
function ensureServersGroup(s: ServiceSpec): GroupSpec {
  const existing = s.groups.find((g) => g.name === SERVERS_GROUP);
  if (existing !== undefined) return existing;
  const shape = ktcpvsShape(s);
  if (shape.kind !== 'content') {
    const why = shape.kind === 'native' ? ` (${shape.reason})` : '';
    throw new EditError(
      'ident',
      `service '${s.name}' has no group '${SERVERS_GROUP}': it is not a KTCPVS virtual${why}; use 'tcpvsadm server add ${s.name} GROUP HOST:PORT'`,
    );
  }
  const made = ktcpvsGroup(
    SERVERS_GROUP,
    shape.scheduler,
    s.name,
    ktcpvsServers(s).map((x) => ({ ...x })),
  );
  s.groups.unshift(made);
  return made;
}

function contentWarning(s: ServiceSpec, sched: string): string {
  return `scheduler ${sched} routes by rules and virtual '${s.name}' has none: every request gets 404 until --add-rule`;
}

// ---- the edits ----

export function applyEdit(config: Config, command: EditCommand): EditResult {
  switch (command.op) {
    case 'add-service':
      return addService(config, command);
    case 'edit-service':
      return editService(config, command.ident, 'ident', (s, warnings) => editVirtual(s, command, warnings));
    case 'delete-service':
      return deleteService(config, command.ident);
    case 'flush':
      return { config: { ...config, services: [] }, warnings: [] };
    case 'add-server':
      return editService(config, command.ident, 'ident', (s) => {
        const address = endpoint(command.server, 'server');
        const servers = ensureServersGroup(s);
        const w = weight(command.weight);
        if (servers.servers.some((x) => same(x, address))) {
          throw new EditError('server', `${formatEndpoint(address)} is already a real server of virtual '${s.name}'`);
        }
        servers.servers.push({ ...address, weight: w });
      });
    case 'edit-server':
      return editService(config, command.ident, 'ident', (s) => {
        const address = endpoint(command.server, 'server');
        const w = weight(command.weight);
        // A rule group holds a copy of the server: KTCPVS had one weight per server, so every copy follows.
        const copies = s.groups.flatMap((g) => g.servers.filter((x) => same(x, address)));
        for (const x of copies) x.weight = w;
        if (copies.length === 0) throw new EditError('server', `${formatEndpoint(address)} is not a real server of virtual '${s.name}'`);
      });
    case 'delete-server':
      return editService(config, command.ident, 'ident', (s) => deleteServer(s, endpoint(command.server, 'server')));
    case 'add-rule':
      return editService(config, command.ident, 'ident', (s, warnings) => addRule(s, command, warnings));
    case 'del-rule':
      return editService(config, command.ident, 'ident', (s) => delRule(s, command));
    case 'group-add':
      return editService(config, command.service, 'service', (s, warnings) => {
        const groupName = name(command.group, 'group');
        if (s.groups.some((g) => g.name === groupName))
          throw new EditError('group', `group '${groupName}' already exists in service '${s.name}'`);
        const sched = scheduler(command.scheduler ?? DEFAULT_SCHEDULER, false);
        // hhttp keys on submatch 0 unless told otherwise, as the native parser makes it.
        s.groups.push(
          sched === 'hhttp'
            ? { name: groupName, scheduler: sched, servers: [], hashSubmatch: 0 }
            : { name: groupName, scheduler: sched, servers: [] },
        );
        warnings.push(`group '${groupName}' has no servers yet and no route or default sends requests to it`);
      });
    case 'group-del':
      return editService(config, command.service, 'service', (s) => {
        const g = group(s, command.group);
        const users = s.rules.filter((r) => r.group === g.name).map((r) => `route '${r.name}'`);
        if (s.defaultGroup === g.name) users.push('the default');
        if (users.length > 0)
          throw new EditError('group', `group '${g.name}' is used by ${users.join(', ')}: delete or change those first`);
        s.groups = s.groups.filter((x) => x !== g);
      });
    case 'server-add':
      return editService(config, command.service, 'service', (s) => {
        const g = group(s, command.group);
        const address = endpoint(command.server, 'server');
        if (g.servers.some((x) => same(x, address)))
          throw new EditError('server', `${formatEndpoint(address)} is already in group '${g.name}'`);
        g.servers.push({ ...address, weight: weight(command.weight) });
      });
    case 'server-del':
      return editService(config, command.service, 'service', (s, warnings) => {
        const g = group(s, command.group);
        const address = endpoint(command.server, 'server');
        const at = g.servers.findIndex((x) => same(x, address));
        if (at === -1) throw new EditError('server', `${formatEndpoint(address)} is not in group '${g.name}'`);
        g.servers.splice(at, 1);
        if (g.servers.length === 0) warnings.push(`group '${g.name}' has no servers left: requests routed to it get 503`);
      });
    case 'server-weight':
      return editService(config, command.service, 'service', (s) => {
        const g = group(s, command.group);
        const address = endpoint(command.server, 'server');
        const server = g.servers.find((x) => same(x, address));
        if (server === undefined) throw new EditError('server', `${formatEndpoint(address)} is not in group '${g.name}'`);
        if (command.weight === undefined) throw new EditError('weight', 'missing weight');
        server.weight = weight(command.weight);
      });
    case 'route-add':
      return editService(config, command.service, 'service', (s) => addRoute(s, command));
    case 'route-del':
      return editService(config, command.service, 'service', (s) => {
        const at = s.rules.findIndex((r) => r.name === command.name);
        if (at === -1) throw new EditError('route', `no route '${command.name}' in service '${s.name}'`);
        s.rules.splice(at, 1);
      });
    case 'default':
      return editService(config, command.service, 'service', (s) => {
        s.defaultGroup = command.group === null ? null : group(s, command.group).name;
      });
  }
}

function addService(config: Config, command: Extract<EditCommand, { op: 'add-service' }>): EditResult {
  const ident = name(command.ident, 'ident');
  if (config.services.some((s) => s.name === ident)) throw new EditError('ident', `virtual service '${ident}' already exists`);
  const sched = scheduler(command.scheduler ?? DEFAULT_SCHEDULER, true);
  const listen = command.listen === undefined ? { ...DEFAULT_LISTEN } : endpoint(command.listen, 'listen', true);
  const content = CONTENT_SCHEDULERS.has(sched);
  const service: ServiceSpec = {
    name: ident,
    listen,
    groups: [ktcpvsGroup(SERVERS_GROUP, sched, ident)],
    rules: [],
    defaultGroup: content ? null : SERVERS_GROUP,
    timeouts: { ...DEFAULT_TIMEOUTS },
    limits: { ...DEFAULT_LIMITS },
    file: TCPVSADM_FILE,
    line: 0,
  };
  const warnings = content ? [contentWarning(service, sched)] : [];
  return { config: { ...config, services: [...config.services, service] }, warnings };
}

function deleteService(config: Config, ident: string): EditResult {
  if (!config.services.some((s) => s.name === ident)) throw new EditError('ident', `no virtual service '${ident}'${known(config)}`);
  return { config: { ...config, services: config.services.filter((s) => s.name !== ident) }, warnings: [] };
}

/** -E: the scheduler and the listen address; what is not given stays. */
function editVirtual(s: ServiceSpec, command: Extract<EditCommand, { op: 'edit-service' }>, warnings: string[]): void {
  if (command.listen !== undefined) s.listen = endpoint(command.listen, 'listen', true);
  if (command.scheduler === undefined) return;
  const next = scheduler(command.scheduler, true);
  const shape = ktcpvsShape(s);
  if (shape.kind === 'native') {
    throw new EditError(
      'scheduler',
      `service '${s.name}' is not a KTCPVS virtual (${shape.reason}); set a group's scheduler with the native commands`,
    );
  }
  // phttp makes what http makes.
  if (shape.scheduler === (next === 'phttp' ? 'http' : next)) return;
  const servers = ensureGroupFor(s, shape);
  const toContent = CONTENT_SCHEDULERS.has(next);
  if (!toContent && s.rules.length > 0) {
    throw new EditError(
      'scheduler',
      `virtual '${s.name}' has ${s.rules.length} rule pattern(s), which only apply with ${CONTENT_LIST}: delete them first (--del-rule)`,
    );
  }
  // A new scheduler starts from its own defaults: knobs and keys of the old one may not apply.
  const fresh = ktcpvsGroup(SERVERS_GROUP, next, s.name, servers.servers);
  // Only rule groups between content schedulers to convert: what patternRoute makes under `next`, with their servers.
  s.groups = s.groups.map((g): GroupSpec => {
    if (g.name === SERVERS_GROUP) return fresh;
    const made = ktcpvsGroup(g.name, next, s.name, g.servers);
    if (next === 'hhttp') made.hashSubmatch = g.hashSubmatch ?? 0;
    return made;
  });
  s.defaultGroup = toContent ? null : SERVERS_GROUP;
  if (toContent && s.rules.length === 0) warnings.push(contentWarning(s, next));
}

function ensureGroupFor(s: ServiceSpec, shape: KtcpvsShape): GroupSpec {
  return shape.kind === 'content' ? ensureServersGroup(s) : group(s, SERVERS_GROUP, 'ident');
}

function deleteServer(s: ServiceSpec, address: Endpoint): void {
  const users = s.groups.filter((g) => g.name !== SERVERS_GROUP && g.servers.some((x) => same(x, address)));
  if (users.length > 0) {
    const rules = users.map((g) => {
      const r = s.rules.find((x) => x.group === g.name && x.matchers.length === 1 && x.matchers[0].kind === 'url-regex');
      return r === undefined
        ? `group '${g.name}'`
        : `rule pattern ${JSON.stringify(patternText(r.matchers[0] as { re: RegExp; text?: string }))}`;
    });
    throw new EditError(
      'server',
      `${formatEndpoint(address)} is used by ${rules.join(', ')}: delete ${users.length === 1 ? 'it' : 'them'} first (--del-rule)`,
    );
  }
  const servers = s.groups.find((g) => g.name === SERVERS_GROUP);
  const at = servers?.servers.findIndex((x) => same(x, address)) ?? -1;
  if (servers === undefined || at === -1)
    throw new EditError('server', `${formatEndpoint(address)} is not a real server of virtual '${s.name}'`);
  servers.servers.splice(at, 1);
}

const CONTENT_LIST = 'http, hhttp, chttp or phttp';

function contentShape(s: ServiceSpec): ContentScheduler {
  const shape = ktcpvsShape(s);
  if (shape.kind === 'content') return shape.scheduler;
  if (shape.kind === 'balanced') {
    throw new EditError(
      'ident',
      `rules apply only with scheduler ${CONTENT_LIST}; virtual '${s.name}' uses ${shape.scheduler} (change it with -E -i ${s.name} -s http)`,
    );
  }
  throw new EditError('ident', `service '${s.name}' is not a KTCPVS virtual (${shape.reason}); add routes with 'tcpvsadm route add'`);
}

function patternRule(s: ServiceSpec, pattern: string): RuleSpec | undefined {
  return s.rules.find((r) => r.matchers.length === 1 && r.matchers[0].kind === 'url-regex' && patternText(r.matchers[0]) === pattern);
}

/** --add-rule: the server joins the pattern's server set; a new pattern becomes route and group ruleN, tried last. */
function addRule(s: ServiceSpec, command: Extract<EditCommand, { op: 'add-rule' }>, warnings: string[]): void {
  const sched = contentShape(s);
  const address = endpoint(command.server, 'server');
  const re = compileRegex(command.pattern);
  if (!re.ok) throw new EditError('pattern', re.message);
  const match = command.match;
  if (match !== undefined) {
    if (!Number.isInteger(match) || match < 0 || match > MAX_SUBMATCH)
      throw new EditError('match', `bad submatch number ${match}: must be an integer 0..${MAX_SUBMATCH}`);
    if (match > captureCount(re.value))
      throw new EditError('match', `submatch ${match} does not exist: the pattern has ${captureCount(re.value)} capture group(s)`);
    if (sched !== 'hhttp')
      warnings.push(`-m ${match} ignored: the match number only matters with scheduler hhttp (virtual '${s.name}' uses ${sched})`);
  }
  const server = ktcpvsServers(s).find((x) => same(x, address));
  if (server === undefined) {
    throw new EditError(
      'server',
      `${formatEndpoint(address)} is not a real server of virtual '${s.name}' (add it first: -a -i ${s.name} -r ${formatEndpoint(address)})`,
    );
  }
  ensureServersGroup(s);
  const existing = patternRule(s, command.pattern);
  if (existing !== undefined) {
    const g = group(s, existing.group);
    if (g.servers.some((x) => same(x, address))) {
      throw new EditError('server', `rule pattern ${JSON.stringify(command.pattern)} use server ${formatEndpoint(address)} already exists`);
    }
    if (sched === 'hhttp' && match !== undefined && match !== (g.hashSubmatch ?? 0)) {
      throw new EditError('match', `pattern ${JSON.stringify(command.pattern)} already hashes submatch ${g.hashSubmatch ?? 0}`);
    }
    g.servers.push({ ...server });
    return;
  }
  let n = 1;
  while (s.groups.some((g) => g.name === `rule${n}`) || s.rules.some((r) => r.name === `rule${n}`)) n++;
  const made = patternRoute(`rule${n}`, command.pattern, re.value, sched, s.name, TCPVSADM_FILE, 0);
  if (sched === 'hhttp') made.group.hashSubmatch = match ?? 0;
  made.group.servers.push({ ...server });
  s.groups.push(made.group);
  s.rules.push(made.rule);
}

/** --del-rule: the server leaves the pattern's set; an emptied pattern goes with its route and group. */
function delRule(s: ServiceSpec, command: Extract<EditCommand, { op: 'del-rule' }>): void {
  contentShape(s);
  const address = endpoint(command.server, 'server');
  const rule = patternRule(s, command.pattern);
  const g = rule === undefined ? undefined : s.groups.find((x) => x.name === rule.group);
  const at = g === undefined ? -1 : g.servers.findIndex((x) => same(x, address));
  if (rule === undefined || g === undefined || at === -1) {
    throw new EditError(
      'pattern',
      `no rule pattern ${JSON.stringify(command.pattern)} use server ${formatEndpoint(address)} in virtual '${s.name}'`,
    );
  }
  // Keep the server in `servers` (KTCPVS kept the real server when a rule went).
  ensureServersGroup(s);
  g.servers.splice(at, 1);
  if (g.servers.length === 0) {
    s.rules = s.rules.filter((r) => r !== rule);
    s.groups = s.groups.filter((x) => x !== g);
  }
}

/** `route add SERVICE NAME MATCHER... to GROUP [before RULE]` */
function addRoute(s: ServiceSpec, command: Extract<EditCommand, { op: 'route-add' }>): void {
  const routeName = name(command.name, 'route');
  if (s.rules.some((r) => r.name === routeName)) throw new EditError('route', `route '${routeName}' already exists in service '${s.name}'`);
  const target = group(s, command.group, 'to');
  const tokens: Token[] = command.matchers.map((text) => ({ text, quoted: false }));
  const matchers: Matcher[] = [];
  for (let i = 0; i < tokens.length; ) {
    const result = parseMatcher(tokens, i, tokens.length);
    if (result.problem !== null) throw new EditError(result.problem.field, result.problem.message);
    matchers.push(result.matcher);
    i = result.next;
  }
  if (matchers.length === 0)
    throw new EditError('route', `route '${routeName}' has no matchers (use 'tcpvsadm default ${s.name} GROUP' for a catch-all)`);
  const rule: RuleSpec = { name: routeName, matchers, group: target.name, file: TCPVSADM_FILE, line: 0 };
  if (command.before === undefined) {
    s.rules.push(rule);
    return;
  }
  const at = s.rules.findIndex((r) => r.name === command.before);
  if (at === -1) throw new EditError('before', `no route '${command.before}' in service '${s.name}'`);
  s.rules.splice(at, 0, rule);
}

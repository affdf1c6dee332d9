// The rules a compiled config must keep, each written once, with one message.
// The native and KTCPVS parsers apply them to the config they built, naming
// the line of the statement at fault; tcpvsadm applies validateConfig() to a
// config it built by editing the running one, naming the service's line and
// the group or route in the message. Scheduler rules read the registry
// (lib/sched/index.ts): whether the scheduler reads a key, which knobs it
// takes and what each knob requires of the group.
//
// What only a file can get wrong (syntax, a setting given twice, a statement
// outside its block) stays with the parser that reads the file.

import type { Config, GroupSpec, RuleSpec, ServiceSpec } from './model.ts';
import type { ConfigProblem, ProblemSink } from './errors.ts';
import { captureCount, checkListenConflicts, checkName, formatEndpoint, parseInteger, type ListenSite, type Parsed } from './tokenize.ts';
import { MAX_WEIGHT } from './model.ts';
import { knobStatements, knownSchedulers, schedulerDescriptor } from '../sched/index.ts';
import { keyedRegexIndex } from './route-syntax.ts';

/** The one weight rule: an integer 0..MAX_WEIGHT, 0 meaning quiescent. */
export function parseWeight(text: string): Parsed<number> {
  const n = parseInteger(text, 0, MAX_WEIGHT);
  return n === null ? { ok: false, message: badWeight(text) } : { ok: true, value: n };
}

/** The weight rule for a weight already a number (a config built by editing). */
export function weightProblem(weight: number): string | null {
  return Number.isInteger(weight) && weight >= 0 && weight <= MAX_WEIGHT ? null : badWeight(String(weight));
}

function badWeight(text: string): string {
  return `bad weight '${text}': must be an integer 0..${MAX_WEIGHT} (0 = quiescent)`;
}

// The messages of the rules that a file's parser checks as it reads and
// validateConfig checks on an edited config: one wording for each.

/** A second service, group or route of the same name; `firstLine` when the first one's line is known. */
export function duplicateNameMessage(kind: 'service' | 'group' | 'route', name: string, firstLine?: number): string {
  return `duplicate ${kind} name '${name}'${firstLine === undefined || firstLine <= 0 ? '' : ` (first at line ${firstLine})`}`;
}

export function serverTwiceMessage(address: string, group: string): string {
  return `${address} is already in group '${group}'`;
}

export function noMatchersMessage(route: string): string {
  return `route '${route}' has no matchers (use 'default GROUP' for a catch-all)`;
}

/** A route's `to` or a `default` naming a group the service does not have. */
export function unknownGroupMessage(group: string, service: string): string {
  return `unknown group '${group}' in service '${service}'`;
}

export function unknownSchedulerMessage(name: string): string {
  return `unknown scheduler '${name}' (known: ${knownSchedulers().join(', ')})`;
}

/** Names for a message: "chbl", "lblc and lblcr", "a, b and c". */
function listNames(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * Where a group's statements are: `lineOf('table-size')` is the line of that
 * statement, or undefined when it was not written; `lineOf()` the group's own.
 */
export type GroupLines = (statement?: string) => number | undefined;

/**
 * The scheduler rules for one group: a known scheduler, `key` only for one
 * that reads a key, `hash-submatch` only for hhttp, each knob only for a
 * scheduler that takes it, and each of its scheduler's knobs right for the
 * group (mh's table size against its servers). False when the group's key is
 * not usable, so the routes' submatch rules need not be checked against it.
 */
export function checkGroupScheduling(group: GroupSpec, lineOf: GroupLines, sink: ProblemSink): boolean {
  const groupLine = lineOf() ?? 0;
  const descriptor = schedulerDescriptor(group.scheduler);
  if (descriptor === undefined) {
    sink(groupLine, 'group.scheduler', unknownSchedulerMessage(group.scheduler));
    return false;
  }
  let keyUsable = true;
  if (group.key !== undefined && !descriptor.usesKey) {
    const users = knownSchedulers().filter((name) => schedulerDescriptor(name)?.usesKey);
    sink(
      lineOf('key') ?? groupLine,
      'group.key',
      `scheduler ${group.scheduler} does not use a key; key applies to schedulers ${listNames(users)} only`,
    );
    keyUsable = false;
  }
  // `hash-submatch N` is the hhttp spelling of `key submatch N`; the group
  // line carries it. Without a file, a submatch that no `key submatch` set
  // can only have come from it.
  const hashLine = lineOf('hash-submatch');
  const hashWritten = hashLine !== undefined || group.key?.kind !== 'submatch';
  if (group.hashSubmatch !== undefined && hashWritten && group.scheduler !== 'hhttp') {
    sink(
      hashLine ?? groupLine,
      'group.hash-submatch',
      "hash-submatch is only meaningful with 'scheduler hhttp' (other schedulers: 'key submatch N')",
    );
    keyUsable = false;
  }
  const tuning = group.tuning ?? {};
  for (const [statement, { knob, schedulers }] of knobStatements()) {
    const value = tuning[knob.field];
    if (value !== undefined && !schedulers.includes(group.scheduler)) {
      // A knob the scheduler ignores would only make the user believe it works.
      const which = schedulers.length === 1 ? 'scheduler' : 'schedulers';
      sink(
        lineOf(statement) ?? groupLine,
        `group.${statement}`,
        `${statement} applies to ${which} ${listNames(schedulers)} only (group '${group.name}' uses ${group.scheduler})`,
      );
    }
  }
  for (const knob of descriptor.knobs) {
    const problem = knob.check?.(tuning[knob.field], group);
    if (problem !== undefined && problem !== null) sink(lineOf(knob.statement) ?? groupLine, `group.${knob.statement}`, problem);
  }
  return keyUsable;
}

/**
 * A route to a group keyed on submatch N must have a regex (the one the
 * router runs for the key) with at least N capture groups. An explicit
 * `key submatch` on a route without one is an error; hhttp's implicit
 * submatch 0 there only warns, as it always has (hhttp falls back to wlc).
 */
export function checkSubmatchSource(rule: RuleSpec, line: number, target: GroupSpec, sink: ProblemSink, warn?: ProblemSink): void {
  const submatch = target.hashSubmatch;
  if (submatch === undefined) return;
  const keyedAt = keyedRegexIndex(rule.matchers);
  const keyed = keyedAt === -1 ? undefined : rule.matchers[keyedAt];
  if (keyed === undefined || (keyed.kind !== 'url-regex' && keyed.kind !== 'path-regex')) {
    const message = `group '${rule.group}' keys on submatch ${submatch} of a url-regex or path-regex, but route '${rule.name}' has neither`;
    if (target.key?.kind === 'submatch') sink(line, 'route.to', message);
    else warn?.(line, 'route.to', `${message}: its requests carry no hash key`);
    return;
  }
  const groups = captureCount(keyed.re);
  if (groups < submatch) {
    sink(line, keyed.kind, `group '${rule.group}' keys on submatch ${submatch} but this regex has only ${groups} capture group(s)`);
  }
}

/**
 * The whole-config check for a config that was not read from a file (a
 * tcpvsadm edit of the running one): names, duplicates, listen conflicts,
 * references from routes, defaults and vips, weights, and the group and
 * route rules above. Problems carry the service's file and line, and name
 * the group or route at fault. `stopped` services are checked like the
 * others but cannot be registered by a vip.
 */
export function validateConfig(config: Config, stopped: ReadonlySet<string> = new Set()): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, ServiceSpec>();
  for (const service of config.services) {
    const report = (field: string, message: string): void => {
      problems.push({ file: service.file, line: service.line, field, message: `service '${service.name}': ${message}` });
    };
    const bad = checkName(service.name);
    if (bad !== null) report('service', bad);
    const first = seen.get(service.name);
    if (first !== undefined)
      report('service', duplicateNameMessage('service', service.name, first.file === service.file ? first.line : undefined));
    seen.set(service.name, service);
    validateService(service, report);
  }
  checkListenConflicts(
    config.services.map((s): ListenSite => ({ service: s.name, listen: s.listen, file: s.file, line: s.line })),
    problems,
  );
  for (const vip of config.l4?.vips ?? []) {
    for (const real of vip.reals) {
      // A stopped service (tcpvsadm --stop) is not there to be registered.
      if (real.kind === 'self' && (!seen.has(real.service) || stopped.has(real.service))) {
        problems.push({
          file: vip.file,
          line: real.line,
          field: 'vip.real',
          message: `vip '${vip.name}' registers service '${real.service}', which does not exist`,
        });
      }
    }
  }
  return problems;
}

function validateService(service: ServiceSpec, report: (field: string, message: string) => void): void {
  const { listen } = service;
  if (listen.host === '' || !Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) {
    report('listen', `bad listen address ${formatEndpoint(listen)}`);
  }
  const groups = new Map<string, GroupSpec>();
  const keyUsable = new Set<GroupSpec>();
  for (const group of service.groups) {
    const where = `group '${group.name}'`;
    const bad = checkName(group.name);
    if (bad !== null) report('group', bad);
    if (groups.has(group.name)) report('group', duplicateNameMessage('group', group.name));
    groups.set(group.name, group);
    const addresses = new Set<string>();
    for (const server of group.servers) {
      const address = formatEndpoint(server);
      if (server.host === '' || !Number.isInteger(server.port) || server.port < 1 || server.port > 65535) {
        report('server', `${where}: bad server address ${address}`);
      }
      const weight = weightProblem(server.weight);
      if (weight !== null) report('server.weight', `${where}: server ${address}: ${weight}`);
      if (addresses.has(address)) report('server', `${where}: ${serverTwiceMessage(address, group.name)}`);
      addresses.add(address);
    }
    const usable = checkGroupScheduling(
      group,
      (statement) => (statement === undefined ? service.line : undefined),
      (_line, field, message) => report(field, `${where}: ${message}`),
    );
    if (usable) keyUsable.add(group);
  }

  const routes = new Map<string, RuleSpec>();
  for (const rule of service.rules) {
    const where = `route '${rule.name}'`;
    const bad = checkName(rule.name);
    if (bad !== null) report('route', bad);
    const first = routes.get(rule.name);
    if (first !== undefined) report('route', duplicateNameMessage('route', rule.name, first.file === rule.file ? first.line : undefined));
    else routes.set(rule.name, rule);
    if (rule.matchers.length === 0) report('route', noMatchersMessage(rule.name));
    for (const m of rule.matchers) {
      const re = m.kind === 'path-regex' || m.kind === 'url-regex' ? m.re : 'op' in m && m.op === 'regex' ? m.re : null;
      // A g or y flag would make a shared RegExp carry lastIndex from one request to the next.
      if (re !== null && (!(re instanceof RegExp) || re.global || re.sticky)) report(`route.${m.kind}`, `${where}: bad regular expression`);
      // A passthrough service reads the ClientHello only; an HTTP one never sees it (docs/tls.md).
      const passthrough = service.mode === 'tls-passthrough';
      if (m.kind === 'sni' && !passthrough && service.tls === undefined)
        report(`route.sni`, `${where}: 'sni' reads the TLS handshake: it needs 'listen ... tls' or 'mode tls-passthrough'`);
      if (m.kind !== 'sni' && passthrough)
        report(`route.${m.kind}`, `${where}: a 'mode tls-passthrough' service routes by 'sni' only, not '${m.kind}'`);
    }
    const target = groups.get(rule.group);
    if (target === undefined) {
      report('route.to', `${where}: ${unknownGroupMessage(rule.group, service.name)}`);
      continue;
    }
    if (keyUsable.has(target)) {
      checkSubmatchSource(rule, service.line, target, (_line, field, message) =>
        report(field === 'route.to' ? field : `route.${field}`, `${where}: ${message}`),
      );
    }
  }
  if (service.defaultGroup !== null && !groups.has(service.defaultGroup)) {
    report('default', unknownGroupMessage(service.defaultGroup, service.name));
  }
}

// tcpvsadm's methods on the admin socket (tcpvs.*). Every change is built by
// a pure edit on a copy of the running config, checked whole, then handed to
// ControlPlane.apply(); a refused change leaves everything as it was and the
// client gets the reason, with the field at fault.
//
// Stopped services (--stop) are this handler's own state: a stopped service
// keeps its definition here but is left out of the config applied, so its
// listener closes; --start puts it back where it was. Edits see running and
// stopped services alike, as KTCPVS let you configure a virtual before
// starting it. Loading a file (-f) replaces everything, the stopped ones too.
import { isAbsolute } from 'node:path';
import type { AdminHandler, AdminHandlers } from '../admin/protocol.ts';
import type { ControlPlane, ServerView } from '../control/control-plane.ts';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/errors.ts';
import type { Config, ServiceSpec } from '../config/model.ts';
import { formatMatcher, formatRuleTable } from '../config/print.ts';
import { formatEndpoint } from '../config/tokenize.ts';
import {
  EDIT_METHODS,
  MAX_RATE_INTERVAL_MS,
  METHODS,
  type EditAnswer,
  type EditCommand,
  type EditOp,
  type ListResult,
  type ListedServer,
  type ListedService,
  type RuntimeServerStats,
  type RuntimeStats,
  type StatsResult,
} from './wire.ts';
import { EditError, TCPVSADM_FILE, applyEdit, ktcpvsDropped, ktcpvsRules, ktcpvsServers, ktcpvsShape } from './edit.ts';
import { tcpvsVersion } from '../version.ts';
import { validateConfig } from '../config/validate.ts';

export interface TcpvsadmExtras {
  /** The statistics snapshot (lib/stats); without it -L --stats reads the runtimes' own counters. */
  stats?: () => unknown;
}

/** A refused command; `code` is what the admin answer carries. */
export class RefusedError extends Error {
  readonly code: string;
  constructor(message: string, code = 'refused') {
    super(message);
    this.code = code;
  }
}

export function tcpvsadmHandlers(control: ControlPlane, extras: TcpvsadmExtras = {}): AdminHandlers {
  /** Stopped services, each with the index it had among all services (to come back in place). */
  const stopped = new Map<string, { spec: ServiceSpec; index: number }>();
  let queue: Promise<unknown> = Promise.resolve();

  /** Changes run one at a time: each reads the config the previous one left. */
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => undefined);
    return run;
  };

  /** Running and stopped services together: what edits and listings see. */
  const full = (): Config => {
    const running = control.config();
    const names = new Set(running.services.map((s) => s.name));
    // A reload that brought a stopped service back (SIGHUP, another client) runs it: it is no longer stopped.
    for (const name of names) stopped.delete(name);
    const services = [...running.services];
    const waiting = [...stopped.entries()].sort((a, b) => a[1].index - b[1].index);
    for (const [, { spec, index }] of waiting) services.splice(Math.min(index, services.length), 0, spec);
    return { ...running, services };
  };

  // The problems of the config as it stands, and the running config they were
  // found in: the last commit's result, reused while nobody else changed the
  // config (a reload, SIGHUP), so an edit runs the validator once.
  let standing: { running: Config; problems: ReadonlySet<string> } | null = null;

  /** Validates `next` (with `stoppedNames` left out when applied), applies it, and records what is stopped. */
  const commit = async (next: Config, stoppedNames: ReadonlySet<string>, reason: string): Promise<void> => {
    const runningNow = control.config();
    const nextRunning: Config = { ...next, services: next.services.filter((s) => !stoppedNames.has(s.name)) };
    const had =
      standing?.running === runningNow ? standing.problems : new Set(validateConfig(full(), new Set(stopped.keys())).map(problemKey));
    const found = validateConfig(next, stoppedNames);
    // Only what this change breaks: a problem the running config already had does not block unrelated edits.
    const fresh = dedupe(found.filter((p) => !had.has(problemKey(p))));
    if (fresh.length > 0) throw new RefusedError(fresh.map(describeProblem).join('\n'));
    const unchanged =
      nextRunning.services.length === runningNow.services.length && nextRunning.services.every((s, i) => s === runningNow.services[i]);
    if (!unchanged) {
      try {
        await control.apply(nextRunning, reason);
      } catch (err) {
        if (err instanceof ConfigError) throw new RefusedError(err.problems.map(describeProblem).join('\n'));
        throw err;
      }
    }
    stopped.clear();
    next.services.forEach((spec, index) => {
      if (stoppedNames.has(spec.name)) stopped.set(spec.name, { spec, index });
    });
    standing = { running: control.config(), problems: new Set(found.map(problemKey)) };
  };

  const edit = (op: EditOp): AdminHandler => {
    return (params) =>
      serialize(async (): Promise<EditAnswer> => {
        const command = editCommand(op, params);
        const current = full();
        let result;
        try {
          result = applyEdit(current, command);
        } catch (err) {
          if (err instanceof EditError) throw new RefusedError(`${err.field}: ${err.message}`);
          throw err;
        }
        const left = new Set(result.config.services.map((s) => s.name));
        const stoppedNames = new Set([...stopped.keys()].filter((name) => left.has(name)));
        await commit(result.config, stoppedNames, describeCommand(command));
        return { warnings: result.warnings };
      });
  };

  const handlers: AdminHandlers = {};
  for (const op of Object.keys(EDIT_METHODS) as EditOp[]) handlers[EDIT_METHODS[op]] = edit(op);

  handlers[METHODS.start] = (params) =>
    serialize(async (): Promise<EditAnswer> => {
      const ident = optionalString(params, 'ident');
      const current = full();
      const names = ident === undefined ? [...stopped.keys()] : [knownService(current, ident)];
      const warnings = names.filter((n) => !stopped.has(n)).map((n) => `virtual '${n}' is already running`);
      const stoppedNames = new Set([...stopped.keys()].filter((n) => !names.includes(n)));
      await commit(current, stoppedNames, ident === undefined ? 'tcpvsadm --start' : `tcpvsadm --start -i ${ident}`);
      return { warnings };
    });

  handlers[METHODS.stop] = (params) =>
    serialize(async (): Promise<EditAnswer> => {
      const ident = optionalString(params, 'ident');
      const current = full();
      const names = ident === undefined ? current.services.map((s) => s.name) : [knownService(current, ident)];
      const warnings = names.filter((n) => stopped.has(n)).map((n) => `virtual '${n}' is already stopped`);
      const stoppedNames = new Set([...stopped.keys(), ...names]);
      await commit(current, stoppedNames, ident === undefined ? 'tcpvsadm --stop' : `tcpvsadm --stop -i ${ident}`);
      return { warnings };
    });

  handlers[METHODS.load] = (params) =>
    serialize(async (): Promise<EditAnswer> => {
      // The client reads the file, with its own rights, and sends its text:
      // tcpvs reads no path on a caller's behalf, so no file it can read is
      // echoed back through a config error. `path` names it in messages and
      // becomes the file a later SIGHUP re-reads.
      const path = requiredString(params, 'path');
      const text = requiredString(params, 'text');
      if (!isAbsolute(path)) throw new RefusedError(`path: '${path}' is not absolute`, 'bad-params');
      try {
        await control.reload(path, text);
      } catch (err) {
        if (err instanceof ConfigError) throw new RefusedError(err.problems.map(describeProblem).join('\n'));
        throw err;
      }
      stopped.clear();
      return { warnings: control.config().warnings.map(formatProblem) };
    });

  handlers[METHODS.list] = async (params): Promise<ListResult> => {
    const ident = optionalString(params, 'ident');
    const config = full();
    if (ident !== undefined) knownService(config, ident);
    const services = config.services.filter((s) => ident === undefined || s.name === ident);
    const bound = new Map<string, string>();
    for (const runtime of control.services()) {
      const address = runtime.address;
      if (address !== null) bound.set(runtime.spec.name, formatEndpoint({ host: address.address, port: address.port }));
    }
    return { version: tcpvsVersion(), services: services.map((s) => listService(s, stopped.has(s.name), bound.get(s.name))) };
  };

  handlers[METHODS.show] = async (params): Promise<string> => {
    const name = optionalString(params, 'service');
    const config = full();
    if (name !== undefined) knownService(config, name, 'service');
    const services = config.services.filter((s) => name === undefined || s.name === name);
    // The file's warnings describe the file, not what edits made of it since.
    const text = formatRuleTable({ ...config, services, warnings: [], l4: name === undefined ? config.l4 : null });
    const down = services.filter((s) => stopped.has(s.name)).map((s) => s.name);
    return down.length === 0 ? text : `stopped (defined, not listening): ${down.join(', ')}\n${text}`;
  };

  handlers[METHODS.stats] = async (params): Promise<StatsResult> => {
    if (extras.stats !== undefined) return { source: 'stats', snapshot: await extras.stats() };
    const intervalMs = optionalInteger(params, 'intervalMs', 1, MAX_RATE_INTERVAL_MS);
    return { source: 'runtime', snapshot: await runtimeStats(control, intervalMs) };
  };

  return handlers;
}

// ---- reading the runtimes ----

/** The counters now; `rateOf` gives each server's requests per second (absent: no rates). */
function sampleRuntime(control: ControlPlane, rateOf?: (server: ServerView) => number | null): RuntimeStats {
  // A sum of rates is unknown when one of them is.
  const total = (rates: (number | null | undefined)[]): number | null | undefined =>
    rateOf === undefined ? undefined : rates.some((r) => r === null || r === undefined) ? null : sum(rates as number[]);
  return {
    generatedAt: Date.now(),
    services: control.services().map((svc) => {
      const groups = svc.groups.map((g) => {
        const servers = g.servers.map(
          (s): RuntimeServerStats => ({
            name: s.name,
            up: s.up,
            weight: s.weight,
            activeRequests: s.active,
            requests: rateOf === undefined ? { total: s.total } : { total: s.total, perSecond: rateOf(s) },
          }),
        );
        const perSecond = total(servers.map((s) => s.requests.perSecond));
        return {
          name: g.name,
          scheduler: g.scheduler,
          activeRequests: sum(servers.map((s) => s.activeRequests)),
          requests:
            perSecond === undefined
              ? { total: sum(servers.map((s) => s.requests.total)) }
              : { total: sum(servers.map((s) => s.requests.total)), perSecond },
          servers,
        };
      });
      const address = svc.address;
      const perSecond = total(groups.map((g) => g.requests.perSecond));
      return {
        name: svc.spec.name,
        listen: address === null ? formatEndpoint(svc.spec.listen) : formatEndpoint({ host: address.address, port: address.port }),
        activeRequests: sum(groups.map((g) => g.activeRequests)),
        requests:
          perSecond === undefined
            ? { total: sum(groups.map((g) => g.requests.total)) }
            : { total: sum(groups.map((g) => g.requests.total)), perSecond },
        groups,
      };
    }),
  };
}

/** The counters now; with `intervalMs`, requests per second over that long. */
async function runtimeStats(control: ControlPlane, intervalMs: number | undefined): Promise<RuntimeStats> {
  if (intervalMs === undefined) return sampleRuntime(control);
  // Keyed by the servers' uids: a server that left and came back in between
  // has new counters, and gets no rate rather than a wrong one.
  const before = new Map<number, number>();
  for (const svc of control.services()) for (const g of svc.groups) for (const s of g.servers) before.set(s.uid, s.total);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
  const seconds = (performance.now() - started) / 1000;
  const stats = sampleRuntime(control, (s) => {
    const was = before.get(s.uid);
    return was === undefined ? null : (s.total - was) / seconds;
  });
  stats.intervalMs = intervalMs;
  return stats;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

// ---- formatting answers ----

function listService(s: ServiceSpec, isStopped: boolean, bound: string | undefined): ListedService {
  const shape = ktcpvsShape(s);
  const dropped = ktcpvsDropped(s, shape);
  const server = (x: { host: string; port: number; weight: number }): ListedServer => ({ address: formatEndpoint(x), weight: x.weight });
  return {
    name: s.name,
    stopped: isStopped,
    listen: formatEndpoint(s.listen),
    bound: isStopped ? null : (bound ?? null),
    shape,
    servers: ktcpvsServers(s).map(server),
    rules:
      shape.kind === 'content'
        ? ktcpvsRules(s, shape.scheduler === 'hhttp').map((r) => ({
            pattern: r.pattern,
            match: r.submatch,
            server: formatEndpoint(r.server),
            route: r.route,
          }))
        : [],
    groups: s.groups.map((g) => ({ name: g.name, scheduler: g.scheduler, servers: g.servers.map(server) })),
    routes: s.rules.map((r) => ({ name: r.name, matchers: r.matchers.map(formatMatcher).join('  '), group: r.group })),
    defaultGroup: s.defaultGroup,
    idleTimeoutSec: s.timeouts.clientIdleMs / 1000,
    ...(dropped.length > 0 ? { dropped } : {}),
  };
}

function problemKey(p: ConfigProblem): string {
  return `${p.field}\u0000${p.message}`;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = problemKey(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `FIELD: MESSAGE`, with the file and line when the service came from a file. */
export function describeProblem(p: ConfigProblem): string {
  return p.file === TCPVSADM_FILE && p.line === 0 ? `${p.field}: ${p.message}` : formatProblem(p);
}

/** The reason apply() logs: `tcpvsadm add-server ident=web server=10.0.0.1:80`. */
function describeCommand(command: EditCommand): string {
  const parts = Object.entries(command)
    .filter(([k, v]) => k !== 'op' && v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(' ') : String(v)}`);
  return ['tcpvsadm', command.op, ...parts].join(' ');
}

function knownService(config: Config, name: string, field = 'ident'): string {
  if (!config.services.some((s) => s.name === name)) throw new RefusedError(`${field}: no virtual service '${name}'`);
  return name;
}

// ---- params: the socket is private, but a malformed call should say what is wrong ----

function badParams(message: string): RefusedError {
  return new RefusedError(`bad params: ${message}`, 'bad-params');
}

function paramsObject(params: unknown): Record<string, unknown> {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw badParams('params must be an object');
  return params as Record<string, unknown>;
}

function optionalString(params: unknown, name: string): string | undefined {
  const v = paramsObject(params)[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badParams(`${name} must be a string`);
  return v;
}

function requiredString(params: unknown, name: string): string {
  const v = optionalString(params, name);
  if (v === undefined) throw badParams(`${name} is missing`);
  return v;
}

function optionalInteger(params: unknown, name: string, min: number, max: number): number | undefined {
  const v = paramsObject(params)[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badParams(`${name} must be an integer ${min}..${max}`);
  return v;
}

/** The params of an edit method, checked into its command. */
function editCommand(op: EditOp, params: unknown): EditCommand {
  const s = (name: string) => requiredString(params, name);
  const os = (name: string) => optionalString(params, name);
  // Range checks are the edit's, so the refusal names the field; here only the type.
  const on = (name: string) => optionalInteger(params, name, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  switch (op) {
    case 'add-service':
    case 'edit-service':
      return { op, ident: s('ident'), scheduler: os('scheduler'), listen: os('listen') };
    case 'delete-service':
      return { op, ident: s('ident') };
    case 'flush':
      paramsObject(params);
      return { op };
    case 'add-server':
    case 'edit-server':
      return { op, ident: s('ident'), server: s('server'), weight: on('weight') };
    case 'delete-server':
      return { op, ident: s('ident'), server: s('server') };
    case 'add-rule':
      return { op, ident: s('ident'), pattern: s('pattern'), server: s('server'), match: on('match') };
    case 'del-rule':
      return { op, ident: s('ident'), pattern: s('pattern'), server: s('server') };
    case 'group-add':
      return { op, service: s('service'), group: s('group'), scheduler: os('scheduler') };
    case 'group-del':
      return { op, service: s('service'), group: s('group') };
    case 'server-add':
      return { op, service: s('service'), group: s('group'), server: s('server'), weight: on('weight') };
    case 'server-del':
      return { op, service: s('service'), group: s('group'), server: s('server') };
    case 'server-weight': {
      const weight = on('weight');
      if (weight === undefined) throw badParams('weight is missing');
      return { op, service: s('service'), group: s('group'), server: s('server'), weight };
    }
    case 'route-add': {
      const matchers = paramsObject(params).matchers;
      if (!Array.isArray(matchers) || !matchers.every((m) => typeof m === 'string'))
        throw badParams('matchers must be an array of strings');
      return { op, service: s('service'), name: s('name'), matchers, group: s('group'), before: os('before') };
    }
    case 'route-del':
      return { op, service: s('service'), name: s('name') };
    case 'default': {
      const group = paramsObject(params).group;
      if (group !== null && typeof group !== 'string') throw badParams('group must be a string or null');
      return { op, service: s('service'), group };
    }
  }
}

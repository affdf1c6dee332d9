// Checks a whole Config object the way the parsers check a file, for configs
// that tcpvsadm built by editing the running one. It covers what an edit can
// break: names, duplicate listen addresses, references from routes, defaults
// and vips to groups and services, schedulers, weights, submatch keys and
// mh's table size. Problems carry the service's file and line when it came
// from a file, and a field naming what is wrong.
import type { Config, GroupSpec, ServiceSpec } from '../config/model.ts';
import type { ConfigProblem } from '../config/errors.ts';
import { captureCount, checkListenConflicts, checkName, formatEndpoint, type ListenSite } from '../config/tokenize.ts';
import { KEY_SCHEDULERS } from '../config/native.ts';
import { MAX_WEIGHT } from '../config/model.ts';
import { knownSchedulers } from '../sched/index.ts';
import { checkTableSize } from '../sched/mh.ts';
import { keyedRegexIndex } from '../config/route-syntax.ts';

export function validateConfig(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, ServiceSpec>();
  for (const service of config.services) {
    const report = (field: string, message: string): void => {
      problems.push({ file: service.file, line: service.line, field, message: `service '${service.name}': ${message}` });
    };
    const bad = checkName(service.name);
    if (bad !== null) report('service', bad);
    if (seen.has(service.name)) report('service', 'duplicate service name');
    seen.set(service.name, service);
    validateService(service, report);
  }
  checkListenConflicts(
    config.services.map((s): ListenSite => ({ service: s.name, listen: s.listen, file: s.file, line: s.line })),
    problems,
  );
  for (const vip of config.l4?.vips ?? []) {
    for (const real of vip.reals) {
      if (real.kind === 'self' && !seen.has(real.service)) {
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
  const known = knownSchedulers();
  for (const group of service.groups) {
    const where = `group '${group.name}'`;
    const bad = checkName(group.name);
    if (bad !== null) report('group', bad);
    if (groups.has(group.name)) report('group', `duplicate group name '${group.name}'`);
    groups.set(group.name, group);
    const addresses = new Set<string>();
    for (const server of group.servers) {
      const address = formatEndpoint(server);
      if (server.host === '' || !Number.isInteger(server.port) || server.port < 1 || server.port > 65535) {
        report('server', `${where}: bad server address ${address}`);
      }
      if (!Number.isInteger(server.weight) || server.weight < 0 || server.weight > MAX_WEIGHT) {
        report('server.weight', `${where}: server ${address}: weight ${server.weight} is not an integer 0..${MAX_WEIGHT}`);
      }
      if (addresses.has(address)) report('server', `${where}: ${address} is in the group twice`);
      addresses.add(address);
    }
    if (!known.includes(group.scheduler)) {
      report('group.scheduler', `${where}: unknown scheduler '${group.scheduler}' (known: ${known.join(', ')})`);
      continue;
    }
    if (group.key !== undefined && !KEY_SCHEDULERS.has(group.scheduler)) {
      report('group.key', `${where}: scheduler ${group.scheduler} does not use a key`);
    }
    if (group.hashSubmatch !== undefined && group.scheduler !== 'hhttp' && group.key?.kind !== 'submatch') {
      report('group.hash-submatch', `${where}: hash-submatch is only meaningful with scheduler hhttp`);
    }
    if (group.scheduler === 'mh') {
      try {
        checkTableSize(group.tuning?.tableSize, group.servers.length);
      } catch (err) {
        report('group.table-size', `${where}: ${(err as Error).message}`);
      }
    }
  }

  const routes = new Set<string>();
  for (const rule of service.rules) {
    const where = `route '${rule.name}'`;
    const bad = checkName(rule.name);
    if (bad !== null) report('route', bad);
    if (routes.has(rule.name)) report('route', `duplicate route name '${rule.name}'`);
    routes.add(rule.name);
    if (rule.matchers.length === 0) report('route', `${where} has no matchers`);
    for (const m of rule.matchers) {
      const re = m.kind === 'path-regex' || m.kind === 'url-regex' ? m.re : 'op' in m && m.op === 'regex' ? m.re : null;
      // A g or y flag would make a shared RegExp carry lastIndex from one request to the next.
      if (re !== null && (!(re instanceof RegExp) || re.global || re.sticky)) report(`route.${m.kind}`, `${where}: bad regular expression`);
    }
    const target = groups.get(rule.group);
    if (target === undefined) {
      report('route.to', `${where}: unknown group '${rule.group}'`);
      continue;
    }
    const submatch = target.hashSubmatch;
    if (submatch === undefined) continue;
    const keyed = rule.matchers[keyedRegexIndex(rule.matchers)];
    if (keyed === undefined || (keyed.kind !== 'url-regex' && keyed.kind !== 'path-regex')) {
      // hhttp's implicit submatch 0 only loses the key (the parser warns); an explicit `key submatch` needs the regex.
      if (target.key?.kind === 'submatch')
        report(
          'route.to',
          `${where}: group '${rule.group}' keys on submatch ${submatch} of a url-regex or path-regex, and the route has neither`,
        );
    } else if (captureCount(keyed.re) < submatch) {
      report(
        `route.${keyed.kind}`,
        `${where}: group '${rule.group}' keys on submatch ${submatch} but the regex has only ${captureCount(keyed.re)} capture group(s)`,
      );
    }
  }
  if (service.defaultGroup !== null && !groups.has(service.defaultGroup)) {
    report('default', `unknown default group '${service.defaultGroup}'`);
  }
}

// lib/config/validate.ts: the one weight rule, the messages both parsers and
// tcpvsadm share, the scheduler rules read from the registry, and
// validateConfig on configs built by parsing a valid file and then editing
// it by hand, as tcpvsadm does.
import t from 'tap';
import { parseNativeConfig } from '../../lib/config/native.ts';
import type { Config, GroupSpec, RuleSpec, ServiceSpec, VipSpec } from '../../lib/config/model.ts';
import type { ConfigProblem } from '../../lib/config/errors.ts';
import {
  checkGroupScheduling,
  checkSubmatchSource,
  duplicateNameMessage,
  parseWeight,
  unknownSchedulerMessage,
  validateConfig,
  weightProblem,
} from '../../lib/config/validate.ts';
import { knownSchedulers } from '../../lib/sched/index.ts';

const FILE = 'v.tcpvs';

// One service, one mh group keyed on submatch 1 of a url-regex route, a
// wlc group as the default: valid as written.
const BASE = [
  'service web', //                              line 1
  '  listen 127.0.0.1:8080',
  '  group cache scheduler mh',
  '    key submatch 1',
  '    server 127.0.0.1:9001',
  '    server 127.0.0.1:9002 weight 3',
  '  group app scheduler wlc',
  '    server 127.0.0.1:9101',
  '  route objects url-regex "^/o/([^/]+)" to cache', // line 9
  '  route api prefix /api/ to app', //                   line 10
  '  default app',
];

function base(extra: string[] = []): Config {
  return parseNativeConfig([...BASE, ...extra].join('\n'), FILE);
}

function service(config: Config, index = 0): ServiceSpec {
  return config.services[index];
}

function group(config: Config, name: string): GroupSpec {
  const found = service(config).groups.find((g) => g.name === name);
  if (found === undefined) throw new Error(`no group ${name}`);
  return found;
}

function route(config: Config, name: string): RuleSpec {
  const found = service(config).rules.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no route ${name}`);
  return found;
}

/** `line field: message` of each problem, for t.same. */
function lines(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) => `${p.file}:${p.line} ${p.field}: ${p.message}`);
}

t.test('the base config is valid, so each problem below comes from its one edit', async (t) => {
  t.same(validateConfig(base()), []);
});

t.test('parseWeight: an integer 0..65535 in plain digits', async (t) => {
  t.same(parseWeight('0'), { ok: true, value: 0 }, '0 (quiescent) is a weight');
  t.same(parseWeight('65535'), { ok: true, value: 65535 });
  t.same(parseWeight('007'), { ok: true, value: 7 }, 'leading zeros are plain digits');
  const bad = 'must be an integer 0..65535 (0 = quiescent)';
  for (const text of ['65536', '-1', '+1', '1.5', '1e3', '', ' 1', '0x10', 'ten', '99999999999']) {
    t.same(parseWeight(text), { ok: false, message: `bad weight '${text}': ${bad}` }, `'${text}' is refused`);
  }
});

t.test('weightProblem: the same rule and wording for a number', async (t) => {
  t.equal(weightProblem(0), null);
  t.equal(weightProblem(65535), null);
  t.equal(weightProblem(1), null);
  t.equal(weightProblem(65536), "bad weight '65536': must be an integer 0..65535 (0 = quiescent)");
  t.equal(weightProblem(-1), "bad weight '-1': must be an integer 0..65535 (0 = quiescent)");
  t.equal(weightProblem(2.5), "bad weight '2.5': must be an integer 0..65535 (0 = quiescent)");
  t.equal(weightProblem(Number.NaN), "bad weight 'NaN': must be an integer 0..65535 (0 = quiescent)");
  t.equal(weightProblem(Number.POSITIVE_INFINITY), "bad weight 'Infinity': must be an integer 0..65535 (0 = quiescent)");
  t.equal(parseWeight('300').ok && weightProblem(300), null, 'what parseWeight takes, weightProblem passes');
});

t.test('duplicateNameMessage names the first line only when it is known', async (t) => {
  t.equal(duplicateNameMessage('group', 'g'), "duplicate group name 'g'");
  t.equal(duplicateNameMessage('route', 'r', 7), "duplicate route name 'r' (first at line 7)");
  t.equal(duplicateNameMessage('service', 's', 0), "duplicate service name 's'", 'line 0 means no line');
});

t.test('unknownSchedulerMessage lists the registry in order', async (t) => {
  const message = unknownSchedulerMessage('fair');
  t.equal(message, `unknown scheduler 'fair' (known: ${knownSchedulers().join(', ')})`);
  t.match(message, /known: rr, wrr, lc, wlc, hhttp, sed, nq, dh, sh, p2c, lblc, lblcr, mh, chbl\)$/);
});

t.test('names: services, groups and routes', async (t) => {
  const config = base();
  service(config).name = 'web site';
  group(config, 'app').name = '-app';
  route(config, 'api').name = 'a/b';
  service(config).defaultGroup = '-app';
  route(config, 'a/b').group = '-app';
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 service: service 'web site': bad name 'web site': use letters, digits, '_', '.', '-'`,
    `${FILE}:1 group: service 'web site': bad name '-app': use letters, digits, '_', '.', '-'`,
    `${FILE}:1 route: service 'web site': bad name 'a/b': use letters, digits, '_', '.', '-'`,
  ]);
});

t.test('duplicate service names: the first line is named only within one file', async (t) => {
  const config = base();
  const second: ServiceSpec = { ...service(config), line: 40, listen: { host: '127.0.0.1', port: 8081 } };
  config.services.push(second);
  t.same(lines(validateConfig(config)), [`${FILE}:40 service: service 'web': duplicate service name 'web' (first at line 1)`]);
  second.file = 'other.tcpvs';
  t.same(lines(validateConfig(config)), [`other.tcpvs:40 service: service 'web': duplicate service name 'web'`]);
});

t.test('duplicate group and route names', async (t) => {
  const config = base();
  const s = service(config);
  s.groups.push({ name: 'app', scheduler: 'rr', servers: [{ host: '127.0.0.1', port: 9200, weight: 1 }] });
  s.rules.push({ ...route(config, 'api'), line: 12 });
  s.rules.push({ ...route(config, 'api'), line: 13, file: 'elsewhere' });
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 group: service 'web': duplicate group name 'app'`,
    `${FILE}:1 route: service 'web': duplicate route name 'api' (first at line 10)`,
    `${FILE}:1 route: service 'web': duplicate route name 'api'`,
  ]);
});

t.test('listen addresses: bad ones, and port 0 allowed', async (t) => {
  const config = base();
  service(config).listen = { host: '', port: 8080 };
  t.same(lines(validateConfig(config)), [`${FILE}:1 listen: service 'web': bad listen address :8080`]);
  service(config).listen = { host: '127.0.0.1', port: 65536 };
  t.same(lines(validateConfig(config)), [`${FILE}:1 listen: service 'web': bad listen address 127.0.0.1:65536`]);
  service(config).listen = { host: '::1', port: 1.5 };
  t.same(lines(validateConfig(config)), [`${FILE}:1 listen: service 'web': bad listen address [::1]:1.5`]);
  service(config).listen = { host: '127.0.0.1', port: 0 };
  t.same(validateConfig(config), [], 'port 0: any free port');
});

t.test('listen conflicts between services', async (t) => {
  const config = base();
  const other = (port: number, host: string, line: number): ServiceSpec => ({
    ...service(config),
    name: `s${line}`,
    listen: { host, port },
    line,
  });
  config.services.push(other(8080, '127.0.0.1', 20));
  t.same(lines(validateConfig(config)), [`${FILE}:20 listen: 127.0.0.1:8080 is already the listen address of service 'web' (line 1)`]);
  config.services[1] = other(8080, '0.0.0.0', 20);
  t.same(lines(validateConfig(config)), [`${FILE}:20 listen: 0.0.0.0:8080 overlaps 127.0.0.1:8080 of service 'web' (line 1)`]);
  config.services[1] = other(8080, '::', 20);
  t.same(lines(validateConfig(config)), [`${FILE}:20 listen: [::]:8080 overlaps 127.0.0.1:8080 of service 'web' (line 1)`]);
  config.services[1] = other(8080, '127.0.0.2', 20);
  t.same(validateConfig(config), [], 'two specific addresses on one port do not conflict');
  config.services[1] = other(8081, '0.0.0.0', 20);
  t.same(validateConfig(config), [], 'a wildcard on another port does not conflict');
  service(config).listen.port = 0;
  config.services[1] = other(0, '127.0.0.1', 20);
  t.same(validateConfig(config), [], 'two ephemeral listens never conflict');
});

t.test('servers: address, weight, and the same address twice', async (t) => {
  const config = base();
  const servers = group(config, 'app').servers;
  servers.push({ host: '127.0.0.1', port: 0, weight: 1 });
  servers.push({ host: '', port: 80, weight: 1 });
  servers.push({ host: '127.0.0.1', port: 9102, weight: 65536 });
  servers.push({ host: '127.0.0.1', port: 9101, weight: 2 });
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 server: service 'web': group 'app': bad server address 127.0.0.1:0`,
    `${FILE}:1 server: service 'web': group 'app': bad server address :80`,
    `${FILE}:1 server.weight: service 'web': group 'app': server 127.0.0.1:9102: bad weight '65536': must be an integer 0..65535 (0 = quiescent)`,
    `${FILE}:1 server: service 'web': group 'app': 127.0.0.1:9101 is already in group 'app'`,
  ]);
});

t.test('the same server in two groups is allowed', async (t) => {
  const config = base();
  group(config, 'app').servers.push({ host: '127.0.0.1', port: 9001, weight: 1 });
  t.same(validateConfig(config), []);
});

t.test('routes: no matchers, regexes that keep state, unknown groups', async (t) => {
  const config = base();
  route(config, 'api').matchers = [];
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 route: service 'web': route 'api' has no matchers (use 'default GROUP' for a catch-all)`,
  ]);

  const globals = base();
  route(globals, 'api').matchers = [
    { kind: 'path-regex', re: /^\/a/g },
    { kind: 'header', name: 'x', op: 'regex', re: /b/y },
    { kind: 'cookie', name: 'c', op: 'regex', re: /ok/i },
    { kind: 'query', name: 'q', op: 'equals', value: 'v' },
  ];
  t.same(
    lines(validateConfig(globals)),
    [
      `${FILE}:1 route.path-regex: service 'web': route 'api': bad regular expression`,
      `${FILE}:1 route.header: service 'web': route 'api': bad regular expression`,
    ],
    'g and y flags are refused, i is not; equals has no regex',
  );

  const notRegex = base();
  route(notRegex, 'api').matchers = [{ kind: 'url-regex', re: '^/x' as unknown as RegExp }];
  t.same(lines(validateConfig(notRegex)), [`${FILE}:1 route.url-regex: service 'web': route 'api': bad regular expression`]);

  const unknown = base();
  route(unknown, 'api').group = 'nope';
  service(unknown).defaultGroup = 'gone';
  t.same(lines(validateConfig(unknown)), [
    `${FILE}:1 route.to: service 'web': route 'api': unknown group 'nope' in service 'web'`,
    `${FILE}:1 default: service 'web': unknown group 'gone' in service 'web'`,
  ]);

  const noDefault = base();
  service(noDefault).defaultGroup = null;
  t.same(validateConfig(noDefault), [], 'no default is fine (404 when nothing matches)');
});

t.test('scheduler rules: unknown scheduler, key on one that reads none', async (t) => {
  const unknown = base();
  group(unknown, 'app').scheduler = 'fair';
  t.same(lines(validateConfig(unknown)), [`${FILE}:1 group.scheduler: service 'web': group 'app': ${unknownSchedulerMessage('fair')}`]);

  const keyed = base();
  group(keyed, 'app').key = { kind: 'header', name: 'x-user' };
  t.same(lines(validateConfig(keyed)), [
    `${FILE}:1 group.key: service 'web': group 'app': scheduler wlc does not use a key; key applies to schedulers hhttp, dh, lblc, lblcr, mh and chbl only`,
  ]);

  for (const name of ['hhttp', 'dh', 'lblc', 'lblcr', 'mh', 'chbl']) {
    const config = base();
    group(config, 'app').scheduler = name;
    group(config, 'app').key = { kind: 'host' };
    t.same(validateConfig(config), [], `${name} reads a key`);
  }
  for (const name of ['rr', 'wrr', 'lc', 'sed', 'nq', 'sh', 'p2c']) {
    const config = base();
    group(config, 'app').scheduler = name;
    group(config, 'app').key = { kind: 'host' };
    t.same(
      validateConfig(config).map((p) => p.field),
      ['group.key'],
      `${name} reads no key`,
    );
  }
});

t.test('scheduler rules: each knob only on the schedulers that take it', async (t) => {
  const cases: [string, GroupSpec['tuning'], string][] = [
    ['table-size', { tableSize: 65537 }, 'table-size applies to scheduler mh only'],
    ['balance-factor', { balanceFactor: 1.5 }, 'balance-factor applies to schedulers mh and chbl only'],
    ['balance-on', { balanceOn: 'active' }, 'balance-on applies to schedulers mh and chbl only'],
    ['table-max', { maxEntries: 100 }, 'table-max applies to schedulers lblc and lblcr only'],
    ['expire', { expireMs: 1000 }, 'expire applies to schedulers lblc and lblcr only'],
    ['set-expire', { setExpireMs: 1000 }, 'set-expire applies to scheduler lblcr only'],
    ['seed', { seed: 7 }, 'seed applies to scheduler p2c only'],
  ];
  for (const [statement, tuning, message] of cases) {
    const config = base();
    group(config, 'app').tuning = tuning;
    t.same(
      lines(validateConfig(config)),
      [`${FILE}:1 group.${statement}: service 'web': group 'app': ${message} (group 'app' uses wlc)`],
      statement,
    );
  }
  const ok = base();
  group(ok, 'cache').tuning = { tableSize: 1009, balanceFactor: 1.5, balanceOn: 'active' };
  t.same(validateConfig(ok), [], 'mh takes all three of its knobs');
  const lblcr = base();
  group(lblcr, 'app').scheduler = 'lblcr';
  group(lblcr, 'app').tuning = { maxEntries: 10, expireMs: 5, setExpireMs: 5 };
  t.same(validateConfig(lblcr), [], 'lblcr takes set-expire too');
  const lblc = base();
  group(lblc, 'app').scheduler = 'lblc';
  group(lblc, 'app').tuning = { setExpireMs: 5 };
  t.same(
    validateConfig(lblc).map((p) => p.message),
    ["service 'web': group 'app': set-expire applies to scheduler lblcr only (group 'app' uses lblc)"],
  );
});

/** Trial division, independent of lib/sched/mh.ts. */
function prime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

t.test("scheduler rules: mh's table size against its servers", async (t) => {
  const small = base();
  group(small, 'cache').tuning = { tableSize: 101 };
  t.same(lines(validateConfig(small)), [
    `${FILE}:1 group.table-size: service 'web': group 'cache': table size 101 is too small for 2 servers: must be at least 100 × servers = 200 (the next prime is 211)`,
  ]);
  group(small, 'cache').tuning = { tableSize: 199 };
  t.equal(validateConfig(small).length, 1, '199 < 200');
  group(small, 'cache').tuning = { tableSize: 211 };
  t.same(validateConfig(small), [], '211 >= 200');

  // The default 65537 serves up to 655 servers at 100 slots each.
  const many = base();
  const servers = (n: number) => Array.from({ length: n }, (_, i) => ({ host: '10.0.0.1', port: 1000 + i, weight: 1 }));
  group(many, 'cache').servers = servers(655);
  t.same(validateConfig(many), [], '655 servers fit the default table');
  group(many, 'cache').servers = servers(656);
  const problems = validateConfig(many);
  t.equal(problems.length, 1);
  t.equal(problems[0].field, 'group.table-size');
  const m =
    /^service 'web': group 'cache': mh's default table size 65537 is too small for 656 servers: add 'table-size P' with a prime P of at least 100 × servers = 65600 \(e\.g\. (\d+)\)$/.exec(
      problems[0].message,
    );
  t.ok(m, problems[0].message);
  const suggested = Number(m?.[1]);
  t.ok(suggested >= 65600 && prime(suggested), `suggests a prime of at least 65600: ${suggested}`);
  for (let n = 65600; n < suggested; n++) if (prime(n)) t.fail(`${n} is a smaller prime`);
  group(many, 'cache').tuning = { tableSize: suggested };
  t.same(validateConfig(many), [], 'the suggested size is accepted');
});

t.test('scheduler rules: hash-submatch is hhttp spelling only', async (t) => {
  const config = base();
  // A hash-submatch with no `key submatch` behind it on a scheduler other than hhttp.
  group(config, 'cache').key = undefined;
  group(config, 'cache').hashSubmatch = 1;
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 group.hash-submatch: service 'web': group 'cache': hash-submatch is only meaningful with 'scheduler hhttp' (other schedulers: 'key submatch N')`,
  ]);
  group(config, 'cache').scheduler = 'hhttp';
  t.same(validateConfig(config), [], 'hhttp takes hash-submatch');
  group(config, 'cache').scheduler = 'mh';
  group(config, 'cache').key = { kind: 'submatch', index: 1 };
  t.same(validateConfig(config), [], "mh with 'key submatch 1' (which sets hashSubmatch) is fine");
});

t.test('submatch keys against the route regex', async (t) => {
  const beyond = base();
  group(beyond, 'cache').key = { kind: 'submatch', index: 2 };
  group(beyond, 'cache').hashSubmatch = 2;
  t.same(lines(validateConfig(beyond)), [
    `${FILE}:1 route.url-regex: service 'web': route 'objects': group 'cache' keys on submatch 2 but this regex has only 1 capture group(s)`,
  ]);

  const zero = base();
  group(zero, 'cache').key = { kind: 'submatch', index: 0 };
  group(zero, 'cache').hashSubmatch = 0;
  route(zero, 'objects').matchers = [{ kind: 'url-regex', re: /^\/o\// }];
  t.same(validateConfig(zero), [], 'submatch 0 is the whole match: any regex has it');

  const nonCapturing = base();
  route(nonCapturing, 'objects').matchers = [{ kind: 'url-regex', re: /^\/o\/(?:[^/]+)/ }];
  t.same(
    validateConfig(nonCapturing).map((p) => p.message),
    ["service 'web': route 'objects': group 'cache' keys on submatch 1 but this regex has only 0 capture group(s)"],
    'a non-capturing group does not count',
  );

  const noRegex = base();
  route(noRegex, 'objects').matchers = [{ kind: 'prefix', value: '/o/' }];
  t.same(lines(validateConfig(noRegex)), [
    `${FILE}:1 route.to: service 'web': route 'objects': group 'cache' keys on submatch 1 of a url-regex or path-regex, but route 'objects' has neither`,
  ]);

  // The url-regex supplies the key even after a path-regex with more groups.
  const both = base();
  route(both, 'objects').matchers = [
    { kind: 'path-regex', re: /^\/(a)(b)(c)/ },
    { kind: 'url-regex', re: /^\/o/ },
  ];
  t.same(
    validateConfig(both).map((p) => p.field),
    ['route.url-regex'],
    'the url-regex is the keyed one, with too few groups',
  );
  route(both, 'objects').matchers = [
    { kind: 'path-regex', re: /^\/(a)/ },
    { kind: 'prefix', value: '/' },
  ];
  t.same(validateConfig(both), [], 'a path-regex serves when there is no url-regex');

  // hhttp's implicit submatch (no `key submatch`) on a route without a regex: a warning, not an error.
  const implicit = base();
  group(implicit, 'cache').scheduler = 'hhttp';
  group(implicit, 'cache').key = undefined;
  group(implicit, 'cache').hashSubmatch = 0;
  route(implicit, 'objects').matchers = [{ kind: 'prefix', value: '/o/' }];
  t.same(validateConfig(implicit), [], 'validateConfig reports no warnings');

  // A key that is refused is not checked against the routes as well.
  const refused = base();
  group(refused, 'app').key = { kind: 'submatch', index: 5 };
  group(refused, 'app').hashSubmatch = 5;
  t.same(
    validateConfig(refused).map((p) => p.field),
    ['group.key'],
    "wlc's key is refused once; route api's prefix is not also blamed",
  );
});

t.test('checkSubmatchSource: errors for an explicit key, a warning for the implicit one', async (t) => {
  const got: string[] = [];
  const sink = (kind: string) => (line: number, field: string, message: string) => void got.push(`${kind} ${line} ${field}: ${message}`);
  const rule: RuleSpec = { name: 'r', matchers: [{ kind: 'host', value: 'a.example', wildcard: false }], group: 'g', file: FILE, line: 9 };
  checkSubmatchSource(rule, 9, { name: 'g', scheduler: 'hhttp', servers: [], hashSubmatch: 0 }, sink('error'), sink('warn'));
  checkSubmatchSource(
    rule,
    9,
    { name: 'g', scheduler: 'hhttp', servers: [], hashSubmatch: 0, key: { kind: 'submatch', index: 0 } },
    sink('error'),
    sink('warn'),
  );
  checkSubmatchSource(rule, 9, { name: 'g', scheduler: 'hhttp', servers: [] }, sink('error'), sink('warn'));
  t.same(
    got,
    [
      "warn 9 route.to: group 'g' keys on submatch 0 of a url-regex or path-regex, but route 'r' has neither: its requests carry no hash key",
      "error 9 route.to: group 'g' keys on submatch 0 of a url-regex or path-regex, but route 'r' has neither",
    ],
    'a group without a submatch key is not checked',
  );
  got.length = 0;
  checkSubmatchSource(rule, 9, { name: 'g', scheduler: 'hhttp', servers: [], hashSubmatch: 0 }, sink('error'));
  t.same(got, [], 'no warn sink: the warning is dropped');
});

t.test('checkGroupScheduling: the line of the statement at fault, else the group line', async (t) => {
  const at: Record<string, number> = { key: 14, seed: 15 };
  const lineOf = (statement?: string): number | undefined => (statement === undefined ? 12 : at[statement]);
  const got: string[] = [];
  const sink = (line: number, field: string) => void got.push(`${line} ${field}`);
  const g: GroupSpec = {
    name: 'g',
    scheduler: 'rr',
    servers: [],
    key: { kind: 'path' },
    tuning: { seed: 1, maxEntries: 3 },
  };
  t.equal(checkGroupScheduling(g, lineOf, sink), false, 'a key the scheduler does not read is not usable');
  t.same(got, ['14 group.key', '15 group.seed', '12 group.table-max'], 'knobs in registry order: p2c before lblc');

  got.length = 0;
  t.equal(checkGroupScheduling({ name: 'g', scheduler: 'nope', servers: [], key: { kind: 'path' } }, lineOf, sink), false);
  t.same(got, ['12 group.scheduler'], 'an unknown scheduler stops the checks there');

  got.length = 0;
  t.equal(
    checkGroupScheduling({ name: 'g', scheduler: 'mh', servers: [], key: { kind: 'path' }, tuning: { tableSize: 1 } }, lineOf, sink),
    true,
  );
  t.same(got, [], 'an mh group without servers needs no slots (the knob checks itself only against servers)');

  got.length = 0;
  const noLines = (): undefined => undefined;
  t.equal(checkGroupScheduling({ name: 'g', scheduler: 'wlc', servers: [], key: { kind: 'host' } }, noLines, sink), false);
  t.same(got, ['0 group.key'], 'no line known at all: 0');

  // A hash-submatch written on the group line, with a `key submatch` too: still hhttp-only.
  got.length = 0;
  const written = (statement?: string): number | undefined => (statement === 'hash-submatch' ? 3 : statement === undefined ? 3 : undefined);
  t.equal(
    checkGroupScheduling({ name: 'g', scheduler: 'mh', servers: [], hashSubmatch: 1, key: { kind: 'submatch', index: 1 } }, written, sink),
    false,
  );
  t.same(got, ['3 group.hash-submatch']);
});

t.test('vips: a real self names a service that exists and is not stopped', async (t) => {
  const config = base();
  const vip: VipSpec = {
    name: 'front',
    protocol: 'tcp',
    address: '10.0.0.1',
    port: 80,
    scheduler: 'wlc',
    persistence: null,
    reals: [
      { kind: 'self', service: 'web', weight: 1, line: 31 },
      { kind: 'self', service: 'ghost', weight: 1, line: 32 },
      { kind: 'address', address: '10.0.0.9', port: 80, weight: 1, method: 'masq', line: 33 },
    ],
    weightFollowsLoad: false,
    file: 'l4.tcpvs',
    line: 30,
  };
  config.l4 = { driver: 'userspace', admin: null, drainTimeoutMs: 1000, vips: [vip] };
  t.same(lines(validateConfig(config)), [`l4.tcpvs:32 vip.real: vip 'front' registers service 'ghost', which does not exist`]);
  t.same(
    lines(validateConfig(config, new Set(['web']))),
    [
      `l4.tcpvs:31 vip.real: vip 'front' registers service 'web', which does not exist`,
      `l4.tcpvs:32 vip.real: vip 'front' registers service 'ghost', which does not exist`,
    ],
    'a stopped service is not there to be registered',
  );
  vip.reals.splice(1, 1);
  t.same(validateConfig(config), []);
  t.same(validateConfig(config, new Set(['other'])), [], 'stopping another service changes nothing');
});

t.test('a stopped service is still checked', async (t) => {
  const config = base();
  group(config, 'app').servers[0].weight = -3;
  t.same(
    validateConfig(config, new Set(['web'])).map((p) => p.field),
    ['server.weight'],
  );
});

t.test('problems carry each service its own file and line', async (t) => {
  const config = base();
  const second = parseNativeConfig(
    ['', '', 'service two', '  listen 127.0.0.1:8090', '  group g', '    server 127.0.0.1:1', '  default g'].join('\n'),
    'two.tcpvs',
  ).services[0];
  config.services.push(second);
  t.same(validateConfig(config), []);
  second.defaultGroup = 'h';
  route(config, 'api').group = 'h';
  t.same(lines(validateConfig(config)), [
    `${FILE}:1 route.to: service 'web': route 'api': unknown group 'h' in service 'web'`,
    `two.tcpvs:3 default: service 'two': unknown group 'h' in service 'two'`,
  ]);
});

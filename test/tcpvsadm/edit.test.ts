// tcpvsadm's edits as pure functions: a Config in, the next Config out, the
// input never touched. KTCPVS command sequences build the same services a
// KTCPVS config file makes; refused commands name the field at fault; and
// validateConfig finds what an edit can break.
import t from 'tap';
import type { Test } from 'tap';
import { chttpAffinity } from '../../lib/config/ktcpvs.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { DEFAULT_LOG, type Config, type GroupSpec, type ServiceSpec } from '../../lib/config/model.ts';
import { regexText } from '../../lib/config/tokenize.ts';
import type { EditCommand } from '../../lib/tcpvsadm/wire.ts';
import { EditError, applyEdit, ktcpvsRules, ktcpvsShape, type EditResult } from '../../lib/tcpvsadm/edit.ts';
import { validateConfig } from '../../lib/config/validate.ts';

const EMPTY: Config = { format: 'native', file: 'none', services: [], log: { ...DEFAULT_LOG }, l4: null, warnings: [] };

/** Freezes everything reachable except regexes (shared, and never written). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || value instanceof RegExp || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value as object)) deepFreeze(v);
  return value;
}

/** A stable picture of a config: regexes as their written source. */
function snapshot(config: Config): string {
  return JSON.stringify(config, (_k, v: unknown) => (v instanceof RegExp ? `/${regexText(v)}/` : v));
}

/** Applies the commands one by one, each to a frozen input; checks every input stayed as it was. */
function run(t: Test, config: Config, ...commands: EditCommand[]): EditResult {
  let result: EditResult = { config, warnings: [] };
  for (const command of commands) {
    const input = deepFreeze(result.config);
    const before = snapshot(input);
    result = applyEdit(input, command);
    t.equal(snapshot(input), before, `${command.op} left its input as it was`);
  }
  return result;
}

/** The field a refused command names, and its message. */
function refused(config: Config, command: EditCommand): { field: string; message: string } {
  try {
    applyEdit(deepFreeze(config), command);
  } catch (err) {
    if (err instanceof EditError) return { field: err.field, message: err.message };
    throw err;
  }
  return { field: '(not refused)', message: '' };
}

function service(config: Config, name: string): ServiceSpec {
  const s = config.services.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no service ${name}`);
  return s;
}

interface Picture {
  listen: string;
  groups: string[];
  rules: string[];
  defaultGroup: string | null;
}

/** A group's persistence in a picture. */
function persist(g: GroupSpec): string {
  return g.affinity === undefined ? '' : ` persist ${JSON.stringify(g.affinity)}`;
}

/** Groups and routes in one comparable picture. */
function shape(s: ServiceSpec): Picture {
  return {
    listen: `${s.listen.host}:${s.listen.port}`,
    groups: s.groups.map(
      (g) =>
        `${g.name} ${g.scheduler}${g.hashSubmatch === undefined ? '' : ` submatch ${g.hashSubmatch}`}${persist(g)}: ${g.servers.map((x) => `${x.host}:${x.port}/${x.weight}`).join(' ')}`,
    ),
    rules: s.rules.map(
      (r) =>
        `${r.name}: ${r.matchers.map((m) => (m.kind === 'url-regex' ? `url-regex ${regexText(m.re)}` : m.kind)).join(' ')} -> ${r.group}`,
    ),
    defaultGroup: s.defaultGroup,
  };
}

const ktcpvs = (lines: string[]): Config => parseConfigText(lines.join('\n') + '\n', 'k.conf');

t.test("KTCPVS's http example builds what the same config file builds", async (t) => {
  const { config, warnings } = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'http', scheduler: 'http', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'http', server: 'web1:80' },
    { op: 'add-server', ident: 'http', server: 'web2:80', weight: 2 },
    { op: 'add-server', ident: 'http', server: 'web3:80' },
    { op: 'add-rule', ident: 'http', pattern: '/images/.*', server: 'web1:80' },
    { op: 'add-rule', ident: 'http', pattern: '/html/.*', server: 'web2:80' },
    { op: 'add-rule', ident: 'http', pattern: '/images/.*', server: 'web3:80' },
    { op: 'add-rule', ident: 'http', pattern: '.*', server: 'web3:80' },
  );
  t.same(warnings, []);
  const file = ktcpvs([
    'virtual http {',
    '  listen = 127.0.0.1:8080',
    '  scheduler = http',
    '  server = web1:80 1',
    '  server = web2:80 2',
    '  server = web3:80 1',
    '  rule = pattern "/images/.*" use server web1:80',
    '  rule = pattern "/html/.*" use server web2:80',
    '  rule = pattern "/images/.*" use server web3:80',
    '  rule = pattern ".*" use server web3:80',
    '}',
  ]);
  const made = service(config, 'http');
  t.same(shape(made), shape(file.services[0]), 'routes per pattern, servers per pattern, no default');
  t.same(
    shape(made).groups[0],
    'servers wlc: web1:80/1 web2:80/2 web3:80/1',
    'group servers keeps every real server (it takes no requests)',
  );
  t.same(ktcpvsShape(made), { kind: 'content', scheduler: 'http' });
  t.same(ktcpvsShape(file.services[0]), { kind: 'content', scheduler: 'http' }, 'a file-made virtual reads the same');
  t.same(validateConfig(config), []);
});

t.test("KTCPVS's hhttp example: one pattern hashed on submatch 1", async (t) => {
  const { config } = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'web', scheduler: 'hhttp', listen: '0.0.0.0:8081' },
    { op: 'add-server', ident: 'web', server: '192.168.0.10:80' },
    { op: 'add-server', ident: 'web', server: '192.168.0.11:80' },
    { op: 'add-rule', ident: 'web', pattern: '/users/([^/]+)/.*', match: 1, server: '192.168.0.10:80' },
    { op: 'add-rule', ident: 'web', pattern: '/users/([^/]+)/.*', match: 1, server: '192.168.0.11:80' },
    { op: 'add-rule', ident: 'web', pattern: '.*', server: '192.168.0.11:80' },
  );
  const file = ktcpvs([
    'virtual web {',
    '  listen = 0.0.0.0:8081',
    '  scheduler = hhttp',
    '  server = 192.168.0.10:80 1',
    '  server = 192.168.0.11:80 1',
    '  rule = pattern "/users/([^/]+)/.*" match 1 use server 192.168.0.10:80',
    '  rule = pattern "/users/([^/]+)/.*" match 1 use server 192.168.0.11:80',
    '  rule = pattern ".*" use server 192.168.0.11:80',
    '}',
  ]);
  t.same(shape(service(config, 'web')), shape(file.services[0]));
  t.same(ktcpvsShape(service(config, 'web')), { kind: 'content', scheduler: 'hhttp' });
  t.same(validateConfig(config), []);
});

t.test('a balancing scheduler: one group servers takes every request, as in the file', async (t) => {
  const { config } = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'lb', scheduler: 'rr', listen: '127.0.0.1:8082' },
    { op: 'add-server', ident: 'lb', server: '10.0.0.1:80', weight: 3 },
    { op: 'add-server', ident: 'lb', server: '10.0.0.2:80' },
  );
  const file = ktcpvs([
    'virtual lb {',
    '  listen = 127.0.0.1:8082',
    '  scheduler = rr',
    '  server = 10.0.0.1:80 3',
    '  server = 10.0.0.2:80',
    '}',
  ]);
  t.same(shape(service(config, 'lb')), shape(file.services[0]));
  t.same(ktcpvsShape(service(config, 'lb')), { kind: 'balanced', scheduler: 'rr' });
  const defaults = run(t, EMPTY, { op: 'add-service', ident: 'd' }).config.services[0];
  t.same(
    shape(defaults),
    { listen: '0.0.0.0:8080', groups: ['servers wlc: '], rules: [], defaultGroup: 'servers' },
    'wlc on 0.0.0.0:8080 by default',
  );
  t.equal(defaults.file, 'tcpvsadm');
});

t.test('-e, -d, --del-rule and -E on a content virtual', async (t) => {
  const base = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'v', scheduler: 'http', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'v', server: 'a:80' },
    { op: 'add-server', ident: 'v', server: 'b:80' },
    { op: 'add-rule', ident: 'v', pattern: '^/x', server: 'a:80' },
    { op: 'add-rule', ident: 'v', pattern: '^/x', server: 'b:80' },
    { op: 'add-rule', ident: 'v', pattern: '^/y', server: 'b:80' },
  ).config;

  const weighted = run(t, base, { op: 'edit-server', ident: 'v', server: 'b:80', weight: 5 }).config;
  t.same(
    shape(service(weighted, 'v')).groups,
    ['servers wlc: a:80/1 b:80/5', 'rule1 wlc: a:80/1 b:80/5', 'rule2 wlc: b:80/5'],
    '-e: every copy of the server follows',
  );

  t.same(refused(base, { op: 'delete-server', ident: 'v', server: 'b:80' }), {
    field: 'server',
    message: 'b:80 is used by rule pattern "^/x", rule pattern "^/y": delete them first (--del-rule)',
  });
  const fewer = run(
    t,
    base,
    { op: 'del-rule', ident: 'v', pattern: '^/y', server: 'b:80' },
    { op: 'del-rule', ident: 'v', pattern: '^/x', server: 'b:80' },
  ).config;
  t.same(
    shape(service(fewer, 'v')),
    {
      listen: '127.0.0.1:8080',
      groups: ['servers wlc: a:80/1 b:80/1', 'rule1 wlc: a:80/1'],
      rules: ['rule1: url-regex ^/x -> rule1'],
      defaultGroup: null,
    },
    'an emptied pattern goes with its route and group; the server stays a real server',
  );
  t.same(
    shape(service(run(t, fewer, { op: 'delete-server', ident: 'v', server: 'b:80' }).config, 'v')).groups,
    ['servers wlc: a:80/1', 'rule1 wlc: a:80/1'],
    'then -d works',
  );

  const again = run(t, fewer, { op: 'add-rule', ident: 'v', pattern: '^/z', server: 'b:80' }).config;
  t.same(
    shape(service(again, 'v')).rules,
    ['rule1: url-regex ^/x -> rule1', 'rule2: url-regex ^/z -> rule2'],
    'a new pattern takes the first free ruleN, tried last',
  );

  const hashed = run(t, base, { op: 'edit-service', ident: 'v', scheduler: 'hhttp' }).config;
  t.same(
    shape(service(hashed, 'v')).groups,
    ['servers hhttp submatch 0: a:80/1 b:80/1', 'rule1 hhttp submatch 0: a:80/1 b:80/1', 'rule2 hhttp submatch 0: b:80/1'],
    'http -> hhttp',
  );
  t.same(
    shape(service(run(t, hashed, { op: 'edit-service', ident: 'v', scheduler: 'http' }).config, 'v')),
    shape(service(base, 'v')),
    'and back',
  );

  t.same(refused(base, { op: 'edit-service', ident: 'v', scheduler: 'rr' }), {
    field: 'scheduler',
    message: "virtual 'v' has 2 rule pattern(s), which only apply with http, hhttp, chttp or phttp: delete them first (--del-rule)",
  });
  const moved = run(t, base, { op: 'edit-service', ident: 'v', listen: '127.0.0.1:9090' }).config;
  t.same(service(moved, 'v').listen, { host: '127.0.0.1', port: 9090 }, '-E -l moves the listener');
});

t.test('-E between balancing and content schedulers', async (t) => {
  const lb = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'v', scheduler: 'mh', listen: '127.0.0.1:1' },
    { op: 'add-server', ident: 'v', server: 'a:80' },
  ).config;
  const content = run(t, lb, { op: 'edit-service', ident: 'v', scheduler: 'http' });
  t.same(shape(service(content.config, 'v')), { listen: '127.0.0.1:1', groups: ['servers wlc: a:80/1'], rules: [], defaultGroup: null });
  t.match(content.warnings, [/every request gets 404 until --add-rule/]);
  const back = run(t, content.config, { op: 'edit-service', ident: 'v', scheduler: 'sh' }).config;
  t.same(shape(service(back, 'v')), { listen: '127.0.0.1:1', groups: ['servers sh: a:80/1'], rules: [], defaultGroup: 'servers' });
  t.same(
    shape(run(t, lb, { op: 'edit-service', ident: 'v', scheduler: 'mh' }).config.services[0]),
    shape(lb.services[0]),
    'the same scheduler changes nothing',
  );
});

t.test('a native service shaped as a KTCPVS virtual without group servers gains one on -a', async (t) => {
  const file = parseConfigText(
    [
      'service v',
      '  listen 127.0.0.1:8080',
      '  group rule1',
      '    server 10.0.0.1:80 weight 2',
      '  group rule2',
      '    server 10.0.0.2:80',
      '  route rule1 url-regex "^/a" to rule1',
      '  route rule2 url-regex "^/b" to rule2',
      '',
    ].join('\n'),
    'n.tcpvs',
  );
  t.same(ktcpvsShape(file.services[0]), { kind: 'content', scheduler: 'http' });
  const { config } = run(t, file, { op: 'add-server', ident: 'v', server: '10.0.0.3:80' });
  t.same(shape(service(config, 'v')).groups, [
    'servers wlc: 10.0.0.1:80/2 10.0.0.2:80/1 10.0.0.3:80/1',
    'rule1 wlc: 10.0.0.1:80/2',
    'rule2 wlc: 10.0.0.2:80/1',
  ]);
  const ruled = run(t, file, { op: 'add-rule', ident: 'v', pattern: '^/a', server: '10.0.0.2:80' }).config;
  t.same(shape(service(ruled, 'v')).groups, [
    'servers wlc: 10.0.0.1:80/2 10.0.0.2:80/1',
    'rule1 wlc: 10.0.0.1:80/2 10.0.0.2:80/1',
    'rule2 wlc: 10.0.0.2:80/1',
  ]);
});

t.test('KTCPVS commands refused, each naming its field', async (t) => {
  const base = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'h', scheduler: 'hhttp', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'h', server: 'a:80' },
    { op: 'add-rule', ident: 'h', pattern: '^/u/(\\w+)', match: 1, server: 'a:80' },
    { op: 'add-service', ident: 'lb', listen: '127.0.0.1:8081' },
    { op: 'add-server', ident: 'lb', server: 'a:80' },
  ).config;
  const native = parseConfigText('service n\n listen 127.0.0.1:8082\n group g\n  server 10.0.0.1:80\n default g\n', 'n.tcpvs');
  const mixed: Config = { ...base, services: [...base.services, ...native.services] };
  const cases: [EditCommand, string, RegExp][] = [
    [{ op: 'add-service', ident: 'h' }, 'ident', /^virtual service 'h' already exists$/],
    [{ op: 'add-service', ident: 'x y' }, 'ident', /^bad name 'x y'/],
    [{ op: 'add-service', ident: 'x', scheduler: 'fifo' }, 'scheduler', /^unknown scheduler 'fifo' \(known: http, hhttp, chttp, phttp, rr/],
    [{ op: 'add-service', ident: 'x', listen: '1.2.3.4' }, 'listen', /expected HOST:PORT/],
    [{ op: 'edit-service', ident: 'nope', scheduler: 'rr' }, 'ident', /^no service 'nope' \(services: h, lb, n\)$/],
    [{ op: 'edit-service', ident: 'n', scheduler: 'rr' }, 'scheduler', /^service 'n' is not a KTCPVS virtual/],
    [{ op: 'delete-service', ident: 'nope' }, 'ident', /^no virtual service 'nope'/],
    [{ op: 'add-server', ident: 'lb', server: 'a:80' }, 'server', /^a:80 is already a real server of virtual 'lb'$/],
    [{ op: 'add-server', ident: 'lb', server: 'b:80', weight: 65536 }, 'weight', /^bad weight '65536': must be an integer 0\.\.65535/],
    [{ op: 'add-server', ident: 'lb', server: 'b' }, 'server', /expected HOST:PORT/],
    [
      { op: 'add-server', ident: 'n', server: 'b:80' },
      'ident',
      /^service 'n' has no group 'servers': it is not a KTCPVS virtual .*tcpvsadm server add n GROUP HOST:PORT/,
    ],
    [{ op: 'edit-server', ident: 'lb', server: 'z:80', weight: 2 }, 'server', /^z:80 is not a real server of virtual 'lb'$/],
    [{ op: 'delete-server', ident: 'lb', server: 'z:80' }, 'server', /^z:80 is not a real server of virtual 'lb'$/],
    [
      { op: 'add-rule', ident: 'lb', pattern: '.*', server: 'a:80' },
      'ident',
      /^rules apply only with scheduler http, hhttp, chttp or phttp; virtual 'lb' uses wlc \(change it with -E -i lb -s http\)$/,
    ],
    [
      { op: 'add-rule', ident: 'n', pattern: '.*', server: '10.0.0.1:80' },
      'ident',
      /^service 'n' is not a KTCPVS virtual .*tcpvsadm route add/,
    ],
    [
      { op: 'add-rule', ident: 'h', pattern: '.*', server: 'b:80' },
      'server',
      /^b:80 is not a real server of virtual 'h' \(add it first: -a -i h -r b:80\)$/,
    ],
    [{ op: 'add-rule', ident: 'h', pattern: '(', server: 'a:80' }, 'pattern', /^bad regular expression/],
    [
      { op: 'add-rule', ident: 'h', pattern: '^/(x)', match: 2, server: 'a:80' },
      'match',
      /^submatch 2 does not exist: the pattern has 1 capture group\(s\)$/,
    ],
    [
      { op: 'add-rule', ident: 'h', pattern: '^/u/(\\w+)', server: 'a:80' },
      'server',
      /^rule pattern "\^\/u\/\(\\\\w\+\)" use server a:80 already exists$/,
    ],
    [{ op: 'del-rule', ident: 'h', pattern: '^/v', server: 'a:80' }, 'pattern', /^no rule pattern "\^\/v" use server a:80 in virtual 'h'$/],
    [
      { op: 'del-rule', ident: 'lb', pattern: '.*', server: 'a:80' },
      'ident',
      /^rules apply only with scheduler http, hhttp, chttp or phttp/,
    ],
  ];
  for (const [command, field, message] of cases) {
    const r = refused(mixed, command);
    t.equal(r.field, field, `${JSON.stringify(command)}: field`);
    t.match(r.message, message, `${JSON.stringify(command)}: message`);
  }
  // A second server for the hashed pattern may not ask for another submatch.
  const two = run(t, base, { op: 'add-server', ident: 'h', server: 'b:80' }).config;
  t.same(refused(two, { op: 'add-rule', ident: 'h', pattern: '^/u/(\\w+)', match: 0, server: 'b:80' }), {
    field: 'match',
    message: 'pattern "^/u/(\\\\w+)" already hashes submatch 1',
  });
  const http = run(t, EMPTY, { op: 'add-service', ident: 'p', scheduler: 'http' }, { op: 'add-server', ident: 'p', server: 'a:80' });
  t.match(run(t, http.config, { op: 'add-rule', ident: 'p', pattern: '^/(x)', match: 1, server: 'a:80' }).warnings, [
    /-m 1 ignored: the match number only matters with scheduler hhttp/,
  ]);
});

t.test('-D and -F', async (t) => {
  const two = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'a', listen: '127.0.0.1:1' },
    { op: 'add-service', ident: 'b', listen: '127.0.0.1:2' },
  ).config;
  t.same(
    run(t, two, { op: 'delete-service', ident: 'a' }).config.services.map((s) => s.name),
    ['b'],
  );
  t.same(run(t, two, { op: 'flush' }).config.services, []);
  t.equal(run(t, two, { op: 'flush' }).config.log, two.log, 'the rest of the config stays');
});

t.test('native commands: groups, servers, routes, default', async (t) => {
  const base = parseConfigText(
    [
      'service web',
      ' listen 127.0.0.1:8080',
      ' group static',
      '  server 10.0.0.1:80',
      ' group images',
      '  server 10.0.0.2:80',
      ' route img prefix /img/ to images',
      ' default static',
      '',
    ].join('\n'),
    'web.tcpvs',
  );
  const grown = run(
    t,
    base,
    { op: 'group-add', service: 'web', group: 'api', scheduler: 'hhttp' },
    { op: 'server-add', service: 'web', group: 'api', server: '10.0.0.3:80', weight: 4 },
    { op: 'route-add', service: 'web', name: 'api', matchers: ['url-regex', '^/api/(\\w+)', 'method', 'GET'], group: 'api', before: 'img' },
    { op: 'server-weight', service: 'web', group: 'static', server: '10.0.0.1:80', weight: 0 },
    { op: 'default', service: 'web', group: 'images' },
  );
  const web = service(grown.config, 'web');
  t.same(shape(web), {
    listen: '127.0.0.1:8080',
    groups: ['static wlc: 10.0.0.1:80/0', 'images wlc: 10.0.0.2:80/1', 'api hhttp submatch 0: 10.0.0.3:80/4'],
    rules: ['api: url-regex ^/api/(\\w+) method -> api', 'img: prefix -> images'],
    defaultGroup: 'images',
  });
  t.same(validateConfig(grown.config), []);
  const api = web.rules[0];
  t.ok(api.matchers[0].kind === 'url-regex' && api.matchers[0].re.test('/api/x'), 'the matcher is compiled as a config route would be');
  t.same(api.matchers[1], { kind: 'method', values: ['GET'] });

  const shrunk = run(
    t,
    grown.config,
    { op: 'route-del', service: 'web', name: 'api' },
    { op: 'group-del', service: 'web', group: 'api' },
    { op: 'default', service: 'web', group: null },
    { op: 'server-del', service: 'web', group: 'images', server: '10.0.0.2:80' },
  );
  t.same(shape(service(shrunk.config, 'web')), {
    listen: '127.0.0.1:8080',
    groups: ['static wlc: 10.0.0.1:80/0', 'images wlc: '],
    rules: ['img: prefix -> images'],
    defaultGroup: null,
  });
  t.match(shrunk.warnings, [/group 'images' has no servers left: requests routed to it get 503/]);
  t.match(run(t, base, { op: 'group-add', service: 'web', group: 'x' }).warnings, [/group 'x' has no servers yet/]);

  const cases: [EditCommand, string, RegExp][] = [
    [{ op: 'group-add', service: 'nope', group: 'x' }, 'service', /^no service 'nope' \(services: web\)$/],
    [{ op: 'group-add', service: 'web', group: 'static' }, 'group', /already exists/],
    [{ op: 'group-add', service: 'web', group: 'x', scheduler: 'http' }, 'scheduler', /^unknown scheduler 'http' \(known: rr,/],
    [{ op: 'group-add', service: 'web', group: '-x' }, 'group', /^bad name/],
    [
      { op: 'group-del', service: 'web', group: 'images' },
      'group',
      /^group 'images' is used by route 'img': delete or change those first$/,
    ],
    [{ op: 'group-del', service: 'web', group: 'static' }, 'group', /^group 'static' is used by the default/],
    [{ op: 'group-del', service: 'web', group: 'zz' }, 'group', /^no group 'zz' in service 'web' \(groups: static, images\)$/],
    [{ op: 'server-add', service: 'web', group: 'zz', server: '10.0.0.9:80' }, 'group', /^no group 'zz'/],
    [
      { op: 'server-add', service: 'web', group: 'static', server: '10.0.0.1:80' },
      'server',
      /^10\.0\.0\.1:80 is already in group 'static'$/,
    ],
    [{ op: 'server-add', service: 'web', group: 'static', server: '10.0.0.9:80', weight: -1 }, 'weight', /^bad weight '-1'/],
    [{ op: 'server-del', service: 'web', group: 'static', server: '10.0.0.9:80' }, 'server', /^10\.0\.0\.9:80 is not in group 'static'$/],
    [{ op: 'server-weight', service: 'web', group: 'static', server: '10.0.0.9:80', weight: 1 }, 'server', /is not in group/],
    [{ op: 'server-weight', service: 'web', group: 'static', server: '10.0.0.1:80', weight: 1.5 }, 'weight', /^bad weight '1\.5'/],
    [{ op: 'route-add', service: 'web', name: 'img', matchers: ['prefix', '/'], group: 'static' }, 'route', /^route 'img' already exists/],
    [{ op: 'route-add', service: 'web', name: 'r', matchers: ['prefix', '/'], group: 'zz' }, 'to', /^no group 'zz'/],
    [
      { op: 'route-add', service: 'web', name: 'r', matchers: ['prefix', '/'], group: 'static', before: 'zz' },
      'before',
      /^no route 'zz' in service 'web'$/,
    ],
    [
      { op: 'route-add', service: 'web', name: 'r', matchers: ['path-regex', '('], group: 'static' },
      'path-regex',
      /^bad regular expression/,
    ],
    [{ op: 'route-add', service: 'web', name: 'r', matchers: ['prefix'], group: 'static' }, 'prefix', /^missing value/],
    [{ op: 'route-add', service: 'web', name: 'r', matchers: [], group: 'static' }, 'route', /^route 'r' has no matchers/],
    [{ op: 'route-del', service: 'web', name: 'zz' }, 'route', /^no route 'zz' in service 'web'$/],
    [{ op: 'default', service: 'web', group: 'zz' }, 'group', /^no group 'zz'/],
  ];
  for (const [command, field, message] of cases) {
    const r = refused(base, command);
    t.equal(r.field, field, `${JSON.stringify(command)}: field`);
    t.match(r.message, message, `${JSON.stringify(command)}: message`);
  }
});

t.test('validateConfig: what an edit can break', async (t) => {
  const base = parseConfigText(
    [
      'service web',
      ' listen 127.0.0.1:8080',
      ' group a scheduler hhttp',
      '  server 10.0.0.1:80',
      ' group b',
      '  server 10.0.0.2:80',
      ' route r url-regex ^/(x) to a',
      ' default b',
      'service other',
      ' listen 127.0.0.1:8081',
      ' group g',
      '  server 10.0.0.3:80',
      ' default g',
      '',
    ].join('\n'),
    'v.tcpvs',
  );
  t.same(validateConfig(base), [], 'a parsed config is clean');
  const web = base.services[0];
  const other = base.services[1];
  const broken = (change: (s: ServiceSpec) => ServiceSpec, extra: ServiceSpec[] = [other]): string[] =>
    validateConfig({ ...base, services: [change(web), ...extra] }).map((p) => `${p.file}:${p.line}: ${p.field}: ${p.message}`);

  t.same(
    broken((s) => ({ ...s, listen: { host: '127.0.0.1', port: 8081 } })),
    ["v.tcpvs:9: listen: 127.0.0.1:8081 is already the listen address of service 'web' (line 1)"],
    'duplicate listen',
  );
  t.same(broken((s) => ({ ...s, listen: { host: '0.0.0.0', port: 8081 } })).length, 1, 'a wildcard listen overlaps');
  t.same(
    broken((s) => ({ ...s, name: 'other' })),
    ["v.tcpvs:9: service: service 'other': duplicate service name 'other' (first at line 1)"],
  );
  t.same(
    broken((s) => ({ ...s, defaultGroup: 'zz' })),
    ["v.tcpvs:1: default: service 'web': unknown group 'zz' in service 'web'"],
  );
  t.same(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], group: 'zz' }] })),
    ["v.tcpvs:1: route.to: service 'web': route 'r': unknown group 'zz' in service 'web'"],
  );
  t.same(
    broken((s) => ({ ...s, rules: [s.rules[0], s.rules[0]] })),
    ["v.tcpvs:1: route: service 'web': duplicate route name 'r' (first at line 7)"],
  );
  t.same(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], matchers: [{ kind: 'url-regex', re: /^\/x/ }] }] })),
    [],
    'submatch 0 needs no capture group',
  );
  t.same(
    broken((s) => ({ ...s, groups: [{ ...s.groups[0], hashSubmatch: 2 }, s.groups[1]] })),
    ["v.tcpvs:1: route.url-regex: service 'web': route 'r': group 'a' keys on submatch 2 but this regex has only 1 capture group(s)"],
  );
  t.same(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], matchers: [{ kind: 'url-regex', re: /^\/(x)/g }] }] })),
    ["v.tcpvs:1: route.url-regex: service 'web': route 'r': bad regular expression"],
    'a g flag would carry state between requests',
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], scheduler: 'fifo' }] })),
    [
      "v.tcpvs:1: group.scheduler: service 'web': group 'b': unknown scheduler 'fifo' (known: rr, wrr, lc, wlc, hhttp, sed, nq, dh, sh, p2c, lblc, lblcr, mh, chbl)",
    ],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], servers: [{ host: '10.0.0.2', port: 80, weight: 70000 }] }] })),
    [
      "v.tcpvs:1: server.weight: service 'web': group 'b': server 10.0.0.2:80: bad weight '70000': must be an integer 0..65535 (0 = quiescent)",
    ],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], servers: [s.groups[1].servers[0], s.groups[1].servers[0]] }] })),
    ["v.tcpvs:1: server: service 'web': group 'b': 10.0.0.2:80 is already in group 'b'"],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], key: { kind: 'host' } }] })),
    [
      "v.tcpvs:1: group.key: service 'web': group 'b': scheduler wlc does not use a key; key applies to schedulers hhttp, dh, lblc, lblcr, mh and chbl only",
    ],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], hashSubmatch: 1 }] })),
    [
      "v.tcpvs:1: group.hash-submatch: service 'web': group 'b': hash-submatch is only meaningful with 'scheduler hhttp' (other schedulers: 'key submatch N')",
    ],
  );
  t.same(
    broken((s) => ({ ...s, listen: { host: '', port: 70000 } })),
    ["v.tcpvs:1: listen: service 'web': bad listen address :70000"],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], servers: [{ host: '10.0.0.2', port: 0, weight: 1 }] }] })),
    ["v.tcpvs:1: server: service 'web': group 'b': bad server address 10.0.0.2:0"],
  );
  t.same(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], name: 'a' }], defaultGroup: 'a' })),
    ["v.tcpvs:1: group: service 'web': duplicate group name 'a'"],
  );
  t.match(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], name: '-b' }], defaultGroup: '-b' })),
    [/^v\.tcpvs:1: group: service 'web': bad name '-b'/],
  );
  t.match(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], name: 'r r' }] })),
    [/^v\.tcpvs:1: route: service 'web': bad name 'r r'/],
  );
  t.same(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], matchers: [] }] })),
    ["v.tcpvs:1: route: service 'web': route 'r' has no matchers (use 'default GROUP' for a catch-all)"],
  );
  t.same(
    broken((s) => ({ ...s, rules: [{ ...s.rules[0], matchers: [{ kind: 'prefix', value: '/' }] }] })),
    [],
    "hhttp's implicit submatch without a regex only loses the key",
  );
  t.same(
    broken((s) => ({
      ...s,
      groups: [{ ...s.groups[0], scheduler: 'dh', hashSubmatch: 1, key: { kind: 'submatch', index: 1 } }, s.groups[1]],
      rules: [{ ...s.rules[0], matchers: [{ kind: 'prefix', value: '/' }] }],
    })),
    ["v.tcpvs:1: route.to: service 'web': route 'r': group 'a' keys on submatch 1 of a url-regex or path-regex, but route 'r' has neither"],
    'an explicit key submatch needs one',
  );
  const many = Array.from({ length: 700 }, (_, i) => ({ host: '10.1.0.1', port: 1000 + i, weight: 1 }));
  t.match(
    broken((s) => ({ ...s, groups: [s.groups[0], { ...s.groups[1], scheduler: 'mh', servers: many }] })),
    [/^v\.tcpvs:1: group\.table-size: service 'web': group 'b': mh's default table size 65537 is too small for 700 servers/],
    "mh's table must be 100 × servers",
  );
  const vip = validateConfig({
    ...base,
    l4: {
      driver: 'userspace',
      admin: null,
      drainTimeoutMs: 1,
      vips: [
        {
          name: 'v',
          protocol: 'tcp',
          address: '10.0.0.9',
          port: 80,
          scheduler: 'wlc',
          persistence: null,
          reals: [{ kind: 'self', service: 'gone', weight: 1, line: 7 }],
          weightFollowsLoad: false,
          file: 'v.tcpvs',
          line: 6,
        },
      ],
    },
  });
  t.same(
    vip.map((p) => `${p.line}: ${p.field}: ${p.message}`),
    ["7: vip.real: vip 'v' registers service 'gone', which does not exist"],
  );
});

t.test("chttp: http's groups, each with KTCPVS's session cookie, as the same config file makes them", async (t) => {
  const { config, warnings } = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'shop', scheduler: 'chttp', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'shop', server: 'web1:80' },
    { op: 'add-server', ident: 'shop', server: 'web2:80', weight: 2 },
    { op: 'add-rule', ident: 'shop', pattern: '^/cart/', server: 'web1:80' },
    { op: 'add-rule', ident: 'shop', pattern: '^/cart/', server: 'web2:80' },
    { op: 'add-rule', ident: 'shop', pattern: '.*', server: 'web2:80' },
  );
  t.same(warnings, []);
  const file = ktcpvs([
    'virtual shop {',
    '  listen = 127.0.0.1:8080',
    '  scheduler = chttp',
    '  server = web1:80 1',
    '  server = web2:80 2',
    '  rule = pattern "^/cart/" use server web1:80',
    '  rule = pattern "^/cart/" use server web2:80',
    '  rule = pattern ".*" use server web2:80',
    '}',
  ]);
  const made = service(config, 'shop');
  const cookie = ' persist {"kind":"cookie","mode":"insert","name":"KTCPVS_SID","path":"/","secret":"ktcpvs chttp, virtual shop"}';
  t.same(shape(made), {
    listen: '127.0.0.1:8080',
    groups: [`servers wlc${cookie}: web1:80/1 web2:80/2`, `rule1 wlc${cookie}: web1:80/1 web2:80/2`, `rule2 wlc${cookie}: web2:80/2`],
    rules: ['rule1: url-regex ^/cart/ -> rule1', 'rule2: url-regex .* -> rule2'],
    defaultGroup: null,
  });
  t.same(shape(made), shape(file.services[0]), 'commands and file agree');
  t.same(ktcpvsShape(made), { kind: 'content', scheduler: 'chttp' });
  t.same(ktcpvsShape(file.services[0]), { kind: 'content', scheduler: 'chttp' });
  t.same(validateConfig(config), []);

  // -E between the content schedulers converts every group.
  const plain = run(t, config, { op: 'edit-service', ident: 'shop', scheduler: 'http' }).config;
  t.same(
    shape(service(plain, 'shop')).groups,
    ['servers wlc: web1:80/1 web2:80/2', 'rule1 wlc: web1:80/1 web2:80/2', 'rule2 wlc: web2:80/2'],
    'chttp -> http drops the cookie',
  );
  t.same(ktcpvsShape(service(plain, 'shop')), { kind: 'content', scheduler: 'http' });
  t.same(shape(service(run(t, plain, { op: 'edit-service', ident: 'shop', scheduler: 'chttp' }).config, 'shop')), shape(made), 'and back');
  const hashed = run(t, config, { op: 'edit-service', ident: 'shop', scheduler: 'hhttp' }).config;
  t.same(shape(service(hashed, 'shop')).groups[1], 'rule1 hhttp submatch 0: web1:80/1 web2:80/2', 'chttp -> hhttp');

  // A group whose cookie is not chttp's: no KTCPVS virtual.
  const other = {
    ...made,
    groups: made.groups.map((g) => (g.name === 'rule2' ? { ...g, affinity: { ...chttpAffinity('shop'), name: 'SRV' } } : g)),
  };
  t.match(ktcpvsShape(other), {
    kind: 'native',
    reason: /^group 'rule2' \(wlc, persist cookie SRV insert\) is not what KTCPVS's chttp makes$/,
  });
});

t.test('phttp makes what http makes, and reads as http', async (t) => {
  const byPhttp = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'p', scheduler: 'phttp', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'p', server: 'a:80' },
    { op: 'add-rule', ident: 'p', pattern: '^/x', server: 'a:80' },
  );
  t.match(byPhttp.warnings, []);
  const byHttp = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'p', scheduler: 'http', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'p', server: 'a:80' },
    { op: 'add-rule', ident: 'p', pattern: '^/x', server: 'a:80' },
  );
  t.same(shape(service(byPhttp.config, 'p')), shape(service(byHttp.config, 'p')));
  t.same(ktcpvsShape(service(byPhttp.config, 'p')), { kind: 'content', scheduler: 'http' });
  const same = run(t, byHttp.config, { op: 'edit-service', ident: 'p', scheduler: 'phttp' });
  t.same(same.config.services[0].groups, byHttp.config.services[0].groups, '-E -s phttp on an http virtual changes nothing');
  t.same(same.warnings, []);
});

t.test('--del-rule finds a rule by its pattern as written, slashes and all', async (t) => {
  const { config } = run(
    t,
    EMPTY,
    { op: 'add-service', ident: 'k', scheduler: 'http', listen: '127.0.0.1:8080' },
    { op: 'add-server', ident: 'k', server: 'a:80' },
    { op: 'add-rule', ident: 'k', pattern: '^/images/', server: 'a:80' },
    { op: 'add-rule', ident: 'k', pattern: '^/a\\/b/', server: 'a:80' },
  );
  const k = service(config, 'k');
  t.same(
    ktcpvsRules(k, false).map((r) => r.pattern),
    ['^/images/', '^/a\\/b/'],
    'listed as given, not as RegExp#source (^\\/images\\/)',
  );
  t.same(
    refused(config, { op: 'del-rule', ident: 'k', pattern: '^\\/images\\/', server: 'a:80' }).field,
    'pattern',
    'the escaped source is another pattern',
  );
  const left = run(t, config, { op: 'del-rule', ident: 'k', pattern: '^/images/', server: 'a:80' }).config;
  t.same(
    ktcpvsRules(service(left, 'k'), false).map((r) => r.pattern),
    ['^/a\\/b/'],
  );
  const none = run(t, left, { op: 'del-rule', ident: 'k', pattern: '^/a\\/b/', server: 'a:80' }).config;
  t.same(service(none, 'k').rules, []);
  // A pattern from a file is found the same way.
  const file = ktcpvs([
    'virtual f {',
    '  listen = 127.0.0.1:8081',
    '  scheduler = http',
    '  server = a:80 1',
    '  rule = pattern "^/images/" use server a:80',
    '}',
  ]);
  t.same(service(run(t, file, { op: 'del-rule', ident: 'f', pattern: '^/images/', server: 'a:80' }).config, 'f').rules, []);
});

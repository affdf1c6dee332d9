import t from 'tap';
import { affinityProblems, type AffinitySpec } from '../../lib/affinity/spec.ts';
import { chttpAffinity, parseKtcpvsConfig, patternText } from '../../lib/config/ktcpvs.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { DEFAULT_TIMEOUTS, type Config, type ServiceSpec } from '../../lib/config/model.ts';
import { knownSchedulers } from '../../lib/sched/index.ts';

const FILE = 'tcpvs.conf';

function parse(lines: string[]): Config {
  return parseKtcpvsConfig(lines.join('\n'), FILE);
}

function problems(lines: string[]): string[] {
  try {
    parse(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file}:${p.line}:${p.field}`);
    throw err;
  }
  return [];
}

function firstMessage(lines: string[]): string {
  try {
    parse(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems[0].message;
    throw err;
  }
  return '';
}

function servers(s: ServiceSpec, group: string): string[] {
  return (s.groups.find((g) => g.name === group)?.servers ?? []).map((x) => `${x.host}:${x.port}/${x.weight}`);
}

function patterns(s: ServiceSpec): string[] {
  return s.rules.map((r) => {
    const m = r.matchers[0];
    return `${r.name}:${m.kind}:${m.kind === 'url-regex' ? m.re.test('/cgi-bin/x') : '?'}->${r.group}@${r.line}`;
  });
}

const EXAMPLE = [
  'virtual web {', // 1
  '    listen = 127.0.0.1:8080', // 2
  '    scheduler = http', // 3
  '    startservers = 8', // 4
  '    maxclients = 256', // 5
  '    server = 127.0.0.1:9001 1', // 6
  '    server = 127.0.0.1:9002 3', // 7
  '    rule = pattern "^/cgi-bin/" use server 127.0.0.1:9001', // 8
  '    rule = pattern "/users/([^/]+)/.*" match 1 use server 127.0.0.1:9002', // 9
  '    rule = pattern ".*" use server 127.0.0.1:9002', // 10
  '    rule = pattern ".*" use server 127.0.0.1:9001', // 11
  '}', // 12
];

t.test('scheduler http: one route and one wlc group per distinct pattern', async (t) => {
  const config = parse(EXAMPLE);
  t.equal(config.format, 'ktcpvs');
  t.equal(config.services.length, 1);
  const s = config.services[0];
  t.equal(s.name, 'web');
  t.same(s.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(s.defaultGroup, null, 'nothing matched: 404');
  t.same(patterns(s), ['rule1:url-regex:true->rule1@8', 'rule2:url-regex:false->rule2@9', 'rule3:url-regex:true->rule3@10']);
  t.same(
    s.groups.map((g) => [g.name, g.scheduler, g.hashSubmatch]),
    [
      ['servers', 'wlc', undefined],
      ['rule1', 'wlc', undefined],
      ['rule2', 'wlc', undefined],
      ['rule3', 'wlc', undefined],
    ],
  );
  t.same(servers(s, 'rule1'), ['127.0.0.1:9001/1']);
  t.same(servers(s, 'rule3'), ['127.0.0.1:9002/3', '127.0.0.1:9001/1'], 'same pattern: one server set, weights from server lines');
  t.same(servers(s, 'servers'), ['127.0.0.1:9001/1', '127.0.0.1:9002/3'], 'group servers: every real server, taking no requests');
  t.not(s.groups[2].servers[0], s.groups[3].servers[0], 'groups do not share server records');
  t.not(s.groups[0].servers[0], s.groups[1].servers[0]);
  t.same(s.timeouts, DEFAULT_TIMEOUTS);
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['4:startservers', '5:maxclients', '9:rule.match'],
  );
  t.match(config.warnings[0].message, /^ignored: tcpvs has no kernel threads/);
  t.match(config.warnings[2].message, /only matters with scheduler hhttp/);
});

t.test('scheduler hhttp: groups hash the submatch named by match, 0 without it', async (t) => {
  const config = parse([
    'virtual users {',
    '  listen = 127.0.0.1:8081',
    '  scheduler = hhttp',
    '  server = 127.0.0.1:9001',
    '  server = 127.0.0.1:9002 2',
    '  rule = pattern "^/users/([^/]+)" use server 127.0.0.1:9001',
    '  rule = pattern "^/users/([^/]+)" match 1 use server 127.0.0.1:9002',
    '  rule = pattern "^/(a|b)/(\\w+)" match 2 use server 127.0.0.1:9001',
    '  rule = pattern ".*" use server 127.0.0.1:9002',
    '}',
  ]);
  const s = config.services[0];
  t.same(
    s.groups.map((g) => [g.name, g.scheduler, g.hashSubmatch, g.servers.length]),
    [
      ['servers', 'hhttp', 0, 2],
      ['rule1', 'hhttp', 1, 2],
      ['rule2', 'hhttp', 2, 1],
      ['rule3', 'hhttp', 0, 1],
    ],
  );
  t.same(servers(s, 'rule1'), ['127.0.0.1:9001/1', '127.0.0.1:9002/2'], 'weight defaults to 1');
  t.same(config.warnings, []);
});

t.test('scheduler wlc (and rr, wrr, lc): rules ignored with a warning, one group', async (t) => {
  for (const scheduler of ['wlc', 'rr', 'wrr', 'lc']) {
    const config = parse([
      'virtual lb {',
      '  listen = 127.0.0.1:8080',
      `  scheduler = ${scheduler}`,
      '  server = 127.0.0.1:9001 2',
      '  server = 127.0.0.1:9002',
      '  rule = pattern "^/a" use server 127.0.0.1:9001',
      '  rule = pattern "^/b" use server 127.0.0.1:9009',
      '}',
    ]);
    const s = config.services[0];
    t.same(s.rules, [], `${scheduler}: no routes`);
    t.equal(s.defaultGroup, 'servers');
    t.same(
      s.groups.map((g) => [g.name, g.scheduler]),
      [['servers', scheduler]],
    );
    t.same(servers(s, 'servers'), ['127.0.0.1:9001/2', '127.0.0.1:9002/1']);
    t.same(
      config.warnings.map((w) => `${w.line}:${w.field}`),
      ['6:rule'],
    );
    t.match(config.warnings[0].message, new RegExp(`ignored: scheduler ${scheduler}.*2 rule`));
  }
});

t.test('no scheduler line: wlc, and rules are reported as ignored', async (t) => {
  const config = parse([
    'virtual a {',
    'listen = 127.0.0.1:8080',
    'server = 127.0.0.1:1',
    'rule = pattern "x" use server 127.0.0.1:1',
    '}',
  ]);
  t.equal(config.services[0].groups[0].scheduler, 'wlc');
  t.match(config.warnings[0].message, /no 'scheduler =' line/);
});

t.test("KTCPVS's own keys that mean nothing here are accepted with warnings", async (t) => {
  const config = parse([
    'virtual a {',
    'listen = 127.0.0.1:8080',
    'startservers = 8',
    'maxclients = 256',
    'minspareservers = 6',
    'maxspareservers = 18',
    'documentroot = /var/www',
    'redirect = 127.0.0.1:8000',
    'timeout = 30',
    'server = 127.0.0.1:1',
    '}',
  ]);
  t.same(
    config.warnings.map((w) => `${w.file}:${w.line}:${w.field}`),
    [
      'tcpvs.conf:3:startservers',
      'tcpvs.conf:4:maxclients',
      'tcpvs.conf:5:minspareservers',
      'tcpvs.conf:6:maxspareservers',
      'tcpvs.conf:7:documentroot',
      'tcpvs.conf:8:redirect',
    ],
  );
  t.match(config.warnings[0].message, /^ignored: tcpvs has no kernel threads/);
  t.match(config.warnings[5].message, /^ignored: KTCPVS passed what no rule matched to this local server; tcpvs answers 404/);
  t.equal(config.services[0].timeouts.clientIdleMs, 30_000, 'timeout = N seconds is the client idle timeout');
});

t.test('an unknown key is an error, with the nearest known key suggested', async (t) => {
  const open = ['virtual a {', 'listen = 127.0.0.1:8080', 'server = 127.0.0.1:1'];
  // The typo of the issue: it used to be a warning, and the virtual quietly ran wlc.
  t.same(problems([...open, 'sheduler = http', '}']), ['tcpvs.conf:4:sheduler']);
  t.equal(
    firstMessage([...open, 'sheduler = http', '}']),
    "unknown key 'sheduler' (keys: listen, port, scheduler, server, rule, timeout); did you mean 'scheduler'?",
  );
  const cases: [string, string][] = [
    ['sever = 127.0.0.1:2', 'server'],
    ['rul = pattern "x" use server 127.0.0.1:1', 'rule'],
    ['lisen = 127.0.0.1:8081', 'listen'],
    ['timout = 30', 'timeout'],
    ['maxclient = 10', 'maxclients'],
    ['startserver = 8', 'startservers'],
    ['redirct = 127.0.0.1:1', 'redirect'],
    ['Shceduler = http', 'scheduler'],
  ];
  for (const [line, suggestion] of cases) {
    t.match(firstMessage([...open, line, '}']), new RegExp(`^unknown key '\\w+' .*; did you mean '${suggestion}'\\?$`), line);
  }
  t.equal(
    firstMessage([...open, 'persistent = yes', '}']),
    "unknown key 'persistent' (keys: listen, port, scheduler, server, rule, timeout)",
    'nothing near: no guess',
  );
  t.equal(
    firstMessage([...open, 'sheduler http', '}']),
    "expected 'KEY = VALUE'; did you mean 'scheduler'?",
    'a misspelt key without = is guessed at too',
  );
  t.match(
    firstMessage([...open, 'scheduler = htpp', '}']),
    /^unknown scheduler 'htpp' \(known: http, hhttp, chttp, phttp, .*\); did you mean 'http'\?$/,
  );
});

t.test('keys and keywords are read without regard to case, as KTCPVS did', async (t) => {
  const config = parse([
    'Virtual web {',
    '  LISTEN = 127.0.0.1:8080',
    '  Scheduler = http',
    '  StartServers = 8',
    '  Server = 127.0.0.1:9001 2',
    '  Rule = PATTERN "^/a" USE Server 127.0.0.1:9001',
    '}',
  ]);
  const s = config.services[0];
  t.equal(s.name, 'web');
  t.same(s.listen, { host: '127.0.0.1', port: 8080 });
  t.same(
    s.groups.map((g) => g.name),
    ['servers', 'rule1'],
  );
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['4:startservers'],
  );
  t.match(
    firstMessage(['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = HTTP', 'server = 127.0.0.1:1', '}']),
    /unknown scheduler 'HTTP'.*did you mean 'http'\?/,
    'scheduler names are as KTCPVS spelt them',
  );
});

t.test('several virtual blocks are several services; port = N listens everywhere', async (t) => {
  const config = parse([
    '# comment before',
    'virtual one {',
    '  listen = 127.0.0.1:8080',
    '  server = 127.0.0.1:1',
    '}',
    '',
    'virtual two {   # trailing comment',
    '  port = 8081',
    '  server = [::1]:2',
    '}',
    'virtual three {',
    '  listen=[::1]:8082',
    '  server=127.0.0.1:3 0',
    '}',
  ]);
  t.same(
    config.services.map((s) => [s.name, s.line, s.listen.host, s.listen.port]),
    [
      ['one', 2, '127.0.0.1', 8080],
      ['two', 7, '0.0.0.0', 8081],
      ['three', 11, '::1', 8082],
    ],
  );
  t.same(servers(config.services[2], 'servers'), ['127.0.0.1:3/0'], 'weight 0 (quiescent) allowed; `=` needs no spaces');
});

t.test('http without rules: everything 404, with a warning', async (t) => {
  const config = parse(['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = http', 'server = 127.0.0.1:1', '}']);
  t.same(config.services[0].rules, []);
  t.equal(config.services[0].defaultGroup, null);
  t.match(config.warnings[0].message, /every request gets 404/);
});

t.test('a server no rule names is warned about; a duplicate in one set too', async (t) => {
  const config = parse([
    'virtual a {',
    'listen = 127.0.0.1:8080',
    'scheduler = http',
    'server = 127.0.0.1:1',
    'server = 127.0.0.1:2',
    'rule = pattern "x" use server 127.0.0.1:1',
    'rule = pattern "x" use server 127.0.0.1:1',
    '}',
  ]);
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['5:server', '7:rule'],
  );
  t.same(servers(config.services[0], 'rule1'), ['127.0.0.1:1/1']);
});

t.test('errors name file, line and field', async (t) => {
  const open = ['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = http', 'server = 127.0.0.1:1'];
  const cases: [string, string[], string[], RegExp][] = [
    ['missing }', [...open], ['tcpvs.conf:1:virtual'], /never closed/],
    [
      'nested virtual',
      [...open, 'virtual b {', 'listen = 127.0.0.1:8081', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:5:virtual'],
      /'a' \(line 1\) is not closed/,
    ],
    ['stray }', [...open, '}', '}'], ['tcpvs.conf:6:syntax'], /without an open virtual/],
    ['text after }', [...open, '} x'], ['tcpvs.conf:5:syntax'], /unexpected 'x'/],
    [
      'virtual without {',
      ['virtual a', 'listen = 127.0.0.1:8080', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:1:virtual'],
      /expected 'virtual NAME \{'/,
    ],
    [
      'duplicate virtual',
      [...open, '}', 'virtual a {', 'listen = 127.0.0.1:8081', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:6:virtual'],
      /duplicate virtual name 'a'/,
    ],
    ['key outside a block', ['listen = 127.0.0.1:8080', ...open, '}'], ['tcpvs.conf:1:listen'], /outside a virtual block/],
    ['key without =', [...open, 'server 127.0.0.1:2', '}'], ['tcpvs.conf:5:server'], /expected 'KEY = VALUE'/],
    [
      'bad listen address',
      ['virtual a {', 'listen = 127.0.0.1', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:2:listen'],
      /expected HOST:PORT/,
    ],
    [
      'bad listen port',
      ['virtual a {', 'listen = 127.0.0.1:99999', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:2:listen'],
      /bad port '99999'/,
    ],
    ['bad port =', ['virtual a {', 'port = 70000', 'server = 127.0.0.1:1', '}'], ['tcpvs.conf:2:port'], /bad port '70000'/],
    ['listen and port', [...open, 'port = 80', '}'], ['tcpvs.conf:5:port'], /already set at line 2/],
    ['no listen', ['virtual a {', 'server = 127.0.0.1:1', '}'], ['tcpvs.conf:1:listen'], /has no 'listen = HOST:PORT'/],
    ['no servers', ['virtual a {', 'listen = 127.0.0.1:8080', '}'], ['tcpvs.conf:1:server'], /has no 'server = HOST:PORT'/],
    ['bad server address', [...open, 'server = localhost', '}'], ['tcpvs.conf:5:server'], /expected HOST:PORT/],
    ['bad server weight', [...open, 'server = 127.0.0.1:2 heavy', '}'], ['tcpvs.conf:5:server.weight'], /bad weight 'heavy'/],
    ['duplicate server', [...open, 'server = 127.0.0.1:1 4', '}'], ['tcpvs.conf:5:server'], /already a server at line 4/],
    [
      'unknown scheduler',
      ['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = fastest', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:3:scheduler'],
      /unknown scheduler 'fastest'/,
    ],
    ['scheduler twice', [...open, 'scheduler = wlc', '}'], ['tcpvs.conf:5:scheduler'], /already set at line 3/],
    ['bad timeout', [...open, 'timeout = 5s', '}'], ['tcpvs.conf:5:timeout'], /bad timeout '5s'/],
    ['rule without pattern', [...open, 'rule = "^/" use server 127.0.0.1:1', '}'], ['tcpvs.conf:5:rule'], /expected 'pattern REGEX'/],
    [
      'rule without use server',
      [...open, 'rule = pattern "^/" server 127.0.0.1:1', '}'],
      ['tcpvs.conf:5:rule'],
      /expected 'use server HOST:PORT'/,
    ],
    [
      'rule with trailing junk',
      [...open, 'rule = pattern "^/" use server 127.0.0.1:1 now', '}'],
      ['tcpvs.conf:5:rule'],
      /unexpected 'now'/,
    ],
    [
      'rule with bad match',
      [...open, 'rule = pattern "^/" match x use server 127.0.0.1:1', '}'],
      ['tcpvs.conf:5:rule.match'],
      /bad submatch number 'x'/,
    ],
    [
      'rule with bad regex',
      [...open, 'rule = pattern "(" use server 127.0.0.1:1', '}'],
      ['tcpvs.conf:5:rule.pattern'],
      /bad regular expression/,
    ],
    [
      'rule with bad server address',
      [...open, 'rule = pattern "^/" use server 127.0.0.1:99999', '}'],
      ['tcpvs.conf:5:rule.server'],
      /bad port/,
    ],
    [
      'rule naming an unknown server',
      [...open, 'rule = pattern "^/" use server 127.0.0.1:2', '}'],
      ['tcpvs.conf:5:rule.server'],
      /127.0.0.1:2 has no 'server =' line in virtual 'a'/,
    ],
    [
      'match beyond the pattern',
      [
        'virtual a {',
        'listen = 127.0.0.1:8080',
        'scheduler = hhttp',
        'server = 127.0.0.1:1',
        'rule = pattern "/(x)" match 2 use server 127.0.0.1:1',
        '}',
      ],
      ['tcpvs.conf:5:rule.match'],
      /submatch 2 does not exist: the pattern has 1/,
    ],
    [
      'conflicting match for one pattern',
      [
        'virtual a {',
        'listen = 127.0.0.1:8080',
        'scheduler = hhttp',
        'server = 127.0.0.1:1',
        'server = 127.0.0.1:2',
        'rule = pattern "/(x)(y)" match 1 use server 127.0.0.1:1',
        'rule = pattern "/(x)(y)" match 2 use server 127.0.0.1:2',
        '}',
      ],
      ['tcpvs.conf:7:rule.match'],
      /already hashes submatch 1 \(match at line 6\)/,
    ],
    [
      'unterminated quote',
      [...open, 'rule = pattern "^/ use server 127.0.0.1:1', '}'],
      ['tcpvs.conf:5:rule'],
      /unterminated quoted string/,
    ],
    [
      'duplicate listen across virtuals',
      [...open, '}', 'virtual b {', 'listen = 127.0.0.1:8080', 'server = 127.0.0.1:1', '}'],
      ['tcpvs.conf:7:listen'],
      /already the listen address of service 'a'/,
    ],
    ['empty file', ['# only comments'], ['tcpvs.conf:0:virtual'], /no virtual service/],
  ];
  for (const [name, lines, expected, message] of cases) {
    t.same(problems(lines), expected, name);
    t.match(firstMessage(lines), message, `${name}: message`);
  }
});

t.test('all problems of a KTCPVS file are collected', async (t) => {
  t.same(
    problems([
      'virtual a {', // 1
      '  listen = 127.0.0.1:70000', // 2
      '  scheduler = http', // 3
      '  server = 127.0.0.1:1 x', // 4
      '  server = 127.0.0.1:2', // 5
      '  rule = pattern "(" use server 127.0.0.1:2', // 6
      '  rule = pattern "^/" use server 127.0.0.1:3', // 7
      '  bogus', // 8
      // 9: missing }
    ]),
    [
      'tcpvs.conf:1:virtual',
      'tcpvs.conf:2:listen',
      'tcpvs.conf:4:server.weight',
      'tcpvs.conf:6:rule.pattern',
      'tcpvs.conf:7:rule.server',
      'tcpvs.conf:8:bogus',
    ],
  );
});

t.test('scheduler = any other known scheduler: one group of every server, rules ignored', async (t) => {
  const plain = knownSchedulers().filter((n) => n !== 'hhttp');
  t.ok(plain.includes('lblc') && plain.includes('chbl') && plain.includes('mh'), `plain schedulers: ${plain.join(', ')}`);
  for (const name of plain) {
    const config = parse([
      'virtual v {', // 1
      '  listen = 127.0.0.1:8080', // 2
      `  scheduler = ${name}`, // 3
      '  server = 127.0.0.1:9001 2', // 4
      '  server = 127.0.0.1:9002', // 5
      '  rule = pattern "^/x/" use server 127.0.0.1:9001', // 6
      '}',
    ]);
    const s = config.services[0];
    t.same(
      s.groups,
      [
        {
          name: 'servers',
          scheduler: name,
          servers: [
            { host: '127.0.0.1', port: 9001, weight: 2 },
            { host: '127.0.0.1', port: 9002, weight: 1 },
          ],
        },
      ],
      `${name}: default key and tuning`,
    );
    t.same(s.rules, []);
    t.equal(s.defaultGroup, 'servers');
    t.same(
      config.warnings.map((w) => `${w.line}:${w.field}`),
      ['6:rule'],
      `${name}: the rule is reported as ignored`,
    );
    t.match(config.warnings[0].message, new RegExp(`^ignored: scheduler ${name}, which balances over every server`));
  }
  t.match(
    firstMessage(['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = lblc lblcr', 'server = 127.0.0.1:1', '}']),
    /usage: scheduler = http\|hhttp\|chttp\|phttp\|rr\|.*\|lblc\|/,
  );
});

t.test('scheduler chttp: http plus the KTCPVS_SID session cookie on every group', async (t) => {
  const config = parse([
    'virtual shop {', // 1
    '  listen = 127.0.0.1:8080', // 2
    '  scheduler = chttp', // 3
    '  server = 127.0.0.1:9001 1', // 4
    '  server = 127.0.0.1:9002 2', // 5
    '  rule = pattern "^/cart/" use server 127.0.0.1:9001', // 6
    '  rule = pattern "^/cart/" use server 127.0.0.1:9002', // 7
    '  rule = pattern "(.*)" match 1 use server 127.0.0.1:9002', // 8
    '}',
  ]);
  const s = config.services[0];
  const cookie = { kind: 'cookie', mode: 'insert', name: 'KTCPVS_SID', path: '/', secret: 'ktcpvs chttp, virtual shop' };
  t.same(
    s.groups.map((g) => [g.name, g.scheduler, g.hashSubmatch, g.affinity]),
    [
      ['servers', 'wlc', undefined, cookie],
      ['rule1', 'wlc', undefined, cookie],
      ['rule2', 'wlc', undefined, cookie],
    ],
    'wlc picks first, as chttp did; then the cookie pins; one secret for the virtual, so one id per server in every set',
  );
  t.same(servers(s, 'rule1'), ['127.0.0.1:9001/1', '127.0.0.1:9002/2']);
  t.same(
    s.rules.map((r) => [r.name, r.group]),
    [
      ['rule1', 'rule1'],
      ['rule2', 'rule2'],
    ],
  );
  t.equal(s.defaultGroup, null, 'no rule matched: 404, as with http');
  t.same(affinityProblems(s.groups[1].affinity as AffinitySpec), [], 'a valid persist cookie spec');
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['8:rule.match'],
    'match only matters with hhttp',
  );
  t.same(chttpAffinity('shop'), cookie);
});

t.test('scheduler phttp: what http makes (tcpvs routes every request of a keep-alive connection, as phttp did)', async (t) => {
  const lines = (scheduler: string) => [
    'virtual web {',
    '  listen = 127.0.0.1:8080',
    `  scheduler = ${scheduler}`,
    '  server = 127.0.0.1:9001 1',
    '  server = 127.0.0.1:9002 3',
    '  rule = pattern "^/cgi-bin/" use server 127.0.0.1:9001',
    '  rule = pattern ".*" use server 127.0.0.1:9002',
    '}',
  ];
  const picture = (c: Config) => JSON.stringify(c.services, (_k, v: unknown) => (v instanceof RegExp ? v.source : v));
  t.equal(picture(parse(lines('phttp'))), picture(parse(lines('http'))));
  t.same(parse(lines('phttp')).warnings, []);
});

t.test('a rule keeps its pattern as written: RegExp#source escapes the slashes', async (t) => {
  const config = parse([
    'virtual web {',
    '  listen = 127.0.0.1:8080',
    '  scheduler = http',
    '  server = 127.0.0.1:9001',
    '  rule = pattern "^/images/" use server 127.0.0.1:9001',
    '}',
  ]);
  const m = config.services[0].rules[0].matchers[0];
  t.equal(m.kind === 'url-regex' && m.re.source, '^\\/images\\/', 'what JavaScript makes of it');
  t.equal(m.kind === 'url-regex' && m.text, '^/images/', 'what the rule model keeps');
  t.equal(m.kind === 'url-regex' && patternText(m), '^/images/');
});

t.test('http without rules, or with servers no rule names: every server stays a real server of the virtual', async (t) => {
  const s = parse(['virtual a {', 'listen = 127.0.0.1:8080', 'scheduler = http', 'server = 127.0.0.1:1', 'server = 127.0.0.1:2 5', '}'])
    .services[0];
  t.same(
    s.groups.map((g) => g.name),
    ['servers'],
  );
  t.same(servers(s, 'servers'), ['127.0.0.1:1/1', '127.0.0.1:2/5']);
  t.same(s.rules, []);
});

t.test('the group rules of the shared validator hold for KTCPVS files too', async (t) => {
  const servers = Array.from({ length: 700 }, (_, i) => `server = 10.1.${i >> 8}.${i & 255}:80`);
  const text = ['virtual big {', 'listen = 127.0.0.1:8080', 'scheduler = mh', ...servers, '}'].join('\n');
  try {
    parseKtcpvsConfig(text, 'big.conf');
    t.fail('700 servers need a bigger mh table');
  } catch (err) {
    t.match((err as Error).message, /^big\.conf:3: group\.table-size: mh's default table size 65537 is too small for 700 servers/);
  }
});

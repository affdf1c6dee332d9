import t from 'tap';
import { parseNativeConfig } from '../../lib/config/native.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { DEFAULT_LIMITS, DEFAULT_LOG, DEFAULT_TIMEOUTS, type Config, type Matcher } from '../../lib/config/model.ts';
import { quoteToken, tokenizeLine } from '../../lib/config/tokenize.ts';

const FILE = 'test.tcpvs';

function parse(lines: string[]): Config {
  return parseNativeConfig(lines.join('\n'), FILE);
}

/** `file:line:field` of every problem, or [] when the text parses. */
function problems(lines: string[]): string[] {
  try {
    parse(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file}:${p.line}:${p.field}`);
    throw err;
  }
  return [];
}

function messages(lines: string[]): string[] {
  try {
    parse(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.message);
    throw err;
  }
  return [];
}

// A valid service to which single error lines are appended.
const BASE = ['service web', '  listen 127.0.0.1:8080', '  group g', '    server 127.0.0.1:9001', '  default g'];

t.test('the example from the format description parses completely', async (t) => {
  const config = parse([
    '# global',
    'log level debug',
    'log destination stderr',
    'service web                  # a service',
    '  listen 127.0.0.1:8080',
    '  timeout client-header 3s',
    '  timeout client-idle 2m',
    '  timeout connect 250ms',
    '  timeout response 1.5s',
    '  timeout upstream-idle 900ms',
    '  limit uri 4k',
    '  limit headers 1m',
    '  limit pool-idle 7',
    '  group static scheduler wlc',
    '    server 127.0.0.1:9001 weight 3',
    '    server 127.0.0.1:9002',
    '  group cgi scheduler rr',
    '    server 127.0.0.1:9003 weight 0',
    '  group images',
    '    server [::1]:9004',
    '  route cgi     prefix /cgi-bin/                        to cgi',
    '  route images  path-regex "\\.(png|jpe?g|gif|webp)$"    to images',
    '  route api     host api.example.com method GET,HEAD header x-api-key present to static',
    '  default static',
  ]);
  t.equal(config.format, 'native');
  t.equal(config.file, FILE);
  t.same(config.log, { level: 'debug', destination: 'stderr' });
  t.same(config.warnings, []);
  t.equal(config.services.length, 1);
  const s = config.services[0];
  t.equal(s.name, 'web');
  t.equal(s.line, 4);
  t.same(s.listen, { host: '127.0.0.1', port: 8080 });
  t.same(s.timeouts, {
    clientHeaderMs: 3000,
    clientIdleMs: 120_000,
    connectMs: 250,
    responseMs: 1500,
    upstreamIdleMs: 900,
    clientBodyMs: 60_000,
  });
  t.same(s.limits, {
    maxUriBytes: 4096,
    maxHeaderBytes: 1024 * 1024,
    poolMaxIdlePerServer: 7,
    maxHeaderCount: 100,
    bodyMinRate: 0,
    retries: 2,
  });
  t.same(
    s.groups.map((g) => [g.name, g.scheduler, g.servers]),
    [
      [
        'static',
        'wlc',
        [
          { host: '127.0.0.1', port: 9001, weight: 3 },
          { host: '127.0.0.1', port: 9002, weight: 1 },
        ],
      ],
      ['cgi', 'rr', [{ host: '127.0.0.1', port: 9003, weight: 0 }]],
      ['images', 'wlc', [{ host: '::1', port: 9004, weight: 1 }]],
    ],
  );
  t.same(
    s.rules.map((r) => [r.name, r.group, r.line, r.file]),
    [
      ['cgi', 'cgi', 21, FILE],
      ['images', 'images', 22, FILE],
      ['api', 'static', 23, FILE],
    ],
  );
  t.same(s.rules[0].matchers, [{ kind: 'prefix', value: '/cgi-bin/' }]);
  const images = s.rules[1].matchers[0];
  t.equal(images.kind, 'path-regex');
  t.equal(images.kind === 'path-regex' && images.re.source, '\\.(png|jpe?g|gif|webp)$', 'backslash kept literally inside quotes');
  t.same(s.rules[2].matchers, [
    { kind: 'host', value: 'api.example.com', wildcard: false },
    { kind: 'method', values: ['GET', 'HEAD'] },
    { kind: 'header', name: 'x-api-key', op: 'present' },
  ]);
  t.equal(s.defaultGroup, 'static');
});

t.test('defaults apply when settings are left out, and no default means 404', async (t) => {
  const config = parse(['service a', 'listen 127.0.0.1:8080', 'group g', 'server 127.0.0.1:1', 'route r prefix / to g']);
  const s = config.services[0];
  t.same(s.timeouts, DEFAULT_TIMEOUTS);
  t.same(s.limits, DEFAULT_LIMITS);
  t.same(config.log, DEFAULT_LOG);
  t.equal(s.defaultGroup, null);
  t.equal(s.groups[0].scheduler, 'wlc', 'default scheduler');
  t.not(s.timeouts, DEFAULT_TIMEOUTS, 'a copy, so no service can change the shared defaults');
});

t.test('every matcher kind and its normal form', async (t) => {
  const rule = (spec: string): Matcher[] => parse([...BASE, `route r ${spec} to g`]).services[0].rules[0].matchers;
  t.same(rule('path /exact'), [{ kind: 'path', value: '/exact' }]);
  t.same(rule('prefix /p/'), [{ kind: 'prefix', value: '/p/' }]);
  t.same(rule('host API.Example.COM'), [{ kind: 'host', value: 'api.example.com', wildcard: false }]);
  t.same(rule('host *.Example.com'), [{ kind: 'host', value: '.example.com', wildcard: true }]);
  t.same(rule('method get,Head,GET'), [{ kind: 'method', values: ['GET', 'HEAD'] }]);
  t.same(rule('header X-Api-Key present'), [{ kind: 'header', name: 'x-api-key', op: 'present' }]);
  t.same(rule('header Accept = "text/html; q=1"'), [{ kind: 'header', name: 'accept', op: 'equals', value: 'text/html; q=1' }]);
  t.same(rule('cookie SID present'), [{ kind: 'cookie', name: 'SID', op: 'present' }], 'cookie names keep their case');
  t.same(rule('cookie sid = ""'), [{ kind: 'cookie', name: 'sid', op: 'equals', value: '' }], 'empty quoted value');
  t.same(rule('query lang = de'), [{ kind: 'query', name: 'lang', op: 'equals', value: 'de' }]);
  const [regexHeader, regexCookie, regexQuery, urlRegex] = rule(
    'header user-agent ~ "bot" cookie sid ~ ^[0-9a-f]+$ query id ~ "^\\d+$" url-regex "^/u/([^/]+)"',
  );
  t.match(regexHeader, { kind: 'header', name: 'user-agent', op: 'regex' });
  t.ok(regexHeader.kind === 'header' && regexHeader.op === 'regex' && regexHeader.re.test('a bot'));
  t.ok(regexCookie.kind === 'cookie' && regexCookie.op === 'regex' && regexCookie.re.test('beef') && !regexCookie.re.test('xyz'));
  t.ok(regexQuery.kind === 'query' && regexQuery.op === 'regex' && regexQuery.re.source === '^\\d+$');
  t.equal(urlRegex.kind === 'url-regex' && urlRegex.re.exec('/u/bob/x?y')?.[1], 'bob');
  t.same(rule('header to present'), [{ kind: 'header', name: 'to', op: 'present' }], 'values are read by arity, so one may be "to"');
});

t.test('tokenizer: quotes, escapes and comments', async (t) => {
  t.same(
    tokenizeLine('a "b c" d # comment "x"').tokens.map((x) => x.text),
    ['a', 'b c', 'd'],
  );
  t.same(
    tokenizeLine('"say \\"hi\\"" "a\\\\b" "\\.png$"').tokens.map((x) => x.text),
    ['say "hi"', 'a\\b', '\\.png$'],
  );
  t.same(
    tokenizeLine('"# not a comment" x').tokens.map((x) => x.text),
    ['# not a comment', 'x'],
  );
  t.same(
    tokenizeLine('x=1 {', '{}=').tokens.map((x) => x.text),
    ['x', '=', '1', '{'],
  );
  t.equal(tokenizeLine('a "open').error, 'unterminated quoted string');
  t.match(tokenizeLine('a "b"c').error, /after a closing quote/);
  t.match(tokenizeLine('a b"c"').error, /quote inside a word/);
  t.same(tokenizeLine('   # only a comment').tokens, []);
  for (const text of ['plain', '', 'two words', 'a"b', 'back\\slash', 'end\\', 'x\\"y', '\\\\', '#hash']) {
    const line = tokenizeLine(quoteToken(text));
    t.same(
      line.tokens.map((x) => x.text),
      [text],
      `quoteToken round trip of ${JSON.stringify(text)}`,
    );
  }
});

t.test('IPv6 listen and a wildcard host in route', async (t) => {
  const config = parse(['service v6', 'listen [::1]:8443', 'group g', 'server [::1]:9001 weight 65535', 'route w host *.a.example to g']);
  t.same(config.services[0].listen, { host: '::1', port: 8443 });
  t.equal(config.services[0].groups[0].servers[0].weight, 65535);
});

t.test('several services, each with its own names', async (t) => {
  const config = parse([
    'service one',
    'listen 127.0.0.1:8080',
    'group g',
    'server 127.0.0.1:1',
    'default g',
    'service two',
    'listen 127.0.0.1:8081',
    'group g',
    'server 127.0.0.1:2',
    'route g prefix / to g',
  ]);
  t.same(
    config.services.map((s) => [s.name, s.listen.port, s.groups[0].servers[0].port]),
    [
      ['one', 8080, 1],
      ['two', 8081, 2],
    ],
  );
});

t.test('each kind of error names file, line and field', async (t) => {
  const cases: [string, string[], string[], RegExp][] = [
    ['unknown keyword', [...BASE, '  lisen 127.0.0.1:1'], ['test.tcpvs:6:lisen'], /unknown keyword 'lisen': did you mean 'listen'\?/],
    ['misspelt health keyword', [...BASE, '  ejcet after 3 failures'], ['test.tcpvs:6:ejcet'], /did you mean 'eject'\?/],
    [
      'nothing near',
      [...BASE, '  frobnicate 7'],
      ['test.tcpvs:6:frobnicate'],
      /unknown keyword 'frobnicate' \(expected one of: log, service, l4, vip, listen, .*admin.*check, eject, slow-start, agent.*vrrp, sync, notify/,
    ],
    ['missing argument', [...BASE, '  default'], ['test.tcpvs:6:default'], /missing argument/],
    [
      'extra argument',
      ['service a', '  listen 127.0.0.1:8080 now', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:2:listen'],
      /unexpected 'now'/,
    ],
    [
      'listen port out of range',
      ['service a', 'listen 127.0.0.1:65536', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:2:listen'],
      /bad port '65536'.*or 0 for any free port/,
    ],
    [
      'server port 0',
      ['service a', 'listen 127.0.0.1:0', 'group g', 'server 127.0.0.1:0', 'default g'],
      ['test.tcpvs:4:server'],
      /bad port '0'.*must be 1\.\.65535$/,
    ],
    ['port 65536', [...BASE.slice(0, 4), 'server 127.0.0.1:65536', 'default g'], ['test.tcpvs:5:server'], /bad port/],
    ['port not a number', [...BASE.slice(0, 4), 'server 127.0.0.1:http', 'default g'], ['test.tcpvs:5:server'], /bad port 'http'/],
    [
      'IPv6 without brackets',
      ['service a', 'listen ::1:8080', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:2:listen'],
      /brackets/,
    ],
    [
      'bad IPv4',
      ['service a', 'listen 127.0.0.256:8080', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:2:listen'],
      /not an IPv4/,
    ],
    [
      'weight too big',
      [...BASE.slice(0, 3), 'server 127.0.0.1:1 weight 65536', 'default g'],
      ['test.tcpvs:4:server.weight'],
      /bad weight '65536'/,
    ],
    ['weight negative', [...BASE.slice(0, 3), 'server 127.0.0.1:1 weight -1', 'default g'], ['test.tcpvs:4:server.weight'], /bad weight/],
    ['weight missing', [...BASE.slice(0, 3), 'server 127.0.0.1:1 weight', 'default g'], ['test.tcpvs:4:server.weight'], /bad weight/],
    ['server junk', [...BASE.slice(0, 3), 'server 127.0.0.1:1 heavy 2', 'default g'], ['test.tcpvs:4:server'], /unexpected 'heavy'/],
    ['route to unknown group', [...BASE, 'route r prefix /x to nowhere'], ['test.tcpvs:6:route.to'], /unknown group 'nowhere'/],
    ['route without to', [...BASE, 'route r prefix /x'], ['test.tcpvs:6:route.to'], /missing 'to GROUP'/],
    ['route to nothing', [...BASE, 'route r prefix /x to'], ['test.tcpvs:6:route.to'], /missing group name/],
    ['default to unknown group', [...BASE.slice(0, 4), 'default nowhere'], ['test.tcpvs:5:default'], /unknown group 'nowhere'/],
    ['default twice', [...BASE, 'default g'], ['test.tcpvs:6:default'], /already set at line 5/],
    ['duplicate group', [...BASE, 'group g', 'server 127.0.0.1:2'], ['test.tcpvs:6:group'], /duplicate group name 'g' \(first at line 3\)/],
    [
      'duplicate route',
      [...BASE, 'route r prefix /a to g', 'route r prefix /b to g'],
      ['test.tcpvs:7:route'],
      /duplicate route name 'r' \(first at line 6\)/,
    ],
    [
      'duplicate service',
      [...BASE, 'service web', 'listen 127.0.0.1:8081', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:6:service'],
      /duplicate service name 'web'/,
    ],
    [
      'duplicate listen',
      [...BASE, 'service b', 'listen 127.0.0.1:8080', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:7:listen'],
      /already the listen address of service 'web' \(line 2\)/,
    ],
    [
      'wildcard listen overlaps',
      [...BASE, 'service b', 'listen 0.0.0.0:8080', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:7:listen'],
      /overlaps 127.0.0.1:8080/,
    ],
    ['listen twice in a service', [...BASE, 'listen 127.0.0.1:8081'], ['test.tcpvs:6:listen'], /already set at line 2/],
    [
      'service without listen',
      ['service a', 'group g', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:1:listen'],
      /service 'a' has no 'listen/,
    ],
    ['service without groups', ['service a', 'listen 127.0.0.1:8080'], ['test.tcpvs:1:group'], /has no groups/],
    [
      'group without servers',
      [...BASE, 'group empty', 'route r prefix /e to empty'],
      ['test.tcpvs:6:group'],
      /group 'empty' has no servers/,
    ],
    [
      'server outside a group',
      ['service a', 'listen 127.0.0.1:8080', 'server 127.0.0.1:1', 'group g', 'server 127.0.0.1:2', 'default g'],
      ['test.tcpvs:3:server'],
      /must follow a 'group NAME'/,
    ],
    ['server before any service', ['server 127.0.0.1:1', ...BASE], ['test.tcpvs:1:server'], /must follow a 'group NAME'/],
    [
      'duplicate server in a group',
      [...BASE.slice(0, 4), 'server 127.0.0.1:9001 weight 2', 'default g'],
      ['test.tcpvs:5:server'],
      /already in group 'g'/,
    ],
    ['route with no matchers', [...BASE, 'route r to g'], ['test.tcpvs:6:route'], /has no matchers/],
    ['unknown matcher', [...BASE, 'route r suffix .png to g'], ['test.tcpvs:6:route'], /unknown matcher 'suffix'/],
    [
      'unknown scheduler',
      ['service a', 'listen 127.0.0.1:8080', 'group g scheduler fancy', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:3:group.scheduler'],
      /unknown scheduler 'fancy' \(known: .*wlc/,
    ],
    [
      'scheduler without name',
      ['service a', 'listen 127.0.0.1:8080', 'group g scheduler', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:3:group.scheduler'],
      /missing value/,
    ],
    [
      'unknown group option',
      ['service a', 'listen 127.0.0.1:8080', 'group g sched rr', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:3:group'],
      /unknown group option 'sched'/,
    ],
    ['duration without unit', [...BASE, 'timeout connect 5'], ['test.tcpvs:6:timeout.connect'], /a unit is required/],
    [
      'duration with bad unit',
      [...BASE, 'timeout response 5d'],
      ['test.tcpvs:6:timeout.response'],
      /bad duration '5d' \(use e\.g\. 500ms, 10s, 2m, 24h\)/,
    ],
    ['duration zero', [...BASE, 'timeout client-idle 0s'], ['test.tcpvs:6:timeout.client-idle'], /at least 1ms/],
    ['duration beyond a timer', [...BASE, 'timeout client-header 60000m'], ['test.tcpvs:6:timeout.client-header'], /at most/],
    ['unknown timeout', [...BASE, 'timeout read 5s'], ['test.tcpvs:6:timeout'], /unknown timeout 'read'/],
    ['timeout twice', [...BASE, 'timeout connect 1s', 'timeout connect 2s'], ['test.tcpvs:7:timeout.connect'], /already set at line 6/],
    ['timeout outside a service', ['timeout connect 1s', ...BASE], ['test.tcpvs:1:timeout'], /inside a service block/],
    ['bad size', [...BASE, 'limit uri 8q'], ['test.tcpvs:6:limit.uri'], /bad size '8q'/],
    ['size zero', [...BASE, 'limit headers 0'], ['test.tcpvs:6:limit.headers'], /must be 1/],
    ['bad pool count', [...BASE, 'limit pool-idle 4k'], ['test.tcpvs:6:limit.pool-idle'], /bad count '4k'/],
    ['unknown limit', [...BASE, 'limit body 1m'], ['test.tcpvs:6:limit'], /unknown limit 'body'/],
    ['bad path-regex', [...BASE, 'route r path-regex "(" to g'], ['test.tcpvs:6:path-regex'], /bad regular expression "\(":/],
    ['bad url-regex', [...BASE, 'route r url-regex "[" to g'], ['test.tcpvs:6:url-regex'], /bad regular expression/],
    ['bad header regex', [...BASE, 'route r header x ~ "a{2,1}" to g'], ['test.tcpvs:6:header'], /bad regular expression/],
    ['bad header test', [...BASE, 'route r header x like y to g'], ['test.tcpvs:6:header'], /unknown test 'like'/],
    ['header without test', [...BASE, 'route r header x to g'], ['test.tcpvs:6:header'], /missing test/],
    ['bad header name', [...BASE, 'route r header "x y" present to g'], ['test.tcpvs:6:header'], /bad header name/],
    ['cookie without value', [...BASE, 'route r cookie sid = to g'], ['test.tcpvs:6:cookie'], /missing value after '='/],
    ['query bad regex', [...BASE, 'route r query q ~ "(" to g'], ['test.tcpvs:6:query'], /bad regular expression/],
    ['path without slash', [...BASE, 'route r path index.html to g'], ['test.tcpvs:6:path'], /must start with '\/'/],
    ['prefix without slash', [...BASE, 'route r prefix api to g'], ['test.tcpvs:6:prefix'], /must start with '\/'/],
    ['host with a port', [...BASE, 'route r host example.com:80 to g'], ['test.tcpvs:6:host'], /no port/],
    ['bad method list', [...BASE, 'route r method GET,,POST to g'], ['test.tcpvs:6:method'], /bad method list/],
    ['unterminated quote', [...BASE, 'route r path "/x to g'], ['test.tcpvs:6:route'], /unterminated quoted string/],
    ['bad route name', [...BASE, 'route "a b" prefix / to g'], ['test.tcpvs:6:route'], /bad name 'a b'/],
    ['bad log level', ['log level loud', ...BASE], ['test.tcpvs:1:log.level'], /unknown log level 'loud'/],
    ['bad log statement', ['log file /tmp/x', ...BASE], ['test.tcpvs:1:log'], /usage: log level/],
    ['log level twice', ['log level info', 'log level warn', ...BASE], ['test.tcpvs:2:log.level'], /already set at line 1/],
    ['quoted keyword', [...BASE, '"route" r prefix / to g'], ['test.tcpvs:6:syntax'], /must start with a keyword/],
    [
      'hash-submatch without hhttp',
      ['service a', 'listen 127.0.0.1:8080', 'group g hash-submatch 1', 'server 127.0.0.1:1', 'default g'],
      ['test.tcpvs:3:group.hash-submatch'],
      /only meaningful with 'scheduler hhttp'/,
    ],
    [
      'hash submatch beyond the regex',
      [
        'service a',
        'listen 127.0.0.1:8080',
        'group g scheduler hhttp hash-submatch 2',
        'server 127.0.0.1:1',
        'route r url-regex "^/u/([^/]+)" to g',
      ],
      ['test.tcpvs:5:url-regex'],
      /keys on submatch 2 but this regex has only 1/,
    ],
  ];
  for (const [name, lines, expected, message] of cases) {
    t.same(problems(lines), expected, name);
    t.match(messages(lines)[0] ?? '', message, `${name}: message`);
  }
});

t.test('a file with no service loads: tcpvs starts empty, as KTCPVS and IPVS do', async (t) => {
  for (const text of ['', '# nothing\n', 'log level info\n', 'l4 driver userspace\n'])
    t.same(parseNativeConfig(text, 'e.tcpvs').services, [], JSON.stringify(text));
});

t.test('all problems of a file are collected, in file order', async (t) => {
  const lines = [
    'service a', // 1
    '  listen 127.0.0.1:99999', // 2: bad port
    '  group g scheduler nope', // 3: unknown scheduler
    '    server 127.0.0.1:1 weight x', // 4: bad weight
    '    server 127.0.0.1:2', // 5
    '  route r path-regex "(" to g', // 6: bad regex
    '  route s prefix /s to h', // 7: unknown group (found at the end of the block)
    '  bogus', // 8: unknown keyword
    '  default zz', // 9: unknown group
  ];
  t.same(problems(lines), [
    'test.tcpvs:2:listen',
    'test.tcpvs:3:group.scheduler',
    'test.tcpvs:4:server.weight',
    'test.tcpvs:6:path-regex',
    'test.tcpvs:7:route.to',
    'test.tcpvs:8:bogus',
    'test.tcpvs:9:default',
  ]);
  const err = t.throws(() => parse(lines)) as unknown;
  t.ok(err instanceof ConfigError);
  t.match((err as Error).message, /^test\.tcpvs:2: listen: bad port '99999'/, 'message is file:line: field: text');
  t.equal((err as Error).message.split('\n').length, 7, 'one message line per problem');
});

t.test('a bad line inside a block does not cascade into more errors', async (t) => {
  // The only server is bad: no extra "group has no servers"; the service line
  // is bad: its contents are still checked against it.
  t.same(problems(['service a', 'listen 127.0.0.1:8080', 'group g', 'server nohost', 'default g']), ['test.tcpvs:4:server']);
  t.same(problems(['service', 'listen 127.0.0.1:8080', 'group g', 'server 127.0.0.1:1', 'default g']), ['test.tcpvs:1:service']);
  t.same(problems(['service a', 'listen 127.0.0.1:x', 'group g', 'server 127.0.0.1:1', 'default g']), ['test.tcpvs:2:listen']);
});

t.test('warnings: unused group, hashing group without a key', async (t) => {
  const config = parse([
    ...BASE,
    'group spare',
    'server 127.0.0.1:2',
    'group users scheduler hhttp',
    'server 127.0.0.1:3',
    'route u url-regex "^/u/([^/]+)" to users',
    'route v prefix /v/ to users',
  ]);
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['6:group', '11:route.to'],
  );
  t.match(config.warnings[0].message, /group 'spare' is not used/);
  t.match(config.warnings[1].message, /route 'v' has neither: its requests carry no hash key/);
  const users = config.services[0].groups.find((g) => g.name === 'users');
  t.equal(users?.hashSubmatch, 0, 'hhttp hashes the whole match unless told otherwise');
  t.equal(config.services[0].groups.find((g) => g.name === 'g')?.hashSubmatch, undefined);
});

t.test('hhttp group with an explicit submatch', async (t) => {
  const config = parse([
    'service a',
    'listen 127.0.0.1:8080',
    'group users scheduler hhttp hash-submatch 2',
    'server 127.0.0.1:3',
    'route u url-regex "^/(u|users)/([^/]+)" to users',
  ]);
  t.equal(config.services[0].groups[0].hashSubmatch, 2);
  t.same(config.warnings, []);
});

t.test('every keyword in the parser’s table starts a statement it knows', async (t) => {
  // The suggestions and the "expected one of" list come from the parser's own table: each word there must be a statement.
  const keywords = [
    ...new Set(
      messages([...BASE, '  frobnicate 7'])[0]
        .replace(/^.*expected one of: /, '')
        .replace(/\)$/, '')
        .split(', '),
    ),
  ];
  t.ok(keywords.length > 30, `${keywords.length} keywords`);
  for (const k of keywords) t.notMatch(messages([...BASE, `  ${k}`]).join('\n'), /unknown keyword/, k);
});

t.test('server tls options: parsed into the spec, CA file resolved against the config file, misuse named', async (t) => {
  const head = ['service web', 'listen 127.0.0.1:8080', 'group a'];
  const servers = parseNativeConfig(
    [
      ...head,
      'server 127.0.0.1:1 tls',
      'server 127.0.0.1:2 weight 2 tls verify ca.pem sni backend.example',
      'server 127.0.0.1:3 tls no-verify',
      'server 127.0.0.1:4',
    ].join('\n'),
    '/etc/tcpvs/web.tcpvs',
  ).services[0].groups[0].servers;
  t.same(
    servers.map((s) => s.tls),
    [
      { verify: 'system', line: 4 },
      { verify: 'ca', caFile: '/etc/tcpvs/ca.pem', sni: 'backend.example', line: 5 },
      { verify: 'no-verify', line: 6 },
      undefined,
    ],
  );
  t.equal(servers[1].weight, 2);
  for (const [line, message] of [
    ['server 127.0.0.1:1 verify ca.pem', /'verify' needs 'tls' before it/],
    ['server 127.0.0.1:1 tls tls', /'tls' given twice/],
    ['server 127.0.0.1:1 tls verify', /'verify' takes a CA-FILE/],
    ['server 127.0.0.1:1 tls no-verify verify ca.pem', /one of them, once/],
    ['server 127.0.0.1:1 tls sni', /'sni' takes one NAME/],
    ['server 127.0.0.1:1 send-proxy tls', /'tls' with 'send-proxy' is not supported/],
  ] as const) {
    t.same(problems([...head, line]), [`${FILE}:4:server.tls`], line);
    t.match(messages([...head, line])[0], message, line);
  }
});

// The group statements that pick a scheduler's key (`key ...`) and tune it
// (`balance-factor`, `balance-on`, `table-size`, `table-max`, `expire`, `set-expire`,
// `seed`): what each compiles to, and the file:line:field of every mistake.
import t from 'tap';
import { parseNativeConfig } from '../../lib/config/native.ts';
import { nextPrime } from '../../lib/sched/mh.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import type { Config, GroupSpec } from '../../lib/config/model.ts';
import { parseDuration } from '../../lib/config/tokenize.ts';
import { createScheduler, knownSchedulers, makeRealServers, schedulerDescriptor } from '../../lib/sched/index.ts';
import { Router } from '../../lib/route/router.ts';
import { RequestView } from '../../lib/route/request-view.ts';

const FILE = 'keys.tcpvs';

/** The schedulers whose descriptor says they read a key. */
const keySchedulers = new Set(knownSchedulers().filter((name) => schedulerDescriptor(name)?.usesKey));

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

function firstMessage(lines: string[]): string {
  try {
    parse(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems[0].message;
    throw err;
  }
  return '';
}

/**
 * One service whose group `g` uses `scheduler` and has the given group
 * statements on lines 4.., then `servers` servers; every request defaults to g.
 */
function groupLines(scheduler: string, statements: string[], servers = 1, tail: string[] = ['default g']): string[] {
  const serverLines = Array.from({ length: servers }, (_, i) => `    server 127.0.0.1:${9001 + i}`);
  return [
    'service a',
    '  listen 127.0.0.1:8080',
    `  group g scheduler ${scheduler}`,
    ...statements.map((s) => `    ${s}`),
    ...serverLines,
    ...tail,
  ];
}

function group(lines: string[], name = 'g'): GroupSpec {
  const found = parse(lines).services[0].groups.find((g) => g.name === name);
  if (found === undefined) throw new Error(`no group ${name}`);
  return found;
}

function request(url: string, headers: Record<string, string> = {}): RequestView {
  const view = new RequestView();
  view.reset('GET', url, Object.entries(headers).flat(), '127.0.0.1');
  return view;
}

t.test("each descriptor's usesKey matches what its scheduler reports", async (t) => {
  const servers = (): ReturnType<typeof makeRealServers> => makeRealServers([{ host: '127.0.0.1', port: 1, weight: 1 }]);
  let checked = 0;
  for (const name of knownSchedulers()) {
    let usesKey: boolean;
    try {
      usesKey = createScheduler(name, servers(), {}).usesKey;
    } catch {
      t.comment(`${name}: its factory throws without options, not compared`);
      continue;
    }
    t.equal(keySchedulers.has(name), usesKey, `${name}: usesKey ${usesKey}`);
    checked++;
  }
  t.ok(checked >= 5, `compared ${checked} schedulers`);
  t.ok(keySchedulers.has('hhttp') && !keySchedulers.has('wlc'), 'both kinds are present');
});

t.test('every key kind compiles to its HashKey', async (t) => {
  const cases: [string, GroupSpec['key']][] = [
    ['key path', { kind: 'path' }],
    ['key path-query', { kind: 'path-query' }],
    ['key host', { kind: 'host' }],
    ['key client', { kind: 'client' }],
    ['key header X-User-Id', { kind: 'header', name: 'x-user-id' }],
    ['key header "X-Shard"', { kind: 'header', name: 'x-shard' }],
    ['key cookie SessionID', { kind: 'cookie', name: 'SessionID' }],
  ];
  for (const [statement, expected] of cases) {
    const g = group(groupLines('hhttp', [statement]));
    t.same(g.key, expected, statement);
    t.equal(g.hashSubmatch, undefined, `${statement}: an explicit non-submatch key replaces hhttp's submatch 0`);
  }
  const sub = group(groupLines('hhttp', ['key submatch 2'], 1, ['route r url-regex "^/(a|b)/([^/]+)" to g']));
  t.same(sub.key, { kind: 'submatch', index: 2 });
  t.equal(sub.hashSubmatch, 2, 'key submatch also sets hashSubmatch, which the router reads');
  const plain = group(groupLines('hhttp', []));
  t.equal(plain.key, undefined, 'without key: undefined');
  t.equal(plain.hashSubmatch, 0, 'hhttp without key: submatch 0, as before');
  const synonym = group([
    'service a',
    'listen 127.0.0.1:8080',
    'group g scheduler hhttp hash-submatch 1',
    'key submatch 1',
    'server 127.0.0.1:1',
    'route r url-regex "^/u/(\\w+)" to g',
  ]);
  t.same([synonym.key, synonym.hashSubmatch], [{ kind: 'submatch', index: 1 }, 1], 'hash-submatch and an agreeing key submatch');
});

t.test('every key-using scheduler accepts key, every other rejects it naming group.key', async (t) => {
  for (const name of keySchedulers) {
    t.ok(knownSchedulers().includes(name), `${name} is registered`);
    t.same(problems(groupLines(name, ['key host'], 2)), [], `${name} takes a key`);
    t.same(group(groupLines(name, ['key header x-a'], 2)).key, { kind: 'header', name: 'x-a' });
  }
  const ignoring = knownSchedulers().filter((n) => !keySchedulers.has(n));
  t.ok(ignoring.length >= 4, `schedulers without keys: ${ignoring.join(', ')}`);
  for (const name of ignoring) {
    const lines = groupLines(name, ['key path']);
    t.same(problems(lines), [`${FILE}:4:group.key`], `${name} rejects key`);
    t.match(
      firstMessage(lines),
      new RegExp(`^scheduler ${name} does not use a key; key applies to schedulers hhttp, dh, lblc, lblcr, mh and chbl only$`),
    );
  }
  for (const name of ['sed', 'nq', 'sh', 'p2c']) t.notOk(keySchedulers.has(name), `${name} ignores keys`);
});

t.test('the scheduler knobs compile into tuning', async (t) => {
  t.same(group(groupLines('chbl', ['balance-factor 1.25'], 3)).tuning, { balanceFactor: 1.25 });
  t.same(group(groupLines('chbl', ['balance-factor 2'])).tuning, { balanceFactor: 2 });
  t.same(group(groupLines('chbl', ['balance-on active'], 3)).tuning, { balanceOn: 'active' });
  t.same(group(groupLines('chbl', ['balance-on requests', 'balance-factor 1.3'], 3)).tuning, { balanceOn: 'requests', balanceFactor: 1.3 });
  t.same(group(groupLines('mh', ['table-size 1009'], 10)).tuning, { tableSize: 1009 }, 'prime, exactly >= 100 x 10');
  t.same(group(groupLines('mh', ['table-size 101'], 1)).tuning, { tableSize: 101 });
  t.same(group(groupLines('mh', ['table-size 16777213'], 2)).tuning, { tableSize: 16_777_213 }, 'the largest prime mh takes');
  t.equal(group(groupLines('mh', [], 655)).tuning, undefined, 'the default table fits 655 servers');
  t.same(group(groupLines('mh', ['table-size 65609'], 656)).tuning, { tableSize: 65609 }, 'a bigger table for more');
  t.same(group(groupLines('lblc', ['table-max 1000', 'expire 24h'], 2)).tuning, { maxEntries: 1000, expireMs: 86_400_000 });
  t.same(group(groupLines('lblcr', ['table-max 1', 'expire 90s', 'set-expire 1.5h'], 2)).tuning, {
    maxEntries: 1,
    expireMs: 90_000,
    setExpireMs: 5_400_000,
  });
  t.same(group(groupLines('p2c', ['seed 0'], 2)).tuning, { seed: 0 });
  t.same(group(groupLines('p2c', ['seed 4294967295'], 2)).tuning, { seed: 4294967295 });
  t.same(group(groupLines('chbl', ['key path-query', 'balance-factor 1.5'], 4)), {
    name: 'g',
    scheduler: 'chbl',
    servers: [9001, 9002, 9003, 9004].map((port) => ({ host: '127.0.0.1', port, weight: 1 })),
    key: { kind: 'path-query' },
    tuning: { balanceFactor: 1.5 },
  });
  t.equal(group(groupLines('chbl', [])).tuning, undefined, 'no knobs: no tuning object, the scheduler defaults apply');
  // What the parser accepts, the schedulers must take (as GroupRuntime builds them).
  const accepted = [
    groupLines('mh', ['table-size 211'], 2),
    groupLines('mh', [], 655),
    groupLines('mh', ['table-size 65609'], 656),
    groupLines('chbl', ['balance-factor 100'], 2),
    groupLines('chbl', ['balance-on active', 'balance-factor 1.5'], 2),
    groupLines('chbl', ['balance-on requests'], 2),
    groupLines('lblcr', ['table-max 1048576', 'expire 596h', 'set-expire 1ms'], 2),
    groupLines('p2c', ['seed 4294967295'], 2),
  ];
  for (const lines of accepted) {
    const g = group(lines);
    t.doesNotThrow(
      () => createScheduler(g.scheduler, makeRealServers(g.servers), { ...g.tuning }),
      `${g.scheduler} ${JSON.stringify(g.tuning)}`,
    );
  }
  // Group statements may come after the servers too; they belong to the last group.
  const late = parse([
    'service a',
    'listen 127.0.0.1:8080',
    'group g scheduler mh',
    'server 127.0.0.1:1',
    'server 127.0.0.1:2',
    'table-size 211',
    'key host',
    'default g',
  ]);
  t.same([late.services[0].groups[0].tuning, late.services[0].groups[0].key], [{ tableSize: 211 }, { kind: 'host' }]);
});

t.test('a knob its scheduler does not use is an error naming the knob', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['wlc', 'balance-factor 1.25', /^balance-factor applies to schedulers mh and chbl only \(group 'g' uses wlc\)$/],
    ['dh', 'balance-factor 1.25', /^balance-factor applies to schedulers mh and chbl only \(group 'g' uses dh\)$/],
    ['hhttp', 'balance-on requests', /^balance-on applies to schedulers mh and chbl only \(group 'g' uses hhttp\)$/],
    ['wlc', 'balance-on active', /^balance-on applies to schedulers mh and chbl only \(group 'g' uses wlc\)$/],
    ['chbl', 'table-size 101', /^table-size applies to scheduler mh only/],
    ['mh', 'table-max 100', /^table-max applies to schedulers lblc and lblcr only/],
    ['rr', 'expire 1h', /^expire applies to schedulers lblc and lblcr only \(group 'g' uses rr\)/],
    ['lblc', 'set-expire 1h', /^set-expire applies to scheduler lblcr only \(group 'g' uses lblc\)/],
    ['hhttp', 'seed 1', /^seed applies to scheduler p2c only/],
    ['lc', 'seed 1', /^seed applies to scheduler p2c only/],
  ];
  for (const [scheduler, statement, message] of cases) {
    const lines = groupLines(scheduler, [statement]);
    const keyword = statement.split(' ')[0];
    t.same(problems(lines), [`${FILE}:4:group.${keyword}`], `${statement} on ${scheduler}`);
    t.match(firstMessage(lines), message);
  }
});

t.test('bad key and knob statements name file, line and field', async (t) => {
  const cases: [string, string[], string[], RegExp][] = [
    [
      'key outside a group',
      ['service a', 'listen 127.0.0.1:8080', 'key path', 'group g', 'server 127.0.0.1:1', 'default g'],
      [`${FILE}:3:group.key`],
      /'key' must follow a 'group NAME' line/,
    ],
    ['key before any service', ['key host', ...groupLines('hhttp', [])], [`${FILE}:1:group.key`], /must follow a 'group NAME'/],
    ['key twice', groupLines('hhttp', ['key path', 'key host']), [`${FILE}:5:group.key`], /'key' is already set at line 4/],
    ['key without kind', groupLines('hhttp', ['key']), [`${FILE}:4:group.key`], /missing argument: usage: key path \| key path-query/],
    ['unknown key kind', groupLines('hhttp', ['key url']), [`${FILE}:4:group.key`], /unknown key 'url'/],
    ['quoted key kind', groupLines('hhttp', ['key "path"']), [`${FILE}:4:group.key`], /unknown key 'path'/],
    ['key path with extra', groupLines('hhttp', ['key path /x']), [`${FILE}:4:group.key`], /unexpected '\/x': usage: key path$/],
    ['key header without name', groupLines('hhttp', ['key header']), [`${FILE}:4:group.key`], /missing argument: usage: key header NAME/],
    ['key header bad name', groupLines('hhttp', ['key header "x y"']), [`${FILE}:4:group.key`], /bad header name 'x y'/],
    ['key cookie bad name', groupLines('hhttp', ['key cookie "a;b"']), [`${FILE}:4:group.key`], /bad cookie name 'a;b'/],
    ['key cookie extra', groupLines('hhttp', ['key cookie sid x']), [`${FILE}:4:group.key`], /unexpected 'x'/],
    ['key submatch not a number', groupLines('hhttp', ['key submatch one']), [`${FILE}:4:group.key`], /bad submatch number 'one'/],
    ['key submatch too big', groupLines('hhttp', ['key submatch 100']), [`${FILE}:4:group.key`], /must be an integer 0\.\.99/],
    [
      'key against hash-submatch',
      ['service a', 'listen 127.0.0.1:8080', 'group g scheduler hhttp hash-submatch 1', 'key path', 'server 127.0.0.1:1', 'default g'],
      [`${FILE}:4:group.key`],
      /conflicts with 'hash-submatch 1' on the group line \(line 3\)/,
    ],
    [
      'key submatch against hash-submatch',
      [
        'service a',
        'listen 127.0.0.1:8080',
        'group g scheduler hhttp hash-submatch 1',
        'key submatch 2',
        'server 127.0.0.1:1',
        'default g',
      ],
      [`${FILE}:4:group.key`],
      /conflicts with 'hash-submatch 1'/,
    ],
    [
      'hash-submatch on chbl',
      ['service a', 'listen 127.0.0.1:8080', 'group g scheduler chbl hash-submatch 1', 'server 127.0.0.1:1', 'default g'],
      [`${FILE}:3:group.hash-submatch`],
      /only meaningful with 'scheduler hhttp' \(other schedulers: 'key submatch N'\)/,
    ],
    [
      'submatch beyond a url-regex',
      groupLines('chbl', ['key submatch 2'], 1, ['route r url-regex "^/u/([^/]+)" to g']),
      [`${FILE}:6:url-regex`],
      /group 'g' keys on submatch 2 but this regex has only 1 capture group\(s\)/,
    ],
    [
      'submatch beyond a path-regex',
      groupLines('lblc', ['key submatch 1'], 1, ['route r path-regex "^/static/" to g']),
      [`${FILE}:6:path-regex`],
      /keys on submatch 1 but this regex has only 0/,
    ],
    [
      'submatch key, route without a regex',
      groupLines('mh', ['key submatch 1'], 1, ['route r url-regex "^/u/(\\w+)" to g', 'route s prefix /s/ to g']),
      [`${FILE}:7:route.to`],
      /group 'g' keys on submatch 1 of a url-regex or path-regex, but route 's' has neither$/,
    ],
    [
      'knob outside a group',
      ['service a', 'listen 127.0.0.1:8080', 'balance-factor 1.25', 'group g scheduler chbl', 'server 127.0.0.1:1', 'default g'],
      [`${FILE}:3:group.balance-factor`],
      /'balance-factor' must follow a 'group NAME' line/,
    ],
    [
      'knob twice',
      groupLines('lblcr', ['expire 1h', 'set-expire 2h', 'expire 2h']),
      [`${FILE}:6:group.expire`],
      /'expire' is already set at line 4/,
    ],
    [
      'knob without value',
      groupLines('chbl', ['balance-factor']),
      [`${FILE}:4:group.balance-factor`],
      /missing argument: usage: balance-factor DECIMAL/,
    ],
    ['knob with two values', groupLines('p2c', ['seed 1 2']), [`${FILE}:4:group.seed`], /unexpected '2'/],
    [
      'balance factor 1',
      groupLines('chbl', ['balance-factor 1']),
      [`${FILE}:4:group.balance-factor`],
      /bad balance factor '1': a decimal number above 1/,
    ],
    ['balance factor below 1', groupLines('chbl', ['balance-factor 0.9']), [`${FILE}:4:group.balance-factor`], /bad balance factor '0\.9'/],
    [
      'balance factor not a number',
      groupLines('chbl', ['balance-factor 125%']),
      [`${FILE}:4:group.balance-factor`],
      /bad balance factor '125%'/,
    ],
    ['balance factor with a bare dot', groupLines('chbl', ['balance-factor 1.']), [`${FILE}:4:group.balance-factor`], /bad balance factor/],
    ['balance factor huge', groupLines('chbl', ['balance-factor 125']), [`${FILE}:4:group.balance-factor`], /at most 100/],
    [
      'balance-on unknown',
      groupLines('chbl', ['balance-on connections']),
      [`${FILE}:4:group.balance-on`],
      /^bad balance-on 'connections': requests \(recent requests sent to each server\) or active \(requests in flight\)$/,
    ],
    ['balance-on upper case', groupLines('chbl', ['balance-on Active']), [`${FILE}:4:group.balance-on`], /bad balance-on 'Active'/],
    [
      'balance-on without value',
      groupLines('chbl', ['balance-on']),
      [`${FILE}:4:group.balance-on`],
      /missing argument: usage: balance-on requests\|active/,
    ],
    [
      'balance-on with two values',
      groupLines('chbl', ['balance-on requests active']),
      [`${FILE}:4:group.balance-on`],
      /unexpected 'active'/,
    ],
    [
      'balance-on twice',
      groupLines('chbl', ['balance-on active', 'balance-on requests']),
      [`${FILE}:5:group.balance-on`],
      /'balance-on' is already set at line 4/,
    ],
    [
      'table size not prime',
      groupLines('mh', ['table-size 1000'], 10),
      [`${FILE}:4:group.table-size`],
      /^table size 1000 is not prime \(the next prime is 1009\)$/,
    ],
    [
      'table size too small',
      groupLines('mh', ['table-size 199'], 2),
      [`${FILE}:4:group.table-size`],
      /^table size 199 is too small for 2 servers: must be at least 100 × servers = 200 \(the next prime is 211\)$/,
    ],
    [
      'table size not a number',
      groupLines('mh', ['table-size 64k']),
      [`${FILE}:4:group.table-size`],
      /bad table size '64k': must be a prime number/,
    ],
    ['table size 1', groupLines('mh', ['table-size 1']), [`${FILE}:4:group.table-size`], /bad table size '1'/],
    [
      'table size beyond the bound',
      groupLines('mh', ['table-size 99999989']),
      [`${FILE}:4:group.table-size`],
      /bad table size '99999989': must be a prime number 2\.\.16777216/,
    ],
    [
      'largest table size not prime',
      groupLines('mh', ['table-size 16777215']),
      [`${FILE}:4:group.table-size`],
      /^table size 16777215 is not prime$/,
    ],
    [
      'default table size too small',
      groupLines('mh', [], 656),
      [`${FILE}:3:group.table-size`],
      /^mh's default table size 65537 is too small for 656 servers: add 'table-size P' with a prime P of at least 100 × servers = 65600 \(e\.g\. 65609\)$/,
    ],
    ['table-max 0', groupLines('lblc', ['table-max 0']), [`${FILE}:4:group.table-max`], /bad table bound '0': must be an integer 1\.\./],
    ['table-max negative', groupLines('lblcr', ['table-max -5']), [`${FILE}:4:group.table-max`], /bad table bound '-5'/],
    ['table-max over the bound', groupLines('lblc', ['table-max 1048577']), [`${FILE}:4:group.table-max`], /bad table bound '1048577'/],
    [
      'expire without unit',
      groupLines('lblc', ['expire 60']),
      [`${FILE}:4:group.expire`],
      /bad duration '60' \(a unit is required: ms, s, m or h\)/,
    ],
    ['expire zero', groupLines('lblc', ['expire 0s']), [`${FILE}:4:group.expire`], /at least 1ms/],
    ['set-expire in days', groupLines('lblcr', ['set-expire 1d']), [`${FILE}:4:group.set-expire`], /bad duration '1d'/],
    ['expire beyond a timer', groupLines('lblcr', ['expire 1000h']), [`${FILE}:4:group.expire`], /at most/],
    ['seed negative', groupLines('p2c', ['seed -1']), [`${FILE}:4:group.seed`], /bad seed '-1': must be an integer 0\.\.4294967295/],
    ['seed beyond 32 bits', groupLines('p2c', ['seed 4294967296']), [`${FILE}:4:group.seed`], /bad seed/],
  ];
  for (const [name, lines, expected, message] of cases) {
    t.same(problems(lines), expected, name);
    t.match(firstMessage(lines), message, `${name}: message`);
  }
});

t.test('a bad group line does not cascade into its key and knob lines', async (t) => {
  // With the scheduler unknown, tcpvs cannot tell whether the knobs fit it.
  t.same(problems(groupLines('nope', ['key path', 'balance-factor 1.25', 'table-size 101'])), [`${FILE}:3:group.scheduler`]);
  // But a bad value is still reported.
  t.same(problems(groupLines('nope', ['balance-factor x'])), [`${FILE}:3:group.scheduler`, `${FILE}:4:group.balance-factor`]);
  // Without a scheduler option the group uses wlc, which takes no key.
  t.same(problems(['service a', 'listen 127.0.0.1:8080', 'group g', 'key path', 'server 127.0.0.1:1', 'default g']), [
    `${FILE}:4:group.key`,
  ]);
});

t.test('every problem in one file, in order', async (t) => {
  const lines = [
    'service a', // 1
    'listen 127.0.0.1:8080', // 2
    'group c scheduler chbl', // 3
    'key cookie', // 4: missing name
    'table-max 10', // 5: not chbl's
    'balance-factor 0', // 6: bad value
    'server 127.0.0.1:1', // 7
    'group m scheduler mh', // 8
    'table-size 101', // 9: too small for 2 servers (found at the end of the block)
    'server 127.0.0.1:1', // 10
    'server 127.0.0.1:2', // 11
    'group w scheduler wlc', // 12
    'key client', // 13: wlc takes no key
    'server 127.0.0.1:1', // 14
    'route r prefix / to c', // 15
    'route s prefix /m to m', // 16
    'default w', // 17
  ];
  t.same(problems(lines), [
    `${FILE}:4:group.key`,
    `${FILE}:5:group.table-max`,
    `${FILE}:6:group.balance-factor`,
    `${FILE}:9:group.table-size`,
    `${FILE}:13:group.key`,
  ]);
});

t.test('warnings: a submatch-keyed group as the default, hhttp routes without a regex', async (t) => {
  const config = parse(groupLines('chbl', ['key submatch 1'], 1, ['route r url-regex "^/o/([^/]+)" to g', 'default g']));
  t.same(
    config.warnings.map((w) => `${w.line}:${w.field}`),
    ['7:default'],
  );
  t.match(
    config.warnings[0].message,
    /group 'g' keys on submatch 1 of a route's regex; requests that reach it as the default carry no key/,
  );
  const hhttp = parse(groupLines('hhttp', [], 1, ['route r prefix /p/ to g']));
  t.same(
    hhttp.warnings.map((w) => `${w.line}:${w.field}`),
    ['5:route.to'],
    "hhttp's implicit submatch only warns",
  );
  t.same(parse(groupLines('chbl', ['key path'], 1, ['route r prefix /p/ to g', 'default g'])).warnings, [], 'other keys need no regex');
});

t.test('the router takes a submatch key from a url-regex or, without one, a path-regex', async (t) => {
  const config = parse([
    'service a',
    'listen 127.0.0.1:8080',
    'group byurl scheduler hhttp',
    'key submatch 1',
    'server 127.0.0.1:1',
    'group bypath scheduler hhttp',
    'key submatch 1',
    'server 127.0.0.1:2',
    'group both scheduler hhttp',
    'key submatch 1',
    'server 127.0.0.1:3',
    'group plain scheduler hhttp',
    'key path',
    'server 127.0.0.1:4',
    'route u url-regex "^/u/(.*)$" to byurl',
    'route p path-regex "^/p/(.*)$" to bypath',
    'route b path-regex "^/b/(x)" url-regex "^/b/(.*)$" to both',
    'route n path-regex "^/n/(.*)$" to plain',
  ]);
  t.same(config.warnings, []);
  const s = config.services[0];
  const router = new Router(s.rules, s.defaultGroup, s.groups);
  const key = (url: string): [string | undefined, string | undefined] => {
    const r = router.route(request(url));
    return [r?.group, r?.key];
  };
  t.same(key('/u/a/b?q=1'), ['byurl', 'a/b?q=1'], 'url-regex: the target, query included');
  t.same(key('/p/a/b?q=1'), ['bypath', 'a/b'], 'path-regex: the path, query excluded');
  t.same(key('/p/'), ['bypath', ''], 'an empty submatch is a key');
  t.same(key('/b/xyz?q'), ['both', 'xyz?q'], 'with both, the url-regex gives the key');
  t.same(key('/b/yz'), [undefined, undefined], 'the path-regex still has to match');
  t.same(key('/n/a?q'), ['plain', undefined], 'a group keyed otherwise gets no submatch from the router');
});

t.test('durations take hours', async (t) => {
  t.same(parseDuration('24h'), { ok: true, value: 86_400_000 });
  t.same(parseDuration('0.5h'), { ok: true, value: 1_800_000 });
  t.same(parseDuration('596h'), { ok: true, value: 2_145_600_000 });
  t.match(parseDuration('597h'), { ok: false, message: /at most 2147483647ms/ });
  t.match(parseDuration('2H'), { ok: false }, 'units are lower-case');
});

t.test('next primes suggested for table-size', async (t) => {
  t.equal(nextPrime(0), 2);
  t.equal(nextPrime(8), 11);
  t.equal(nextPrime(200), 211);
  t.equal(nextPrime(211), 211);
  t.equal(nextPrime(100_000), 100_003);
});

t.test('hash-submatch on a group line is only for hhttp, even with an agreeing key submatch', async (t) => {
  const lines = [
    'service a',
    'listen 127.0.0.1:8080',
    'group g scheduler dh hash-submatch 1',
    'key submatch 1',
    'server 127.0.0.1:1',
    'route r url-regex "^/u/(\\w+)" to g',
  ];
  t.same(problems(lines), [`${FILE}:3:group.hash-submatch`]);
});

t.test('a key or knob its scheduler ignores is reported as such, whatever it says', async (t) => {
  t.match(firstMessage(groupLines('wlc', ['key nonsense'])), /^scheduler wlc does not use a key/);
  t.match(firstMessage(groupLines('rr', ['seed abc'])), /^seed applies to scheduler p2c only/);
  t.match(firstMessage(groupLines('rr', ['table-size'])), /^table-size applies to scheduler mh only/);
});

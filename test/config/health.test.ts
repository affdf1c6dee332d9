// The health statements of the native format (`check`, `eject`, `slow-start`,
// `agent`): defaults, options, and errors naming file, line and field.
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { formatHealth } from '../../lib/health/print.ts';
import { parseExpect } from '../../lib/config/native-health.ts';

const FILE = 'health.tcpvs';
// The health lines start at line 5.
function text(lines: string[]): string {
  return ['service a', 'listen 127.0.0.1:8080', 'group g scheduler rr', 'server 127.0.0.1:1 weight 4', ...lines, 'default g', ''].join(
    '\n',
  );
}
function health(lines: string[]) {
  return parseConfigText(text(lines), FILE).services[0].groups[0].health;
}
function problems(lines: string[]): string[] {
  try {
    parseConfigText(text(lines), FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file}:${p.line}:${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('a group without health statements has no health spec', async (t) => {
  t.equal(health([]), undefined);
});

t.test('check http with HAProxy defaults', async (t) => {
  t.same(health(['check http /health']), {
    check: {
      kind: 'http',
      method: 'GET',
      path: '/health',
      expect: [
        { lo: 200, hi: 299 },
        { lo: 300, hi: 399 },
      ],
      body: null,
      intervalMs: 2000,
      timeoutMs: 2000,
      rise: 2,
      fall: 3,
      port: null,
    },
  });
});

t.test('check http with every option', async (t) => {
  const h = health(['check http head /ping?x=1 expect 200,204,3xx body "^pong$" interval 500ms timeout 200ms rise 4 fall 1 port 9000']);
  const c = h?.check;
  if (c?.kind !== 'http') {
    t.fail('not an http check');
    return;
  }
  t.equal(c.method, 'HEAD');
  t.equal(c.path, '/ping?x=1');
  t.same(c.expect, [
    { lo: 200, hi: 200 },
    { lo: 204, hi: 204 },
    { lo: 300, hi: 399 },
  ]);
  t.ok(c.body?.test('pong'));
  t.notOk(c.body?.test('pong!'));
  t.same([c.intervalMs, c.timeoutMs, c.rise, c.fall, c.port], [500, 200, 4, 1, 9000]);
  // The timeout follows the interval unless given.
  const d = health(['check http /x interval 300ms'])?.check;
  t.same([d?.intervalMs, d?.timeoutMs], [300, 300]);
});

t.test('check tcp, eject, slow-start and agent', async (t) => {
  t.same(health(['check tcp']), { check: { kind: 'tcp', intervalMs: 2000, timeoutMs: 2000, rise: 2, fall: 3, port: null } });
  t.same(health(['check tcp interval 1s timeout 300ms rise 1 fall 5 port 22'])?.check, {
    kind: 'tcp',
    intervalMs: 1000,
    timeoutMs: 300,
    rise: 1,
    fall: 5,
    port: 22,
  });
  t.same(health(['eject after 5 failures']), { eject: { failures: 5, backoffMs: 10_000, maxBackoffMs: 300_000 } });
  t.same(health(['eject after 2 failures backoff 1s max-backoff 8s'])?.eject, { failures: 2, backoffMs: 1000, maxBackoffMs: 8000 });
  // A backoff longer than the default bound raises the bound with it.
  t.same(health(['eject after 2 failures backoff 10m'])?.eject, { failures: 2, backoffMs: 600_000, maxBackoffMs: 600_000 });
  t.same(health(['slow-start 30s']), { slowStartMs: 30_000 });
  t.same(health(['agent 7777']), { agent: { port: 7777, intervalMs: 2000, timeoutMs: 2000 } });
  t.same(health(['agent 7777 interval 5s timeout 1s'])?.agent, { port: 7777, intervalMs: 5000, timeoutMs: 1000 });
  const all = health(['check tcp', 'eject after 3 failures', 'slow-start 1m', 'agent 7777']);
  t.same(Object.keys(all ?? {}).sort(), ['agent', 'check', 'eject', 'slowStartMs']);
});

t.test('formatHealth writes back what parses to the same spec', async (t) => {
  const lines = [
    'check http POST /h expect 2xx,404 body "a\\.b \\"q\\"" interval 1s timeout 500ms rise 3 fall 2 port 81',
    'eject after 4 failures backoff 2s max-backoff 1m',
    'slow-start 20s',
    'agent 7000 interval 3s timeout 1s',
  ];
  const first = health(lines)!;
  const printed = formatHealth(first);
  t.equal(printed.length, 4);
  t.match(printed[0], /^check http POST \/h expect 2xx,404 body /);
  const again = health(printed)!;
  t.same(formatHealth(again), printed);
  t.equal(String((again.check as { body: RegExp }).body), String((first.check as { body: RegExp }).body));
  t.same(formatHealth(health(['check tcp'])!), ['check tcp interval 2s timeout 2s rise 2 fall 3']);
});

t.test('parseExpect', async (t) => {
  t.same(parseExpect('5xx'), { ok: true, value: [{ lo: 500, hi: 599 }] });
  t.match(parseExpect('2xx,99'), { ok: false, message: /bad status '99'/ });
  t.match(parseExpect('6xx'), { ok: false });
  t.match(parseExpect(''), { ok: false });
});

t.test('errors name file, line and field', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['check kind', ['check udp'], /^health\.tcpvs:5:check: expected 'http' or 'tcp'/],
    ['check alone', ['check'], /^health\.tcpvs:5:check: expected 'http' or 'tcp'/],
    ['no path', ['check http'], /^health\.tcpvs:5:check\.path: missing path/],
    ['method without path', ['check http GET'], /^health\.tcpvs:5:check\.path: missing path after 'GET'/],
    ['bad method', ['check http G(T /x'], /^health\.tcpvs:5:check\.method: bad method/],
    ['bad path', ['check http "/a b"'], /^health\.tcpvs:5:check\.path: bad path '\/a b'/],
    ['bad expect', ['check http /x expect 2xx,700'], /^health\.tcpvs:5:check\.expect: bad status '700'/],
    ['bad body', ['check http /x body "("'], /^health\.tcpvs:5:check\.body: bad regular expression/],
    ['bad interval', ['check http /x interval 5'], /^health\.tcpvs:5:check\.interval: bad duration '5' \(a unit is required/],
    ['bad timeout', ['check tcp timeout 0ms'], /^health\.tcpvs:5:check\.timeout: bad duration/],
    ['bad rise', ['check tcp rise 0'], /^health\.tcpvs:5:check\.rise: bad rise '0': must be an integer 1\.\.1000/],
    ['bad fall', ['check tcp fall x'], /^health\.tcpvs:5:check\.fall: bad fall 'x'/],
    ['bad port', ['check tcp port 70000'], /^health\.tcpvs:5:check\.port: bad port '70000'/],
    ['unknown option', ['check tcp body x'], /^health\.tcpvs:5:check: unexpected 'body': usage: check tcp/],
    ['missing value', ['check tcp rise'], /^health\.tcpvs:5:check\.rise: missing value after 'rise'/],
    ['option twice', ['check tcp rise 1 rise 2'], /^health\.tcpvs:5:check\.rise: 'rise' is given twice/],
    ['check twice', ['check tcp', 'check http /'], /^health\.tcpvs:6:group\.check: 'check' is already set at line 5/],
    ['eject usage', ['eject 5'], /^health\.tcpvs:5:group\.eject: usage: eject after N failures/],
    ['eject count', ['eject after 0 failures'], /^health\.tcpvs:5:eject\.failures: bad failure count '0'/],
    ['eject backoff', ['eject after 2 failures backoff soon'], /^health\.tcpvs:5:eject\.backoff: bad duration 'soon'/],
    [
      'eject bounds',
      ['eject after 2 failures backoff 10s max-backoff 5s'],
      /^health\.tcpvs:5:eject\.max-backoff: max-backoff 5s is shorter than the backoff 10s/,
    ],
    ['slow-start missing', ['slow-start'], /^health\.tcpvs:5:group\.slow-start: missing argument/],
    ['slow-start extra', ['slow-start 1s 2s'], /^health\.tcpvs:5:group\.slow-start: unexpected '2s'/],
    ['slow-start bad', ['slow-start fast'], /^health\.tcpvs:5:group\.slow-start: bad duration 'fast'/],
    ['agent no port', ['agent'], /^health\.tcpvs:5:group\.agent: missing port/],
    ['agent bad port', ['agent 0'], /^health\.tcpvs:5:agent\.port: bad port '0'/],
    ['agent option', ['agent 7000 rise 2'], /^health\.tcpvs:5:agent: unexpected 'rise'/],
  ];
  for (const [name, lines, expected] of cases) {
    const found = problems(lines);
    t.equal(found.length, 1, `${name}: one problem (${found.join(' | ')})`);
    t.match(found[0] ?? '', expected, name);
  }
});

t.test('health statements need a group', async (t) => {
  const found = (() => {
    try {
      parseConfigText(
        ['service a', 'listen 127.0.0.1:8080', 'check tcp', 'group g', 'server 127.0.0.1:1', 'default g', ''].join('\n'),
        FILE,
      );
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  })();
  t.same(
    found.map((p) => [p.line, p.field]),
    [[3, 'group.check']],
  );
  t.match(found[0]?.message, /must follow a 'group NAME' line/);
});

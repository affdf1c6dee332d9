// What tcpvsadm prints: -L as KTCPVS config blocks that load back as the same
// virtuals, native services as comments, and the statistics tables from a
// lib/stats snapshot, from the runtimes' counters, or from a shape it does
// not know.
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/model.ts';
import { formatList, formatStats } from '../../lib/tcpvsadm/format.ts';
import { tcpvsadmHandlers } from '../../lib/tcpvsadm/handlers.ts';
import type { ListResult } from '../../lib/tcpvsadm/wire.ts';
import { fakeControl } from './fake-control.ts';

async function listed(config: Config): Promise<ListResult> {
  return (await tcpvsadmHandlers(fakeControl(config))['tcpvs.list']({})) as ListResult;
}

t.test('-L prints KTCPVS blocks that load back as the same virtuals', async (t) => {
  const file = [
    'virtual web {',
    '    listen = 127.0.0.1:8080',
    '    scheduler = http',
    '    timeout = 30',
    '    server = 127.0.0.1:9101 1',
    '    server = 127.0.0.1:9102 2',
    '    rule = pattern "^/cgi-bin/" use server 127.0.0.1:9101',
    '    rule = pattern "\\.(gif|png)$" use server 127.0.0.1:9102',
    '    rule = pattern "\\.(gif|png)$" use server 127.0.0.1:9101',
    '}',
    'virtual users {',
    '    listen = 127.0.0.1:8081',
    '    scheduler = hhttp',
    '    server = 127.0.0.1:9101 1',
    '    rule = pattern "^/users/([^/?]+)" match 1 use server 127.0.0.1:9101',
    '}',
    'virtual lb {',
    '    listen = 0.0.0.0:8082',
    '    scheduler = rr',
    '    server = 10.0.0.1:80 3',
    '}',
  ];
  const config = parseConfigText(file.join('\n') + '\n', 'k.conf');
  const text = formatList(await listed(config));
  t.equal(
    text,
    ['# TCP Virtual Server (tcpvs ' + (await listed(config)).version + ')', ...file].join('\n') + '\n',
    'the file it came from, as tcpvsadm -L printed',
  );
  const again = parseConfigText(text, 'listed.conf');
  t.equal(again.format, 'ktcpvs');
  t.same(formatList(await listed(again)), text, 'and it loads back as the same');
});

t.test('-L: stopped virtuals, bound ports, native services', async (t) => {
  const version = '9.9.9';
  const base = {
    name: 'v',
    stopped: true,
    listen: '127.0.0.1:0',
    bound: null,
    shape: { kind: 'balanced' as const, scheduler: 'wlc' },
    servers: [],
    rules: [],
    groups: [],
    routes: [],
    defaultGroup: 'servers',
    idleTimeoutSec: 60,
  };
  t.equal(
    formatList({ version, services: [base, { ...base, name: 'w', stopped: false, bound: '127.0.0.1:40001' }] }),
    [
      '# TCP Virtual Server (tcpvs 9.9.9)',
      'virtual v {    # stopped: not listening (tcpvsadm --start -i v)',
      '    listen = 127.0.0.1:0',
      '    scheduler = wlc',
      '}',
      'virtual w {',
      '    listen = 127.0.0.1:0    # bound to 127.0.0.1:40001',
      '    scheduler = wlc',
      '}',
      '',
    ].join('\n'),
  );
  const native = parseConfigText(
    'service api\n listen 127.0.0.1:8090\n group a scheduler mh\n  server 10.0.0.1:80 weight 2\n group b\n  server 10.0.0.2:80\n route r host api.example to b\n default a\n',
    'n.tcpvs',
  );
  t.equal(
    formatList(await listed(native))
      .split('\n')
      .slice(1)
      .join('\n'),
    [
      "# service api: not a KTCPVS virtual (it has 2 group(s), 1 route(s) and default group 'a'); 'tcpvsadm show api' prints its rule table",
      '#     listen = 127.0.0.1:8090',
      '#     group a mh: 10.0.0.1:80 2',
      '#     group b wlc: 10.0.0.2:80 1',
      '#     route r host api.example -> b',
      '#     default a',
      '',
    ].join('\n'),
  );
});

/** A snapshot in the shape lib/stats's collector produces (the parts tcpvsadm reads). */
function statsSnapshot(): unknown {
  const requests = (total: number, perSecond: number) => ({
    total,
    perSecond,
    bytesIn: total * 100,
    bytesOut: total * 1000,
    status: { '1xx': 0, '2xx': total - 1, '3xx': 0, '4xx': 0, '5xx': 1, other: 0 },
    recentLatency: { count: total, p50Ms: 1.5, p99Ms: null },
  });
  return {
    generatedAt: 2_000,
    startedAt: Date.UTC(2030, 0, 1),
    windowSeconds: 10,
    services: [
      {
        name: 'web',
        listen: '127.0.0.1:8080',
        connections: { active: 2, total: 7, perSecond: 0.5 },
        activeRequests: 1,
        requests: requests(12, 1.25),
        groups: [
          {
            name: 'static',
            scheduler: 'wlc',
            activeRequests: 1,
            requests: requests(12, 1.25),
            servers: [
              { name: '10.0.0.1:80', up: true, weight: 1, activeRequests: 1, requests: requests(10, 1) },
              { name: '10.0.0.2:80', up: false, weight: 0, activeRequests: 0, requests: requests(2, 0.25) },
            ],
          },
        ],
      },
      { name: 'other', listen: '127.0.0.1:8081', groups: [] },
    ],
  };
}

t.test('--stats and --rate from a lib/stats snapshot', async (t) => {
  const snapshot = statsSnapshot();
  t.equal(
    formatStats({ source: 'stats', snapshot }, 'stats', 'web'),
    [
      '# counters since 2030-01-01T00:00:00.000Z',
      'Service / Group / -> Server  Weight    Up  Conns  ActConn  Requests  Active  InBytes  OutBytes  5xx',
      'web 127.0.0.1:8080                             7        2        12       1     1200     12000    1',
      '  static (wlc)                                 -        -        12       1     1200     12000    1',
      '    -> 10.0.0.1:80                1   yes      -        -        10       1     1000     10000    1',
      '    -> 10.0.0.2:80                0  DOWN      -        -         2       0      200      2000    1',
      '',
    ].join('\n'),
  );
  t.equal(
    formatStats({ source: 'stats', snapshot }, 'rate'),
    [
      '# rates over the last 10 s',
      'Service / Group / -> Server  Weight    Up   CPS   RPS  Active  p50ms  p99ms',
      'web 127.0.0.1:8080                         0.50  1.25       1   1.50      -',
      '  static (wlc)                                -  1.25       1   1.50      -',
      '    -> 10.0.0.1:80                1   yes     -     1       1   1.50      -',
      '    -> 10.0.0.2:80                0  DOWN     -  0.25       0   1.50      -',
      'other 127.0.0.1:8081                          -     -       -      -      -',
      '',
    ].join('\n'),
  );
});

t.test('--stats from the runtimes, and shapes tcpvsadm does not know', async (t) => {
  const runtime = {
    generatedAt: 1,
    intervalMs: 1000,
    services: [{ name: 'web', listen: '127.0.0.1:8080', activeRequests: 0, requests: { total: 3, perSecond: 150.4 }, groups: [] }],
  };
  t.equal(
    formatStats({ source: 'runtime', snapshot: runtime }, 'rate'),
    '# request rates of the running services (their own counters, rates over 1000 ms)\nService / Group / -> Server  RPS  Active\nweb 127.0.0.1:8080           150       0\n',
  );
  t.match(
    formatStats({ source: 'runtime', snapshot: runtime }, 'stats'),
    /^# request counters of the running servers \(since each joined; config changes keep them\)\nService \/ Group \/ -> Server {2}Requests {2}Active\n/,
  );
  t.equal(formatStats({ source: 'stats', snapshot: { services: [] } }, 'stats'), '# counters\n(no services)\n');
  t.equal(
    formatStats({ source: 'stats', snapshot: { services: [{ name: 'web', hits: 4, extra: { misses: 2, hitRate: 0.5 } }] } }, 'stats'),
    '# counters\nService / Group / -> Server  hits  extra.misses\nweb                             4             2\n',
    'unknown numbers still shown, by their path',
  );
  t.equal(
    formatStats({ source: 'stats', snapshot: { services: [{ name: 'web', hits: 4, extra: { misses: 2, hitRate: 0.5 } }] } }, 'rate'),
    '# rates\nService / Group / -> Server  extra.hitRate\nweb                                   0.50\n',
  );
  t.equal(
    formatStats({ source: 'stats', snapshot: [1, 2] }, 'stats'),
    '# statistics (stats), in a shape tcpvsadm does not know:\n[\n  1,\n  2\n]\n',
  );
});

/** The services of a config without where they were written: what `the same table` means. */
function table(config: Config): string {
  return JSON.stringify(config.services, (k, v: unknown) =>
    k === 'file' || k === 'line' ? undefined : v instanceof RegExp ? v.source : v,
  );
}

t.test(
  '-L > FILE, then loading FILE, gives back the same table (chttp, phttp, servers no rule names, patterns with slashes)',
  async (t) => {
    const file = [
      'virtual shop {',
      '    listen = 127.0.0.1:8080',
      '    scheduler = chttp',
      '    timeout = 15',
      '    server = 127.0.0.1:9101 1',
      '    server = 127.0.0.1:9102 2',
      '    server = 127.0.0.1:9103 0',
      '    rule = pattern "^/cart/" use server 127.0.0.1:9101',
      '    rule = pattern "^/cart/" use server 127.0.0.1:9102',
      '    rule = pattern "^/a\\/b/\\"q\\"\\\\\\\\" use server 127.0.0.1:9102',
      '}',
      'virtual keep {',
      '    listen = 127.0.0.1:8081',
      '    scheduler = phttp',
      '    server = 127.0.0.1:9101 1',
      '    server = 127.0.0.1:9104 1',
      '    rule = pattern "^/images/" use server 127.0.0.1:9101',
      '}',
      'virtual empty {',
      '    listen = 127.0.0.1:8082',
      '    scheduler = hhttp',
      '    server = 127.0.0.1:9101 3',
      '}',
    ];
    const config = parseConfigText(file.join('\n') + '\n', 'k.conf');
    const text = formatList(await listed(config));
    t.match(
      text,
      /^virtual shop \{\n {4}listen = 127\.0\.0\.1:8080\n {4}scheduler = chttp\n {4}timeout = 15\n {4}server = 127\.0\.0\.1:9101 1\n {4}server = 127\.0\.0\.1:9102 2\n {4}server = 127\.0\.0\.1:9103 0\n/m,
      'a server no rule names is still listed',
    );
    t.ok(
      text.includes('    rule = pattern "^/a\\/b/\\"q\\"\\\\\\\\" use server 127.0.0.1:9102\n'),
      'the pattern as written, quoted for the tokenizer',
    );
    t.match(
      text,
      /^virtual keep \{\n {4}listen = 127\.0\.0\.1:8081\n {4}scheduler = http\n/m,
      'phttp makes what http makes, and lists as http',
    );
    t.match(text, /^ {4}rule = pattern "\^\/images\/" use server 127\.0\.0\.1:9101$/m);
    t.match(text, /^virtual empty \{\n {4}listen = 127\.0\.0\.1:8082\n {4}scheduler = hhttp\n {4}server = 127\.0\.0\.1:9101 3\n\}$/m);
    const again = parseConfigText(text, 'listed.conf');
    t.equal(table(again), table(config), 'the same services, groups, routes, patterns and persistence');
    t.equal(formatList(await listed(again)), text, 'and the same listing');
    const shop = again.services[0];
    const m = shop.rules[1].matchers[0];
    t.equal(m.kind === 'url-regex' && m.text, '^/a\\/b/"q"\\\\', 'the pattern text survives the round trip');
    t.ok(m.kind === 'url-regex' && m.re.test('/a/b/"q"\\'));
    t.same(
      shop.groups.map((g) => g.affinity?.kind === 'cookie' && `${g.affinity.name} ${g.affinity.mode}`),
      ['KTCPVS_SID insert', 'KTCPVS_SID insert', 'KTCPVS_SID insert'],
    );
  },
);

// The `l4` settings and `vip` blocks: what tcpvs programs into its L4 core.
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';

const BASE = ['service web', '  listen 127.0.0.1:8080', '  group g', '    server 127.0.0.1:9001', '  default g'];

function problems(lines: string[]): string[] {
  try {
    parseConfigText(lines.join('\n'), 'l4.tcpvs');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.field}`);
    throw err;
  }
  return [];
}

t.test('no l4 part: l4 is null', async (t) => {
  t.equal(parseConfigText(BASE.join('\n'), 'l4.tcpvs').l4, null);
});

t.test('a vip with self and other nodes, persistence and load-following weight', async (t) => {
  const l4 = parseConfigText(
    [
      'l4 driver ipvs',
      'l4 drain-timeout 10s',
      ...BASE,
      'vip front tcp 10.0.0.1:80',
      '  scheduler sh',
      '  persistent 10m netmask 255.255.255.0',
      '  real self web weight 3',
      '  real 10.1.1.2:8080 weight 0 method route',
      '  weight-follows-load',
    ].join('\n'),
    'l4.tcpvs',
  ).l4!;
  t.equal(l4.driver, 'ipvs');
  t.equal(l4.admin, null);
  t.equal(l4.drainTimeoutMs, 10_000);
  t.match(l4.vips[0], {
    name: 'front',
    protocol: 'tcp',
    address: '10.0.0.1',
    port: 80,
    scheduler: 'sh',
    persistence: { timeoutSec: 600, netmask: '255.255.255.0' },
    weightFollowsLoad: true,
    reals: [
      { kind: 'self', service: 'web', weight: 3 },
      { kind: 'address', address: '10.1.1.2', port: 8080, weight: 0, method: 'route' },
    ],
  });
  t.same(parseConfigText([...BASE, 'vip v udp 127.0.0.1:53', '  persistent', '  real self web'].join('\n'), 'l4.tcpvs').l4!.vips[0].persistence, {
    timeoutSec: 300,
    netmask: '255.255.255.255',
  }, 'persistent alone: ipvsadm -p defaults');
});

t.test('every error names its line and field', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    ['unknown driver', ['l4 driver dpdk', ...BASE], ['1:l4.driver']],
    ['relative admin path', ['l4 admin run/admin.sock', ...BASE], ['1:l4.admin']],
    ['driver twice', ['l4 driver ipvs', 'l4 driver userspace', ...BASE], ['2:l4.driver']],
    ['remote without admin', ['l4 driver remote', ...BASE, 'vip v tcp 127.0.0.1:80', 'real self web'], ['1:l4.admin']],
    ['remote with other nodes', ['l4 driver remote', 'l4 admin /run/a.sock', ...BASE, 'vip v tcp 127.0.0.1:80', 'real 127.0.0.1:9 weight 1'], ['8:vip.real']],
    ['bad protocol', [...BASE, 'vip v sctp 127.0.0.1:80'], ['6:vip.protocol']],
    ['vip without reals', [...BASE, 'vip v tcp 127.0.0.1:80'], ['6:vip.real']],
    ['unknown self service', [...BASE, 'vip v tcp 127.0.0.1:80', 'real self api'], ['7:vip.real']],
    ['bad weight', [...BASE, 'vip v tcp 127.0.0.1:80', 'real 127.0.0.1:9 weight 70000'], ['7:vip.real.weight']],
    ['unknown scheduler', [...BASE, 'vip v tcp 127.0.0.1:80', 'scheduler fastest', 'real self web'], ['7:vip.scheduler']],
    ['scheduler outside a vip', [...BASE, 'scheduler rr'], ['6:vip.scheduler']],
    ['duplicate vip', [...BASE, 'vip v tcp 127.0.0.1:80', 'real self web', 'vip v tcp 127.0.0.1:81', 'real self web'], ['8:vip']],
  ];
  for (const [name, lines, want] of cases) t.same(problems(lines), want, name);
});

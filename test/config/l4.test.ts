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
  t.same(
    parseConfigText([...BASE, 'vip v udp 127.0.0.1:53', '  persistent', '  real self web'].join('\n'), 'l4.tcpvs').l4!.vips[0].persistence,
    {
      timeoutSec: 300,
      netmask: '255.255.255.255',
    },
    'persistent alone: ipvsadm -p defaults',
  );
});

t.test('every error names its line and field', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    ['unknown driver', ['l4 driver dpdk', ...BASE], ['1:l4.driver']],
    ['relative admin path', ['l4 admin run/admin.sock', ...BASE], ['1:l4.admin']],
    ['driver twice', ['l4 driver ipvs', 'l4 driver userspace', ...BASE], ['2:l4.driver']],
    ['remote without admin', ['l4 driver remote', ...BASE, 'vip v tcp 127.0.0.1:80', 'real self web'], ['1:l4.admin']],
    [
      'remote with other nodes',
      ['l4 driver remote', 'l4 admin /run/a.sock', ...BASE, 'vip v tcp 127.0.0.1:80', 'real 127.0.0.1:9 weight 1'],
      ['8:vip.real'],
    ],
    ['tcp admin without driver remote', ['l4 admin tcp://10.0.0.1:9000', ...BASE], ['1:l4.admin']],
    [
      'tcp admin without a port',
      ['l4 driver remote', 'l4 admin tcp://10.0.0.1', ...BASE, 'vip v tcp 127.0.0.1:80', 'real self web'],
      ['1:l4.admin', '2:l4.admin'],
    ],
    [
      'tcp admin with a word not token',
      ['l4 driver remote', 'l4 admin tcp://10.0.0.1:9000 secret x', ...BASE, 'vip v tcp 127.0.0.1:80', 'real self web'],
      ['1:l4.admin', '2:l4'],
    ],
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

t.test('vrrp statements: a backup director, and keepalived’s config from them', async (t) => {
  const { keepalivedConfig } = await import('../../lib/l4/keepalived.ts');
  const vip = ['vip front tcp 10.0.0.100:80', '  real self web', 'vip dns tcp 10.0.0.100:53', '  real 10.0.0.7:53'];
  const vrrp = ['vrrp interface eth0', 'vrrp router-id 51', 'vrrp priority 150'];
  const config = parseConfigText(
    [
      ...BASE,
      ...vip,
      ...vrrp,
      'vrrp auth s3cret',
      'vrrp source 10.0.0.2',
      'vrrp peer 10.0.0.3',
      'vrrp peer 10.0.0.4',
      'vrrp notify /usr/local/bin/notify "a b"',
    ].join('\n'),
    'l4.tcpvs',
  );
  t.match(config.l4!.vrrp, {
    interface: 'eth0',
    routerId: 51,
    priority: 150,
    advertMs: 1000,
    auth: 's3cret',
    source: '10.0.0.2',
    peers: ['10.0.0.3', '10.0.0.4'],
    notify: '/usr/local/bin/notify a b',
  });
  const text = keepalivedConfig(config.l4!, 'l4.tcpvs');
  t.match(
    text,
    /vrrp_instance tcpvs \{\n {2}state BACKUP\n {2}interface eth0\n {2}virtual_router_id 51\n {2}priority 150\n {2}advert_int 1\n/,
  );
  t.match(text, /unicast_src_ip 10\.0\.0\.2\n {2}unicast_peer \{\n {4}10\.0\.0\.3\n {4}10\.0\.0\.4\n {2}\}/);
  t.match(text, /auth_type PASS\n {4}auth_pass s3cret/);
  t.equal(text.match(/10\.0\.0\.100\/32 dev eth0/g)?.length, 1, 'an address shared by two vips is added once');
  t.match(text, /notify "\/usr\/local\/bin\/notify a b"/);
  t.notMatch(text, /version 3/, 'whole-second adverts: VRRPv2');
  const fast = parseConfigText([...BASE, ...vip, ...vrrp, 'vrrp advert 200ms', 'vrrp prefix 24'].join('\n'), 'l4.tcpvs');
  const fastText = keepalivedConfig(fast.l4!, 'l4.tcpvs');
  t.match(fastText, /advert_int 0\.2\n {2}version 3\n/, 'a shorter advert needs VRRPv3');
  t.match(fastText, /10\.0\.0\.100\/24 dev eth0/);

  t.same(
    problems([...BASE, ...vip, 'vrrp interface eth0']),
    ['10:vrrp.router-id', '10:vrrp.priority'],
    'interface, router-id and priority are needed',
  );
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp priority 100']), ['13:vrrp.priority'], 'each once');
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp router-id 256'].filter((l) => l !== 'vrrp router-id 51')), ['12:vrrp.router-id']);
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp auth toolongpassword']), ['13:vrrp.auth']);
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp peer not-an-ip']), ['13:vrrp.peer']);
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp advert 500ms', 'vrrp auth x']), ['14:vrrp.auth'], 'authentication is VRRPv2 only');
  t.same(problems([...BASE, ...vip, ...vrrp, 'vrrp bogus 1']), ['13:vrrp']);
  t.same(
    problems(['l4 driver remote', 'l4 admin /run/x.sock', ...BASE, 'vip front tcp 10.0.0.100:80', '  real self web', ...vrrp]),
    ['10:vrrp'],
    'a remote node holds no vip address',
  );
});

t.test('notify COMMAND: absolute, once; keepalived tells the running tcpvs through its admin socket', async (t) => {
  const { keepalivedConfig } = await import('../../lib/l4/keepalived.ts');
  const vip = ['vip front tcp 10.0.0.100:80', '  real self web'];
  const vrrp = ['vrrp interface eth0', 'vrrp router-id 51', 'vrrp priority 150'];
  const config = parseConfigText(
    ['l4 admin /run/tcpvs.sock', 'notify /usr/local/bin/changed --quiet', ...BASE, ...vip, ...vrrp, 'vrrp notify /usr/local/bin/own'].join(
      '\n',
    ),
    'l4.tcpvs',
  );
  t.same(config.l4!.notify, ['/usr/local/bin/changed', '--quiet']);
  const text = keepalivedConfig(config.l4!, 'l4.tcpvs', ['/usr/bin/node', '/opt/tcpvs/index.ts']);
  t.match(text, / {2}notify "\/usr\/bin\/node \/opt\/tcpvs\/index\.ts director-state --admin \/run\/tcpvs\.sock"\n/);
  t.match(
    text,
    / {2}notify_master "\/usr\/local\/bin\/own INSTANCE tcpvs MASTER"\n {2}notify_backup "\/usr\/local\/bin\/own INSTANCE tcpvs BACKUP"\n {2}notify_fault "\/usr\/local\/bin\/own INSTANCE tcpvs FAULT"\n/,
    'vrrp notify still runs, per state',
  );
  t.same(problems(['notify changed', ...BASE]), ['1:notify'], 'an absolute path');
  t.same(problems(['notify /a', 'notify /b', ...BASE]), ['2:notify'], 'once');
});

t.test('l4 admin tcp://HOST:PORT token T: a remote node registers over the director’s TCP admin listener', async (t) => {
  const l4 = parseConfigText(
    ['l4 driver remote', 'l4 admin tcp://10.0.0.1:9000 token abcdefghijklmnop', ...BASE, 'vip v tcp 10.0.0.100:80', '  real self web'].join(
      '\n',
    ),
    'n.tcpvs',
  ).l4!;
  t.equal(l4.admin, 'tcp://10.0.0.1:9000');
  t.equal(l4.adminToken, 'abcdefghijklmnop');
  const noToken = parseConfigText(
    ['l4 driver remote', 'l4 admin tcp://[::1]:9000', ...BASE, 'vip v tcp 10.0.0.100:80', '  real self web'].join('\n'),
    'n.tcpvs',
  ).l4!;
  t.equal(noToken.adminToken, undefined, 'without a token: TCPVS_ADMIN_TOKEN');
});

// ipvsadm's output formats, as golden strings: -L -n and its variants, -L -c,
// -L --daemon and -S, with persistent, fwmark and IPv6 services. Trailing blanks are part
// of ipvsadm's output (printf's %-10u on the last column) and are kept.
import t from 'tap';
import {
  formatConnections,
  formatDaemons,
  formatList,
  formatListService,
  formatSave,
  largeNumber,
} from '../../../lib/l4/ipvsadm-cli/format.ts';
import type { ListFormat } from '../../../lib/l4/ipvsadm-cli/parse.ts';
import type { RealServerStatus, ServiceKey, VirtualServiceStatus } from '../../../lib/l4/model.ts';

const plain: ListFormat = {
  numeric: true,
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  tunInfo: false,
  exact: false,
  noSort: false,
};
const zero = { conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 };
const still = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

const tcp = (address: string, port: number): ServiceKey => ({
  protocol: 'tcp',
  address,
  port,
  fwmark: 0,
  family: address.includes(':') ? 6 : 4,
});
const udp = (address: string, port: number): ServiceKey => ({ ...tcp(address, port), protocol: 'udp' });
const fwm = (mark: number, family: 4 | 6 = 4): ServiceKey => ({ protocol: 'fwmark', address: '', port: 0, fwmark: mark, family });

function dest(address: string, port: number, extra: Partial<RealServerStatus> = {}): RealServerStatus {
  return {
    address,
    port,
    weight: 1,
    method: 'route',
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConns: 0,
    inactiveConns: 0,
    persistentConns: 0,
    stats: zero,
    rates: still,
    ...extra,
  };
}

function service(key: ServiceKey, extra: Partial<VirtualServiceStatus> = {}): VirtualServiceStatus {
  return { key, scheduler: 'wlc', persistence: null, realServers: [], stats: zero, rates: still, ...extra };
}

const lines = (...l: string[]) => l.join('\n') + '\n';

t.test("-L -n: the brief's example, trailing blanks included", async (t) => {
  const table = [
    service(tcp('10.0.0.1', 80), {
      persistence: { timeoutSec: 300, netmask: '255.255.255.255' },
      realServers: [dest('10.1.1.2', 80, { method: 'masq' })],
    }),
  ];
  t.equal(
    formatList(table, plain),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.0.0.1:80 wlc persistent 300',
      '  -> 10.1.1.2:80                  Masq    1      0          0         ',
    ),
  );
});

const mixed = (): VirtualServiceStatus[] => [
  service(fwm(7, 6), {
    persistence: { timeoutSec: 60, netmask: '64' },
    realServers: [dest('2001:db8::20', 0, { method: 'tunnel', weight: 2 })],
  }),
  service(udp('10.0.0.1', 53), { scheduler: 'rr', realServers: [dest('10.1.1.9', 53, { method: 'masq', weight: 0 })] }),
  service(fwm(3)),
  service(tcp('2001:db8::1', 443), { scheduler: 'sh', realServers: [dest('2001:db8::11', 443), dest('2001:db8::2', 443)] }),
  service(tcp('10.0.0.10', 80), { persistence: { timeoutSec: 1800, netmask: '255.255.255.0' } }),
  service(tcp('10.0.0.9', 80), {
    realServers: [
      dest('10.1.1.10', 80, { activeConns: 12, inactiveConns: 345 }),
      dest('10.1.1.9', 8080, { method: 'masq', weight: 65535 }),
      dest('10.1.1.9', 80, { method: 'tunnel', weight: 3 }),
    ],
  }),
];

t.test('-L -n sorts like ipvsadm: fwmark last, IPv4 before IPv6, TCP before UDP, then address and port', async (t) => {
  t.equal(
    formatList(mixed(), plain),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.0.0.9:80 wlc',
      '  -> 10.1.1.9:80                  Tunnel  3      0          0         ',
      '  -> 10.1.1.9:8080                Masq    65535  0          0         ',
      '  -> 10.1.1.10:80                 Route   1      12         345       ',
      'TCP  10.0.0.10:80 wlc persistent 1800 mask 255.255.255.0',
      'UDP  10.0.0.1:53 rr',
      '  -> 10.1.1.9:53                  Masq    0      0          0         ',
      'TCP  [2001:db8::1]:443 sh',
      '  -> [2001:db8::2]:443            Route   1      0          0         ',
      '  -> [2001:db8::11]:443           Route   1      0          0         ',
      'FWM  3 wlc',
      'FWM  7 IPv6 wlc persistent 60 mask 64',
      '  -> [2001:db8::20]:0             Tunnel  2      0          0         ',
    ),
  );
});

t.test("--nosort keeps the core's order", async (t) => {
  const out = formatList(mixed(), { ...plain, noSort: true }).split('\n');
  t.equal(out[3], 'FWM  7 IPv6 wlc persistent 60 mask 64');
  t.equal(out[5], 'UDP  10.0.0.1:53 rr');
  t.equal(
    out.filter((l) => l.startsWith('  -> 10.1.1.')).join('|'),
    [
      '  -> 10.1.1.9:53                  Masq    0      0          0         ',
      '  -> 10.1.1.10:80                 Route   1      12         345       ',
      '  -> 10.1.1.9:8080                Masq    65535  0          0         ',
      '  -> 10.1.1.9:80                  Tunnel  3      0          0         ',
    ].join('|'),
  );
});

t.test('-S -n: the commands that rebuild the table', async (t) => {
  t.equal(
    formatSave(mixed(), plain),
    lines(
      '-A -t 10.0.0.9:80 -s wlc',
      '-a -t 10.0.0.9:80 -r 10.1.1.9:80 -i -w 3 --tun-type ipip',
      '-a -t 10.0.0.9:80 -r 10.1.1.9:8080 -m -w 65535',
      '-a -t 10.0.0.9:80 -r 10.1.1.10:80 -g -w 1',
      '-A -t 10.0.0.10:80 -s wlc -p 1800 -M 255.255.255.0',
      '-A -u 10.0.0.1:53 -s rr',
      '-a -u 10.0.0.1:53 -r 10.1.1.9:53 -m -w 0',
      '-A -t [2001:db8::1]:443 -s sh',
      '-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 1',
      '-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -g -w 1',
      '-A -f 3 -s wlc',
      '-A -f 7 -6 -s wlc -p 60 -M 64',
      '-a -f 7 -6 -r [2001:db8::20]:0 -i -w 2 --tun-type ipip',
    ),
  );
  t.equal(
    formatSave([service(tcp('10.0.0.1', 80), { persistence: { timeoutSec: 300, netmask: '255.255.255.255' } })], plain),
    '-A -t 10.0.0.1:80 -s wlc -p 300\n',
    'a /32 mask is not written',
  );
  t.equal(formatSave([], plain), '', 'an empty table saves as nothing');
});

t.test("largeNumber: ipvsadm's print_largenum", async (t) => {
  const cases: Array<[number, boolean, string]> = [
    [0, false, '        0'],
    [99999999, false, ' 99999999'],
    [100000000, false, '  100000K'],
    [999999999, false, '  999999K'],
    [1000000000, false, '    1000M'],
    [99999999999, false, '   99999M'],
    [100000000000, false, '     100G'],
    [99999999999999, false, '   99999G'],
    [100000000000000, false, '     100T'],
    [12345678, true, ' 12345678'],
    [123456789, true, ' 123456789'],
    [123456789012, true, ' 123456789012'],
  ];
  for (const [n, exact, out] of cases) t.equal(largeNumber(n, exact), out, `${n}${exact ? ' --exact' : ''}`);
});

const busy = (): VirtualServiceStatus[] => [
  service(tcp('10.0.0.1', 80), {
    persistence: { timeoutSec: 300, netmask: '255.255.255.255' },
    stats: { conns: 1234, inPackets: 567890, outPackets: 123456789, inBytes: 98765432101, outBytes: 123456789012345 },
    rates: { cps: 12, inPps: 340, outPps: 290, inBps: 123456789, outBps: 45678 },
    realServers: [
      dest('10.1.1.2', 80, {
        method: 'masq',
        weight: 3,
        activeConns: 4,
        inactiveConns: 5,
        persistentConns: 6,
        upperThreshold: 100,
        lowerThreshold: 50,
        stats: { conns: 1000, inPackets: 500000, outPackets: 100000000, inBytes: 90000000000, outBytes: 100000000000000 },
        rates: { cps: 10, inPps: 300, outPps: 250, inBps: 100000000, outBps: 40000 },
      }),
    ],
  }),
  service(fwm(1)),
];

// Left columns built with padEnd so the goldens' own spacing cannot be miscounted;
// every number column below is written out literally.
const svc33 = (name: string) => name.padEnd(33);
const dst = (name: string) => `  -> ${name.padEnd(28)}`;

t.test('-L -n --stats', async (t) => {
  t.equal(
    formatList(busy(), { ...plain, stats: true }),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      svc33('Prot LocalAddress:Port') + '    Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
      svc33('TCP  10.0.0.1:80') + '     1234   567890  123456K   98765M     123T',
      dst('10.1.1.2:80') + '     1000   500000  100000K   90000M     100T',
      svc33('FWM  1') + '        0        0        0        0        0',
    ),
  );
  t.equal(
    formatList(busy(), { ...plain, stats: true, exact: true }).split('\n')[3],
    svc33('TCP  10.0.0.1:80') + '     1234   567890 123456789 98765432101 123456789012345',
    '--exact widens a column instead of scaling',
  );
});

t.test('-L -n --rate', async (t) => {
  t.equal(
    formatList(busy(), { ...plain, rate: true }),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      svc33('Prot LocalAddress:Port') + '      CPS    InPPS   OutPPS    InBPS   OutBPS',
      '  -> RemoteAddress:Port',
      svc33('TCP  10.0.0.1:80') + '       12      340      290  123456K    45678',
      dst('10.1.1.2:80') + '       10      300      250  100000K    40000',
      svc33('FWM  1') + '        0        0        0        0        0',
    ),
  );
});

t.test('-L -n --thresholds, --persistent-conn, --tun-info', async (t) => {
  t.equal(
    formatList(busy(), { ...plain, thresholds: true }),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      svc33('Prot LocalAddress:Port') + ' Uthreshold Lthreshold ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.1:80 wlc persistent 300',
      dst('10.1.1.2:80') + ' 100        50         4          5         ',
      'FWM  1 wlc',
    ),
  );
  t.equal(
    formatList(busy(), { ...plain, persistentConn: true }),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      svc33('Prot LocalAddress:Port') + ' Weight    PersistConn ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.1:80 wlc persistent 300',
      dst('10.1.1.2:80') + ' 3         6           4          5         ',
      'FWM  1 wlc',
    ),
  );
  const tunnels = [service(tcp('10.0.0.1', 80), { realServers: [dest('10.1.1.2', 80, { method: 'tunnel' }), dest('10.1.1.3', 80)] })];
  t.equal(
    formatList(tunnels, { ...plain, tunInfo: true }),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  10.0.0.1:80 wlc',
      dst('10.1.1.2:80') + ' Tunnel  ipip          1      0          0         ',
      dst('10.1.1.3:80') + ' Route   n/a           1      0          0         ',
    ),
  );
});

t.test('-L -t ADDR: one service, without the version line', async (t) => {
  t.equal(
    formatListService(busy()[0], plain),
    lines(
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.0.0.1:80 wlc persistent 300',
      '  -> 10.1.1.2:80                  Masq    3      4          5         ',
    ),
  );
});

t.test('-L -n -c: the connection table', async (t) => {
  const entries = [
    {
      protocol: 'tcp' as const,
      state: 'ESTABLISHED',
      expiresInSec: 899,
      source: '192.168.1.10:51234',
      virtual: '10.0.0.1:80',
      destination: '10.1.1.2:80',
    },
    {
      protocol: 'tcp' as const,
      state: 'NONE',
      expiresInSec: 5,
      source: '192.168.1.10:0',
      virtual: '10.0.0.1:80',
      destination: '10.1.1.2:80',
    },
    {
      protocol: 'udp' as const,
      state: 'UDP',
      expiresInSec: 3725,
      source: '2001:db8::99:5353',
      virtual: '[2001:db8::1]:53',
      destination: '2001:db8::10:53',
    },
  ];
  t.equal(
    formatConnections(entries, plain),
    lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 14:59  ESTABLISHED 192.168.1.10:51234 10.0.0.1:80        10.1.1.2:80',
      'TCP 00:05  NONE        192.168.1.10:0     10.0.0.1:80        10.1.1.2:80',
      'UDP 62:05  UDP         [2001:db8::99]:5353 [2001:db8::1]:53   [2001:db8::10]:53',
    ),
  );
  t.equal(
    formatConnections(entries.slice(0, 1), { ...plain, persistentConn: true }),
    lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination        pe name          pe_data',
      'TCP 14:59  ESTABLISHED 192.168.1.10:51234 10.0.0.1:80        10.1.1.2:80',
    ),
  );
  t.equal(
    formatConnections([], plain),
    lines('IPVS connection entries', 'pro expire state       source             virtual            destination'),
  );
});

t.test('-L --daemon: one line per daemon, master first; nothing without one', async (t) => {
  const backup = {
    role: 'backup' as const,
    mcastInterface: 'eth1',
    syncId: 2,
    syncMaxLen: 1472,
    mcastGroup: 'ff02::81',
    mcastPort: 8848,
    mcastTtl: 1,
  };
  const master = {
    role: 'master' as const,
    mcastInterface: 'eth0',
    syncId: 1,
    syncMaxLen: 1472,
    mcastGroup: '224.0.0.81',
    mcastPort: 8848,
    mcastTtl: 1,
  };
  t.equal(
    formatDaemons([backup, master]),
    lines(
      'master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)',
      'backup sync daemon (mcast=eth1, syncid=2, maxlen=1472, group=ff02::81, port=8848, ttl=1)',
    ),
    "ipvsadm 1.31's line, as on a kernel that reports every field",
  );
  t.equal(
    formatDaemons([
      { role: 'master', mcastInterface: 'eth0', syncId: 0, syncMaxLen: null, mcastGroup: null, mcastPort: null, mcastTtl: null },
    ]),
    'master sync daemon (mcast=eth0, syncid=0)\n',
    'fields the kernel does not report are left out, as ipvsadm does',
  );
  t.equal(formatDaemons([]), '', 'no daemon: no output at all');
});

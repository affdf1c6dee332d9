// The ipvs L4 driver without root: ipvsadm's text forms (rule lines, -L
// tables, the connection table) against texts as Debian's ipvsadm 1.31
// prints them, the -R batches against golden files, and the driver end to end
// against a fake ipvsadm (a shell script that records its argv and stdin and
// replays canned answers).
import t from 'tap';
import type { Test } from 'tap';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { L4Error, serviceId } from '../../lib/l4/model.ts';
import type { RealServerConfig, ServiceKey, SyncDaemon, VirtualServiceConfig } from '../../lib/l4/model.ts';
import { canonicalAddress, compareAddresses, splitHostPort } from '../../lib/l4/ipvs/address.ts';
import {
  formatSave,
  formatServerLine,
  formatServiceLine,
  formatStartDaemon,
  parseConnections,
  parseDaemons,
  parseListTable,
  parseRuleLine,
  parseRules,
  parseSave,
} from '../../lib/l4/ipvs/ipvsadm-text.ts';
import { adoptionError, normalizeDesired, planBatch, withThresholds } from '../../lib/l4/ipvs/diff.ts';
import { createIpvsCore } from '../../lib/l4/ipvs/driver.ts';
import type { IpvsCoreOptions } from '../../lib/l4/ipvs/driver.ts';
import { IPVSADM_NOT_FOUND } from '../../lib/l4/ipvs/runner.ts';
import { readOwners, writeOwners } from '../../lib/l4/ipvs/owned-state.ts';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const golden = (name: string): Promise<string> => readFile(join(GOLDEN, name), 'utf8');

// ---- builders -------------------------------------------------------------------

function tcp(address: string, port: number): ServiceKey {
  return { protocol: 'tcp', address, port, fwmark: 0, family: address.includes(':') ? 6 : 4 };
}
function udp(address: string, port: number): ServiceKey {
  return { protocol: 'udp', address, port, fwmark: 0, family: address.includes(':') ? 6 : 4 };
}
function fwmark(mark: number, family: 4 | 6 = 4): ServiceKey {
  return { protocol: 'fwmark', address: '', port: 0, fwmark: mark, family };
}
function rs(address: string, port: number, method: RealServerConfig['method'], weight = 1, x = 0, y = 0): RealServerConfig {
  return { address, port, method, weight, upperThreshold: x, lowerThreshold: y };
}
function svc(
  key: ServiceKey,
  scheduler: string,
  persistence: [number, string] | null,
  realServers: RealServerConfig[],
): VirtualServiceConfig {
  return {
    key,
    scheduler,
    persistence: persistence === null ? null : { timeoutSec: persistence[0], netmask: persistence[1] },
    realServers,
  };
}
function owners(entries: Record<string, string[]>): Map<string, Set<string>> {
  return new Map(Object.entries(entries).map(([owner, ids]) => [owner, new Set(ids)]));
}
function batchText(lines: string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

// ---- texts as Debian's ipvsadm 1.31 printed them (kernel 6.1) ---------------------

// `ipvsadm -S -n` after a mix of ipvsadm commands: note 200.0.0.1 sorted first
// (libipvs compares addresses by wrapping int subtraction), tunnel options,
// scheduler flags, one-packet scheduling, and an IPv6 fwmark service.
const SAVE_MIXED = `-A -t 200.0.0.1:80 -s rr
-A -t 10.0.0.1:80 -s rr
-A -t 10.0.0.22:80 -s wlc -p 360
-A -t 10.0.0.23:80 -s wlc
-a -t 10.0.0.23:80 -r 10.1.1.2:80 -g -w 2
-a -t 10.0.0.23:80 -r 10.1.1.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -t 10.0.0.23:80 -r 10.1.1.4:80 -m -w 1
-a -t 10.0.0.23:80 -r 10.1.1.5:0 -m -w 1
-A -t 129.0.0.1:80 -s rr
-A -u 10.0.0.5:54 -s sh -b sh-fallback,sh-port
-A -u 10.0.0.5:55 -s rr -o
-A -t [fd00::10]:80 -s sh
-A -t [fd00::10]:443 -s sh -p 60 -M 64
-A -t [::ffff:1.2.3.4]:80 -s sh
-A -f 7 -s lc -p 360
-a -f 7 -r 10.1.1.2:0 -g -w 1
-A -f 8 -6 -s wrr -p 20 -M 64
-a -f 8 -6 -r [2001:db8:1::3]:0 -m -w 5
-a -f 8 -6 -r [2001:db8:1::4]:8080 -i -w 5 --tun-type ipip
`;

const STATS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                        20      120       80     7858    11480
  -> 10.1.1.2:80                         8       48       32     3143     4592
  -> 10.1.2.2:80                        12       72       48     4715     6888
UDP  10.0.0.5:53                         0        0        0        0        0
TCP  [2001:db8::1]:443                   3       30       24     2900 1234567890
  -> [2001:db8:1::2]:443                 3       30       24     2900 1234567890
FWM  8 IPv6                              0        0        0        0        0
  -> [2001:db8:1::3]:0                   0        0        0        0        0
`;

const STATS_ROUNDED = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                        20      120       80     7858    1234M
  -> 10.1.1.2:80                         8       48       32     3143     999K
`;

const RATES = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.0.0.1:80                         2       14        9      951     1331
  -> 10.1.1.2:80                         1        6        4      402      580
  -> 10.1.2.2:80                         1        8        5      549      751
`;

const THRESHOLDS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.1:80 wlc persistent 300
  -> 10.1.1.2:80                  100        50         1          7         
  -> 10.1.2.2:80                  0          0          2          10        
UDP  10.0.0.5:53 sh
TCP  [2001:db8::1]:443 wlc persistent 30 mask 64
  -> [2001:db8:1::2]:443          0          0          0          0         
FWM  8 IPv6 wrr
  -> [2001:db8:1::3]:0            7          3          0          0         
SCTP 10.0.0.9:2905 rr
  -> 10.1.1.9:2905                0          0          0          0         
`;

const PERSISTENT_CONN = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.1:80 wlc persistent 300
  -> 10.1.1.2:80                  1         2           1          7         
  -> 10.1.2.2:80                  1         2           2          10        
`;

const CONNECTIONS = `IPVS connection entries
pro expire state       source             virtual            destination
TCP 01:50  TIME_WAIT   192.168.1.2:45244  10.0.0.1:80        10.1.2.2:80
TCP 04:51  ASSURED     192.168.3.2:0      10.0.0.1:80        10.1.2.2:80
UDP 04:59  UDP         192.168.2.2:5353   10.0.0.5:53        10.1.1.2:53
IP  05:59  NONE        192.168.2.2:0      0.0.0.7:0          10.1.1.2:0
TCP 120:00 ESTABLISHED [2001:db8::9]:40112 [2001:db8::1]:443 [2001:db8:1::2]:443
`;

// ---- addresses --------------------------------------------------------------------

t.test('addresses are written the way inet_ntop writes them', async (t) => {
  t.same(canonicalAddress('2001:DB8:0:0::1'), { address: '2001:db8::1', family: 6 });
  t.equal(canonicalAddress('1:0:0:1:0:0:0:1')?.address, '1:0:0:1::1', 'the longest zero run is compressed');
  t.equal(canonicalAddress('1:0:0:2:0:0:3:4')?.address, '1::2:0:0:3:4', 'the first of equal runs');
  t.equal(canonicalAddress('1:0:2:0:3:0:4:0')?.address, '1:0:2:0:3:0:4:0', 'single zero words stay');
  t.equal(canonicalAddress('::ffff:1.2.3.4')?.address, '::ffff:1.2.3.4');
  t.equal(canonicalAddress('::ffff:102:304')?.address, '::ffff:1.2.3.4', 'mapped IPv4 keeps its dotted tail');
  t.equal(canonicalAddress('::')?.address, '::');
  t.equal(canonicalAddress('::1')?.address, '::1');
  t.equal(canonicalAddress('fe80::1:0:0')?.address, 'fe80::1:0:0');
  t.same(canonicalAddress('10.0.0.1'), { address: '10.0.0.1', family: 4 });
  t.equal(canonicalAddress('10.0.0'), null);
  t.equal(canonicalAddress('fe80::1%eth0'), null, 'no zone ids');
  t.equal(canonicalAddress('example.com'), null);
  t.same(splitHostPort('[2001:db8::1]:443'), { address: '2001:db8::1', port: 443 });
  t.same(splitHostPort('10.0.0.1:0'), { address: '10.0.0.1', port: 0 });
  t.equal(splitHostPort('10.0.0.1'), null);
  t.equal(splitHostPort('10.0.0.1:65536'), null);
  t.equal(splitHostPort('2001:db8::1:80'), null, 'IPv6 needs brackets before a port');
  t.equal(splitHostPort('[2001:db8::1]443'), null);
  t.ok(compareAddresses('200.0.0.1', '10.0.0.1') < 0, 'wrapping C subtraction, as libipvs');
  t.ok(compareAddresses('129.0.0.1', '10.0.0.1') > 0);
  t.ok(compareAddresses('10.0.0.1', 'fd00::1') < 0, 'IPv4 before IPv6');
  t.ok(compareAddresses('fd00::10', '::ffff:1.2.3.4') < 0);
});

// ---- rule lines ----------------------------------------------------------------------

t.test('ipvsadm -S -n output is read in every form it prints', async (t) => {
  const services = parseSave(SAVE_MIXED);
  t.same(
    services.map((s) => serviceId(s.key)),
    [
      'TCP:200.0.0.1:80',
      'TCP:10.0.0.1:80',
      'TCP:10.0.0.22:80',
      'TCP:10.0.0.23:80',
      'TCP:129.0.0.1:80',
      'UDP:10.0.0.5:54',
      'UDP:10.0.0.5:55',
      'TCP:[fd00::10]:80',
      'TCP:[fd00::10]:443',
      'TCP:[::ffff:1.2.3.4]:80',
      'FWM:7',
      'FWM:8:6',
    ],
  );
  const byId = new Map(services.map((s) => [serviceId(s.key), s]));
  t.same(byId.get('TCP:10.0.0.22:80')!.persistence, { timeoutSec: 360, netmask: '255.255.255.255' });
  const t23 = byId.get('TCP:10.0.0.23:80')!;
  t.equal(t23.persistence, null);
  t.same(
    t23.realServers.map((r) => [r.address, r.port, r.method, r.weight, r.extra.join(' ')]),
    [
      ['10.1.1.2', 80, 'route', 2, ''],
      ['10.1.1.3', 80, 'tunnel', 1, '--tun-type gue --tun-port 6080 --tun-nocsum'],
      ['10.1.1.4', 80, 'masq', 1, ''],
      ['10.1.1.5', 0, 'masq', 1, ''],
    ],
  );
  t.same(byId.get('UDP:10.0.0.5:54')!.extra, ['-b', 'sh-fallback,sh-port'], 'scheduler flags kept');
  t.same(byId.get('UDP:10.0.0.5:55')!.extra, ['-o'], 'one-packet scheduling kept');
  t.same(byId.get('TCP:[fd00::10]:443')!.persistence, { timeoutSec: 60, netmask: '64' });
  const f8 = byId.get('FWM:8:6')!;
  t.same(f8.key, fwmark(8, 6));
  t.same(f8.persistence, { timeoutSec: 20, netmask: '64' });
  t.same(
    f8.realServers.map((r) => [r.address, r.port, r.method, r.weight]),
    [
      ['2001:db8:1::3', 0, 'masq', 5],
      ['2001:db8:1::4', 8080, 'tunnel', 5],
    ],
  );
  t.same(byId.get('FWM:7')!.realServers[0], { ...rs('10.1.1.2', 0, 'route', 1), extra: [] });

  // SCTP services cannot be expressed in the model: they are passed over, with their servers
  const withSctp = `-A --sctp-service 10.0.0.9:2905 -s rr\n-a --sctp-service 10.0.0.9:2905 -r 10.1.1.9:2905 -m -w 1\n${SAVE_MIXED}`;
  t.equal(parseSave(withSctp).length, services.length);
  t.same(parseSave(''), []);
});

t.test('unreadable rule lines are errors that quote the line', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['-Q -t 10.0.0.1:80', /unknown command -Q/],
    ['-A -s rr', /no -t, -u or -f service/],
    ['-A -t 10.0.0.1 -s rr', /bad service address 10\.0\.0\.1/],
    ['-A -t 10.0.0.1:80 -s', /-s needs a scheduler/],
    ['-A -t 10.0.0.1:80 -s rr -p', /-p needs a number/],
    ['-A -f x -s rr', /-f needs a number/],
    ['-a -t 10.0.0.1:80 -m -w 1', /no -r real server/],
    ['-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 70000', /-w needs a number up to 65535/],
    ['-a -t 10.0.0.1:80 -r nowhere:80', /bad real server address/],
  ];
  for (const [line, why] of bad) {
    t.throws(() => parseRuleLine(line), { code: 'failed', message: why }, line);
    t.throws(() => parseRuleLine(line), { message: `cannot read ipvsadm rule "${line}"` }, 'quotes the line');
  }
  t.throws(() => parseSave('-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1\n'), {
    code: 'failed',
    message: /unknown service TCP:10\.0\.0\.1:80/,
  });
  t.throws(() => parseSave('-D -t 10.0.0.1:80\n'), { code: 'failed', message: /unexpected delete-service/ });
  t.same(parseRuleLine('-C'), { op: 'clear' });
  t.same(parseRuleLine('-d -f 7 -r 10.1.1.2:0'), { op: 'delete-server', key: fwmark(7), address: '10.1.1.2', port: 0 });
  t.same(
    parseRuleLine('-a -t 10.0.0.1:80 -r 10.1.1.2:80'),
    {
      op: 'add-server',
      key: tcp('10.0.0.1', 80),
      server: { ...rs('10.1.1.2', 80, 'route', 1), extra: [] },
    },
    'ipvsadm defaults: -g and -w 1',
  );
  t.same(
    parseRuleLine('-A -t 10.0.0.1:80'),
    {
      op: 'add-service',
      service: { key: tcp('10.0.0.1', 80), scheduler: 'wlc', persistence: null, extra: [] },
    },
    'ipvsadm default scheduler wlc',
  );
});

t.test('every batch line and save text reads back to what was written', async (t) => {
  for (const name of ['ipvs-create-persistent.txt', 'ipvs-ipv6-fwmark.txt', 'ipvs-update-owned.txt', 'ipvs-reset-extras.txt']) {
    const text = await golden(name);
    for (const [i, rule] of parseRules(text).entries()) {
      const line = text.split('\n')[i];
      let again: string;
      if (rule.op === 'add-service' || rule.op === 'edit-service')
        again = formatServiceLine(rule.op === 'add-service' ? '-A' : '-E', rule.service);
      else if (rule.op === 'add-server' || rule.op === 'edit-server')
        again = formatServerLine(rule.op === 'add-server' ? '-a' : '-e', rule.key, rule.server);
      else if (rule.op === 'delete-service') again = `-D ${line.slice(3)}`;
      else if (rule.op === 'delete-server') again = `-d ${line.slice(3)}`;
      else again = '';
      t.equal(again, line, `${name} line ${i + 1}`);
    }
  }
  const save = await golden('ipvs-ipv6-fwmark-save.txt');
  t.equal(formatSave(parseSave(save)), save, 'save text round-trips');
  // a consistently ordered part of the kernel's own text round-trips too, extras included
  const consistent = SAVE_MIXED.split('\n')
    .filter((l) => !/200\.|129\./.test(l))
    .join('\n');
  t.equal(formatSave(parseSave(consistent)), consistent);
});

// ---- -L tables and the connection table ---------------------------------------------

t.test('ipvsadm -L -n tables are read by service and real server', async (t) => {
  const stats = parseListTable(STATS);
  t.same(
    stats.map((row) => serviceId(row.key)),
    ['TCP:10.0.0.1:80', 'UDP:10.0.0.5:53', 'TCP:[2001:db8::1]:443', 'FWM:8:6'],
  );
  t.same(stats[0].numbers, [20, 120, 80, 7858, 11480]);
  t.same(stats[0].servers.get('10.1.2.2:80'), [12, 72, 48, 4715, 6888]);
  t.same(stats[2].servers.get('[2001:db8:1::2]:443'), [3, 30, 24, 2900, 1234567890]);
  t.same(stats[1].servers.size, 0);
  const rounded = parseListTable(STATS_ROUNDED);
  t.same(rounded[0].numbers, [20, 120, 80, 7858, 1234e6], 'without --exact: M suffix');
  t.same(rounded[0].servers.get('10.1.1.2:80'), [8, 48, 32, 3143, 999e3]);
  const rates = parseListTable(RATES);
  t.same(rates[0].numbers, [2, 14, 9, 951, 1331]);
  const thresholds = parseListTable(THRESHOLDS);
  t.same(
    thresholds.map((row) => serviceId(row.key)),
    ['TCP:10.0.0.1:80', 'UDP:10.0.0.5:53', 'TCP:[2001:db8::1]:443', 'FWM:8:6'],
    'SCTP left out',
  );
  t.same(thresholds[0].numbers, [], 'a service line with its scheduler has no numbers');
  t.same(thresholds[0].servers.get('10.1.1.2:80'), [100, 50, 1, 7]);
  t.same(thresholds[3].servers.get('[2001:db8:1::3]:0'), [7, 3, 0, 0]);
  t.same(parseListTable(''), []);
});

t.test('ipvsadm -L -n -c is read entry by entry', async (t) => {
  const entries = parseConnections(CONNECTIONS);
  t.equal(entries.length, 4, 'the fwmark template (protocol IP) is left out');
  t.same(entries[0], {
    protocol: 'tcp',
    state: 'TIME_WAIT',
    expiresInSec: 110,
    source: '192.168.1.2:45244',
    virtual: '10.0.0.1:80',
    destination: '10.1.2.2:80',
  });
  t.equal(entries[1].state, 'ASSURED');
  t.equal(entries[1].source, '192.168.3.2:0', 'persistence template: client port 0');
  t.equal(entries[2].protocol, 'udp');
  t.equal(entries[3].expiresInSec, 7200);
  t.equal(entries[3].destination, '[2001:db8:1::2]:443');
});

// ---- desired state, diff, golden batches ----------------------------------------------

const PERSISTENT_WEB = svc(
  tcp('10.0.0.10', 80),
  'wlc',
  [300, '255.255.255.255'],
  [rs('10.1.1.2', 80, 'masq', 3), rs('10.1.2.2', 80, 'masq', 1)],
);

const IPV6_AND_FWMARK = [
  svc(tcp('2001:DB8:0::1', 443), 'sh', [60, '64'], [rs('2001:db8:1:0::2', 0, 'route', 2)]),
  svc(fwmark(7), 'rr', [600, '255.255.255.0'], [rs('10.1.1.2', 0, 'route', 1), rs('10.1.2.2', 8080, 'tunnel', 5, 100, 20)]),
  svc(fwmark(8, 6), 'lc', null, [rs('2001:db8:1::3', 0, 'masq', 0)]),
];

t.test('a new persistent service is one -A and its -a lines', async (t) => {
  const desired = normalizeDesired([PERSISTENT_WEB]);
  const plan = planBatch({ current: [], desired, owner: 'tcpvs', owners: owners({}) });
  t.same(plan.conflicts, []);
  t.equal(batchText(plan.lines), await golden('ipvs-create-persistent.txt'));
});

t.test('IPv6, fwmark (IPv4 and IPv6), netmasks, weight 0, thresholds', async (t) => {
  const desired = normalizeDesired(IPV6_AND_FWMARK);
  t.equal(desired[0].key.address, '2001:db8::1', 'addresses normalised to inet_ntop form');
  t.equal(desired[0].realServers[0].port, 443, 'a routed server takes the service port');
  const plan = planBatch({ current: [], desired, owner: 'tcpvs', owners: owners({}) });
  t.equal(batchText(plan.lines), await golden('ipvs-ipv6-fwmark.txt'));
  const save = await golden('ipvs-ipv6-fwmark-save.txt');
  t.equal(formatSave(desired), save, 'what ipvsadm -S -n will print for it');

  // read back: -S leaves thresholds out, so without --thresholds the tunnel server looks changed
  const ours = owners({ tcpvs: desired.map((s) => serviceId(s.key)) });
  const blind = planBatch({ current: parseSave(save), desired, owner: 'tcpvs', owners: ours });
  t.same(blind.lines, ['-e -f 7 -r 10.1.2.2:8080 -i -w 5 -x 100 -y 20']);
  const thresholds = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
FWM  7 rr persistent 600 mask 255.255.255.0
  -> 10.1.1.2:0                   0          0          0          0         
  -> 10.1.2.2:8080                100        20         0          0         
`;
  const current = withThresholds(parseSave(save), parseListTable(thresholds));
  t.same(planBatch({ current, desired, owner: 'tcpvs', owners: ours }).lines, [], 'nothing to do the second time');
  // each threshold on its own is compared
  for (const [x, y] of [
    [100, 0],
    [0, 20],
  ]) {
    const changed = normalizeDesired(
      IPV6_AND_FWMARK.map((s) => ({
        ...s,
        realServers: s.realServers.map((r) => (r.port === 8080 ? { ...r, upperThreshold: x, lowerThreshold: y } : r)),
      })),
    );
    t.same(
      planBatch({ current, desired: changed, owner: 'tcpvs', owners: ours }).lines,
      [formatServerLine('-e', fwmark(7), changed[1].realServers[1])],
      `-x ${x} -y ${y}`,
    );
  }
});

const SAVE_BEFORE_UPDATE = `-A -t 10.0.0.1:80 -s wlc -p 300
-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 1
-A -t 10.0.0.10:80 -s wlc -p 300
-a -t 10.0.0.10:80 -r 10.1.1.2:80 -m -w 3
-a -t 10.0.0.10:80 -r 10.1.2.2:80 -m -w 1
-a -t 10.0.0.10:80 -r 10.1.3.2:80 -m -w 1
-A -u 10.0.0.10:53 -s rr
-a -u 10.0.0.10:53 -r 10.1.1.2:53 -m -w 1
`;
const UPDATED_WEB = svc(
  tcp('10.0.0.10', 80),
  'rr',
  [300, '255.255.255.0'],
  [rs('10.1.1.2', 80, 'masq', 0), rs('10.1.2.2', 80, 'masq', 1, 50, 10), rs('10.1.4.2', 80, 'masq', 2)],
);

t.test('changing owned services: -D, -E, -d for a removed server, -e, -a; unowned untouched', async (t) => {
  const plan = planBatch({
    current: parseSave(SAVE_BEFORE_UPDATE),
    desired: normalizeDesired([UPDATED_WEB]),
    owner: 'tcpvs',
    owners: owners({ tcpvs: ['TCP:10.0.0.10:80', 'UDP:10.0.0.10:53'], keepalived: ['TCP:10.0.0.1:80'] }),
  });
  t.equal(batchText(plan.lines), await golden('ipvs-update-owned.txt'));
  t.notOk(
    plan.lines.some((line) => line.includes('10.0.0.1:80')),
    'TCP:10.0.0.1:80 is not ours and not named',
  );
});

t.test('options the model has no field for are reset on owned services', async (t) => {
  const current = parseSave(`-A -t 10.0.0.23:80 -s wlc -p 360
-a -t 10.0.0.23:80 -r 10.1.1.2:80 -g -w 1
-a -t 10.0.0.23:80 -r 10.1.1.3:80 -i -w 1 --tun-type ipip
-A -u 10.0.0.5:54 -s sh -b sh-fallback,sh-port
-a -u 10.0.0.5:54 -r 10.1.1.3:54 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
`);
  const desired = normalizeDesired([
    svc(udp('10.0.0.5', 54), 'sh', null, [rs('10.1.1.3', 54, 'tunnel', 1)]),
    svc(tcp('10.0.0.23', 80), 'wlc', null, [rs('10.1.1.2', 80, 'masq', 1), rs('10.1.1.3', 80, 'tunnel', 1)]),
  ]);
  const plan = planBatch({ current, desired, owner: 'tcpvs', owners: owners({ tcpvs: ['TCP:10.0.0.23:80', 'UDP:10.0.0.5:54'] }) });
  t.equal(batchText(plan.lines), await golden('ipvs-reset-extras.txt'));
});

t.test('ownership: a desired service that exists unowned is refused, never adopted', async (t) => {
  const current = parseSave(SAVE_BEFORE_UPDATE);
  const desired = normalizeDesired([
    svc(tcp('10.0.0.1', 80), 'wlc', [300, ''], [rs('10.1.1.2', 80, 'masq')]),
    UPDATED_WEB,
    svc(udp('10.0.0.10', 53), 'rr', null, [rs('10.1.1.2', 53, 'masq')]),
  ]);
  const plan = planBatch({
    current,
    desired,
    owner: 'tcpvs',
    owners: owners({ tcpvs: ['TCP:10.0.0.10:80'], other: ['UDP:10.0.0.10:53'] }),
  });
  t.same(plan.lines, [], 'nothing at all is planned while there is a conflict');
  t.same(plan.conflicts, [
    { key: tcp('10.0.0.1', 80), owner: null },
    { key: udp('10.0.0.10', 53), owner: 'other' },
  ]);
  const err = adoptionError(plan.conflicts, 'tcpvs', '/run/tcpvs/ipvs-owned.json');
  t.equal(err.code, 'exists');
  t.match(err.message, 'refusing to adopt IPVS services that already exist but are not owned by "tcpvs"');
  t.match(err.message, 'TCP:10.0.0.1:80 (not recorded in /run/tcpvs/ipvs-owned.json; delete it with "ipvsadm -D -t 10.0.0.1:80"');
  t.match(err.message, 'UDP:10.0.0.10:53 (owned by "other")');

  // a service recorded for another owner that no longer exists is free to take
  const free = planBatch({
    current: [],
    desired: normalizeDesired([PERSISTENT_WEB]),
    owner: 'tcpvs',
    owners: owners({ other: ['TCP:10.0.0.10:80'] }),
  });
  t.same(free.conflicts, []);
  t.equal(free.lines.length, 3);
});

t.test('desired states ipvsadm would refuse are rejected before anything runs', async (t) => {
  const cases: Array<[VirtualServiceConfig[], RegExp]> = [
    [[svc(tcp('10.0.0.300', 80), 'rr', null, [])], /not an IPv4 or IPv6 address/],
    [[svc(tcp('10.0.0.1', 70000), 'rr', null, [])], /port must be 0\.\.65535/],
    [[svc({ ...tcp('10.0.0.1', 80), family: 6 }, 'rr', null, [])], /family 6 does not match/],
    [[svc({ ...tcp('10.0.0.1', 80), protocol: 'sctp' as 'tcp' }, 'rr', null, [])], /protocol must be tcp, udp or fwmark/],
    [[svc(fwmark(0), 'rr', null, [])], /fwmark must be 1\.\.4294967295/],
    [[svc({ ...fwmark(3), family: 5 as 4 }, 'rr', null, [])], /family must be 4 or 6/],
    [[svc({ ...fwmark(3), port: 80 }, 'rr', null, [])], /a fwmark service has address '' and port 0/],
    [[svc(tcp('10.0.0.1', 0), 'rr', null, [])], /port 0 \(all ports\) needs persistence/],
    [[svc(tcp('10.0.0.1', 80), 'r r', null, [])], /bad scheduler name/],
    [[svc(tcp('10.0.0.1', 80), 'rr', [0, ''], [])], /persistence timeout must be 1\.\./],
    [[svc(tcp('10.0.0.1', 80), 'rr', [300, '24'], [])], /dotted IPv4 mask/],
    [[svc(tcp('fd00::1', 80), 'rr', [300, '255.255.255.0'], [])], /prefix length 1\.\.128/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 8080, 'route')])], /only masq can change ports/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('fd00::2', 80, 'masq')])], /IPv6 server in an IPv4 service/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80, 'masq', 65536)])], /weight must be 0\.\.65535/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80, 'masq', 1, -1)])], /upper threshold/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80, 'masq', 1, 0, 1.5)])], /lower threshold/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80, 'nat' as 'masq')])], /method must be masq, route or tunnel/],
    [[svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80.5, 'masq')])], /port must be 0\.\.65535/],
    [
      [svc(tcp('10.0.0.1', 80), 'rr', null, [rs('10.1.1.2', 80, 'masq'), rs('10.1.1.2', 80, 'route')])],
      /real server 10\.1\.1\.2:80 listed twice/,
    ],
    [[PERSISTENT_WEB, PERSISTENT_WEB], /TCP:10\.0\.0\.10:80: listed twice/],
  ];
  for (const [desired, why] of cases) t.throws(() => normalizeDesired(desired), { code: 'invalid', message: why }, String(why));
  // two problems, one error naming both
  t.throws(() => normalizeDesired([svc(tcp('10.0.0.1', 80), 'r r', [0, ''], [])]), {
    message: /bad scheduler name.*; .*persistence timeout/,
  });
  const ok = normalizeDesired([svc(tcp('10.0.0.1', 0), 'rr', [300, ''], [rs('10.1.1.2', 0, 'route'), rs('10.1.1.3', 0, 'masq')])]);
  t.same(ok[0].persistence, { timeoutSec: 300, netmask: '255.255.255.255' }, 'empty netmask means the default');
});

// ---- the driver against a fake ipvsadm ----------------------------------------------------

const FAKE_IPVSADM = `#!/bin/sh
# fake ipvsadm: logs argv (and stdin for -R), replays answers from files named by its arguments
d=$(dirname "$0")
key=$(printf '%s' "$*" | tr -c 'A-Za-z0-9-' '_')
n=$(( $(cat "$d/$key.count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/$key.count"
printf '%s\\n' "$*" >> "$d/argv.log"
[ "$1" = "-R" ] && cat > "$d/stdin.$n"
pick() { if [ -f "$d/$key.$1.$n" ]; then echo "$d/$key.$1.$n"; elif [ -f "$d/$key.$1" ]; then echo "$d/$key.$1"; fi; }
f=$(pick sleep); [ -n "$f" ] && exec sleep "$(cat "$f")"
f=$(pick out); [ -n "$f" ] && cat "$f"
f=$(pick err); [ -n "$f" ] && cat "$f" >&2
f=$(pick rc); [ -n "$f" ] && exit "$(cat "$f")"
exit 0
`;

interface Fake {
  dir: string;
  stateFile: string;
  core: (options?: IpvsCoreOptions) => ReturnType<typeof createIpvsCore>;
  /** Answer `args` (the n-th call only, when given) with this stdout/stderr/exit status. */
  answer: (args: string, reply: { out?: string; err?: string; rc?: number; sleep?: number }, call?: number) => Promise<void>;
  argv: () => Promise<string[]>;
  stdin: (call: number) => Promise<string>;
}

async function fakeIpvsadm(t: Test): Promise<Fake> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpvs-fake-ipvsadm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ipvsadm');
  await writeFile(path, FAKE_IPVSADM);
  await chmod(path, 0o755);
  const proc = join(dir, 'ip_vs'); // stands for /proc/net/ip_vs: the kernel has IPVS
  await writeFile(proc, 'IP Virtual Server version 1.2.1 (size=4096)\n');
  const stateFile = join(dir, 'run', 'ipvs-owned.json');
  const keyOf = (args: string): string => args.replace(/[^A-Za-z0-9-]/g, '_');
  return {
    dir,
    stateFile,
    core: (options = {}) => createIpvsCore({ ipvsadm: path, stateFile, procNetIpVs: proc, ...options }),
    answer: async (args, reply, call) => {
      const suffix = call === undefined ? '' : `.${call}`;
      if (reply.out !== undefined) await writeFile(join(dir, `${keyOf(args)}.out${suffix}`), reply.out);
      if (reply.err !== undefined) await writeFile(join(dir, `${keyOf(args)}.err${suffix}`), reply.err);
      if (reply.rc !== undefined) await writeFile(join(dir, `${keyOf(args)}.rc${suffix}`), String(reply.rc));
      if (reply.sleep !== undefined) await writeFile(join(dir, `${keyOf(args)}.sleep${suffix}`), String(reply.sleep));
    },
    argv: async () => {
      try {
        return (await readFile(join(dir, 'argv.log'), 'utf8')).trimEnd().split('\n');
      } catch {
        return [];
      }
    },
    stdin: (call) => readFile(join(dir, `stdin.${call}`), 'utf8'),
  };
}

const EMPTY_THRESHOLDS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
`;

t.test('fake ipvsadm: a missing binary is "unavailable" with the install hint', async (t) => {
  const core = createIpvsCore({ ipvsadm: join(tmpdir(), 'tcpvs-no-such-dir', 'ipvsadm'), stateFile: join(tmpdir(), 'unused.json') });
  t.equal(core.driver, 'ipvs');
  await t.rejects(core.list(), { code: 'unavailable', message: IPVSADM_NOT_FOUND });
  await t.rejects(core.apply([PERSISTENT_WEB]), {
    code: 'unavailable',
    message: /^ipvsadm not found: install Debian package ipvsadm, or use the userspace L4 driver/,
  });
  await t.rejects(core.addService(PERSISTENT_WEB), { code: 'unavailable' });
});

t.test('fake ipvsadm: a file that is not executable is "unavailable"', async (t) => {
  const fake = await fakeIpvsadm(t);
  await chmod(join(fake.dir, 'ipvsadm'), 0o644);
  await t.rejects(fake.core().connections(), { code: 'unavailable', message: /is not executable/ });
});

t.test('fake ipvsadm: kernel without IPVS, no permission, unknown failures', async (t) => {
  const fake = await fakeIpvsadm(t);
  const noIpvs =
    "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n";
  await fake.answer('-S -n', { err: noIpvs, rc: 2 });
  await t.rejects(fake.core().readState(), {
    code: 'unavailable',
    message: /^the kernel has no IPVS \(modprobe ip_vs\?\): ipvsadm -S -n said: Can't initialize ipvs: Protocol not available/,
  });

  await fake.answer('-L -n -c', {
    err: "Can't initialize ipvs: Permission denied (you must be root)\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
    rc: 2,
  });
  await t.rejects(fake.core().connections(), {
    code: 'unavailable',
    message: /permission denied: programming IPVS needs root or CAP_NET_ADMIN/,
  });

  await fake.answer('-C', { err: 'Memory allocation problem\n', rc: 255 });
  await t.rejects(fake.core().clear(), { code: 'failed', message: 'ipvsadm -C: Memory allocation problem' });
  // the same unexplained failure where /proc/net/ip_vs is missing: the kernel has no IPVS
  await t.rejects(fake.core({ procNetIpVs: join(fake.dir, 'no-ip_vs') }).clear(), {
    code: 'unavailable',
    message: /the kernel has no IPVS \(modprobe ip_vs\?\) \(.*no-ip_vs is missing\): ipvsadm -C said: Memory allocation problem/,
  });
  await fake.answer('-L -n -c', { rc: 1, err: '' });
  await t.rejects(fake.core().connections(), { code: 'failed', message: 'ipvsadm -L -n -c: exit status 1' }, 'silent failure');
});

t.test('fake ipvsadm: a hung ipvsadm is killed after the timeout', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-L -n -c', { sleep: 5 });
  const started = Date.now();
  await t.rejects(fake.core({ timeoutMs: 200 }).connections(), {
    code: 'failed',
    message: 'ipvsadm -L -n -c did not finish within 200 ms',
  });
  t.ok(Date.now() - started < 2000);
});

t.test('fake ipvsadm: imperative commands, their error codes and ownership', async (t) => {
  const fake = await fakeIpvsadm(t);
  const core = fake.core();
  await core.addService(PERSISTENT_WEB);
  t.same([...(await readOwners(fake.stateFile)).get('tcpvs')!], ['TCP:10.0.0.10:80'], 'addService records ownership');
  await core.editService({ ...PERSISTENT_WEB, scheduler: 'rr', persistence: null });
  await core.addRealServer(tcp('10.0.0.10', 80), rs('10.1.1.2', 0, 'route', 2, 10, 5));
  await core.editRealServer(tcp('10.0.0.10', 80), rs('10.1.1.2', 80, 'tunnel', 0));
  await core.deleteRealServer(tcp('10.0.0.10', 80), '10.1.1.2', 0);
  await core.deleteRealServer(fwmark(7), '10.1.1.2', 0);
  await core.addService({ key: fwmark(9, 6), scheduler: 'sh', persistence: { timeoutSec: 30, netmask: '' } });
  await core.deleteService(tcp('10.0.0.10', 80));
  t.same(await fake.argv(), [
    '-A -t 10.0.0.10:80 -s wlc -p 300',
    '-E -t 10.0.0.10:80 -s rr',
    '-a -t 10.0.0.10:80 -r 10.1.1.2:80 -g -w 2 -x 10 -y 5',
    '-e -t 10.0.0.10:80 -r 10.1.1.2:80 -i -w 0',
    '-d -t 10.0.0.10:80 -r 10.1.1.2:80',
    '-d -f 7 -r 10.1.1.2:0',
    '-A -f 9 -6 -s sh -p 30',
    '-D -t 10.0.0.10:80',
  ]);
  t.same([...(await readOwners(fake.stateFile)).get('tcpvs')!], ['FWM:9:6'], 'deleteService forgets ownership');

  const errors: Array<[string, string, string, () => Promise<void>]> = [
    [
      '-A -t 10.0.0.11:80 -s wlc',
      'Service already exists',
      'exists',
      () => core.addService({ key: tcp('10.0.0.11', 80), scheduler: 'wlc', persistence: null }),
    ],
    [
      '-E -t 10.0.0.11:80 -s wlc',
      'No such service',
      'no-service',
      () => core.editService({ key: tcp('10.0.0.11', 80), scheduler: 'wlc', persistence: null }),
    ],
    [
      '-a -t 10.0.0.11:80 -r 10.1.1.2:80 -m -w 1',
      'Service not defined',
      'no-service',
      () => core.addRealServer(tcp('10.0.0.11', 80), rs('10.1.1.2', 80, 'masq')),
    ],
    [
      '-a -t 10.0.0.12:80 -r 10.1.1.2:80 -m -w 1',
      'Destination already exists',
      'exists',
      () => core.addRealServer(tcp('10.0.0.12', 80), rs('10.1.1.2', 80, 'masq')),
    ],
    [
      '-e -t 10.0.0.12:80 -r 10.1.1.9:80 -m -w 1',
      'No such destination',
      'no-dest',
      () => core.editRealServer(tcp('10.0.0.12', 80), rs('10.1.1.9', 80, 'masq')),
    ],
    [
      '-d -t 10.0.0.12:80 -r 10.1.1.9:80',
      'No such destination',
      'no-dest',
      () => core.deleteRealServer(tcp('10.0.0.12', 80), '10.1.1.9', 80),
    ],
    [
      '-A -t 10.0.0.13:80 -s bogus',
      'Scheduler or persistence engine not found',
      'failed',
      () => core.addService({ key: tcp('10.0.0.13', 80), scheduler: 'bogus', persistence: null }),
    ],
  ];
  for (const [args, said, code, call] of errors) {
    await fake.answer(args, { err: `${said}\n`, rc: 255 });
    await t.rejects(call(), { code, message: `ipvsadm ${args}: ${said}` }, said);
  }
  await writeOwners(fake.stateFile, owners({ tcpvs: ['TCP:10.0.0.14:80'], other: ['FWM:9:6'] }));
  await fake.answer('-D -t 10.0.0.14:80', { err: 'No such service\n', rc: 255 });
  await t.rejects(core.deleteService(tcp('10.0.0.14', 80)), { code: 'no-service' });
  t.same([...(await readOwners(fake.stateFile)).keys()], ['other'], 'a service that is gone is forgotten even when -D fails');
  await fake.answer('-D -t 10.0.0.15:80', { err: 'Memory allocation problem\n', rc: 255 });
  await t.rejects(core.deleteService(tcp('10.0.0.15', 80)), { code: 'failed' });

  // invalid input never reaches ipvsadm
  const before = (await fake.argv()).length;
  await t.rejects(core.addRealServer(tcp('10.0.0.10', 80), rs('10.1.1.2', 81, 'route')), { code: 'invalid' });
  await t.rejects(core.deleteService(tcp('nowhere', 80)), { code: 'invalid' });
  await t.rejects(core.deleteRealServer(tcp('10.0.0.10', 80), 'nowhere', 80), { code: 'invalid' });
  await t.rejects(core.deleteRealServer(tcp('10.0.0.10', 80), '10.1.1.2', -1), { code: 'invalid' });
  await t.rejects(core.apply([svc(tcp('10.0.0.1', 0), 'rr', null, [])]), { code: 'invalid' });
  t.equal((await fake.argv()).length, before);

  await core.clear();
  t.same(await readOwners(fake.stateFile), new Map(), '-C empties the table and so every ownership record');
  t.equal((await fake.argv()).at(-1), '-C');
});

t.test('ipvsadm -L --daemon is read line by line; --start-daemon arguments', async (t) => {
  // as Debian's ipvsadm 1.31 prints them on Linux 6.1 (every field reported)
  const text =
    'master sync daemon (mcast=vsync0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
    'backup sync daemon (mcast=eth1, syncid=0, maxlen=1452, group=ff02::81, port=9000, ttl=2)\n';
  t.same(parseDaemons(text), [
    { role: 'master', mcastInterface: 'vsync0', syncId: 7, syncMaxLen: 1472, mcastGroup: '224.0.0.81', mcastPort: 8848, mcastTtl: 1 },
    { role: 'backup', mcastInterface: 'eth1', syncId: 0, syncMaxLen: 1452, mcastGroup: 'ff02::81', mcastPort: 9000, mcastTtl: 2 },
  ]);
  t.same(
    parseDaemons('master sync daemon (mcast=eth0, syncid=3)\n'),
    [{ role: 'master', mcastInterface: 'eth0', syncId: 3, syncMaxLen: null, mcastGroup: null, mcastPort: null, mcastTtl: null }],
    'an older kernel reports only the interface and syncid',
  );
  t.same(parseDaemons(''), [], 'no daemon: no output');
  t.throws(() => parseDaemons('sync daemon is on\n'), {
    code: 'failed',
    message: 'cannot read ipvsadm -L --daemon line "sync daemon is on"',
  });

  const all = {
    role: 'backup' as const,
    mcastInterface: 'vsync0',
    syncId: 9,
    syncMaxLen: 1400,
    mcastGroup: '239.1.1.1',
    mcastPort: 9000,
    mcastTtl: 4,
  };
  t.same(formatStartDaemon(all), [
    '--start-daemon',
    'backup',
    '--mcast-interface',
    'vsync0',
    '--syncid',
    '9',
    '--sync-maxlen',
    '1400',
    '--mcast-group',
    '239.1.1.1',
    '--mcast-port',
    '9000',
    '--mcast-ttl',
    '4',
  ]);
  t.same(
    formatStartDaemon({ ...all, role: 'master', syncMaxLen: null, mcastGroup: null, mcastPort: null, mcastTtl: null }),
    ['--start-daemon', 'master', '--mcast-interface', 'vsync0', '--syncid', '9'],
    'options not given are left to the kernel',
  );
});

t.test('fake ipvsadm: the sync daemon commands, run as given, and their errors', async (t) => {
  const fake = await fakeIpvsadm(t);
  const core = fake.core();
  const master: SyncDaemon = {
    role: 'master',
    mcastInterface: 'vsync0',
    syncId: 7,
    syncMaxLen: null,
    mcastGroup: null,
    mcastPort: null,
    mcastTtl: null,
  };
  t.same(await core.daemons(), [], 'no daemon');
  await core.startDaemon(master);
  await core.startDaemon({ ...master, role: 'backup', mcastGroup: 'FF02::81', mcastPort: 9000 });
  await fake.answer('-L --daemon', {
    out: 'master sync daemon (mcast=vsync0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
  });
  t.same(
    await core.daemons(),
    [{ ...master, syncMaxLen: 1472, mcastGroup: '224.0.0.81', mcastPort: 8848, mcastTtl: 1 }],
    "the kernel's defaults, as it reports them",
  );
  await core.stopDaemon('master');
  t.same(await fake.argv(), [
    '-L --daemon',
    '--start-daemon master --mcast-interface vsync0 --syncid 7',
    '--start-daemon backup --mcast-interface vsync0 --syncid 7 --mcast-group FF02::81 --mcast-port 9000',
    '-L --daemon',
    '--stop-daemon master',
  ]);
  await fake.answer('--start-daemon master --mcast-interface vsync0 --syncid 7', { err: 'Daemon has already run\n', rc: 255 });
  await t.rejects(core.startDaemon(master), {
    code: 'exists',
    message: 'ipvsadm --start-daemon master --mcast-interface vsync0 --syncid 7: Daemon has already run',
  });
  await fake.answer('--stop-daemon backup', { err: 'No daemon is running\n', rc: 255 });
  await t.rejects(core.stopDaemon('backup'), { code: 'failed', message: 'ipvsadm --stop-daemon backup: No daemon is running' });
  await fake.answer('--start-daemon master --mcast-interface nosuch0 --syncid 7', { err: 'No such device\n', rc: 255 });
  await t.rejects(
    core.startDaemon({ ...master, mcastInterface: 'nosuch0' }),
    { code: 'failed', message: /: No such device$/ },
    "the kernel's answer, as ipvsadm gives it",
  );

  // invalid settings never reach ipvsadm
  const before = (await fake.argv()).length;
  const invalid: Array<[Record<string, unknown>, RegExp]> = [
    [{ mcastInterface: 'a234567890123456' }, /^--mcast-interface: `a234567890123456' is longer than 15 characters$/],
    [{ mcastInterface: '' }, /^--mcast-interface: an interface name cannot be empty$/],
    [{ syncId: 256 }, /^--syncid must be 0\.\.255, not 256$/],
    [{ syncMaxLen: 0 }, /^--sync-maxlen must be 1\.\.65507/],
    [{ mcastGroup: '10.0.0.1' }, /^--mcast-group must be an IPv4 or IPv6 multicast address, not 10\.0\.0\.1$/],
    [{ mcastPort: 65536 }, /^--mcast-port must be 1\.\.65535/],
    [{ mcastTtl: 0 }, /^--mcast-ttl must be 1\.\.255/],
    [{ role: 'primary' }, /role must be master or backup/],
  ];
  for (const [change, message] of invalid) {
    await t.rejects(core.startDaemon({ ...master, ...change } as SyncDaemon), { code: 'invalid', message }, JSON.stringify(change));
  }
  await t.rejects(core.stopDaemon('both' as 'master'), { code: 'invalid' });
  t.equal((await fake.argv()).length, before);
});

t.test('fake ipvsadm: apply runs one -R batch, then nothing when nothing changed', async (t) => {
  const fake = await fakeIpvsadm(t);
  const core = fake.core();
  const foreign = '-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1\n';
  await fake.answer('-S -n', { out: foreign }, 1);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  t.same(await core.plan([PERSISTENT_WEB]), (await golden('ipvs-create-persistent.txt')).trimEnd().split('\n'), 'plan shows the batch');
  await fake.answer('-S -n', { out: foreign }, 2);
  await core.apply([PERSISTENT_WEB]);
  t.equal(await fake.stdin(1), await golden('ipvs-create-persistent.txt'), 'the batch on ipvsadm -R stdin');
  t.same(await readOwners(fake.stateFile), owners({ tcpvs: ['TCP:10.0.0.10:80'] }));

  // the kernel now shows what the batch made
  await fake.answer('-S -n', { out: foreign + formatSave(normalizeDesired([PERSISTENT_WEB])) });
  await core.apply([PERSISTENT_WEB]);
  t.same((await fake.argv()).filter((args) => args === '-R').length, 1, 'no second -R');
  t.same(await core.plan([PERSISTENT_WEB]), []);

  // removing the service: only ours goes
  await core.apply([]);
  t.equal(await fake.stdin(2), '-D -t 10.0.0.10:80\n');
  t.same(await readOwners(fake.stateFile), new Map());
  const argv = await fake.argv();
  t.equal(argv.filter((args) => args === '-R').length, 2, 'two batches in all');
  t.equal(argv.filter((args) => args === '-S -n').length, 5, 'each plan or apply read the state once');
  t.notOk(
    (await fake.argv()).some((args) => /^-[ACDEade] /.test(args)),
    'no single-line commands: everything went through -R',
  );
});

t.test('fake ipvsadm: apply refuses to adopt and changes nothing', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-S -n', { out: SAVE_BEFORE_UPDATE });
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await writeOwners(fake.stateFile, owners({ tcpvs: ['TCP:10.0.0.10:80'] }));
  const before = await readFile(fake.stateFile, 'utf8');
  await t.rejects(fake.core().apply([UPDATED_WEB, svc(tcp('10.0.0.1', 80), 'wlc', [300, ''], [])]), {
    code: 'exists',
    message: /TCP:10\.0\.0\.1:80 \(not recorded in .*ipvs-owned\.json/,
  });
  t.notOk((await fake.argv()).includes('-R'), 'no batch ran');
  t.equal(await readFile(fake.stateFile, 'utf8'), before, 'ownership file untouched');
  // another owner's core sees ours as foreign too
  await t.rejects(fake.core({ owner: 'blue' }).apply([UPDATED_WEB]), {
    code: 'exists',
    message: /TCP:10\.0\.0\.10:80 \(owned by "tcpvs"\)/,
  });
});

t.test('fake ipvsadm: a failing -R line is reported with what is still to do', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-S -n', { out: SAVE_BEFORE_UPDATE }, 1);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await writeOwners(fake.stateFile, owners({ tcpvs: ['TCP:10.0.0.10:80', 'UDP:10.0.0.10:53'] }));
  // ipvsadm -R exits 0 but says so on stderr; the batch stopped short of the last two lines
  await fake.answer('-R', { err: 'Destination already exists\n', rc: 0 });
  await fake.answer(
    '-S -n',
    {
      out: `-A -t 10.0.0.1:80 -s wlc -p 300
-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 1
-A -t 10.0.0.10:80 -s rr -p 300 -M 255.255.255.0
-a -t 10.0.0.10:80 -r 10.1.1.2:80 -m -w 0
-a -t 10.0.0.10:80 -r 10.1.2.2:80 -m -w 1
`,
    },
    2,
  );
  const err = (await fake
    .core()
    .apply([UPDATED_WEB])
    .then(
      () => null,
      (e: unknown) => e,
    )) as L4Error;
  t.ok(err instanceof L4Error);
  t.equal(err.code, 'exists');
  t.match(
    err.message,
    'ipvsadm -R batch failed: ipvsadm -R: Destination already exists; still to do: -e -t 10.0.0.10:80 -r 10.1.2.2:80 -m -w 1 -x 50 -y 10 | -a -t 10.0.0.10:80 -r 10.1.4.2:80 -m -w 2',
  );
  t.equal(await fake.stdin(1), await golden('ipvs-update-owned.txt'));
  t.same(await readOwners(fake.stateFile), owners({ tcpvs: ['TCP:10.0.0.10:80'] }), 'the deleted UDP service is no longer recorded');
});

t.test('fake ipvsadm: a failing -R that cannot even re-read keeps its own error', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await fake.answer('-R', { err: 'Service not defined\n' });
  await fake.answer('-S -n', { err: 'Memory allocation problem\n', rc: 255 }, 2);
  await t.rejects(fake.core().apply([PERSISTENT_WEB]), { code: 'no-service', message: 'ipvsadm -R: Service not defined' });
  t.same(await readOwners(fake.stateFile), owners({ tcpvs: ['TCP:10.0.0.10:80'] }), 'claimed before the batch');
  const fake2 = await fakeIpvsadm(t);
  await fake2.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await fake2.answer('-R', { err: "Can't initialize ipvs: Permission denied (you must be root)\n", rc: 2 });
  await t.rejects(fake2.core().apply([PERSISTENT_WEB]), { code: 'unavailable', message: /root or CAP_NET_ADMIN/ });
});

t.test('fake ipvsadm: apply forgets owned services that vanished from the kernel', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await writeOwners(fake.stateFile, owners({ tcpvs: ['TCP:10.0.0.99:80'], other: ['FWM:1'] }));
  await fake.core().apply([]);
  t.same(await readOwners(fake.stateFile), owners({ other: ['FWM:1'] }));
  t.notOk((await fake.argv()).includes('-R'));
});

t.test('fake ipvsadm: list() joins -S, --thresholds, --persistent-conn, --stats and --rate', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-S -n', {
    out: `-A -t 10.0.0.1:80 -s wlc -p 300
-a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 1
-A -u 10.0.0.5:53 -s sh
`,
  });
  await fake.answer('-L -n --thresholds', { out: THRESHOLDS });
  await fake.answer('-L -n --persistent-conn', { out: PERSISTENT_CONN });
  await fake.answer('-L -n --stats --exact', { out: STATS });
  await fake.answer('-L -n --rate --exact', { out: RATES });
  const list = await fake.core().list();
  t.equal(list.length, 2);
  t.same(list[0].stats, { conns: 20, inPackets: 120, outPackets: 80, inBytes: 7858, outBytes: 11480 });
  t.same(list[0].rates, { cps: 2, inPps: 14, outPps: 9, inBps: 951, outBps: 1331 });
  t.same(list[0].persistence, { timeoutSec: 300, netmask: '255.255.255.255' });
  t.same(list[0].realServers[0], {
    address: '10.1.1.2',
    port: 80,
    weight: 1,
    method: 'masq',
    upperThreshold: 100,
    lowerThreshold: 50,
    persistentConns: 2,
    activeConns: 1,
    inactiveConns: 7,
    stats: { conns: 8, inPackets: 48, outPackets: 32, inBytes: 3143, outBytes: 4592 },
    rates: { cps: 1, inPps: 6, outPps: 4, inBps: 402, outBps: 580 },
  });
  t.same(list[1].rates, { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 }, 'missing from --rate: zero');
  t.same(list[1].realServers, []);
  await fake.answer('-L -n -c', { out: CONNECTIONS });
  t.equal((await fake.core().connections()).length, 4);
});

t.test('fake ipvsadm: ownership file problems are clear errors', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  await writeOwners(fake.stateFile, new Map());
  t.equal(await readFile(fake.stateFile, 'utf8'), '{"version":1,"owners":{}}\n');
  for (const text of [
    '{not json',
    'null',
    '{"version":2,"owners":{}}',
    '{"version":1,"owners":[]}',
    '{"version":1,"owners":{"tcpvs":"x"}}',
  ]) {
    await writeFile(fake.stateFile, text);
    await t.rejects(fake.core().apply([]), { code: 'failed', message: /is not a tcpvs IPVS ownership file/ }, text);
  }
  await rm(fake.stateFile);
  // a directory where the file's temporary sibling goes: the write-ahead claim fails
  await mkdir(`${fake.stateFile}.${process.pid}.tmp`);
  await t.rejects(fake.core().apply([PERSISTENT_WEB]), { code: 'failed', message: /cannot write the IPVS ownership file/ });
  t.notOk((await fake.argv()).includes('-R'), 'nothing runs when ownership cannot be recorded');
  await t.rejects(fake.core({ stateFile: fake.dir }).apply([]), { code: 'failed', message: /cannot read the IPVS ownership file/ });
  t.ok(existsSync(join(fake.dir, 'run')));
});

t.test('fake ipvsadm: changes are serialised and close() waits for them', async (t) => {
  const fake = await fakeIpvsadm(t);
  await fake.answer('-L -n --thresholds', { out: EMPTY_THRESHOLDS });
  const core = fake.core();
  const first = core.apply([PERSISTENT_WEB]);
  const second = core.addService({ key: tcp('10.0.0.20', 80), scheduler: 'rr', persistence: null });
  await core.close();
  await core.close();
  await Promise.all([first, second]);
  const argv = await fake.argv();
  t.ok(argv.indexOf('-R') < argv.indexOf('-A -t 10.0.0.20:80 -s rr'), 'the add waited for apply');
  await t.rejects(core.apply([]), { code: 'unavailable', message: 'the ipvs L4 core is closed' });
});

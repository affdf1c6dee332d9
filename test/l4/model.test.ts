// The checks and names of the L4 model (lib/l4/model.ts): Linux's interface
// name rule, multicast addresses, every bound of a sync daemon's settings,
// and the id a service goes by.
import t from 'tap';
import {
  interfaceNameProblem,
  isMulticastAddress,
  L4Error,
  SYNC_MAX_LEN,
  type SyncDaemon,
  serviceId,
  syncDaemonProblem,
} from '../../lib/l4/model.ts';

t.test('interfaceNameProblem: 1..15 bytes, not . or .., no / : or blanks', async (t) => {
  for (const ok of ['eth0', 'a', 'x'.repeat(15), 'br-lan.100', 'wlp0s20f3']) t.equal(interfaceNameProblem(ok), null, ok);
  t.match(interfaceNameProblem(''), /cannot be empty/);
  t.match(interfaceNameProblem('x'.repeat(16)), /longer than 15/);
  t.match(interfaceNameProblem('é'.repeat(8)), /longer than 15/, '16 bytes in 8 characters: bytes count');
  for (const bad of ['.', '..', 'a/b', 'a:b', 'a b', 'a\tb'])
    t.match(interfaceNameProblem(bad), /is not an interface name/, JSON.stringify(bad));
});

t.test('isMulticastAddress: 224/4 and ff00::/8', async (t) => {
  for (const yes of ['224.0.0.81', '239.255.255.255', 'ff02::1', 'FF05::2']) t.equal(isMulticastAddress(yes), true, yes);
  for (const no of ['223.255.255.255', '240.0.0.1', '10.0.0.1', 'fe80::1', '::1', 'ff02', 'not-an-address', ''])
    t.equal(isMulticastAddress(no), false, no);
});

const DAEMON: SyncDaemon = {
  role: 'master',
  mcastInterface: 'eth0',
  syncId: 0,
  syncMaxLen: null,
  mcastGroup: null,
  mcastPort: null,
  mcastTtl: null,
};

t.test('syncDaemonProblem: the defaults and every bound', async (t) => {
  t.equal(syncDaemonProblem(DAEMON), null);
  t.equal(syncDaemonProblem({ ...DAEMON, role: 'backup' }), null);
  const edges: Array<[Partial<SyncDaemon>, RegExp | null]> = [
    [{ role: 'slave' as SyncDaemon['role'] }, /role must be master or backup, not slave/],
    [{ mcastInterface: '' }, /^--mcast-interface: an interface name cannot be empty/],
    [{ syncId: 255 }, null],
    [{ syncId: 256 }, /--syncid must be 0\.\.255/],
    [{ syncId: -1 }, /--syncid/],
    [{ syncId: 1.5 }, /--syncid/],
    [{ syncMaxLen: 1 }, null],
    [{ syncMaxLen: SYNC_MAX_LEN }, null],
    [{ syncMaxLen: SYNC_MAX_LEN + 1 }, /--sync-maxlen must be 1\.\.65507/],
    [{ syncMaxLen: 0 }, /--sync-maxlen/],
    [{ mcastGroup: '224.0.0.81' }, null],
    [{ mcastGroup: '10.0.0.1' }, /--mcast-group must be an IPv4 or IPv6 multicast address, not 10\.0\.0\.1/],
    [{ mcastPort: 65535 }, null],
    [{ mcastPort: 0 }, /--mcast-port must be 1\.\.65535/],
    [{ mcastPort: 65536 }, /--mcast-port/],
    [{ mcastTtl: 255 }, null],
    [{ mcastTtl: 0 }, /--mcast-ttl must be 1\.\.255/],
    [{ mcastTtl: 256 }, /--mcast-ttl/],
  ];
  for (const [change, expected] of edges) {
    const problem = syncDaemonProblem({ ...DAEMON, ...change });
    if (expected === null) t.equal(problem, null, JSON.stringify(change));
    else t.match(problem, expected, JSON.stringify(change));
  }
  t.equal(SYNC_MAX_LEN, 65507, 'the largest UDP payload over IPv4');
});

t.test('serviceId: protocol, address (IPv6 in brackets) and port, or the firewall mark', async (t) => {
  t.equal(serviceId({ protocol: 'tcp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 }), 'TCP:10.0.0.1:80');
  t.equal(serviceId({ protocol: 'udp', address: '2001:db8::1', port: 53, fwmark: 0, family: 6 }), 'UDP:[2001:db8::1]:53');
  t.equal(serviceId({ protocol: 'fwmark', address: '', port: 0, fwmark: 7, family: 4 }), 'FWM:7');
  t.equal(
    serviceId({ protocol: 'fwmark', address: '', port: 0, fwmark: 7, family: 6 }),
    'FWM:7:6',
    'an IPv6 fwmark service is another service',
  );
  t.not(
    serviceId({ protocol: 'tcp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 }),
    serviceId({ protocol: 'udp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 }),
  );
});

t.test('L4Error carries its code', async (t) => {
  const err = new L4Error('no-service', 'Service not defined');
  t.ok(err instanceof Error);
  t.equal(err.code, 'no-service');
  t.equal(err.message, 'Service not defined');
});

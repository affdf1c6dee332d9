// The ipvsadm command-line parser: every command and option, ipvsadm's
// defaults (wlc, weight 1, -g, the service port for the server), and the
// errors ipvsadm gives for bad combinations.
import t from 'tap';
import type { Test } from 'tap';
import {
  COMMAND_OPTIONS,
  OPT_NAMES,
  parseIpvsadmArgs,
  type IpvsadmInvocation,
  type ParseResult,
} from '../../../lib/l4/ipvsadm-cli/parse.ts';
import type { NameResolver } from '../../../lib/l4/ipvsadm-cli/names.ts';
import { canonicalIPv6, systemResolver } from '../../../lib/l4/ipvsadm-cli/names.ts';

const names: NameResolver = {
  async host(name) {
    return ({ localhost: '127.0.0.1', 'www.example': '192.0.2.7' } as Record<string, string>)[name] ?? null;
  },
  port(name, protocol) {
    return ({ 'http/tcp': 80, 'https/tcp': 443, 'domain/udp': 53 } as Record<string, number>)[`${name}/${protocol}`] ?? null;
  },
};

async function ok(t: Test, argv: string[]): Promise<IpvsadmInvocation> {
  const r = await parseIpvsadmArgs(argv, names);
  if (r.kind !== 'run') {
    t.fail(`${argv.join(' ')}: expected a command, got ${JSON.stringify(r)}`);
    throw new Error('parse failed');
  }
  return r.invocation;
}

async function err(argv: string[]): Promise<ParseResult> {
  return parseIpvsadmArgs(argv, names);
}

const tcp = (address: string, port: number) => ({ protocol: 'tcp', address, port, fwmark: 0, family: address.includes(':') ? 6 : 4 });
const noFormat = {
  numeric: false,
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  tunInfo: false,
  exact: false,
  noSort: false,
};

t.test('the command table has one column per option', async (t) => {
  for (const [command, row] of Object.entries(COMMAND_OPTIONS)) t.equal(row.length, OPT_NAMES.length, command);
});

t.test('-A: services with ipvsadm defaults', async (t) => {
  t.same(await ok(t, ['-A', '-t', '10.0.0.1:80']), {
    command: 'add-service',
    service: tcp('10.0.0.1', 80),
    scheduler: 'wlc',
    persistence: null,
    server: null,
    connections: false,
    daemons: false,
    role: null,
    daemon: null,
    format: noFormat,
  });
  const p = await ok(t, ['-A', '-t', '10.0.0.1:80', '-s', 'rr', '-p']);
  t.equal(p.scheduler, 'rr');
  t.same(p.persistence, { timeoutSec: 300, netmask: '255.255.255.255' }, '-p without a timeout is 300 s');
  const u = await ok(t, ['-A', '-u', '10.0.0.1:53', '-p', '600', '-M', '255.255.255.0']);
  t.same(u.service, { protocol: 'udp', address: '10.0.0.1', port: 53, fwmark: 0, family: 4 });
  t.same(u.persistence, { timeoutSec: 600, netmask: '255.255.255.0' });
  t.same((await ok(t, ['-At', '10.0.0.1:80'])).service, tcp('10.0.0.1', 80), 'clustered -At ADDR');
  t.same((await ok(t, ['-At10.0.0.1:80'])).service, tcp('10.0.0.1', 80), 'argument glued to the option');
  const long = await ok(t, ['--add-service', '--tcp-service=10.0.0.1:80', '--scheduler', 'sh', '--persistent=60']);
  t.equal(long.command, 'add-service');
  t.equal(long.scheduler, 'sh');
  t.equal(long.persistence?.timeoutSec, 60);
  t.equal((await ok(t, ['-A', '-t', '10.0.0.1:80', '-p60'])).persistence?.timeoutSec, 60, '-p60');
  t.equal(
    (await ok(t, ['-A', '-t', '10.0.0.1:80', '-p', '-s', 'rr'])).persistence?.timeoutSec,
    300,
    '-p before another option takes no argument',
  );
  const zero = await ok(t, ['-A', '-t', '10.0.0.1', '-p']);
  t.equal(zero.service?.port, 0, 'a persistent service may have port 0');
  t.equal((await ok(t, ['-A', '-t', '10.0.0.1:80', '-s', ''])).scheduler, 'wlc', 'an empty -s is the default');
});

t.test('-A with fwmark, IPv6 and names', async (t) => {
  t.same((await ok(t, ['-A', '-f', '1'])).service, { protocol: 'fwmark', address: '', port: 0, fwmark: 1, family: 4 });
  const six = await ok(t, ['-A', '-f', '2', '-6', '-p', '-M', '64']);
  t.same(six.service, { protocol: 'fwmark', address: '', port: 0, fwmark: 2, family: 6 });
  t.same(six.persistence, { timeoutSec: 300, netmask: '64' });
  t.same((await ok(t, ['-A', '-f', '2', '-6', '-p'])).persistence, { timeoutSec: 300, netmask: '128' }, 'IPv6 default granularity /128');
  const v6 = await ok(t, ['-A', '-t', '[2001:DB8:0::1]:443']);
  t.same(v6.service, { protocol: 'tcp', address: '2001:db8::1', port: 443, fwmark: 0, family: 6 }, 'canonical lowercase IPv6');
  t.same((await ok(t, ['-A', '-t', '2001:db8::1', '-p'])).service?.port, 0, 'a bare IPv6 address has no port');
  t.same((await ok(t, ['-A', '-t', 'www.example:http'])).service, tcp('192.0.2.7', 80), 'host and port names');
  t.same((await ok(t, ['-A', '-u', 'localhost:domain'])).service?.port, 53, 'udp service names');
});

t.test('-E, -D, -C', async (t) => {
  const e = await ok(t, ['-E', '-t', '10.0.0.1:80', '-s', 'lc']);
  t.equal(e.command, 'edit-service');
  t.equal(e.scheduler, 'lc');
  t.equal((await ok(t, ['-E', '-t', '10.0.0.1:80'])).scheduler, 'wlc', '-E without -s sets wlc, as ipvsadm');
  const d = await ok(t, ['-D', '-t', '10.0.0.1:80']);
  t.equal(d.command, 'delete-service');
  t.same(d.service, tcp('10.0.0.1', 80));
  t.equal((await ok(t, ['-C'])).command, 'flush');
  t.equal((await ok(t, ['--clear'])).command, 'flush');
  t.equal((await ok(t, ['--delete-service', '--fwmark-service', '9'])).service?.fwmark, 9);
});

t.test('-a, -e, -d: real servers', async (t) => {
  const a = await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2']);
  t.equal(a.command, 'add-server');
  t.same(
    a.server,
    { address: '10.1.1.2', port: 80, weight: 1, method: 'route', upperThreshold: 0, lowerThreshold: 0 },
    'defaults: -g, weight 1, the service port',
  );
  t.equal((await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2:8080'])).server?.port, 80, 'direct routing keeps the service port');
  t.equal((await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2:8080', '-i'])).server?.port, 80, 'so does a tunnel');
  const m = await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2:8080', '-m', '-w', '3', '-x', '100', '-y', '50']);
  t.same(m.server, { address: '10.1.1.2', port: 8080, weight: 3, method: 'masq', upperThreshold: 100, lowerThreshold: 50 });
  const long = await ok(t, [
    '--add-server',
    '-t',
    '10.0.0.1:80',
    '--real-server',
    '10.1.1.2',
    '--masquerading',
    '--weight',
    '0',
    '--u-threshold',
    '7',
    '--l-threshold',
    '1',
  ]);
  t.same(
    long.server,
    { address: '10.1.1.2', port: 80, weight: 0, method: 'masq', upperThreshold: 7, lowerThreshold: 1 },
    'weight 0 is quiescent, allowed',
  );
  t.equal((await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '--ipip', '--tun-type', 'ipip'])).server?.method, 'tunnel');
  t.equal((await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '--gatewaying'])).server?.method, 'route');
  t.equal(
    (await ok(t, ['-a', '-t', '10.0.0.1:80', '-r', '2001:db8::2', '-i'])).server?.address,
    '2001:db8::2',
    'a tunnel may cross address families',
  );
  t.equal((await ok(t, ['-a', '-f', '1', '-r', '10.1.1.2'])).server?.port, 0, "fwmark: port 0, the client's port");
  t.equal((await ok(t, ['-a', '-f', '1', '-r', '10.1.1.2:8080'])).server?.port, 8080, 'fwmark keeps a given port, even with -g');
  t.equal((await ok(t, ['-a', '-f', '1', '-6', '-r', '[2001:db8::2]:80', '-m'])).server?.address, '2001:db8::2');
  t.same((await ok(t, ['-a', '-t', '[2001:db8::1]:80', '-r', '[2001:db8::2]:81', '-m'])).server?.port, 81);
  t.equal((await ok(t, ['-a', '-t', '10.0.0.1:http', '-r', 'localhost', '-m'])).server?.address, '127.0.0.1');
  const e = await ok(t, ['-e', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-w', '5']);
  t.equal(e.command, 'edit-server');
  t.same(
    e.server,
    { address: '10.1.1.2', port: 80, weight: 5, method: 'route', upperThreshold: 0, lowerThreshold: 0 },
    '-e resets what is not given, as ipvsadm',
  );
  const d = await ok(t, ['-d', '-t', '10.0.0.1:80', '-r', '10.1.1.2:8080']);
  t.equal(d.command, 'delete-server');
  t.equal(d.server?.port, 8080, '-d looks the server up by the port given');
  t.equal((await ok(t, ['-d', '-t', '10.0.0.1:80', '-r', '10.1.1.2'])).server?.port, 80, '-d without a port: the service port');
});

t.test('-L, -S, -R and their options', async (t) => {
  for (const argv of [['-L'], ['-l'], ['--list']]) t.same((await ok(t, argv)).format, noFormat, argv.join(' '));
  t.equal((await ok(t, ['-Ln'])).format.numeric, true);
  t.same((await ok(t, ['-L', '-n', '--stats', '--exact'])).format, { ...noFormat, numeric: true, stats: true, exact: true });
  t.equal((await ok(t, ['-L', '--rate'])).format.rate, true);
  t.equal((await ok(t, ['-L', '--thresholds'])).format.thresholds, true);
  t.equal((await ok(t, ['-L', '--persistent-conn'])).format.persistentConn, true);
  t.equal((await ok(t, ['-L', '--tun-info'])).format.tunInfo, true);
  t.equal((await ok(t, ['-L', '--nosort', '--sort'])).format.noSort, true, '--sort is a no-op');
  t.equal((await ok(t, ['-L', '-X'])).format.exact, true, '-X is --exact');
  const c = await ok(t, ['-Lnc']);
  t.equal(c.connections, true);
  t.equal(c.format.numeric, true);
  t.equal((await ok(t, ['-L', '-c', '--persistent-conn'])).format.persistentConn, true);
  t.same((await ok(t, ['-L', '-t', '10.0.0.1:80'])).service, tcp('10.0.0.1', 80));
  t.equal((await ok(t, ['-S'])).command, 'save');
  t.equal((await ok(t, ['-S', '-n'])).format.numeric, true);
  t.equal((await ok(t, ['--save'])).command, 'save');
  t.equal((await ok(t, ['-R'])).command, 'restore');
  t.equal((await ok(t, ['--restore'])).command, 'restore');
});

t.test('-h and -v', async (t) => {
  t.same(await err(['-h']), { kind: 'help' });
  t.same(await err(['--help']), { kind: 'help' });
  t.same(await err(['-h', '--bogus']), { kind: 'help' }, 'help wins as soon as it is seen, like ipvsadm');
  t.same(await err(['-v']), { kind: 'version' });
  t.same(await err(['--version']), { kind: 'version' });
});

const usage = (message: string) => ({ kind: 'error', message, exitCode: 2, tryHelp: false });
const unsupported = (message: string) => ({ kind: 'error', message, exitCode: 1, tryHelp: false });
const tryHelp = { kind: 'error', message: '', exitCode: 2, tryHelp: true };

t.test('the command comes first', async (t) => {
  t.same(await err(['foo']), tryHelp, 'no option at all');
  t.same(await err(['-n', '-L']), tryHelp, 'an option before the command');
  t.same(await err(['-t', '10.0.0.1:80', '-A']), tryHelp);
  t.same(await err(['--bogus']), { kind: 'error', message: '--bogus: unknown option', exitCode: 2, tryHelp: true });
  t.same(await err(['-L', '-A']), usage('multiple commands specified'));
  t.same(await err(['-LS']), usage('multiple commands specified'));
});

t.test("bad options and combinations, with ipvsadm's messages", async (t) => {
  const cases: Array<[string[], unknown]> = [
    [['-L', '--bogus'], usage('--bogus: unknown option')],
    [['-L', '-q'], usage('-q: unknown option')],
    [['-A', '-t'], usage('-t: missing argument')],
    [['-A', '--tcp-service'], usage('--tcp-service: missing argument')],
    [['-L', '--numeric=1'], usage('--numeric: option does not take an argument')],
    [['-L', 'extra'], usage('unexpected argument extra')],
    [['-A'], usage("You need to supply the 'service-address' option for the 'add-service' command")],
    [['-E', '-s', 'rr'], usage("You need to supply the 'service-address' option for the 'edit-service' command")],
    [['-a', '-t', '10.0.0.1:80'], usage("You need to supply the 'real-server' option for the 'add-server' command")],
    [['-d', '-r', '10.1.1.2'], usage("You need to supply the 'service-address' option for the 'delete-server' command")],
    [['-A', '-t', '10.0.0.1:80', '-w', '2'], usage("Illegal 'weight' option with the 'add-service' command")],
    [['-A', '-t', '10.0.0.1:80', '-r', '10.1.1.1'], usage("Illegal 'real-server' option with the 'add-service' command")],
    [['-A', '-t', '10.0.0.1:80', '-n'], usage("Illegal 'numeric' option with the 'add-service' command")],
    [['-D', '-t', '10.0.0.1:80', '-s', 'rr'], usage("Illegal 'scheduler' option with the 'delete-service' command")],
    [['-C', '-n'], usage("Illegal 'numeric' option with the 'flush' command")],
    [['-C', '-t', '10.0.0.1:80'], usage("Illegal 'service-address' option with the 'flush' command")],
    [['-S', '-c'], usage("Illegal 'connection' option with the 'save' command")],
    [['-R', '-n'], usage("Illegal 'numeric' option with the 'restore' command")],
    [['-d', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-w', '1'], usage("Illegal 'weight' option with the 'delete-server' command")],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-p'], usage("Illegal 'persistent' option with the 'add-server' command")],
    [['-L', '-s', 'rr'], usage("Illegal 'scheduler' option with the 'list' command")],
    [['-L', '-c', '-t', '10.0.0.1:80'], usage("The option 'service-address' conflicts with the 'connection' option in the 'list' command")],
    [['-L', '-c', '--stats'], usage('options conflicts in the list command')],
    [['-A', '-t', '10.0.0.1:80', '-t', '10.0.0.2:80'], usage("multiple 'service-address' options specified")],
    [['-A', '-t', '10.0.0.1:80', '-f', '1'], usage("multiple 'service-address' options specified")],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-m', '-g'], usage("multiple 'forwarding-method' options specified")],
    [['-L', '-n', '-n'], usage("multiple 'numeric' options specified")],
    [['-A', '-t', '80'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-t', 'nosuchhost:80'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-t', '10.0.0.1:65536'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-t', '10.0.0.1:nosuchport'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-t', '[2001:db8::1]80'], usage('illegal virtual server address[:port] specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '[2001:db8::2]', '-i'], usage('illegal real server address[:port] specified')],
    [['-A', '-t', '[10.0.0.1]:80'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-u', 'localhost:http'], usage('illegal virtual server address[:port] specified')],
    [['-A', '-t', '10.0.0.1'], usage('Zero port specified for non-persistent service')],
    [['-E', '-t', '10.0.0.1:0'], usage('Zero port specified for non-persistent service')],
    [['-A', '-f', '0'], usage("invalid fwmark value `0' specified")],
    [['-A', '-f', 'x'], usage("invalid fwmark value `x' specified")],
    [['-A', '-f', '4294967296'], usage("invalid fwmark value `4294967296' specified")],
    [['-A', '-t', '10.0.0.1:80', '-6'], usage('-6 used before -f')],
    [['-A', '-t', '10.0.0.1:80', '-p', '0'], usage("invalid timeout value `0' specified")],
    [['-A', '-t', '10.0.0.1:80', '-p', 'abc'], usage("invalid timeout value `abc' specified")],
    [['-A', '-t', '10.0.0.1:80', '-p', '2678401'], usage("invalid timeout value `2678401' specified")],
    [['-A', '-t', '10.0.0.1:80', '-p', '-M', '255.255.0'], usage('illegal virtual server persistent mask specified')],
    [['-A', '-t', '[2001:db8::1]:80', '-p', '-M', '129'], usage('illegal ipv6 netmask specified')],
    [['-A', '-f', '3', '-6', '-p', '-M', '0'], usage('illegal ipv6 netmask specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-w', '65536'], usage('illegal weight specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-w', '-1'], usage('illegal weight specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-w', '1x'], usage('illegal weight specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-x', 'abc'], usage('illegal u_threshold specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-y', '2147483648'], usage('illegal l_threshold specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', 'bad..addr'], usage('illegal real server address[:port] specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2:http-nope'], usage('illegal real server address[:port] specified')],
    [['-a', '-t', '10.0.0.1:80', '-r', '[2001:db8::2]:80'], usage('Different address family is allowed only for tunneling servers')],
    [['-a', '-f', '1', '-r', '[2001:db8::2]:80', '-m'], usage('Different address family is allowed only for tunneling servers')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '--tun-type', 'ipip'], usage('Tunnel options conflict with forward method')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-i', '--tun-type', 'foo'], usage('illegal tunnel type specified')],
    [['--start-daemon', 'sideways'], usage('illegal start-daemon parameter specified')],
    [['-Z'], unsupported('zeroing counters (-Z) is not supported by tcpvs')],
    [['-Z', '-t', '10.0.0.1:80'], unsupported('zeroing counters (-Z) is not supported by tcpvs')],
    [['--set', '900', '120', '300'], unsupported('IPVS connection timeouts (--set) are not kept by tcpvs')],
    [['-A', '-t', '10.0.0.1:80', '-o'], unsupported('one-packet scheduling (--ops) is not supported by tcpvs')],
    [['-A', '-t', '10.0.0.1:80', '--pe', 'sip'], unsupported('persistence engines (--pe) are not supported by tcpvs')],
    [['-A', '-t', '10.0.0.1:80', '-b', 'sh-port'], unsupported('scheduler flags (-b) are not supported by tcpvs')],
    [['-A', '--sctp-service', '10.0.0.1:80'], unsupported('SCTP services are not supported by tcpvs')],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-i', '--tun-type', 'gue'], unsupported('only ipip tunnels are supported by tcpvs')],
    [['-L', '--timeout'], unsupported('IPVS connection timeouts (--timeout) are not kept by tcpvs')],
  ];
  for (const [argv, expected] of cases) t.same(await err(argv), expected, argv.join(' '));
});

const DEFAULT_DAEMON = { mcastInterface: 'eth0', syncId: 0, syncMaxLen: null, mcastGroup: null, mcastPort: null, mcastTtl: null };

t.test("--start-daemon, --stop-daemon, -L --daemon: the kernel's sync daemon", async (t) => {
  const master = await ok(t, ['--start-daemon', 'master']);
  t.equal(master.command, 'start-daemon');
  t.equal(master.role, 'master');
  t.same(master.daemon, { role: 'master', ...DEFAULT_DAEMON }, "ipvsadm's defaults: eth0, syncid 0, the rest left to the kernel");
  t.same(
    (
      await ok(t, [
        '--start-daemon',
        'backup',
        '--mcast-interface',
        'vsync0',
        '--syncid',
        '7',
        '--sync-maxlen',
        '1400',
        '--mcast-group',
        '239.1.2.3',
        '--mcast-port',
        '9000',
        '--mcast-ttl',
        '2',
      ])
    ).daemon,
    { role: 'backup', mcastInterface: 'vsync0', syncId: 7, syncMaxLen: 1400, mcastGroup: '239.1.2.3', mcastPort: 9000, mcastTtl: 2 },
    'every daemon option',
  );
  t.same(
    (await ok(t, ['--start-daemon=master', '--mcast-interface=eth1', '--syncid=255', '--mcast-group=FF02::1:2'])).daemon,
    { role: 'master', ...DEFAULT_DAEMON, mcastInterface: 'eth1', syncId: 255, mcastGroup: 'ff02::1:2' },
    '--opt=VALUE, syncid 255, an IPv6 group in canonical form',
  );
  t.equal(
    (await ok(t, ['--start-daemon', 'master', '--mcast-interface', 'a23456789012345'])).daemon?.mcastInterface,
    'a23456789012345',
    '15 characters is the most',
  );
  t.equal(
    (await ok(t, ['--start-daemon', 'master', '--sync-maxlen', '65507', '--mcast-port', '1', '--mcast-ttl', '255'])).daemon?.syncMaxLen,
    65507,
    'the ends of the ranges',
  );
  const stop = await ok(t, ['--stop-daemon', 'backup']);
  t.same({ command: stop.command, role: stop.role, daemon: stop.daemon }, { command: 'stop-daemon', role: 'backup', daemon: null });
  t.equal(
    (await ok(t, ['--stop-daemon', 'master', '--syncid', '3'])).role,
    'master',
    '--stop-daemon takes --syncid, as ipvsadm (the kernel ignores it)',
  );
  const list = await ok(t, ['-L', '--daemon']);
  t.same(
    { command: list.command, daemons: list.daemons, connections: list.connections },
    { command: 'list', daemons: true, connections: false },
  );
  t.equal((await ok(t, ['-Ln', '--daemon'])).daemons, true, '-n is allowed');
  t.equal((await ok(t, ['-L', '--daemon', '--syncid', '4'])).daemons, true, '-L takes --syncid and ignores it, as ipvsadm');
  t.equal((await ok(t, ['-L'])).daemons, false);
});

t.test('sync daemon errors name the option', async (t) => {
  const cases: Array<[string[], unknown]> = [
    [['--start-daemon'], { kind: 'error', message: '--start-daemon: missing argument', exitCode: 2, tryHelp: true }],
    [['--start-daemon', 'Master'], usage('illegal start-daemon parameter specified')],
    [['--stop-daemon', 'both'], usage('illegal start_daemon specified')],
    [['--start-daemon', 'master', '--syncid', '256'], usage('illegal syncid specified (0..255)')],
    [['--start-daemon', 'master', '--syncid', '-1'], usage('illegal syncid specified (0..255)')],
    [['--start-daemon', 'master', '--syncid', 'one'], usage('illegal syncid specified (0..255)')],
    [
      ['--start-daemon', 'master', '--mcast-interface', 'a234567890123456'],
      usage("illegal mcast-interface specified: `a234567890123456' is longer than 15 characters"),
    ],
    [
      ['--start-daemon', 'master', '--mcast-interface', 'eth0:1'],
      usage("illegal mcast-interface specified: `eth0:1' is not an interface name (no '/', ':' or blanks)"),
    ],
    [['--start-daemon', 'master', '--mcast-interface', ''], usage('illegal mcast-interface specified: an interface name cannot be empty')],
    [['--start-daemon', 'master', '--mcast-group', '10.0.0.1'], usage("invalid IPv4 mcast-group `10.0.0.1'")],
    [['--start-daemon', 'master', '--mcast-group', '240.0.0.1'], usage("invalid IPv4 mcast-group `240.0.0.1'")],
    [['--start-daemon', 'master', '--mcast-group', '224.0.0'], usage("invalid IPv4 mcast-group `224.0.0'")],
    [['--start-daemon', 'master', '--mcast-group', 'fe80::1'], usage("invalid IPv6 mcast-group `fe80::1'")],
    [['--start-daemon', 'master', '--mcast-group', 'ff::1'], usage("invalid IPv6 mcast-group `ff::1'")],
    [['--start-daemon', 'master', '--mcast-port', '0'], usage('illegal mcast-port specified (1..65535)')],
    [['--start-daemon', 'master', '--mcast-port', '65536'], usage('illegal mcast-port specified (1..65535)')],
    [['--start-daemon', 'master', '--mcast-ttl', '0'], usage('illegal mcast-ttl specified (1..255)')],
    [['--start-daemon', 'master', '--mcast-ttl', '256'], usage('illegal mcast-ttl specified (1..255)')],
    [['--start-daemon', 'master', '--sync-maxlen', '0'], usage('illegal sync-maxlen specified (1..65507)')],
    [['--start-daemon', 'master', '--sync-maxlen', '65508'], usage('illegal sync-maxlen specified (1..65507)')],
    [['--start-daemon', 'master', '--syncid', '1', '--syncid', '2'], usage("multiple 'syncid' options specified")],
    [['--start-daemon', 'master', '-n'], usage("Illegal 'numeric' option with the 'start-daemon' command")],
    [['--start-daemon', 'master', '-t', '10.0.0.1:80'], usage("Illegal 'service-address' option with the 'start-daemon' command")],
    [['--start-daemon', 'master', '--daemon'], usage("Illegal 'daemon' option with the 'start-daemon' command")],
    [['--stop-daemon', 'master', '--mcast-interface', 'eth0'], usage("Illegal 'mcast-interface' option with the 'stop-daemon' command")],
    [['--stop-daemon', 'master', '--mcast-group', '224.0.0.81'], usage("Illegal 'mcast-group' option with the 'stop-daemon' command")],
    [['-L', '--mcast-interface', 'eth0'], usage("Illegal 'mcast-interface' option with the 'list' command")],
    [['-L', '--daemon', '--sync-maxlen', '100'], usage("Illegal 'sync-maxlen' option with the 'list' command")],
    [['-A', '-t', '10.0.0.1:80', '--syncid', '1'], usage("Illegal 'syncid' option with the 'add-service' command")],
    [['-A', '-t', '10.0.0.1:80', '--daemon'], usage("Illegal 'daemon' option with the 'add-service' command")],
    [['-L', '-c', '--daemon'], usage("The option 'daemon' conflicts with the 'connection' option in the 'list' command")],
    [
      ['-L', '--daemon', '-t', '10.0.0.1:80'],
      usage("The option 'daemon' conflicts with the 'service-address' option in the 'list' command"),
    ],
    [['-L', '--daemon', '--stats'], usage('options conflicts in the list command')],
    [['-L', '--daemon', '--persistent-conn'], usage('options conflicts in the list command')],
    [['--start-daemon', 'master', 'eth0'], usage('unexpected argument eth0')],
  ];
  for (const [argv, expected] of cases) t.same(await err(argv), expected, argv.join(' '));
});

t.test('canonical IPv6 and the system resolver', async (t) => {
  t.equal(canonicalIPv6('2001:0DB8:0000::0001'), '2001:db8::1');
  t.equal(canonicalIPv6('10.0.0.1'), '10.0.0.1', 'IPv4 passes through');
  t.equal(systemResolver.port('http', 'tcp'), 80, '/etc/services (or the built-in table) knows http');
  t.equal(systemResolver.port('no-such-service-name', 'tcp'), null);
  t.equal(await systemResolver.host('localhost'), '127.0.0.1');
  t.equal(await systemResolver.host('no-such-host.invalid'), null);
});

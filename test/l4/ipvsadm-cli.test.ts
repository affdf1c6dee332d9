// `tcpvs ipvsadm` end to end: runIpvsadm talks to a real admin socket in a
// temp dir, served by an in-memory L4 core. -A, -a, -L -n, -e, -d, -D, -C,
// -S | -R, the sync daemon commands, ipvsadm's refusals, and a clear error
// when tcpvs is not running.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { startAdminServer, type AdminServer } from '../../lib/admin/server.ts';
import { l4Handlers } from '../../lib/admin/l4.ts';
import { runIpvsadm } from '../../lib/l4/ipvsadm-cli/main.ts';
import { createFakeL4, type FakeL4 } from '../helpers/fake-l4.ts';

const dir = mkdtempSync(join(tmpdir(), 'tcpvs-ipvsadm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ipvsadm(path: string | null, args: string[], stdin = ''): Promise<Run> {
  const out = sink();
  const err = sink();
  const env: NodeJS.ProcessEnv = path === null ? {} : { TCPVS_ADMIN: path };
  const code = await runIpvsadm(args, { stdout: out.stream, stderr: err.stream, env, stdin: Readable.from([stdin]) });
  return { code, stdout: out.text(), stderr: err.text() };
}

async function started(t: Test, name: string): Promise<{ path: string; core: FakeL4; server: AdminServer }> {
  const path = join(dir, name);
  const core = createFakeL4();
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(() => server.close());
  return { path, core, server };
}

const HEAD = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
];
const lines = (...l: string[]) => l.join('\n') + '\n';

t.test('-A, -a, -L -n, -e, -d, -D, -C through the admin socket', async (t) => {
  const { path, core } = await started(t, 'flow.sock');
  t.equal(statSync(path).mode & 0o777, 0o600, 'the admin socket is 0600');
  const ok = async (...args: string[]) => {
    const r = await ipvsadm(path, args);
    t.same({ code: r.code, stderr: r.stderr }, { code: 0, stderr: '' }, args.join(' '));
    return r.stdout;
  };
  t.equal(await ok('-A', '-t', '10.0.0.1:80', '-p'), '', 'ipvsadm prints nothing on success');
  await ok('-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-m');
  await ok('-a', '-t', '10.0.0.1:80', '-r', '10.1.1.3:8080', '-g', '-w', '2');
  t.equal(
    await ok('-L', '-n'),
    lines(
      ...HEAD,
      'TCP  10.0.0.1:80 wlc persistent 300',
      '  -> 10.1.1.2:80                  Masq    1      0          0         ',
      '  -> 10.1.1.3:80                  Route   2      0          0         ',
    ),
    '-L -n shows the service and both servers (direct routing keeps the service port)',
  );
  t.equal(await ok(), await ok('-Ln'), 'no arguments lists, as ipvsadm');

  await ok('-e', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-m', '-w', '7');
  t.match(await ok('-Ln'), / {2}-> 10\.1\.1\.2:80 {18}Masq {4}7 /, '-e changed the weight');
  t.same(core.calls.at(-2), {
    name: 'editRealServer',
    args: [
      { protocol: 'tcp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 },
      { address: '10.1.1.2', port: 80, weight: 7, method: 'masq', upperThreshold: 0, lowerThreshold: 0 },
    ],
  });

  await ok('-E', '-t', '10.0.0.1:80', '-s', 'rr');
  t.match(await ok('-Ln'), /^TCP {2}10\.0\.0\.1:80 rr$/m, '-E replaced scheduler and persistence');

  await ok('-d', '-t', '10.0.0.1:80', '-r', '10.1.1.3');
  t.notMatch(await ok('-Ln'), /10\.1\.1\.3/, '-d removed the server');

  await ok('-A', '-u', '10.0.0.1:53');
  await ok('-D', '-t', '10.0.0.1:80');
  t.equal(await ok('-Ln'), lines(...HEAD, 'UDP  10.0.0.1:53 wlc'), '-D removed the TCP service');

  await ok('-C');
  t.equal(await ok('-Ln'), lines(...HEAD), '-C cleared the table');
});

t.test("ipvsadm's refusals, with its messages and exit code 1", async (t) => {
  const { path } = await started(t, 'refusals.sock');
  await ipvsadm(path, ['-A', '-t', '10.0.0.1:80']);
  await ipvsadm(path, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2']);
  const cases: Array<[string[], string]> = [
    [['-A', '-t', '10.0.0.1:80'], 'Service already exists\n'],
    [['-E', '-t', '10.0.0.2:80'], 'No such service\n'],
    [['-D', '-t', '10.0.0.2:80'], 'No such service\n'],
    [['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2'], 'Destination already exists\n'],
    [['-a', '-t', '10.0.0.2:80', '-r', '10.1.1.2'], 'Service not defined\n'],
    [['-e', '-t', '10.0.0.1:80', '-r', '10.1.1.9'], 'No such destination\n'],
    [['-e', '-t', '10.0.0.2:80', '-r', '10.1.1.2'], 'Service not defined\n'],
    [['-d', '-t', '10.0.0.1:80', '-r', '10.1.1.9'], 'No such destination\n'],
    [['-L', '-t', '10.0.0.2:80'], 'No such service\n'],
    [['-A', '-t', '10.0.0.3:80', '-s', 'nosuch'], 'Scheduler or persistence engine not found\n'],
  ];
  for (const [args, stderr] of cases) t.same(await ipvsadm(path, args), { code: 1, stdout: '', stderr }, args.join(' '));
  t.same(
    await ipvsadm(path, ['-A', '-t', '10.0.0.1']),
    { code: 2, stdout: '', stderr: 'Zero port specified for non-persistent service\n' },
    'usage errors exit 2',
  );
  t.same(await ipvsadm(path, ['-Z']), { code: 1, stdout: '', stderr: 'zeroing counters (-Z) is not supported by tcpvs\n' });
  t.same(await ipvsadm(path, ['-n', '-L']), {
    code: 2,
    stdout: '',
    stderr: "Try `tcpvs ipvsadm -h' or 'tcpvs ipvsadm --help' for more information.\n",
  });
});

t.test('-L -t, -L -c, --stats through the socket', async (t) => {
  const { path, core } = await started(t, 'list.sock');
  await ipvsadm(path, ['-A', '-t', '10.0.0.1:80']);
  await ipvsadm(path, ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2', '-m']);
  await ipvsadm(path, ['-A', '-f', '5']);
  const status = core.status({ protocol: 'tcp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 });
  status.stats.conns = 42;
  status.realServers[0].activeConns = 3;
  const one = await ipvsadm(path, ['-L', '-n', '-t', '10.0.0.1:80']);
  t.equal(
    one.stdout,
    lines(HEAD[1], HEAD[2], 'TCP  10.0.0.1:80 wlc', '  -> 10.1.1.2:80                  Masq    1      3          0         '),
  );
  t.match((await ipvsadm(path, ['-L', '-n', '--stats'])).stdout, /^TCP {2}10\.0\.0\.1:80 {24}42 /m);
  core.connectionTable = [
    {
      protocol: 'tcp',
      state: 'ESTABLISHED',
      expiresInSec: 61,
      source: '192.0.2.1:40000',
      virtual: '10.0.0.1:80',
      destination: '10.1.1.2:80',
    },
  ];
  t.equal(
    (await ipvsadm(path, ['-L', '-n', '-c'])).stdout,
    lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:01  ESTABLISHED 192.0.2.1:40000    10.0.0.1:80        10.1.1.2:80',
    ),
  );
});

t.test('-S | -R round trip', async (t) => {
  const { path } = await started(t, 'save.sock');
  const setup = [
    ['-A', '-t', '10.0.0.1:80', '-s', 'rr', '-p', '600', '-M', '255.255.255.0'],
    ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.2:8080', '-m', '-w', '3'],
    ['-a', '-t', '10.0.0.1:80', '-r', '10.1.1.3', '-i'],
    ['-A', '-u', '[2001:db8::1]:53', '-s', 'sh'],
    ['-a', '-u', '[2001:db8::1]:53', '-r', '[2001:db8::10]:53', '-g', '-w', '0'],
    ['-A', '-f', '9', '-6', '-p'],
  ];
  for (const args of setup) t.equal((await ipvsadm(path, args)).code, 0, args.join(' '));
  const saved = await ipvsadm(path, ['-S', '-n']);
  t.equal(
    saved.stdout,
    lines(
      '-A -t 10.0.0.1:80 -s rr -p 600 -M 255.255.255.0',
      '-a -t 10.0.0.1:80 -r 10.1.1.2:8080 -m -w 3',
      '-a -t 10.0.0.1:80 -r 10.1.1.3:80 -i -w 1 --tun-type ipip',
      '-A -u [2001:db8::1]:53 -s sh',
      '-a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -g -w 0',
      '-A -f 9 -6 -s wlc -p 300',
    ),
  );
  const listed = (await ipvsadm(path, ['-Ln'])).stdout;
  t.equal((await ipvsadm(path, ['-C'])).code, 0);
  t.equal((await ipvsadm(path, ['-Ln'])).stdout, lines(...HEAD), 'cleared');
  const restored = await ipvsadm(path, ['-R'], saved.stdout);
  t.same(restored, { code: 0, stdout: '', stderr: '' });
  t.equal((await ipvsadm(path, ['-S', '-n'])).stdout, saved.stdout, '-S after -R is what was saved');
  t.equal((await ipvsadm(path, ['-Ln'])).stdout, listed, 'and so is -L');
});

t.test('-R: a refused line is reported and the rest applied; a bad line stops', async (t) => {
  const { path } = await started(t, 'restore.sock');
  const refused = await ipvsadm(path, ['-R'], '-A -t 10.0.0.1:80\n\n-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.1.2\n');
  t.same(refused, { code: 1, stdout: '', stderr: 'Service already exists\n' });
  t.match((await ipvsadm(path, ['-Ln'])).stdout, /10\.1\.1\.2:80/, 'the line after the refused one ran');
  const bad = await ipvsadm(path, ['-R'], '-A -t 10.0.0.2:80\n-A -t bogus..:80\n-A -t 10.0.0.3:80\n');
  t.same(bad, { code: 2, stdout: '', stderr: 'illegal virtual server address[:port] specified\n' });
  const after = (await ipvsadm(path, ['-Sn'])).stdout;
  t.match(after, /10\.0\.0\.2:80/, 'lines before the bad one are applied');
  t.notMatch(after, /10\.0\.0\.3:80/, 'lines after it are not');
  const nested = await ipvsadm(path, ['-R'], '-R\n');
  t.equal(nested.code, 2, '-R inside -R is refused');
});

t.test('tcpvs not running: a clear error, exit 2', async (t) => {
  const missing = join(dir, 'nobody-here.sock');
  const r = await ipvsadm(missing, ['-L', '-n']);
  t.same(r, { code: 2, stdout: '', stderr: `tcpvs is not running (no admin socket at ${missing}); start it, or pass --admin PATH\n` });
  const viaFlag = await ipvsadm(null, ['--admin', missing, '-Ln']);
  t.equal(viaFlag.stderr, r.stderr, '--admin PATH is used');
  const viaEq = await ipvsadm(null, ['-Ln', `--admin=${missing}`]);
  t.equal(viaEq.stderr, r.stderr, '--admin=PATH anywhere on the line');
  t.same(await ipvsadm(null, ['-L', '--admin']), { code: 2, stdout: '', stderr: '--admin: missing argument\n' });
});

t.test('--admin beats TCPVS_ADMIN', async (t) => {
  const { path } = await started(t, 'flag.sock');
  await ipvsadm(path, ['-A', '-t', '10.0.0.7:80']);
  const out = sink();
  const err = sink();
  const code = await runIpvsadm(['-Ln', '--admin', path], {
    stdout: out.stream,
    stderr: err.stream,
    env: { TCPVS_ADMIN: join(dir, 'wrong.sock') },
  });
  t.equal(code, 0);
  t.match(out.text(), /10\.0\.0\.7:80/);
});

t.test('help and version need no running tcpvs', async (t) => {
  const help = await ipvsadm(join(dir, 'none.sock'), ['-h']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^ipvsadm v1\.31 .*\nUsage:\n {2}tcpvs ipvsadm -A\|E -t\|u\|f service-address/);
  t.match(help.stdout, /--admin PATH/);
  t.match(help.stdout, /--start-daemon \{master\|backup\} \[daemon-options\]/);
  t.match(help.stdout, /--mcast-interface interface/);
  const version = await ipvsadm(join(dir, 'none.sock'), ['--version']);
  t.same(version, { code: 0, stdout: version.stdout, stderr: '' });
  t.match(version.stdout, /^ipvsadm v1\.31 2019\/12\/24 \(compiled with tcpvs \d+\.\d+\.\d+ and IPVS v1\.2\.1\)\n$/);
});

t.test("a socket that is not tcpvs's L4 core", async (t) => {
  const path = join(dir, 'other.sock');
  const server = await startAdminServer({ path, handlers: { 'tcpvsadm.status': async () => 'ok' } });
  t.teardown(() => server.close());
  t.same(await ipvsadm(path, ['-Ln']), { code: 2, stdout: '', stderr: `tcpvs ipvsadm: the tcpvs at ${path} runs no L4 core\n` });
});

t.test('-S | -R through real processes and pipes', async (t) => {
  const { path } = await started(t, 'pipes.sock');
  await ipvsadm(path, ['-A', '-t', '10.0.0.1:443', '-s', 'lc']);
  await ipvsadm(path, ['-a', '-t', '10.0.0.1:443', '-r', '10.1.1.2', '-m', '-w', '5']);
  const main = join(import.meta.dirname, '..', '..', 'lib', 'l4', 'ipvsadm-cli', 'main.ts');
  const script = `import { runIpvsadm } from ${JSON.stringify(main)};
process.exitCode = await runIpvsadm(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env });`;
  const proc = (args: string[], input: string | null): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], {
        env: { ...process.env, TCPVS_ADMIN: path },
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`ipvsadm ${args.join(' ')} timed out: ${stderr}`));
      }, 15_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      if (input === null) child.stdin.end();
      else child.stdin.end(input);
    });
  const saved = await proc(['-S', '-n'], null);
  t.same(saved, { code: 0, stdout: '-A -t 10.0.0.1:443 -s lc\n-a -t 10.0.0.1:443 -r 10.1.1.2:443 -m -w 5\n', stderr: '' });
  t.equal((await proc(['-C'], null)).code, 0);
  t.same(await proc(['-R'], saved.stdout), { code: 0, stdout: '', stderr: '' });
  t.equal((await proc(['-S', '-n'], null)).stdout, saved.stdout);
  const down = await proc(['--admin', join(dir, 'gone.sock'), '-L'], null);
  t.equal(down.code, 2, 'exit status 2 from a real process when tcpvs is not running');
});

t.test('executeCommand: other failures are printed as they are', async (t) => {
  const { executeCommand, refusalMessage } = await import('../../lib/l4/ipvsadm-cli/execute.ts');
  const { parseIpvsadmArgs } = await import('../../lib/l4/ipvsadm-cli/parse.ts');
  const { systemResolver } = await import('../../lib/l4/ipvsadm-cli/names.ts');
  const { L4Error } = await import('../../lib/l4/model.ts');
  const core = createFakeL4();
  core.clear = async () => {
    throw new Error('driver went away');
  };
  const parsed = await parseIpvsadmArgs(['-C'], systemResolver);
  if (parsed.kind !== 'run') throw new Error('-C did not parse');
  const out = sink();
  const err = sink();
  t.equal(await executeCommand(parsed.invocation, core, { stdout: out.stream, stderr: err.stream }), 1);
  t.equal(err.text(), 'driver went away\n');
  t.equal(
    refusalMessage('add-service', new L4Error('unavailable', 'IPVS is not loaded')),
    'IPVS is not loaded',
    "codes without an ipvsadm message keep the driver's",
  );
  t.equal(refusalMessage('edit-server', new L4Error('exists', 'odd')), 'odd');
});

t.test('--proxy-protocol 1|2 on -a and -e: the user-space core sends the header, -S saves it', async (t) => {
  const { createUserspaceCore } = await import('../../lib/l4/userspace/core.ts');
  const path = join(dir, 'proxy.sock');
  const core = createUserspaceCore({});
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(async () => {
    await server.close();
    await core.close();
  });
  const vipPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const vip = `127.0.0.1:${vipPort}`;
  t.equal((await ipvsadm(path, ['-A', '-t', vip, '-s', 'rr'])).code, 0);
  t.same(await ipvsadm(path, ['-a', '-t', vip, '-r', '127.0.0.1:9901', '-m', '--proxy-protocol', '2']), {
    code: 0,
    stdout: '',
    stderr: '',
  });
  t.equal((await ipvsadm(path, ['-a', '-t', vip, '-r', '127.0.0.1:9902', '-m'])).code, 0);
  t.equal((await core.list())[0].realServers.find((r) => r.port === 9901)?.proxyProtocol, 2, 'the core has it');
  t.match(
    (await ipvsadm(path, ['-S', '-n'])).stdout,
    new RegExp(`-a -t ${vip} -r 127\\.0\\.0\\.1:9901 -m -w 1 --proxy-protocol 2\\n`),
    '-S writes it out',
  );
  t.notMatch((await ipvsadm(path, ['-S', '-n'])).stdout, /9902 -m -w 1 --proxy-protocol/, 'only where set');
  t.equal((await ipvsadm(path, ['-e', '-t', vip, '-r', '127.0.0.1:9901', '-m', '--proxy-protocol', '1'])).code, 0);
  t.equal((await core.list())[0].realServers.find((r) => r.port === 9901)?.proxyProtocol, 1, '-e changes it');
  const bad = await ipvsadm(path, ['-a', '-t', vip, '-r', '127.0.0.1:9903', '-m', '--proxy-protocol', '3']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /illegal PROXY protocol version `3' specified \(1 or 2\)/);
  const onList = await ipvsadm(path, ['-L', '--proxy-protocol', '2']);
  t.not(onList.code, 0, 'not an option of -L');
});

t.test('--start-daemon, -L --daemon, --stop-daemon through the socket', async (t) => {
  const { path, core } = await started(t, 'daemon.sock');
  t.same(await ipvsadm(path, ['-L', '--daemon']), { code: 0, stdout: '', stderr: '' }, 'no daemon: nothing, as ipvsadm');
  t.same(await ipvsadm(path, ['--start-daemon', 'master', '--mcast-interface', 'eth1', '--syncid', '7']), {
    code: 0,
    stdout: '',
    stderr: '',
  });
  t.same(core.calls.at(-1), {
    name: 'startDaemon',
    args: [{ role: 'master', mcastInterface: 'eth1', syncId: 7, syncMaxLen: null, mcastGroup: null, mcastPort: null, mcastTtl: null }],
  });
  t.same(
    await ipvsadm(path, [
      '--start-daemon',
      'backup',
      '--mcast-group',
      '239.0.0.9',
      '--mcast-port',
      '9000',
      '--mcast-ttl',
      '3',
      '--sync-maxlen',
      '1400',
    ]),
    { code: 0, stdout: '', stderr: '' },
  );
  t.same(
    await ipvsadm(path, ['-L', '--daemon']),
    {
      code: 0,
      stdout: lines(
        'master sync daemon (mcast=eth1, syncid=7)',
        'backup sync daemon (mcast=eth0, syncid=0, maxlen=1400, group=239.0.0.9, port=9000, ttl=3)',
      ),
      stderr: '',
    },
    "-L --daemon: what the core reports, in ipvsadm's words",
  );
  t.same(
    await ipvsadm(path, ['--start-daemon', 'master']),
    { code: 1, stdout: '', stderr: 'Daemon has already run\n' },
    "the kernel's refusal, as ipvsadm says it",
  );
  t.same(await ipvsadm(path, ['--stop-daemon', 'master']), { code: 0, stdout: '', stderr: '' });
  t.same(core.calls.at(-1), { name: 'stopDaemon', args: ['master'] });
  t.same(await ipvsadm(path, ['--stop-daemon', 'master']), { code: 1, stdout: '', stderr: 'No daemon is running\n' });
  t.equal(
    (await ipvsadm(path, ['-Ln', '--daemon'])).stdout,
    'backup sync daemon (mcast=eth0, syncid=0, maxlen=1400, group=239.0.0.9, port=9000, ttl=3)\n',
  );
  const bad = await ipvsadm(path, ['--start-daemon', 'master', '--syncid', '300']);
  t.same(bad, { code: 2, stdout: '', stderr: 'illegal syncid specified (0..255)\n' }, 'a usage error never reaches the core');
  t.notOk(core.calls.some((c) => c.name === 'startDaemon' && (c.args[0] as { syncId: number }).syncId === 300));
});

t.test('the user-space core has no kernel sync daemon: a pointer to its own sync', async (t) => {
  const { createUserspaceCore, USERSPACE_SYNC_DAEMON } = await import('../../lib/l4/userspace/core.ts');
  const path = join(dir, 'userspace-daemon.sock');
  const core = createUserspaceCore({});
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(async () => {
    await server.close();
    await core.close();
  });
  t.same(await ipvsadm(path, ['-L', '--daemon']), { code: 0, stdout: '', stderr: '' }, '-L --daemon lists no daemon');
  for (const args of [
    ['--start-daemon', 'master'],
    ['--stop-daemon', 'backup'],
  ]) {
    const r = await ipvsadm(path, args);
    t.same(r, { code: 1, stdout: '', stderr: `${USERSPACE_SYNC_DAEMON}\n` }, args.join(' '));
    t.match(r.stderr, /'sync listen ADDR:PORT', 'sync peer ADDR:PORT' and 'sync secret TEXT'/, 'it names the config statements');
  }
});

t.test('an older running tcpvs without the daemon methods', async (t) => {
  const path = join(dir, 'old.sock');
  const core = createFakeL4('ipvs');
  const { 'l4.daemons': _daemons, ...older } = l4Handlers(core);
  const server = await startAdminServer({ path, handlers: older });
  t.teardown(() => server.close());
  const r = await ipvsadm(path, ['-L', '--daemon']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'the running tcpvs cannot do this (unknown method "l4.daemons"): it is older than this client; restart it\n');
});

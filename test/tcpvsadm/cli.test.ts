// tcpvsadm end to end: runTcpvsadm talks to a real admin socket in a temp dir.
// Against a fake ControlPlane: KTCPVS's example session, -L, refusals (exit
// 1), usage errors and no tcpvs (exit 2), --admin and TCPVS_ADMIN, -f with a
// relative path, the native commands, statistics, and the bin script. Then
// against a real running tcpvs: requests follow every change.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startAdminServer } from '../../lib/admin/server.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/model.ts';
import { startSwitch } from '../../lib/control/switch.ts';
import { tcpvsadmHandlers, type TcpvsadmExtras } from '../../lib/tcpvsadm/handlers.ts';
import { runTcpvsadm } from '../../lib/tcpvsadm/main.ts';
import { startIdentityBackend } from '../helpers/backends.ts';
import { REPO_ROOT } from '../helpers/tcpvs.ts';
import { fakeControl, type FakeControl } from './fake-control.ts';

const dir = mkdtempSync(join(tmpdir(), 'tcpvsadm-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const EMPTY: Config = {
  format: 'native',
  file: join(dir, 'none.tcpvs'),
  services: [],
  log: { level: 'silent', destination: 'stdout' },
  l4: null,
  warnings: [],
};

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

async function tcpvsadm(env: NodeJS.ProcessEnv, args: string[], cwd?: string): Promise<Run> {
  const out = sink();
  const err = sink();
  const code = await runTcpvsadm(args, { stdout: out.stream, stderr: err.stream, env, cwd, rateIntervalMs: 100 });
  return { code, stdout: out.text(), stderr: err.text() };
}

async function served(t: Test, name: string, config: Config, extras?: TcpvsadmExtras): Promise<{ path: string; control: FakeControl }> {
  const path = join(dir, name);
  const control = fakeControl(config);
  const server = await startAdminServer({ path, handlers: tcpvsadmHandlers(control, extras) });
  t.teardown(() => server.close());
  return { path, control };
}

t.test("KTCPVS's example session through the admin socket", async (t) => {
  const { path, control } = await served(t, 'session.sock', EMPTY);
  t.equal(statSync(path).mode & 0o777, 0o600, 'the admin socket is 0600');
  const env = { TCPVS_ADMIN: path };
  const ok = async (...args: string[]): Promise<Run> => {
    const r = await tcpvsadm(env, args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 (${r.stderr.trim()})`);
    return r;
  };
  const added = await ok('-A', '-i', 'http', '-s', 'http', '-l', '127.0.0.1:8080');
  t.equal(added.stdout, '', 'nothing on stdout on success');
  t.equal(
    added.stderr,
    "tcpvsadm: warning: scheduler http routes by rules and virtual 'http' has none: every request gets 404 until --add-rule\n",
  );
  await ok('-a', '-i', 'http', '-r', 'web1:80');
  await ok('-a', '-i', 'http', '-r', 'web2:80');
  await ok('-a', '-i', 'http', '-r', 'web3:80', '-w', '2');
  await ok('--add-rule', '-i', 'http', '--pattern=/images/.*', '-r', 'web1:80');
  await ok('--add-rule', '-i', 'http', '--pattern=/html/.*', '-r', 'web2:80');
  await ok('--add-rule', '-i', 'http', '--pattern=.*', '-r', 'web3:80');
  t.equal(control.applied.length, 7, 'one apply per command');

  const listing = (await ok('-L')).stdout;
  t.equal(
    listing.split('\n').slice(1).join('\n'),
    [
      'virtual http {',
      '    listen = 127.0.0.1:8080',
      '    scheduler = http',
      '    server = web1:80 1',
      '    server = web2:80 1',
      '    server = web3:80 2',
      '    rule = pattern "/images/.*" use server web1:80',
      '    rule = pattern "/html/.*" use server web2:80',
      '    rule = pattern ".*" use server web3:80',
      '}',
      '',
    ].join('\n'),
  );
  t.equal((await ok()).stdout, listing, 'no arguments lists');
  t.equal((await ok('-Ln', '-i', 'http')).stdout, listing, '-n and -i');

  // What -L printed is a config: -f loads it back, from a path relative to where tcpvsadm runs.
  writeFileSync(join(dir, 'saved.conf'), listing);
  await ok('-F');
  t.same(control.config().services, [], '-F flushed');
  const loaded = await tcpvsadm(env, ['-f', 'saved.conf'], dir);
  t.same({ code: loaded.code, stderr: loaded.stderr }, { code: 0, stderr: '' });
  t.same(control.reloads, [join(dir, 'saved.conf')], 'the path was made absolute on the client side');
  t.equal((await ok('-L')).stdout, listing, 'the same virtual again');

  await ok('--stop', '-i', 'http');
  t.same(control.config().services, []);
  t.match((await ok('-L')).stdout, /virtual http \{ {4}# stopped: not listening \(tcpvsadm --start -i http\)/);
  await ok('--start');
  t.same(
    control.config().services.map((s) => s.name),
    ['http'],
  );
  await ok('-D', '-i', 'http');
  t.equal((await ok('-L')).stdout, listing.split('\n')[0] + '\n', 'an empty table');
});

t.test('refused (exit 1), usage (exit 2), no tcpvs (exit 2)', async (t) => {
  const { path, control } = await served(
    t,
    'errors.sock',
    parseConfigText('service web\n listen 127.0.0.1:8080\n group g\n  server 10.0.0.1:80\n default g\n', join(dir, 'web.tcpvs')),
  );
  const env = { TCPVS_ADMIN: path };
  t.same(await tcpvsadm(env, ['-a', '-i', 'nope', '-r', '10.0.0.2:80']), {
    code: 1,
    stdout: '',
    stderr: "tcpvsadm: ident: no service 'nope' (services: web)\n",
  });
  t.same(await tcpvsadm(env, ['server', 'add', 'web', 'g', '10.0.0.1:80']), {
    code: 1,
    stdout: '',
    stderr: "tcpvsadm: server: 10.0.0.1:80 is already in group 'g'\n",
  });
  t.same(await tcpvsadm(env, ['-A', '-i', 'x', '-l', '127.0.0.1:8080']), {
    code: 1,
    stdout: '',
    stderr: "tcpvsadm: listen: 127.0.0.1:8080 is already the listen address of service 'web' (line 1)\n",
  });
  t.equal(control.applied.length, 0, 'nothing applied');

  t.same(await tcpvsadm(env, ['-a', '-i', 'web']), {
    code: 2,
    stdout: '',
    stderr: "tcpvsadm: You need to supply the 'real-server' option for the 'add-server' command\n",
  });
  t.same(await tcpvsadm(env, ['-Q']), {
    code: 2,
    stdout: '',
    stderr: "tcpvsadm: invalid option -- 'Q'\nTry `tcpvsadm -h' or 'tcpvsadm --help' for more information.\n",
  });
  t.same(await tcpvsadm({}, ['--admin']), { code: 2, stdout: '', stderr: 'tcpvsadm: --admin: missing argument\n' });
  t.same(await tcpvsadm({}, ['--admin=', '-L']), { code: 2, stdout: '', stderr: 'tcpvsadm: --admin: empty path\n' });
  const help = await tcpvsadm({}, ['-h']);
  t.equal(help.code, 0, 'help needs no tcpvs');
  t.match(help.stdout, /^tcpvsadm \d+\.\d+\.\d+ \(tcpvs; KTCPVS tcpvsadm\(8\) syntax/);

  const gone = join(dir, 'nobody-here.sock');
  t.same(await tcpvsadm({ TCPVS_ADMIN: gone }, ['-L']), {
    code: 2,
    stdout: '',
    stderr: `tcpvsadm: tcpvs is not running (no admin socket at ${gone}); start it, or pass --admin PATH\n`,
  });
  t.same((await tcpvsadm({ TCPVS_ADMIN: gone }, ['--admin', path, '-L'])).code, 0, '--admin wins over TCPVS_ADMIN');
  t.same((await tcpvsadm({ TCPVS_ADMIN: path }, [`--admin=${gone}`, '-L'])).code, 2);

  // Something else answers on the socket: an admin server without tcpvs.* methods (an L4-only tcpvs).
  const other = join(dir, 'l4-only.sock');
  const l4only = await startAdminServer({ path: other, handlers: { 'l4.driver': async () => 'userspace' } });
  t.teardown(() => l4only.close());
  const wrong = await tcpvsadm({ TCPVS_ADMIN: other }, ['-L']);
  t.equal(wrong.code, 2);
  t.match(wrong.stderr, new RegExp(`^tcpvsadm: the process at ${other.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not serve tcpvsadm`));
});

t.test('native commands and show', async (t) => {
  const { path, control } = await served(
    t,
    'native.sock',
    parseConfigText('service web\n listen 127.0.0.1:8080\n group static\n  server 10.0.0.1:80\n default static\n', join(dir, 'web.tcpvs')),
  );
  const env = { TCPVS_ADMIN: path };
  const run = (...args: string[]) => tcpvsadm(env, args);
  t.same(await run('group', 'add', 'web', 'images', 'scheduler', 'rr'), {
    code: 0,
    stdout: '',
    stderr: "tcpvsadm: warning: group 'images' has no servers yet and no route or default sends requests to it\n",
  });
  t.equal((await run('server', 'add', 'web', 'images', '10.0.0.2:80', 'weight', '3')).code, 0);
  t.equal((await run('route', 'add', 'web', 'img', 'prefix', '/img/', 'method', 'GET', 'to', 'images')).code, 0);
  t.equal((await run('server', 'drain', 'web', 'static', '10.0.0.1:80')).code, 0);
  const shown = await run('show', 'web');
  t.equal(shown.code, 0);
  t.match(shown.stdout, /^ {2}1 {2}img {6}prefix \/img\/ {2}method GET {2}images {2}0$/m, 'the new route in the rule table');
  t.match(shown.stdout, /^ {2}static {2}wlc .* 10\.0\.0\.1:80 {2}0 \(quiescent\)$/m, 'drained');
  t.match(shown.stdout, /^ {2}images {2}rr .* 10\.0\.0\.2:80 {2}3$/m);
  t.equal((await run('route', 'del', 'web', 'img')).code, 0);
  t.equal((await run('default', 'set', 'web', 'images')).code, 0);
  t.same(await run('group', 'del', 'web', 'images'), {
    code: 1,
    stdout: '',
    stderr: "tcpvsadm: group: group 'images' is used by the default: delete or change those first\n",
  });
  t.equal(control.applied.length, 6);
  t.equal(control.config().services[0].defaultGroup, 'images');
});

t.test('-L --stats and --rate', async (t) => {
  const snapshot = {
    startedAt: Date.UTC(2030, 0, 1),
    windowSeconds: 10,
    services: [{ name: 'web', listen: '127.0.0.1:8080', requests: { total: 5, perSecond: 2 }, groups: [] }],
  };
  const config = parseConfigText(
    'service web\n listen 127.0.0.1:8080\n group g\n  server 10.0.0.1:80\n default g\n',
    join(dir, 'web.tcpvs'),
  );
  const withStats = await served(t, 'stats.sock', config, { stats: () => snapshot });
  const stats = await tcpvsadm({ TCPVS_ADMIN: withStats.path }, ['-L', '--stats']);
  t.same(stats, {
    code: 0,
    stderr: '',
    stdout: '# counters since 2030-01-01T00:00:00.000Z\nService / Group / -> Server  Requests\nweb 127.0.0.1:8080                  5\n',
  });
  const rate = await tcpvsadm({ TCPVS_ADMIN: withStats.path }, ['-L', '--rate', '-i', 'web']);
  t.equal(rate.stdout, '# rates over the last 10 s\nService / Group / -> Server  RPS\nweb 127.0.0.1:8080             2\n');
  t.same(await tcpvsadm({ TCPVS_ADMIN: withStats.path }, ['-L', '--stats', '-i', 'nope']), {
    code: 1,
    stdout: '',
    stderr: "tcpvsadm: ident: no virtual service 'nope'\n",
  });

  const runtime = await served(t, 'runtime.sock', config);
  const counters = await tcpvsadm({ TCPVS_ADMIN: runtime.path }, ['-L', '--rate']);
  t.same(
    counters,
    { code: 0, stderr: '', stdout: '# request rates of the running services (their own counters, rates over 100 ms)\n(no services)\n' },
    'the fake has no runtimes',
  );
});

t.test('the bin script', async (t) => {
  const { path } = await served(
    t,
    'bin.sock',
    parseConfigText('service web\n listen 127.0.0.1:8080\n group g\n  server 10.0.0.1:80\n default g\n', join(dir, 'web.tcpvs')),
  );
  const node = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  const run = (args: string[]) =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn(node, [join(REPO_ROOT, 'tcpvsadm.ts'), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TCPVS_ADMIN: '' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  const listed = await run(['--admin', path, '-L']);
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /^# service web: not a KTCPVS virtual/m);
  t.equal((await run(['--admin', path, '-a', '-i', 'web', '-r', '10.0.0.1:80'])).code, 1, 'exit 1 when refused');
  t.equal((await run(['--admin', join(dir, 'none.sock'), '-L'])).code, 2, 'exit 2 when tcpvs is not running');
});

/** GET path from 127.0.0.1:port; resolves with "STATUS BACKEND" (the identity backend's name, '-' for tcpvs itself). */
function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(`${res.statusCode} ${String(res.headers['x-backend'] ?? '-')}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Whether anything accepts a TCP connection on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

t.test('against a running tcpvs: requests follow every change', async (t) => {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const config = parseConfigText(
    ['log level silent', 'service web', '  listen 127.0.0.1:0', '  group g', `    server 127.0.0.1:${a.port}`, '  default g', ''].join(
      '\n',
    ),
    join(dir, 'live.tcpvs'),
  );
  const running = await startSwitch(config);
  t.teardown(() => running.close());
  const path = join(dir, 'live.sock');
  const admin = await startAdminServer({ path, handlers: tcpvsadmHandlers(running.control) });
  t.teardown(() => admin.close());
  const env = { TCPVS_ADMIN: path };
  const ok = async (...args: string[]) => {
    const r = await tcpvsadm(env, args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 (${r.stderr.trim()})`);
    return r;
  };
  const port = (name: string): number => {
    const s = running.control.services().find((x) => x.spec.name === name);
    if (s?.address == null) throw new Error(`service ${name} is not listening`);
    return s.address.port;
  };
  const webPort = port('web');
  t.equal(await get(webPort, '/'), '200 A');

  // The native commands on the service from the file.
  await ok('server', 'add', 'web', 'g', `127.0.0.1:${b.port}`);
  await ok('server', 'drain', 'web', 'g', `127.0.0.1:${a.port}`);
  t.equal(port('web'), webPort, 'the same listener after the reload');
  for (let i = 0; i < 4; i++) t.equal(await get(webPort, `/d${i}`), '200 B', `drained A takes no request ${i}`);

  // A KTCPVS virtual made command by command.
  await ok('-A', '-i', 'k', '-s', 'http', '-l', '127.0.0.1:0');
  await ok('-a', '-i', 'k', '-r', `127.0.0.1:${a.port}`);
  await ok('-a', '-i', 'k', '-r', `127.0.0.1:${b.port}`);
  t.equal(await get(port('k'), '/images/x.png'), '404 -', 'http with no rules: 404');
  await ok('--add-rule', '-i', 'k', '-p', '^/images/', '-r', `127.0.0.1:${a.port}`);
  await ok('--add-rule', '-i', 'k', '-p', '.*', '-r', `127.0.0.1:${b.port}`);
  const kPort = port('k');
  t.equal(await get(kPort, '/images/x.png'), '200 A');
  t.equal(await get(kPort, '/index.html'), '200 B');
  const listed = (await ok('-L', '-i', 'k')).stdout;
  t.match(listed, new RegExp(`listen = 127\\.0\\.0\\.1:0 {4}# bound to 127\\.0\\.0\\.1:${kPort}\\n`), '-L tells where port 0 went');

  // A refused change leaves everything serving as it was.
  const bad = await tcpvsadm(env, ['--add-rule', '-i', 'k', '-p', '^/(x)', '-m', '2', '-r', `127.0.0.1:${a.port}`]);
  t.equal(bad.code, 1);
  t.equal(await get(kPort, '/images/y.png'), '200 A');

  await ok('--stop', '-i', 'k');
  t.equal(await accepts(kPort), false, 'stopped: the listener is closed');
  t.equal(await get(webPort, '/still'), '200 B', 'the other service is untouched');
  await ok('--start', '-i', 'k');
  t.equal(await get(port('k'), '/images/z.png'), '200 A', 'started again with its rules');

  // The servers' counters carry on across every change above: A served the
  // first request before it was drained, B everything after.
  for (let i = 0; i < 3; i++) t.equal(await get(webPort, `/s${i}`), '200 B');
  const stats = (await ok('-L', '--stats', '-i', 'web')).stdout;
  t.match(stats, new RegExp(`^web 127\\.0\\.0\\.1:${webPort} +9 +0\n`, 'm'), 'the runtime counters: web served 9');
  t.match(stats, new RegExp(`^ {4}-> 127\\.0\\.0\\.1:${b.port} +1 +yes +8 +0$`, 'm'), '8 on B, its count kept through 7 changes');
  t.match(stats, new RegExp(`^ {4}-> 127\\.0\\.0\\.1:${a.port} +0 +yes +1 +0$`, 'm'), 'one on A, before it was drained');
  t.notMatch(stats, /^k /m, '-i keeps one service');
  const rate = (await ok('-L', '--rate')).stdout;
  t.match(rate, /^# request rates of the running services \(their own counters, rates over 100 ms\)$/m);

  await ok('-D', '-i', 'k');
  t.same(
    running.control.config().services.map((s) => s.name),
    ['web'],
  );
});

/** `node index.ts start -c FILE --admin SOCK --workers N`, once every service printed its listening line. */
async function spawnTcpvs(t: Test, conf: string, sock: string, services: number, workers = 2): Promise<number[]> {
  const child = spawn(
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    [join(REPO_ROOT, 'index.ts'), 'start', '-c', conf, '--admin', sock, '--workers', String(workers), '--log-level', 'warn'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tcpvs did not start: ${err}`)), 20_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      const ports = [...err.matchAll(/listening on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      if (ports.length >= services) {
        clearTimeout(timer);
        resolve(ports);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpvs exited ${code}: ${err}`));
    });
  });
}

/** GET with an optional Cookie: status, the backend that answered, and the Set-Cookie fields. */
function fetchWith(port: number, path: string, cookie?: string): Promise<{ status: number; backend: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const headers = cookie === undefined ? {} : { cookie };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          backend: String(res.headers['x-backend'] ?? '-'),
          setCookie: res.headers['set-cookie'] ?? [],
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

t.test('a running tcpvs (its own process, worker threads): patterns as written, chttp, and -L loading back', async (t) => {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const conf = join(dir, 'proc.conf');
  writeFileSync(
    conf,
    [
      'virtual web {',
      '    listen = 127.0.0.1:0',
      '    scheduler = http',
      `    server = 127.0.0.1:${a.port} 1`,
      `    server = 127.0.0.1:${b.port} 1`,
      '}',
      '',
    ].join('\n'),
  );
  const sock = join(dir, 'proc.sock');
  const [webPort] = await spawnTcpvs(t, conf, sock, 1);
  const env = { TCPVS_ADMIN: sock };
  const ok = async (...args: string[]) => {
    const r = await tcpvsadm(env, args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 (${r.stderr.trim()})`);
    return r;
  };
  const A = `127.0.0.1:${a.port}`;
  const B = `127.0.0.1:${b.port}`;
  t.equal(await get(webPort, '/images/x.png'), '404 -', 'a virtual from the file with no rules: 404');

  // Issue 12: add a rule, list it, delete it by the same text, list again.
  await ok('--add-rule', '-i', 'web', '-p', '^/images/', '-r', A);
  await ok('--add-rule', '-i', 'web', '-p', '.*', '-r', B);
  t.equal(await get(webPort, '/images/x.png'), '200 A');
  t.equal(await get(webPort, '/index.html'), '200 B');
  const listed = (await ok('-L', '-i', 'web')).stdout;
  t.match(
    listed,
    new RegExp(`^ {4}rule = pattern "\\^/images/" use server 127\\.0\\.0\\.1:${a.port}$`, 'm'),
    '-L prints the pattern as it was given',
  );
  t.notMatch(listed, /\\\//, 'no escaped slash anywhere');
  t.match(
    listed,
    new RegExp(`^ {4}server = 127\\.0\\.0\\.1:${a.port} 1\\n {4}server = 127\\.0\\.0\\.1:${b.port} 1$`, 'm'),
    'both real servers, from the file',
  );
  await ok('--del-rule', '-i', 'web', '-p', '^/images/', '-r', A);
  const after = (await ok('-L', '-i', 'web')).stdout;
  t.notMatch(after, /images/, 'gone from the table');
  t.match(after, /^ {4}rule = pattern "\.\*" use server /m);
  t.equal(await get(webPort, '/images/x.png'), '200 B', 'and from the routing');

  // chttp: the first answer sets KTCPVS_SID; a request that carries it goes to that server even when the scheduler would not.
  await ok('-A', '-i', 'shop', '-s', 'chttp', '-l', '127.0.0.1:0');
  await ok('-a', '-i', 'shop', '-r', A);
  await ok('-a', '-i', 'shop', '-r', B);
  await ok('--add-rule', '-i', 'shop', '-p', '^/', '-r', A);
  await ok('--add-rule', '-i', 'shop', '-p', '^/', '-r', B);
  const shopListed = (await ok('-L', '-i', 'shop')).stdout;
  const shopPort = Number(/# bound to 127\.0\.0\.1:(\d+)/.exec(shopListed)?.[1]);
  t.match(shopListed, /^ {4}scheduler = chttp$/m);
  const first = await fetchWith(shopPort, '/cart');
  t.equal(first.status, 200);
  t.equal(first.setCookie.length, 1, 'one Set-Cookie');
  t.match(first.setCookie[0], /^KTCPVS_SID=[A-Za-z0-9_-]{10}; Path=\/$/, "KTCPVS's cookie name and path, a browser-session cookie");
  const cookie = first.setCookie[0].split(';')[0];
  const pinned = first.backend;
  const other = pinned === 'A' ? B : A;
  // Quiesce the pinned server: new sessions go elsewhere, the session keeps its server.
  await ok('-e', '-i', 'shop', '-r', pinned === 'A' ? A : B, '-w', '0');
  for (let i = 0; i < 4; i++) {
    const r = await fetchWith(shopPort, `/cart/${i}`, `${cookie}; theme=dark`);
    t.same([r.backend, r.setCookie], [pinned, []], `request ${i} with the cookie: the session's server, no new cookie`);
  }
  const fresh = await fetchWith(shopPort, '/cart');
  t.equal(fresh.backend, other === A ? 'A' : 'B', 'without the cookie: the scheduler chooses');
  t.match(fresh.setCookie[0], /^KTCPVS_SID=/);
  const seen = (pinned === 'A' ? a : b).requests.at(-1);
  t.equal(
    seen === undefined ? 'none' : (pinned === 'A' ? a : b).header(seen, 'cookie'),
    'theme=dark',
    "the server never sees tcpvs's cookie",
  );

  // -L > FILE, then loading FILE (what tcpvs start -c FILE reads): the same table.
  const all = (await ok('-L')).stdout;
  const saved = join(dir, 'proc-saved.conf');
  writeFileSync(saved, all.replace(/ {4}# bound to [^\n]*/g, ''));
  await ok('-f', saved);
  t.equal(
    (await ok('-L')).stdout.replace(/ {4}# bound to [^\n]*/g, ''),
    all.replace(/ {4}# bound to [^\n]*/g, ''),
    'the same table after loading what -L printed',
  );
});

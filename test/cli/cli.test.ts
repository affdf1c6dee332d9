// The tcpvs command line, run as a real process: check, start, refusal to
// run a bad config, a KTCPVS config routing as tcpvsadm(8) says, and the demo.
import t from 'tap';
import { pollUntil } from '../helpers/wait.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const INDEX = join(ROOT, 'index.ts');
const dir = mkdtempSync(join(tmpdir(), 'tcpvs-cli-'));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function runSync(args: string[]) {
  return spawnSync(process.execPath, [INDEX, ...args], { encoding: 'utf8', timeout: 20_000 });
}

/** Starts the CLI and resolves once every service printed its listening line. */
function startCli(args: string[], services: number): Promise<{ child: ChildProcess; ports: number[]; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INDEX, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const ports: number[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpvs did not start: ${err}`));
    }, 15_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      err += d;
      for (const m of d.matchAll(/listening on http:\/\/[^\s]+:(\d+)/g)) ports.push(Number(m[1]));
      if (ports.length === services) {
        clearTimeout(timer);
        resolve({ child, ports, stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpvs exited ${code}: ${err}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function get(port: number, path: string, agent?: http.Agent): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

/** A backend that answers with its own name, so tests see who served a request. */
async function namedBackend(name: string): Promise<{ port: number; close: () => Promise<void>; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

t.test('check prints the compiled rule table of each shipped rule set', async (t) => {
  for (const f of ['web-cluster.tcpvs', 'vhosts.tcpvs', 'ktcpvs.conf']) {
    const r = runSync(['check', '-c', join(ROOT, 'rules', f)]);
    t.equal(r.status, 0, `${f} checks clean: ${r.stderr}`);
    t.match(r.stdout, /#\s+rule\s+matchers/, `${f}: a rule table`);
  }
});

t.test('check names the file, line and field of every error and exits 1', async (t) => {
  const file = write(
    'bad.tcpvs',
    [
      'service web',
      '  listen 127.0.0.1:8080',
      '  group g scheduler rr',
      '    server 127.0.0.1:9001 weight -2',
      '  route r prefix /x to nowhere',
      '',
    ].join('\n'),
  );
  const r = runSync(['check', '-c', file]);
  t.equal(r.status, 1);
  t.match(r.stderr, `${file}:4: server.weight`);
  t.match(r.stderr, `${file}:5: route.to`);
  t.equal(r.stdout, '', 'no table for a bad config');
});

t.test('start refuses a bad config and binds nothing', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const file = write(
    'half.tcpvs',
    [
      `service ok`,
      `  listen 127.0.0.1:${port}`,
      '  group g',
      '    server 127.0.0.1:9',
      '  default g',
      'service broken',
      '  listen 127.0.0.1:1',
      '  default missing',
      '',
    ].join('\n'),
  );
  const r = runSync(['start', '--workers', '1', '-c', file]);
  t.equal(r.status, 1);
  t.match(r.stderr, /nothing started/);
  // The good service must not be running either.
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  t.ok(refused, 'no listener from the valid half');
});

t.test('a KTCPVS config routes as tcpvsadm(8) says', async (t) => {
  const a = await namedBackend('A');
  const b = await namedBackend('B');
  const c = await namedBackend('C');
  t.teardown(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
  });
  const conf = write(
    'ktcpvs.conf',
    [
      'virtual web {',
      '    listen = 127.0.0.1:0',
      '    scheduler = http',
      '    startservers = 8',
      '    maxclients = 256',
      `    server = 127.0.0.1:${a.port} 1`,
      `    server = 127.0.0.1:${b.port} 1`,
      `    server = 127.0.0.1:${c.port} 1`,
      `    rule = pattern "^/cgi-bin/" use server 127.0.0.1:${a.port}`,
      `    rule = pattern "^/img/" use server 127.0.0.1:${b.port}`,
      `    rule = pattern "^/img/" use server 127.0.0.1:${c.port}`,
      `    rule = pattern ".*" use server 127.0.0.1:${c.port}`,
      '}',
      'virtual users {',
      '    listen = 127.0.0.1:0',
      '    scheduler = hhttp',
      `    server = 127.0.0.1:${a.port} 1`,
      `    server = 127.0.0.1:${b.port} 1`,
      `    server = 127.0.0.1:${c.port} 1`,
      `    rule = pattern "/users/([^/]+)/.*" match 1 use server 127.0.0.1:${a.port}`,
      `    rule = pattern "/users/([^/]+)/.*" match 1 use server 127.0.0.1:${b.port}`,
      `    rule = pattern "/users/([^/]+)/.*" match 1 use server 127.0.0.1:${c.port}`,
      '}',
      'virtual plain {',
      '    listen = 127.0.0.1:0',
      '    scheduler = wlc',
      `    server = 127.0.0.1:${a.port} 1`,
      `    server = 127.0.0.1:${b.port} 1`,
      `    rule = pattern "^/never/" use server 127.0.0.1:${a.port}`,
      '}',
      '',
    ].join('\n'),
  );
  const { child, ports, stderr } = await startCli(['start', '--workers', '1', '-c', conf, '--log-level', 'warn'], 3);
  t.teardown(() => stop(child));
  const [web, users, plain] = ports;
  t.match(stderr(), /startservers/, 'kernel-thread keys are warned about, not fatal');

  // http: first match wins; the same pattern twice forms a set.
  t.equal((await get(web, '/cgi-bin/x')).body, 'A');
  const imgServers = new Set<string>();
  for (let i = 0; i < 20; i++) imgServers.add((await get(web, `/img/${i}.png`)).body);
  t.same([...imgServers].sort(), ['B', 'C'], 'the /img/ set is B and C, shared by wlc');
  t.equal((await get(web, '/other')).body, 'C', 'the catch-all rule');

  // hhttp: the same submatch always lands on the same server; different users spread.
  const byUser = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 30; u++) {
      const who = (await get(users, `/users/u${u}/page${round}`)).body;
      if (byUser.has(`u${u}`)) t.equal(who, byUser.get(`u${u}`), `u${u} stays on one server`);
      byUser.set(`u${u}`, who);
    }
  }
  t.ok(new Set(byUser.values()).size >= 2, 'users spread over the set');
  t.equal((await get(users, '/nomatch')).status, 404, 'no rule matched: 404');

  // wlc: rules are ignored, every request goes to the servers.
  const plainServers = new Set<string>();
  for (let i = 0; i < 10; i++) plainServers.add((await get(plain, `/x${i}`)).body);
  t.same([...plainServers].sort(), ['A', 'B']);
});

t.test('npm start with no arguments runs the demo on 127.0.0.1:8080', async (t) => {
  const busy = await new Promise<boolean>((resolve) => {
    const s = net.connect(8080, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
  if (busy) {
    t.skip('port 8080 is taken on this machine', () => {});
    return;
  }
  const { child, ports, stderr } = await startCli(['start', '--log-level', 'warn'], 1);
  t.teardown(() => stop(child));
  t.equal(ports[0], 8080);
  await pollUntil(() => /stops it/.test(stderr()), 2500, 50);
  t.match(stderr(), /curl/, 'prints curl commands');
  const home = await get(8080, '/');
  t.equal(home.status, 200);
  t.match(home.headers['x-backend'] as string, /^static-/);
  const img = await get(8080, '/images/tcpvs-logo.png');
  t.equal(img.status, 200);
  t.equal(img.headers['content-type'], 'image/png');
  t.equal(img.headers['x-backend'], 'images-1');
  const cgi = await get(8080, '/cgi-bin/env.sh?a=1');
  t.equal(cgi.status, 200);
  t.match(cgi.body, /QUERY_STRING=a=1/);
  t.match(cgi.body, /REQUEST_METHOD=GET/);
});

t.test('tcpvs tcpvsadm and tcpvs ipvsadm reach their tools and say when tcpvs is not running', async (t) => {
  const missing = join(dir, 'no-such-admin.sock');
  for (const tool of ['tcpvsadm', 'ipvsadm']) {
    const r = runSync([tool, '--admin', missing, '-L', '-n']);
    t.equal(r.status, 2, `${tool}: exit 2`);
    t.match(r.stderr, `tcpvs is not running (no admin socket at ${missing})`);
  }
  const help = runSync(['--help']);
  t.match(help.stdout, /tcpvs tcpvsadm ARGS/);
});

t.test('operator details: -v, per-command --help, clear argument errors, check --strict', async (t) => {
  const run = (...args: string[]) => spawnSync(process.execPath, [INDEX, ...args], { encoding: 'utf8', timeout: 20_000 });
  t.match(run('-v').stdout, /^tcpvs \d+\.\d+\.\d+\n$/, '-v is --version');
  t.match(run('check', '--help').stdout, /^usage: tcpvs check -c FILE \[--strict\]/, 'check --help is about check');
  t.match(run('start', '--help').stdout, /^usage: tcpvs start .*--port N/, 'start --help is about start');
  t.match(run('help', 'keepalived').stdout, /^usage: tcpvs keepalived -c FILE/);
  const bogus = run('start', '--bogus');
  t.equal(bogus.status, 2);
  t.equal(bogus.stderr.split('\n')[0], "tcpvs: unknown option '--bogus'", "no raw message from Node's argument parser");
  t.equal(run('check', '-c').stderr.split('\n')[0], 'tcpvs: --config (-c) needs a value');
  t.match(run('start', '--port', '8081', '-c', 'x.tcpvs').stderr, /--port is for the demo/);
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-strict-'));
  const file = join(dir, 'w.tcpvs');
  writeFileSync(
    file,
    [
      'service web',
      '  listen 127.0.0.1:0',
      '  group g',
      '    server 127.0.0.1:1',
      '  group unused',
      '    server 127.0.0.1:2',
      '  default g',
      '',
    ].join('\n'),
  );
  t.equal(run('check', '-c', file).status, 0, 'a warning alone passes');
  const strict = run('check', '--strict', '-c', file);
  t.equal(strict.status, 1, '--strict: it fails');
  t.match(strict.stderr, /w\.tcpvs:5: group: group 'unused' is not used/);
});

t.test('the demo: backends on free ports, a clear word when its port is taken, --port', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  const taken = (holder.address() as net.AddressInfo).port;
  t.teardown(() => holder.close());
  const r = spawnSync(process.execPath, [INDEX, 'start', '--workers', '1', '--port', String(taken)], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`cannot start the demo: port ${taken} on 127\\.0\\.0\\.1 is taken by another program: .*--port`));
});

t.test('tcpvs start --empty, then built up with tcpvsadm as KTCPVS is', async (t) => {
  const backend = http.createServer((_req, res) => res.end('built'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => backend.close());
  const backendPort = (backend.address() as net.AddressInfo).port;
  const free = net.createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', () => resolve()));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));
  const admin = join(mkdtempSync(join(tmpdir(), 'tcpvs-empty-')), 'admin.sock');
  const child = spawn(process.execPath, [INDEX, 'start', '--empty', '--workers', '1', '--admin', admin], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await pollUntil(() => stderr.includes('admin socket'), 20_000, 50);
  t.match(stderr, /admin socket/, 'it runs with nothing to serve');
  const adm = (...args: string[]) =>
    spawnSync(process.execPath, [INDEX, 'tcpvsadm', '--admin', admin, ...args], { encoding: 'utf8', timeout: 20_000 });
  t.equal(adm('-A', '-i', 'web', '-s', 'wlc', '-l', `127.0.0.1:${port}`).status, 0, 'tcpvsadm -A adds a service');
  const added = adm('-a', '-i', 'web', '-r', `127.0.0.1:${backendPort}`);
  t.equal(added.status, 0, `tcpvsadm -a adds a server: ${added.stderr}`);
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (b += c));
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  t.equal(body, 'built', 'and it serves');
  t.match(
    spawnSync(process.execPath, [INDEX, 'start', '--empty', '-c', 'x.tcpvs'], { encoding: 'utf8' }).stderr,
    /--empty starts with no config/,
  );
});

// The package as a user gets it: `npm pack` (which builds dist/), a global
// install of the tarball with npm on Node 22, and the installed `tcpvs` and
// `tcpvsadm` run through their `#!/usr/bin/env node` on Node 22 and 24 (from
// the npm registry's `node` package, cached under the system temp dir) and on
// the checkout's Node 26: --version, check, start with a real backend and an
// admin socket, requests through it, tcpvsadm -L, a one-second tcpvs
// loadtest, and the demo's files read from the installed layout.
//
// Needs the npm registry (the tarball's dependencies, and Node 22 and 24 on
// the first run). About 35 s with the Node binaries cached, a minute without.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { collect, exited, waitFor } from '../helpers/process.ts';
import { httpGet } from '../helpers/tcpvs.ts';

t.setTimeout(240_000);

const ROOT = join(import.meta.dirname, '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
// Node binaries from the npm registry, kept between runs (and between clones).
const NODE_CACHE = join(tmpdir(), 'tcpvs-test-node');
const work = mkdtempSync(join(tmpdir(), 'tcpvs-package-'));
const prefix = join(work, 'prefix');
const installed = join(prefix, 'lib', 'node_modules', PKG.name);

const children = new Set<ChildProcess>();
t.teardown(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** The environment for the programs run here: PATH as given, and nothing of tap's coverage or loaders. */
function env(path: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_') || k.startsWith('TAP')) continue;
    e[k] = v;
  }
  e.PATH = path;
  return e;
}

/**
 * `cmd args` through `env -i` with exactly env(path): tap's process hooks
 * add their loader to every child's NODE_OPTIONS, which the programs run
 * here (npm, tsc, the installed tcpvs on another Node) must not get.
 */
function clean(cmd: string, args: string[], path: string): [string, string[]] {
  return ['/usr/bin/env', ['-i', ...Object.entries(env(path)).map(([k, v]) => `${k}=${v}`), cmd, ...args]];
}

/** PATH with `dirs` in front, so their `node` (and the installed bins) win. */
function pathWith(...dirs: string[]): string {
  return [...dirs, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter);
}

function run(cmd: string, args: string[], opts: { cwd?: string; path: string; timeoutMs?: number }): SpawnSyncReturns<string> {
  const [file, argv] = clean(cmd, args, opts.path);
  return spawnSync(file, argv, {
    cwd: opts.cwd ?? work,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** run(), without blocking this process: for programs that reach the backend served from here. */
function runAsync(cmd: string, args: string[], opts: { path: string; timeoutMs?: number }): Promise<SpawnSyncReturns<string>> {
  const [file, argv] = clean(cmd, args, opts.path);
  const child = spawn(file, argv, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 30_000 });
  children.add(child);
  const stdout = collect(child, 'stdout');
  const stderr = collect(child, 'stderr');
  return new Promise((resolve) => {
    child.once('close', (status, signal) => {
      resolve({ pid: child.pid ?? 0, output: [], stdout: stdout(), stderr: stderr(), status, signal });
    });
  });
}

function explain(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

function nodeVersion(bin: string): string | null {
  const r = run(bin, ['--version'], { path: process.env.PATH ?? '', timeoutMs: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * Node `major` from the npm registry's `node` package, installed once under
 * the system temp dir: into a fresh folder, then renamed into place, so that
 * two runs at once never see a half-installed one.
 */
function registryNode(major: number): string {
  const dir = join(NODE_CACHE, `node${major}`);
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (nodeVersion(bin)?.startsWith(`v${major}.`)) return bin;
  mkdirSync(NODE_CACHE, { recursive: true });
  const stage = mkdtempSync(join(NODE_CACHE, `node${major}-`));
  try {
    // The `node` package installs its binary from a preinstall script.
    writeFileSync(join(stage, 'package.json'), JSON.stringify({ private: true, allowScripts: { node: true } }) + '\n');
    const r = run('npm', ['install', '--prefix', stage, '--no-audit', '--no-fund', `node@${major}`], {
      cwd: stage,
      path: pathWith(dirname(process.execPath)),
      timeoutMs: 120_000,
    });
    if (r.status !== 0) throw new Error(`npm install node@${major}: ${explain(r)}`);
    if (!nodeVersion(join(stage, 'node_modules', 'node', 'bin', 'node'))?.startsWith(`v${major}.`)) {
      throw new Error(`npm install node@${major} gave no working Node ${major}`);
    }
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(stage, dir);
    } catch (err) {
      // Another run put its own in place meanwhile: use that one.
      if (!nodeVersion(bin)?.startsWith(`v${major}.`)) throw err;
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return bin;
}

// ---- pack and install ----

let tarball = '';
t.test('npm pack builds dist/ and packs the program, not the repo', async (t) => {
  const r = run('npm', ['pack', '--pack-destination', work], { cwd: ROOT, path: pathWith(dirname(process.execPath)), timeoutMs: 120_000 });
  t.equal(r.status, 0, 'npm pack', { output: explain(r) });
  const tgz = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  t.same(tgz, [`${PKG.name}-${PKG.version}.tgz`], 'one tarball');
  tarball = join(work, tgz[0]!);
  const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  t.equal(list.status, 0, 'tar lists it');
  const files = list.stdout
    .split('\n')
    .filter((f) => f !== '')
    .map((f) => f.replace(/^package\//, ''));
  for (const f of [
    'package.json',
    'LICENSE',
    'README.md',
    'bin/tcpvs.js',
    'bin/tcpvsadm.js',
    'dist/index.js',
    'dist/tcpvsadm.js',
    'dist/package.json',
    'dist/lib/control/worker-main.js',
    'dist/rules/web-cluster.tcpvs',
    'dist/lib/demo/site/index.html',
    'dist/lib/demo/cgi-bin/echo.sh',
    'contrib/tcpvs.service',
    'docs/configuration.md',
    'man/tcpvs.8',
    'man/tcpvsadm.8',
    'man/tcpvs.conf.5',
  ]) {
    t.ok(files.includes(f), `ships ${f}`);
  }
  t.same(
    files.filter((f) => /^(test|bench|\.ci|lib|scripts|node_modules)\//.test(f) || f.endsWith('.ts') || f.startsWith('tsconfig')),
    [],
    'no sources, tests, benches or CI files',
  );
  const pkg = JSON.parse(spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }).stdout) as {
    dependencies?: Record<string, string>;
    engines?: { node?: string };
  };
  t.notOk(pkg.dependencies?.node, 'no Node binary among the dependencies');
  t.equal(pkg.engines?.node, '>=22', 'engines: Node 22 and later');
});

let node22 = '';
t.test('a global install of the tarball with npm on Node 22', async (t) => {
  if (tarball === '') {
    t.fail('no tarball');
    return;
  }
  node22 = registryNode(22);
  // /usr/bin/env node in npm's own script picks Node 22 first; --engine-strict
  // makes the package's engines refuse it if they did not allow 22.
  const r = run('npm', ['install', '--global', '--prefix', prefix, '--engine-strict', '--no-audit', '--no-fund', tarball], {
    path: pathWith(dirname(node22)),
    timeoutMs: 180_000,
  });
  t.equal(r.status, 0, 'npm install -g', { output: explain(r) });
  for (const bin of ['tcpvs', 'tcpvsadm']) t.ok(existsSync(join(prefix, 'bin', bin)), `${bin} is on the prefix's PATH`);
  for (const page of ['man8/tcpvs.8', 'man8/tcpvsadm.8', 'man5/tcpvs.conf.5'])
    t.ok(existsSync(join(prefix, 'share', 'man', page)), `man ${page} is in the prefix's man path`);
  t.ok(statSync(join(installed, 'dist', 'lib', 'demo', 'cgi-bin', 'echo.sh')).mode & 0o100, 'the CGI scripts are still executable');
  t.notOk(existsSync(join(installed, 'node_modules', 'node')), 'no Node binary installed with it');
});

// ---- the installed commands on each Node ----

const config = join(work, 'pkg.tcpvs');

async function backend(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`backend saw ${req.method} ${req.url}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// The demo's backends, from the installed package: its site, images and CGI
// scripts are read from the installed layout.
const DEMO_CHECK = `
const [backendsJs] = process.argv.slice(1);
const { startDemoBackends } = await import(backendsJs);
const demo = await startDemoBackends({ basePort: 0 });
try {
  const site = await fetch('http://' + demo.groups.static[0] + '/');
  const image = await fetch('http://' + demo.groups.images[0] + '/images/badge.gif');
  const cgi = await fetch('http://' + demo.groups.cgi[0] + '/cgi-bin/echo.sh', { method: 'POST', body: 'ping' });
  console.log(JSON.stringify({
    site: [site.status, (await site.text()).includes('<html')],
    image: [image.status, (await image.arrayBuffer()).byteLength],
    cgi: [cgi.status, await cgi.text()],
  }));
} finally {
  await demo.close();
}
`;

function checkInstalled(name: string, nodeBin: () => string): void {
  t.test(`the installed tcpvs and tcpvsadm on ${name}`, async (t) => {
    if (!existsSync(join(prefix, 'bin', 'tcpvs'))) {
      t.fail('not installed');
      return;
    }
    const bin = nodeBin();
    const major = nodeVersion(bin)!.replace(/\..*/, '');
    const path = pathWith(dirname(bin), join(prefix, 'bin'));
    const envNode = run('node', ['--version'], { path });
    t.equal(envNode.stdout.trim().replace(/\..*/, ''), major, `/usr/bin/env node finds ${name}`);
    const tcpvs = join(prefix, 'bin', 'tcpvs');
    const tcpvsadm = join(prefix, 'bin', 'tcpvsadm');

    const version = run(tcpvs, ['--version'], { path });
    t.equal(version.stdout, `tcpvs ${PKG.version}\n`, 'tcpvs --version', { output: explain(version) });
    const help = run(tcpvsadm, ['--help'], { path });
    t.match(help.stdout, new RegExp(`^tcpvsadm ${PKG.version.replace(/\./g, '\\.')} `), 'tcpvsadm --help', { output: explain(help) });

    const example = run(tcpvs, ['check', '-c', join(installed, 'dist', 'rules', 'web-cluster.tcpvs')], { path });
    t.equal(example.status, 0, 'tcpvs check on the shipped example rules', { output: explain(example) });

    const be = await backend();
    t.teardown(() => be.close());
    writeFileSync(
      config,
      ['service pkg', '  listen 127.0.0.1:0', '  group app scheduler rr', `    server 127.0.0.1:${be.port}`, '  default app', ''].join(
        '\n',
      ),
    );
    const check = run(tcpvs, ['check', '-c', config], { path });
    t.equal(check.status, 0, 'tcpvs check -c', { output: explain(check) });
    t.match(check.stdout, /native format, 1 service\(s\)/);

    // Two worker threads: the workers' entry file resolves in dist/ too.
    const admin = join(work, `admin-${major}.sock`);
    // env execs tcpvs: the child's pid is tcpvs's.
    const child = spawn(...clean(tcpvs, ['start', '-c', config, '--admin', admin, '--workers', '2'], path), {
      cwd: work,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const listening = waitFor(child, /listening on http:\/\/127\.0\.0\.1:\d+/, `tcpvs start on ${name}`, 20_000);
    const stderr = collect(child, 'stderr');
    await listening;
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr())?.[1]);
    t.ok(port > 0, `listening, on ${port}`);
    for (const target of ['/a', '/b?c=d']) {
      const res = await httpGet(port, target);
      t.same(res, { status: 200, body: `backend saw GET ${target}\n` }, `GET ${target} through tcpvs`);
    }
    const list = run(tcpvsadm, ['--admin', admin, '-L'], { path });
    t.equal(list.status, 0, 'tcpvsadm --admin PATH -L', { output: explain(list) });
    t.match(list.stdout, /service pkg/);
    t.match(list.stdout, new RegExp(`127\\.0\\.0\\.1:${be.port}`));
    // tcpvs loadtest loads autocannon, a dependency installed with the package: one second, two connections.
    const load = await runAsync(tcpvs, ['loadtest', `http://127.0.0.1:${port}/load`, '-c', '2', '-d', '1', '--json'], { path });
    t.equal(load.status, 0, 'tcpvs loadtest', { output: explain(load) });
    if (load.status === 0) {
      const result = JSON.parse(load.stdout) as { '2xx': number; errors: number; non2xx: number };
      t.ok(result['2xx'] > 0 && result.errors === 0 && result.non2xx === 0, `${result['2xx']} answers, all 2xx`);
    }
    const stopped = exited(child);
    process.kill(child.pid!, 'SIGTERM');
    await stopped;
    t.equal(child.exitCode, 0, 'stops on SIGTERM', { stderr: stderr() });

    const demo = run(
      bin,
      ['--input-type=module', '-e', DEMO_CHECK, pathToFileURL(join(installed, 'dist', 'lib', 'demo', 'backends.js')).href],
      { path },
    );
    t.equal(demo.status, 0, "the demo's backends start from the installed package", { output: explain(demo) });
    if (demo.status === 0) {
      const seen = JSON.parse(demo.stdout) as { site: [number, boolean]; image: [number, number]; cgi: [number, string] };
      t.same(seen.site, [200, true], 'its site');
      t.equal(seen.image[0], 200, 'its images');
      t.ok(seen.image[1] > 0);
      t.same(seen.cgi, [200, 'ping'], 'its CGI scripts');
    }
  });
}

checkInstalled('Node 22', () => node22 || registryNode(22));
checkInstalled('Node 24', () => registryNode(24));
checkInstalled(`Node ${process.versions.node.split('.')[0]} (the checkout's)`, () => process.execPath);

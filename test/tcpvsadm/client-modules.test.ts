// The admin clients load only their half: argument parsing, the wire
// protocol and formatting. `tcpvsadm` and `tcpvs ipvsadm` are run as real
// processes with a module-load hook that lists every module loaded; none of
// the server's (handlers, edits, the config parser, schedulers, router, data
// path, control plane) may be among them, whether the command asks for help,
// fails to parse or finds no tcpvs.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tcpvs-client-modules-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const DEAD_SOCKET = join(dir, 'no-tcpvs.sock');

// Writes the file: URL of every module loaded to $MODULE_LOG when the process exits.
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = [];
registerHooks({ load(url, context, next) { if (url.startsWith('file:')) seen.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.MODULE_LOG, seen.join('\\n')));
`)}`;

/** Modules of the server side: a client that loads one carries the server with it. */
const SERVER_SIDE =
  /^lib\/(?:sched|proxy|upstream|http|control|health|state|affinity)\/|^lib\/route\/(?!normalise\.ts$)|^lib\/config\/(?:native|ktcpvs|load)\.ts$|^lib\/tcpvsadm\/(?:handlers|edit|validate)\.ts$|^lib\/admin\/(?:server|http)\.ts$/;

let runs = 0;
function modulesLoaded(args: string[]): { status: number | null; modules: string[] } {
  const log = join(dir, `modules-${runs++}`);
  const run = spawnSync(process.execPath, ['--import', HOOK, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, MODULE_LOG: log, TCPVS_ADMIN: '' },
  });
  const modules = readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u !== '')
    .map((u) => relative(REPO_ROOT, fileURLToPath(u)));
  return { status: run.status, modules };
}

const CASES: Array<{ name: string; args: string[]; status: number }> = [
  { name: 'tcpvsadm --help', args: ['tcpvsadm.ts', '--help'], status: 0 },
  { name: 'tcpvsadm with a bad option', args: ['tcpvsadm.ts', '-X'], status: 2 },
  { name: 'tcpvsadm route add with a bad matcher', args: ['tcpvsadm.ts', 'route', 'add', 'web', 'r', 'path', 'x', 'to', 'g'], status: 2 },
  { name: 'tcpvsadm -L with no tcpvs', args: ['tcpvsadm.ts', '--admin', DEAD_SOCKET, '-L'], status: 2 },
  { name: 'tcpvs tcpvsadm -L with no tcpvs', args: ['index.ts', 'tcpvsadm', '--admin', DEAD_SOCKET, '-L'], status: 2 },
  { name: 'tcpvs ipvsadm --help', args: ['index.ts', 'ipvsadm', '--help'], status: 0 },
  { name: 'tcpvs ipvsadm with a bad option', args: ['index.ts', 'ipvsadm', '--bogus'], status: 2 },
  { name: 'tcpvs ipvsadm -L -n with no tcpvs', args: ['index.ts', 'ipvsadm', '--admin', DEAD_SOCKET, '-L', '-n'], status: 2 },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const { status, modules } = modulesLoaded(c.args);
    t.equal(status, c.status, 'exit code');
    t.ok(modules.includes(c.args[0]), 'the hook saw the entry point');
    t.same(
      modules.filter((m) => SERVER_SIDE.test(m)),
      [],
      'no server-side module loaded',
    );
  });
}

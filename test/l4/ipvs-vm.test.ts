// The ipvs driver against REAL kernel IPVS: boots Debian's kernel under qemu
// with test/l4/vm/run-ipvs-vm.sh (see test/l4/vm/README.md), shares a copy of
// lib/l4 and test/l4/vm with it, and runs test/l4/vm/guest-test.sh there (the
// driver programs a persistent service, real TCP traffic goes through it
// between network namespaces, -S reads back exactly, apply is idempotent, the
// kernel's connection sync daemon started through tcpvs ipvsadm syncs a
// connection to a backup namespace, ...).
//
// Runs on a Debian amd64 host with the VM's host packages and apt's package
// lists (the kernel is fetched with apt-get download): as root,
// `.ci/ipvs-vm.sh --install-only` sets that up. Skipped without them;
// TCPVS_IPVS_VM=1 turns a missing one into a failure (CI), TCPVS_IPVS_VM=0
// always skips.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RUN_VM = resolve(REPO, 'test/l4/vm/run-ipvs-vm.sh');
const VM_LIMIT_MS = 170_000; // tap gives a file 180 s

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, name)));
}

const mode = process.env.TCPVS_IPVS_VM;

/** apt knows Debian's kernel package (run-ipvs-vm.sh downloads it): the package lists are there. */
function aptKnowsKernel(): boolean {
  if (!onPath('apt-get') || !onPath('apt-cache') || !onPath('dpkg')) return false;
  return spawnSync('apt-cache', ['show', 'linux-image-amd64'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

// what run-ipvs-vm.sh uses from the host (Debian packages in parentheses)
const missing =
  mode === '0'
    ? []
    : [
        onPath('qemu-system-x86_64') ? null : 'qemu-system-x86_64 (qemu-system-x86)',
        executable('/bin/busybox') ? null : '/bin/busybox (busybox-static)',
        executable('/usr/sbin/ipvsadm') ? null : '/usr/sbin/ipvsadm (ipvsadm)',
        executable('/usr/sbin/ip') ? null : '/usr/sbin/ip (iproute2)',
        onPath('cpio') ? null : 'cpio (cpio)',
        executable('/usr/bin/time') ? null : '/usr/bin/time (time)',
        process.arch === 'x64' && aptKnowsKernel()
          ? null
          : "apt's package lists with linux-image-amd64 (a Debian amd64 host, after apt-get update)",
        existsSync(RUN_VM) ? null : RUN_VM,
      ].filter((item): item is string => item !== null);

const skip =
  mode === '0'
    ? 'TCPVS_IPVS_VM=0'
    : missing.length > 0 && mode !== '1'
      ? `the IPVS VM needs ${missing.join(', ')}. On a Debian amd64 host run \`.ci/ipvs-vm.sh --install-only\` as root ` +
        '(apt-get update, then the packages above), then run this test again; TCPVS_IPVS_VM=1 makes anything missing a failure'
      : false;

interface GuestResults {
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  saved: Record<string, string>;
}

t.test('the ipvs driver programs real kernel IPVS in a VM', { skip, timeout: VM_LIMIT_MS + 5000 }, async (t) => {
  t.same(missing, [], 'the host has what the VM needs');
  if (missing.length > 0) return;

  // the guest gets a copy of what it runs: lib/l4 (no dependencies beyond node:*) and test/l4/vm
  const share = await mkdtemp(join(tmpdir(), 'tcpvs-ipvs-share-'));
  await chmod(share, 0o755); // the check runs node as nobody once: it must reach the files
  await cp(join(REPO, 'lib/l4'), join(share, 'lib/l4'), { recursive: true });
  await mkdir(join(share, 'test/l4'), { recursive: true });
  await cp(join(REPO, 'test/l4/vm'), join(share, 'test/l4/vm'), { recursive: true });
  await copyFile(join(REPO, 'test/l4/vm/guest-test.sh'), join(share, 'guest-test.sh'));
  await writeFile(join(share, 'package.json'), '{ "type": "module" }\n');

  const node = await realpath(join(REPO, 'node_modules/.bin/node'));
  const work = process.env.IPVS_VM_WORK ?? join(tmpdir(), 'tcpvs-ipvs-vm'); // kernel cache, reused across runs
  const started = Date.now();
  const child = spawn('bash', [RUN_VM], {
    cwd: REPO,
    env: { ...process.env, SHARE: share, NODE: node, WORK: work, TIMEOUT: String(Math.floor(VM_LIMIT_MS / 1000) - 20) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a timeout can stop qemu with it
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, VM_LIMIT_MS);
  const exitCode = await new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  clearTimeout(timer);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  await writeFile(join(share, 'console.txt'), output);

  t.equal(exitCode, 0, `run-ipvs-vm.sh exits 0 (took ${seconds} s)`);
  t.match(output, /IPVS-TEST: PASS/, 'the VM printed IPVS-TEST: PASS');
  t.match(output, /IPVS-DRIVER: PASS/, 'the driver checks passed in the VM');
  let results: GuestResults | null = null;
  try {
    results = JSON.parse(await readFile(join(share, 'out/results.json'), 'utf8')) as GuestResults;
  } catch (err) {
    t.fail(`no results from the guest: ${(err as Error).message}`);
  }
  if (results !== null) {
    t.ok(results.checks.length >= 59, `all of the guest's checks ran (${results.checks.length})`);
    for (const check of results.checks) t.ok(check.ok, `guest: ${check.name}`, { detail: check.detail });
    // the read-back text, checked here too: exactly the desired services' lines, with the foreign ones around them
    t.match(results.saved.afterApply ?? '', results.saved.expected ?? '\u0000', 'saved -S text contains the expected text');
    t.match(
      results.saved.afterApply ?? '',
      /^-A -t 10\.0\.0\.10:80 -s wlc -p 300\n-a -t 10\.0\.0\.10:80 -r 10\.1\.1\.2:80 -m -w 3\n-a -t 10\.0\.0\.10:80 -r 10\.1\.2\.2:80 -m -w 1\n/m,
      'the persistent service as ipvsadm -S -n printed it',
    );
    t.match(
      results.saved.daemonMaster ?? '',
      /^master sync daemon \(mcast=syncm0, syncid=7, maxlen=\d+, group=224\.0\.0\.81, port=8848, ttl=1\)\n$/,
      'ipvsadm -L --daemon as the kernel reported the master started through tcpvs ipvsadm',
    );
    t.match(
      results.saved.backupConnections ?? '',
      /^TCP +\d\d:\d\d +\w+ +192\.168\.2\.2:0 +10\.0\.0\.10:80 +10\.1\.\d\.2:80$/m,
      "the backup's -Lnc has the synced template",
    );
  }
  for (const line of output.split('\n')) {
    if (/traffic via VIP|sync: the backup had|driver checks took|qemu exited/.test(line))
      t.comment(line.replace(/^\[host +[\d.]+s\] /, ''));
  }
  if (t.passing()) {
    await rm(share, { recursive: true, force: true });
  } else {
    t.comment(`kept ${share} (console.txt, out/results.json); last lines of the VM console:`);
    t.comment(output.split('\n').slice(-80).join('\n'));
  }
});

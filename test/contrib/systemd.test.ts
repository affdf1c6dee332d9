// contrib/tcpvs.service passes `systemd-analyze verify` (with its tcpvs
// command pointed at this checkout), and the commands it runs work: the
// ExecStartPre check, and ExecReload's SIGHUP reloads a running tcpvs.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/process.ts';

const REPO = join(import.meta.dirname, '..', '..');
const UNIT = readFileSync(join(REPO, 'contrib', 'tcpvs.service'), 'utf8');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
// TCPVS_SYSTEMD=1 (set by .ci/run, which installs it) makes a missing systemd-analyze a failure.
const missing = analyze.error === undefined ? null : 'systemd-analyze is not installed (Debian package systemd)';
const skip = missing !== null && process.env.TCPVS_SYSTEMD !== '1' ? missing : false;

t.test('contrib/tcpvs.service verifies, and its commands work', { skip }, async (t) => {
  if (missing !== null) return void t.fail(missing);
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The installed command, as a wrapper around this checkout.
  const bin = join(dir, 'tcpvs');
  writeFileSync(bin, `#!/bin/sh\nexec ${process.execPath} ${join(REPO, 'index.ts')} "$@"\n`);
  chmodSync(bin, 0o755);
  const unit = join(dir, 'tcpvs.service');
  writeFileSync(unit, UNIT.replaceAll('/usr/local/bin/tcpvs', bin));
  const verified = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
  t.equal(verified.status, 0, `systemd-analyze verify: ${verified.stderr}`);

  const exec = (key: string): string => new RegExp(`^${key}=(.+)$`, 'm').exec(UNIT)![1];
  t.match(exec('ExecReload'), /kill -HUP \$MAINPID/, 'reload is SIGHUP');
  const config = ['log level warn', 'service web', '  listen 127.0.0.1:0', '  group g', '    server 127.0.0.1:9', '  default g', ''].join(
    '\n',
  );
  const file = join(dir, 'tcpvs.tcpvs');
  writeFileSync(file, config);
  const pre = exec('ExecStartPre').replace('/usr/local/bin/tcpvs', bin).replace('/etc/tcpvs/tcpvs.tcpvs', file).split(' ');
  const checked = spawnSync(pre[0], pre.slice(1), { encoding: 'utf8', timeout: 30_000 });
  t.equal(checked.status, 0, `ExecStartPre (tcpvs check) passes on a good config: ${checked.stderr}`);
  writeFileSync(file, config.replace('listen 127.0.0.1:0', 'listen nowhere'));
  t.not(
    spawnSync(pre[0], pre.slice(1), { encoding: 'utf8', timeout: 30_000 }).status,
    0,
    'and fails on a bad one, so the unit does not start',
  );

  const tcpvs = await spawnTcpvs(config);
  t.teardown(() => tcpvs.stop());
  spawnSync('/bin/kill', ['-HUP', String(tcpvs.pid)]);
  t.ok(await pollUntil(() => /reloaded/.test(tcpvs.stderr()), 10_000), 'SIGHUP (ExecReload) reloads the running tcpvs');
});

// Runs INSIDE the IPVS VM (guest-test.sh starts it; test/l4/ipvs-vm.test.ts
// boots the VM with test/l4/vm/run-ipvs-vm.sh): tcpvs's ipvs driver against
// the real kernel IPVS and Debian's ipvsadm. The VM's own script has set up
// clients c1..c4, real servers
// 10.1.1.2 (rs1) and 10.1.2.2 (rs2) running httpd, and three services of its
// own (10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80): those are "foreign" here and
// must come through every apply() untouched. guest-test.sh has also made the
// network namespace bk, a backup director for the kernel's connection sync
// daemon: veth syncm0 (here) to syncb0 (bk), and /tmp/ipvsadm-bk, ipvsadm in bk.
//   node ipvs-driver-check.ts <out-dir>            the checks; writes <out-dir>/results.json
//   node ipvs-driver-check.ts --unprivileged-list  list() as whoever runs it; prints the error code
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { L4Error } from '../../../lib/l4/model.ts';
import type { L4Core, RealServerConfig, ServiceKey, VirtualServiceConfig } from '../../../lib/l4/model.ts';
import { createIpvsCore } from '../../../lib/l4/ipvs/driver.ts';
import { normalizeDesired } from '../../../lib/l4/ipvs/diff.ts';
import { formatSave, formatServerLine, formatServiceSpec } from '../../../lib/l4/ipvs/ipvsadm-text.ts';
import { executeCommand } from '../../../lib/l4/ipvsadm-cli/execute.ts';
import { systemResolver } from '../../../lib/l4/ipvsadm-cli/names.ts';
import { parseIpvsadmArgs } from '../../../lib/l4/ipvsadm-cli/parse.ts';

const IPVSADM = '/usr/local/bin/ipvsadm';
const LOGGED_IPVSADM = '/tmp/ipvsadm-logged'; // guest-test.sh: logs each call, then execs ipvsadm
const CALLS_LOG = '/tmp/ipvsadm-calls.log';
const BACKUP_IPVSADM = '/tmp/ipvsadm-bk'; // guest-test.sh: ipvsadm in the network namespace bk

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

async function main(outDir: string): Promise<void> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail = ''): void => {
    checks.push({ name, ok, detail: ok ? '' : detail });
    console.log(`DRIVER ${ok ? 'ok:  ' : 'FAIL:'} ${name}${ok || detail === '' ? '' : `\n  ${detail.split('\n').join('\n  ')}`}`);
  };
  const saved: Record<string, string> = {};
  try {
    await run(check, saved);
  } catch (err) {
    check('no unexpected exception', false, (err as Error).stack ?? String(err));
  }
  writeFileSync(`${outDir}/results.json`, JSON.stringify({ checks, saved }, null, 1));
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`IPVS-DRIVER: ${failed === 0 ? 'PASS' : 'FAIL'} (${checks.length - failed} of ${checks.length} checks)`);
  process.exitCode = failed === 0 ? 0 : 1;
}

const tcp = (address: string, port: number): ServiceKey => ({
  protocol: 'tcp',
  address,
  port,
  fwmark: 0,
  family: address.includes(':') ? 6 : 4,
});
const udp = (address: string, port: number): ServiceKey => ({ ...tcp(address, port), protocol: 'udp' });
const mark = (fwmark: number, family: 4 | 6): ServiceKey => ({ protocol: 'fwmark', address: '', port: 0, fwmark, family });
const server = (address: string, port: number, method: RealServerConfig['method'], weight: number, x = 0, y = 0): RealServerConfig => ({
  address,
  port,
  method,
  weight,
  upperThreshold: x,
  lowerThreshold: y,
});

const WEB_KEY = tcp('10.0.0.10', 80); // guest-test.sh puts 10.0.0.10 on lo
const WEB: VirtualServiceConfig = {
  key: WEB_KEY,
  scheduler: 'wlc',
  persistence: { timeoutSec: 300, netmask: '255.255.255.255' },
  realServers: [server('10.1.1.2', 80, 'masq', 3), server('10.1.2.2', 80, 'masq', 1)],
};
// No traffic for these: they are here for every form -S prints to read back exactly
const IPV6: VirtualServiceConfig = {
  key: tcp('fd00::10', 443),
  scheduler: 'sh',
  persistence: { timeoutSec: 60, netmask: '64' },
  realServers: [server('fd00:1::2', 443, 'masq', 0, 100, 10), server('FD00:1:0::3', 0, 'route', 2)],
};
const MARK7: VirtualServiceConfig = {
  key: mark(7, 4),
  scheduler: 'rr',
  persistence: { timeoutSec: 600, netmask: '255.255.255.0' },
  realServers: [server('10.1.1.2', 0, 'route', 2), server('10.1.2.2', 8080, 'tunnel', 1, 5, 0)],
};
const MARK9V6: VirtualServiceConfig = {
  key: mark(9, 6),
  scheduler: 'lc',
  persistence: null,
  realServers: [server('fd00:2::2', 0, 'masq', 5)],
};
const DNS: VirtualServiceConfig = {
  key: udp('10.0.0.10', 53),
  scheduler: 'rr',
  persistence: null,
  realServers: [server('10.1.1.2', 53, 'masq', 1)],
};

function ipvsadm(...args: string[]): string {
  return execFileSync(IPVSADM, args, { encoding: 'utf8' });
}

function calls(): string[] {
  try {
    return readFileSync(CALLS_LOG, 'utf8').trimEnd().split('\n');
  } catch {
    return [];
  }
}

/** The -S lines that belong to the given services (the rest are foreign). */
function splitSave(text: string, keys: ServiceKey[]): { ours: string; foreign: string } {
  const specs = keys.map((key) => ` ${formatServiceSpec(key)} `);
  let ours = '';
  let foreign = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (specs.some((spec) => `${line} `.slice(2).startsWith(spec))) ours += `${line}\n`;
    else foreign += `${line}\n`;
  }
  return { ours, foreign };
}

function fetchVia(client: string, url: string): string {
  try {
    return execFileSync('ip', ['netns', 'exec', client, 'timeout', '5', 'wget', '-q', '-O', '-', url], {
      encoding: 'utf8',
      timeout: 8000,
    }).trim();
  } catch (err) {
    return `error(${(err as Error).message.split('\n')[0]})`;
  }
}

/** `tcpvs ipvsadm ARGS` minus the admin socket: parse, then execute against `core`, as the running tcpvs would. */
async function tcpvsIpvsadm(core: L4Core, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const parsed = await parseIpvsadmArgs(argv, systemResolver);
  if (parsed.kind !== 'run')
    return { code: parsed.kind === 'error' ? parsed.exitCode : 0, stdout: '', stderr: parsed.kind === 'error' ? parsed.message : '' };
  let stdout = '';
  let stderr = '';
  const sink = (add: (text: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        add(chunk.toString());
        done();
      },
    });
  const code = await executeCommand(parsed.invocation, core, { stdout: sink((x) => (stdout += x)), stderr: sink((x) => (stderr += x)) });
  return { code, stdout, stderr };
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'ok';
  } catch (err) {
    return err instanceof L4Error ? `${err.code}: ${err.message}` : `not an L4Error: ${String(err)}`;
  }
}

type CheckFn = (name: string, ok: boolean, detail?: string) => void;

async function run(check: CheckFn, saved: Record<string, string>): Promise<void> {
  const core = createIpvsCore({ ipvsadm: LOGGED_IPVSADM }); // ownership in the default /run/tcpvs/ipvs-owned.json
  const foreignBefore = ipvsadm('-S', '-n');
  check('the VM has foreign services to leave alone', /-A -t 10\.0\.0\.1:80 /.test(foreignBefore), foreignBefore);

  // ---- 1. apply: one -R batch, read back exactly --------------------------------------------
  const desired = [WEB, IPV6, MARK7, MARK9V6, DNS];
  const keys = desired.map((s) => s.key);
  const plan = await core.plan(desired);
  check('plan: one -A per service and one -a per real server', plan.length === 5 + 8, plan.join('\n'));
  await core.apply(desired);
  const afterFirst = calls();
  check(
    'apply ran exactly one ipvsadm -R and no single commands',
    afterFirst.filter((c) => c === '-R').length === 1 && !afterFirst.some((c) => /^-[ACDEade] /.test(c)),
    afterFirst.join('\n'),
  );
  const save1 = ipvsadm('-S', '-n');
  saved.afterApply = save1;
  const expected = formatSave(normalizeDesired(desired));
  saved.expected = expected;
  const split1 = splitSave(save1, keys);
  check('ipvsadm -S -n reads back exactly the desired state', split1.ours === expected, `got:\n${split1.ours}expected:\n${expected}`);
  check('foreign services untouched by apply', split1.foreign === foreignBefore, `before:\n${foreignBefore}after:\n${split1.foreign}`);
  const owned = readFileSync('/run/tcpvs/ipvs-owned.json', 'utf8');
  check(
    'ownership file lists exactly our services',
    owned === '{"version":1,"owners":{"tcpvs":["FWM:7","FWM:9:6","TCP:10.0.0.10:80","TCP:[fd00::10]:443","UDP:10.0.0.10:53"]}}\n',
    owned,
  );

  const listed = await core.list();
  const normalized = normalizeDesired(desired);
  for (const want of normalized) {
    const got = listed.find((s) => formatServiceSpec(s.key) === formatServiceSpec(want.key));
    const config = got && {
      key: got.key,
      scheduler: got.scheduler,
      persistence: got.persistence,
      realServers: got.realServers.map(({ address, port, weight, method, upperThreshold, lowerThreshold }) => ({
        address,
        port,
        weight,
        method,
        upperThreshold,
        lowerThreshold,
      })),
    };
    const sortServers = (s: VirtualServiceConfig): string =>
      JSON.stringify({
        ...s,
        realServers: [...s.realServers].sort((a, b) => `${a.address}:${a.port}`.localeCompare(`${b.address}:${b.port}`)),
      });
    check(
      `list() shows ${formatServiceSpec(want.key)} as desired, thresholds included`,
      config !== undefined && sortServers(config) === sortServers(want),
      `${JSON.stringify(config)}\n${JSON.stringify(want)}`,
    );
  }

  // ---- 2. idempotence -------------------------------------------------------------------------
  check('plan after apply is empty', (await core.plan(desired)).length === 0);
  await core.apply(desired);
  const afterSecond = calls();
  check('second apply ran no ipvsadm -R', afterSecond.filter((c) => c === '-R').length === 1, afterSecond.join('\n'));
  check('second apply changed nothing', ipvsadm('-S', '-n') === save1);

  // ---- 3. real traffic through the persistent service -------------------------------------------
  const seenBy: Record<string, string[]> = {};
  for (const client of ['c1', 'c2', 'c3', 'c4']) {
    seenBy[client] = [];
    for (let i = 0; i < 5; i++) seenBy[client].push(fetchVia(client, 'http://10.0.0.10/'));
  }
  console.log(`traffic via VIP 10.0.0.10 (wlc, -p 300): ${JSON.stringify(seenBy)}`);
  const answers = Object.values(seenBy).flat();
  check(
    'every request was answered by rs1 or rs2',
    answers.every((a) => a === 'rs1' || a === 'rs2'),
    JSON.stringify(seenBy),
  );
  check(
    'persistence: each client always lands on the same real server',
    Object.values(seenBy).every((a) => new Set(a).size === 1),
    JSON.stringify(seenBy),
  );
  check('both real servers were used across the clients', new Set(answers).size === 2, JSON.stringify(seenBy));

  const entries = await core.connections();
  const templates = entries.filter((e) => e.virtual === '10.0.0.10:80' && e.source.endsWith(':0'));
  check(
    'connections(): one persistence template per client, to the server it saw',
    ['c1', 'c2', 'c3', 'c4'].every((client, i) => {
      const template = templates.find((e) => e.source === `192.168.${i + 1}.2:0`);
      const rs = seenBy[client][0] === 'rs1' ? '10.1.1.2:80' : '10.1.2.2:80';
      return template !== undefined && template.destination === rs && template.expiresInSec > 200;
    }),
    JSON.stringify(templates),
  );
  check(
    'connections(): the 20 requests are in the table',
    entries.filter((e) => e.virtual === '10.0.0.10:80' && !e.source.endsWith(':0')).length === 20,
  );
  let web = (await core.list()).find((s) => formatServiceSpec(s.key) === formatServiceSpec(WEB_KEY))!;
  const inactive = web.realServers.reduce((n, rs) => n + rs.inactiveConns + rs.activeConns, 0);
  const persistent = web.realServers.reduce((n, rs) => n + rs.persistentConns, 0);
  check('list(): connection counts at once (20 conns, 4 persistent)', inactive === 20 && persistent === 4, JSON.stringify(web.realServers));
  // --stats counters are refreshed by the kernel's estimator about every 2 s
  const deadline = Date.now() + 8000;
  while (web.stats.conns < 20 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    web = (await core.list()).find((s) => formatServiceSpec(s.key) === formatServiceSpec(WEB_KEY))!;
  }
  check(
    'list(): --stats counts the 20 connections',
    web.stats.conns === 20 && web.stats.inPackets > 20 && web.stats.inBytes > 0,
    JSON.stringify(web.stats),
  );
  check(
    'list(): per real server stats add up',
    web.realServers.reduce((n, rs) => n + rs.stats.conns, 0) === 20,
    JSON.stringify(web.realServers.map((rs) => rs.stats)),
  );

  // ---- 4. changing owned services ---------------------------------------------------------------
  const web2: VirtualServiceConfig = {
    ...WEB,
    scheduler: 'rr',
    realServers: [server('10.1.1.2', 80, 'masq', 0), server('10.1.2.2', 80, 'masq', 1, 50, 10)],
  };
  const mark7b: VirtualServiceConfig = { ...MARK7, realServers: [MARK7.realServers[0]] };
  const desired2 = [web2, IPV6, mark7b];
  const plan2 = await core.plan(desired2);
  const expectedPlan2 = [
    '-D -u 10.0.0.10:53',
    '-D -f 9 -6',
    '-E -t 10.0.0.10:80 -s rr -p 300',
    '-e -t 10.0.0.10:80 -r 10.1.1.2:80 -m -w 0',
    '-e -t 10.0.0.10:80 -r 10.1.2.2:80 -m -w 1 -x 50 -y 10',
    '-d -f 7 -r 10.1.2.2:8080',
  ];
  check(
    'plan for the change: -D, -E, -e (weight 0, thresholds), -d',
    JSON.stringify(plan2) === JSON.stringify(expectedPlan2),
    plan2.join('\n'),
  );
  await core.apply(desired2);
  const save2 = ipvsadm('-S', '-n');
  saved.afterChange = save2;
  const split2 = splitSave(save2, keys);
  check(
    'after the change -S reads back exactly the new state',
    split2.ours === formatSave(normalizeDesired(desired2)),
    `got:\n${split2.ours}`,
  );
  check('foreign services untouched by the change', split2.foreign === foreignBefore, split2.foreign);
  check('the change was one more -R', calls().filter((c) => c === '-R').length === 2, calls().join('\n'));
  const thresholds = ipvsadm('-L', '-n', '--thresholds');
  check('thresholds reached the kernel', /-> 10\.1\.2\.2:80 +50 +10 /.test(thresholds), thresholds);
  check('apply of the changed state is idempotent', (await core.plan(desired2)).length === 0);
  // a quiesced server (weight 0) gets no new clients; persistent ones stay where they were
  const c1Again = fetchVia('c1', 'http://10.0.0.10/');
  check('a persistent client keeps its server after the change', c1Again === seenBy.c1[0], `${c1Again} vs ${seenBy.c1[0]}`);

  // ---- 5. ownership: adoption refused -------------------------------------------------------------
  const foreignWeb: VirtualServiceConfig = {
    key: tcp('10.0.0.1', 80),
    scheduler: 'wlc',
    persistence: { timeoutSec: 300, netmask: '' },
    realServers: [server('10.1.1.2', 80, 'masq', 1), server('10.1.2.2', 80, 'masq', 1)],
  };
  const refused = await codeOf(core.apply([...desired2, foreignWeb]));
  check(
    "apply refuses to adopt the VM's own 10.0.0.1:80",
    refused.startsWith('exists: refusing to adopt') && refused.includes('TCP:10.0.0.1:80 (not recorded in /run/tcpvs/ipvs-owned.json'),
    refused,
  );
  check('nothing ran for the refused apply', calls().filter((c) => c === '-R').length === 2 && ipvsadm('-S', '-n') === save2);

  // ---- 6. ipvsadm's errors, mapped ------------------------------------------------------------------
  const missing = tcp('10.0.0.99', 80);
  const expectations: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['add an existing service', () => core.addService(web2), /^exists: ipvsadm -A .*: Service already exists$/],
    ['delete a missing service', () => core.deleteService(missing), /^no-service: .*No such service$/],
    [
      'edit a missing service',
      () => core.editService({ key: missing, scheduler: 'rr', persistence: null }),
      /^no-service: .*No such service$/,
    ],
    [
      'add a server to a missing service',
      () => core.addRealServer(missing, server('10.1.1.2', 80, 'masq', 1)),
      /^no-service: .*Service not defined$/,
    ],
    [
      'add an existing server',
      () => core.addRealServer(WEB_KEY, server('10.1.1.2', 80, 'masq', 1)),
      /^exists: .*Destination already exists$/,
    ],
    ['edit a missing server', () => core.editRealServer(WEB_KEY, server('10.9.9.9', 80, 'masq', 1)), /^no-dest: .*No such destination$/],
    ['delete a missing server', () => core.deleteRealServer(WEB_KEY, '10.9.9.9', 80), /^no-dest: .*No such destination$/],
    [
      'an unknown scheduler',
      () => core.addService({ key: tcp('10.0.0.98', 80), scheduler: 'bogus', persistence: null }),
      /^failed: .*Scheduler or persistence engine not found$/,
    ],
    [
      'ipvsadm missing',
      () => createIpvsCore({ ipvsadm: '/nonexistent/ipvsadm' }).list(),
      /^unavailable: ipvsadm not found: install Debian package ipvsadm, or use the userspace L4 driver/,
    ],
  ];
  for (const [what, work, want] of expectations) {
    const got = await codeOf(work());
    check(`error mapping: ${what}`, want.test(got), got);
  }
  // a batch with a failing line: -R carries on, the driver says what is left
  const bogus: VirtualServiceConfig = {
    key: tcp('10.0.0.97', 80),
    scheduler: 'bogus',
    persistence: null,
    realServers: [server('10.1.1.2', 80, 'masq', 1)],
  };
  const partial = await codeOf(core.apply([...desired2, bogus]));
  check(
    'a failing -R line is reported with what is still to do',
    partial.startsWith('failed: ipvsadm -R batch failed:') &&
      partial.includes('Scheduler or persistence engine not found') &&
      partial.includes(`still to do: -A -t 10.0.0.97:80 -s bogus | ${formatServerLine('-a', bogus.key, bogus.realServers[0])}`),
    partial,
  );
  check('the failed service is not recorded as owned', !readFileSync('/run/tcpvs/ipvs-owned.json', 'utf8').includes('10.0.0.97'));

  // as an unprivileged user
  const nobody = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--unprivileged-list'], {
    uid: 65534,
    gid: 65534,
    encoding: 'utf8',
    timeout: 60_000,
  });
  check(
    'as nobody: unavailable, root or CAP_NET_ADMIN needed',
    /^UNPRIVILEGED unavailable .*permission denied: programming IPVS needs root or CAP_NET_ADMIN/m.test(nobody.stdout),
    nobody.stdout + nobody.stderr,
  );

  // ---- 7. the kernel's connection sync daemon, started through tcpvs ipvsadm ---------------------------
  // master here (the director with the traffic), backup in namespace bk with an IPVS table of its own
  const backup = createIpvsCore({ ipvsadm: BACKUP_IPVSADM, stateFile: '/tmp/bk-owned.json' });
  const none = await tcpvsIpvsadm(core, '-L', '--daemon');
  check(
    'sync: -L --daemon before any daemon prints nothing',
    none.code === 0 && none.stdout === '' && none.stderr === '',
    JSON.stringify(none),
  );
  const startMaster = await tcpvsIpvsadm(core, '--start-daemon', 'master', '--mcast-interface', 'syncm0', '--syncid', '7');
  check(
    'sync: --start-daemon master --mcast-interface syncm0 --syncid 7',
    startMaster.code === 0 && startMaster.stderr === '',
    JSON.stringify(startMaster),
  );
  const startBackup = await tcpvsIpvsadm(backup, '--start-daemon', 'backup', '--mcast-interface', 'syncb0', '--syncid', '7');
  check(
    'sync: --start-daemon backup --mcast-interface syncb0 --syncid 7 (in bk)',
    startBackup.code === 0 && startBackup.stderr === '',
    JSON.stringify(startBackup),
  );
  const listedMaster = await tcpvsIpvsadm(core, '-L', '--daemon');
  const kernelMaster = ipvsadm('-L', '--daemon');
  saved.daemonMaster = kernelMaster;
  check(
    "sync: -L --daemon prints ipvsadm's line byte for byte",
    listedMaster.code === 0 &&
      listedMaster.stdout === kernelMaster &&
      /^master sync daemon \(mcast=syncm0, syncid=7, maxlen=\d+, group=224\.0\.0\.81, port=8848, ttl=1\)\n$/.test(kernelMaster),
    `tcpvs: ${JSON.stringify(listedMaster)}\nipvsadm: ${JSON.stringify(kernelMaster)}`,
  );
  const listedBackup = await tcpvsIpvsadm(backup, '-L', '--daemon');
  check(
    'sync: bk lists its backup daemon',
    /^backup sync daemon \(mcast=syncb0, syncid=7, maxlen=\d+, group=224\.0\.0\.81, port=8848, ttl=1\)\n$/.test(listedBackup.stdout),
    JSON.stringify(listedBackup),
  );
  const again = await tcpvsIpvsadm(core, '--start-daemon', 'master', '--mcast-interface', 'syncm0');
  check(
    "sync: a second master is refused with ipvsadm's message",
    again.code === 1 && again.stderr === 'Daemon has already run\n',
    JSON.stringify(again),
  );
  const noDevice = await codeOf(
    backup.startDaemon({
      role: 'master',
      mcastInterface: 'nosuch0',
      syncId: 1,
      syncMaxLen: null,
      mcastGroup: null,
      mcastPort: null,
      mcastTtl: null,
    }),
  );
  check(
    "sync: the kernel's answer for a missing interface is reported",
    /^failed: ipvsadm --start-daemon master --mcast-interface nosuch0 --syncid 1: No such device$/.test(noDevice),
    noDevice,
  );

  // a new connection from c2, persistent to the server it saw in section 3: the backup gets it and its template
  const c2Server = seenBy.c2[0] === 'rs1' ? '10.1.1.2:80' : '10.1.2.2:80';
  const before = new Set((await core.connections()).filter((e) => e.source.startsWith('192.168.2.2:')).map((e) => e.source));
  const answer = fetchVia('c2', 'http://10.0.0.10/');
  check('sync: c2 is still answered by its persistent server', answer === seenBy.c2[0], `${answer} vs ${seenBy.c2[0]}`);
  const fresh = (await core.connections()).filter(
    (e) => e.source.startsWith('192.168.2.2:') && !e.source.endsWith(':0') && !before.has(e.source),
  );
  check('sync: the master has the new connection', fresh.length === 1, JSON.stringify(fresh));
  const syncStarted = Date.now();
  const syncDeadline = syncStarted + 20_000; // the master flushes its buffer about every 2 s
  let synced = await backup.connections();
  const hasAll = (entries: typeof synced): boolean =>
    entries.some((e) => e.source === '192.168.2.2:0' && e.virtual === '10.0.0.10:80' && e.destination === c2Server) &&
    fresh.every((f) => entries.some((e) => e.source === f.source && e.virtual === '10.0.0.10:80' && e.destination === c2Server));
  while (!hasAll(synced) && Date.now() < syncDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    synced = await backup.connections();
  }
  saved.backupConnections = execFileSync('ip', ['netns', 'exec', 'bk', IPVSADM, '-Lnc'], { encoding: 'utf8' });
  console.log(`sync: the backup had the connection and its template after ${((Date.now() - syncStarted) / 1000).toFixed(1)} s`);
  check(
    "sync: bk's ipvsadm -Lnc has c2's template and connection, to the master's server",
    hasAll(synced),
    `backup -Lnc:\n${saved.backupConnections}master's new connection: ${JSON.stringify(fresh)}`,
  );
  const template = synced.find((e) => e.source === '192.168.2.2:0');
  // a template's state is NONE or ASSURED (the backup shows synced ones ASSURED)
  check(
    'sync: the synced template keeps its persistence timeout',
    template !== undefined && (template.state === 'NONE' || template.state === 'ASSURED') && template.expiresInSec > 200,
    JSON.stringify(template),
  );

  const stopMaster = await tcpvsIpvsadm(core, '--stop-daemon', 'master');
  const stopBackup = await tcpvsIpvsadm(backup, '--stop-daemon', 'backup');
  check('sync: --stop-daemon master and backup', stopMaster.code === 0 && stopBackup.code === 0, JSON.stringify([stopMaster, stopBackup]));
  const gone = await tcpvsIpvsadm(core, '-L', '--daemon');
  check(
    'sync: no daemon is listed after --stop-daemon',
    gone.stdout === '' && ipvsadm('-L', '--daemon') === '' && (await backup.daemons()).length === 0,
    JSON.stringify(gone),
  );
  const stopAgain = await tcpvsIpvsadm(core, '--stop-daemon', 'master');
  check(
    "sync: stopping a stopped daemon reports the kernel's answer",
    stopAgain.code === 1 && /No daemon is running\n$/.test(stopAgain.stderr),
    JSON.stringify(stopAgain),
  );
  await backup.close();

  // ---- 8. apply([]) removes ours only ------------------------------------------------------------------
  await core.apply([]);
  check('apply([]) leaves exactly the foreign services', ipvsadm('-S', '-n') === foreignBefore, ipvsadm('-S', '-n'));
  check('ownership file is empty', readFileSync('/run/tcpvs/ipvs-owned.json', 'utf8') === '{"version":1,"owners":{}}\n');
  await core.close();
}

if (process.argv[2] === '--unprivileged-list') {
  const core = createIpvsCore({ ipvsadm: IPVSADM, stateFile: '/tmp/unprivileged-owned.json' });
  core.list().then(
    () => console.log('UNPRIVILEGED ok'),
    (err: L4Error) => console.log(`UNPRIVILEGED ${err.code} ${err.message}`),
  );
} else {
  await main(process.argv[2] ?? '/tmp');
}

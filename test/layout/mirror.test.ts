// The test tree mirrors lib/ file by file: every lib/<dir>/<name>.ts has
// test/<dir>/<name>.test.ts or test/<dir>/<name>-<aspect>.test.ts, unless it
// is listed below with the reason it has none (types only, an entry point,
// or covered end to end by a named test). A new lib file without a test fails
// here; so does a listed file that is gone or has gained a test of its own,
// so the list only shrinks.
import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import t from 'tap';

// Not test/helpers/tcpvs.ts's REPO_ROOT: that would load the whole of tcpvs.
const REPO_ROOT = join(import.meta.dirname, '..', '..');

const NOT_MIRRORED: Record<string, string> = {
  'admin/cli.ts': "the CLIs' --admin flag and error words; covered by test/tcpvsadm/cli.test.ts and test/l4/ipvsadm-cli.test.ts",
  'admin/client.ts': 'the admin socket client; covered by test/admin/server.test.ts and test/admin/l4.test.ts',
  'admin/guard.ts': 'the admin listener token check; covered by test/admin/http.test.ts',
  'admin/protocol.ts': 'admin socket framing; covered by test/admin/server.test.ts',
  'affinity/affinity.ts': 'types only (the Affinity interface)',
  'affinity/index.ts': 'a factory over the spec; covered by test/affinity/table.test.ts and cookie.test.ts',
  'config/errors.ts': 'the ConfigError type; asserted on by every test/config/*.test.ts',
  'config/model.ts': 'types only (the compiled config)',
  'config/native-admin.ts': 'native `admin` statements; covered by test/admin/http-config.test.ts',
  'config/native-health.ts': 'native health statements; covered by test/config/health.test.ts',
  'config/native-l4.ts': 'native `l4`/`vip` statements; covered by test/config/l4.test.ts',
  'config/tokenize.ts': 'the config tokenizer; covered by test/config/native.test.ts and native-keys.test.ts',
  'control/control-plane.ts': 'types only (the ControlPlane interface)',
  'control/data-path-handle.ts': 'drives a data path in-thread or in a worker; covered by test/control/workers.test.ts',
  'control/listen-lock.ts': 'one owner per listen address; covered by test/control/one-balancer.test.ts',
  'control/notify.ts': 'runs the notify command; covered by test/control/l4-health.test.ts',
  'control/registry.ts': 'the control plane records; covered by test/control/change.test.ts and reload.test.ts',
  'control/switch.ts': 'the running tcpvs (start, change, stop); covered by every test/control/*.test.ts and test/proxy/*.test.ts',
  'control/table-sync.ts': 'the L7 half of director sync; covered by test/control/director-sync.test.ts',
  'control/worker-main.ts': 'entry point of a worker thread; covered by test/control/workers.test.ts',
  'demo/backends.ts': 'entry point of `tcpvs demo`; covered by test/demo/static.test.ts and cgi.test.ts',
  'demo/cgi-server.ts': 'covered by test/demo/cgi.test.ts',
  'demo/http-util.ts': 'helpers of the demo servers; covered by test/demo/*.test.ts',
  'demo/static-server.ts': 'covered by test/demo/static.test.ts',
  'health/group-health.ts':
    "a group's health opinions; covered by test/health/active.test.ts, agent.test.ts, passive.test.ts, slow-start.test.ts",
  'health/index.ts': 'the health checker per service; covered by test/health/*.test.ts',
  'http/llhttp.ts': 'the llhttp binding; covered by test/http/framing-vectors.test.ts and test/proxy/*.test.ts',
  'l4/ipvs/address.ts': 'covered by test/l4/ipvs-text.test.ts',
  'l4/ipvs/diff.ts': 'covered by test/l4/ipvs-text.test.ts',
  'l4/ipvs/driver.ts': 'covered by test/l4/ipvs-text.test.ts (and test/l4/ipvs-vm.test.ts on a kernel)',
  'l4/ipvs/ipvsadm-text.ts': 'covered by test/l4/ipvs-text.test.ts',
  'l4/ipvs/owned-state.ts': 'covered by test/l4/ipvs-text.test.ts',
  'l4/ipvs/runner.ts': 'covered by test/l4/ipvs-text.test.ts',
  'l4/ipvsadm-cli/execute.ts': 'covered by test/l4/ipvsadm-cli.test.ts',
  'l4/ipvsadm-cli/main.ts': 'entry point of `tcpvs ipvsadm`; covered by test/l4/ipvsadm-cli.test.ts',
  'l4/ipvsadm-cli/names.ts': 'covered by test/l4/ipvsadm-cli/parse.test.ts',
  'l4/keepalived.ts': 'keepalived config text; covered by test/config/l4.test.ts',
  'l4/userspace/core.ts': 'covered by test/l4/userspace.test.ts',
  'l4/userspace/stats.ts': 'covered by test/l4/ipvsadm-cli/format.test.ts and test/l4/userspace.test.ts',
  'l4/userspace/virtual-service.ts': 'covered by test/l4/userspace.test.ts',
  'loadtest/main.ts': 'entry point of `tcpvs loadtest`; covered by test/cli/loadtest.test.ts',
  'control/config-file.ts': "prints a config file's problems for a command; covered by test/cli/cli.test.ts",
  'control/node.ts': 'entry point of `tcpvs start`; covered by test/cli/cli.test.ts and test/control/reload.test.ts',
  'control/runtime-view.ts': 'types only (the read-only view of what runs)',
  'proxy/client-proxy.ts': 'PROXY headers a session reads and sends; covered by test/proxy/proxy-protocol.test.ts and send-proxy.test.ts',
  'proxy/exchange.ts': 'one request and its end; covered by test/proxy/forwarding.test.ts, failures.test.ts, refuse.test.ts end to end',
  'proxy/outcome.ts': 'types only (how a request ended)',
  'proxy/request-sender.ts': 'sending and connect retries; covered by test/proxy/failover.test.ts and pool.test.ts',
  'proxy/request-state.ts': 'per-request fields and their accounting; covered by test/proxy/observer.test.ts and access-log.test.ts',
  'proxy/response.ts': '1xx, response framing, de-chunking; covered by test/proxy/forwarding.test.ts and streaming.test.ts',
  'proxy/session-context.ts': 'types only (what a session needs from its service)',
  'proxy/tunnel.ts': 'bytes both ways after a 101; covered by test/proxy/websocket.test.ts',
  'proxy/client-reads.ts': 'the shared client read buffer; covered by test/proxy/lent-reads.test.ts',
  'proxy/client-session.ts': 'one client connection; covered by test/proxy/*.test.ts end to end',
  'proxy/data-path.ts': "one thread's data path; covered by test/proxy/*.test.ts and test/control/workers.test.ts",
  'proxy/group.ts': 'a group at run time; covered by test/proxy/*.test.ts and test/sched/*.test.ts',
  'proxy/passive.ts': 'passive ejection, data path half; covered by test/health/passive.test.ts',
  'proxy/service.ts': 'a service at run time; covered by test/proxy/*.test.ts end to end',
  'sched/hash-ring.ts': 'covered by test/sched/chbl.test.ts and mh.test.ts',
  'sched/hash.ts': 'covered by test/sched/dh.test.ts, sh.test.ts, mh.test.ts, hhttp.test.ts',
  'sched/least-load.ts': 'the wlc fallback; covered by test/sched/least-connection-*.test.ts and lblc.test.ts',
  'sched/scheduler.ts': 'the scheduler interface and RealServer; covered by every test/sched/*.test.ts',
  'state/group-share.ts': 'one shared word; covered by test/control/change.test.ts',
  'tcpvsadm/main.ts': 'entry point of tcpvsadm; covered by test/tcpvsadm/cli.test.ts',
  'tcpvsadm/wire.ts': 'method names and types both halves share; covered by test/tcpvsadm/handlers.test.ts and client-modules.test.ts',
};

function files(root: string, suffix: string): string[] {
  return (readdirSync(join(REPO_ROOT, root), { recursive: true }) as string[])
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith(suffix))
    .sort();
}

const libFiles = files('lib', '.ts');
const testFiles = new Set(files('test', '.test.ts'));

/** The test files named after lib/<file>: <dir>/<name>.test.ts and <dir>/<name>-*.test.ts. */
function testsOf(file: string): string[] {
  const dir = posix.dirname(file);
  const name = posix.basename(file, '.ts');
  const prefix = dir === '.' ? '' : `${dir}/`;
  return [...testFiles].filter((f) => {
    if (posix.dirname(f) !== posix.dirname(`${prefix}${name}`)) return false;
    const base = posix.basename(f, '.test.ts');
    return base === name || base.startsWith(`${name}-`);
  });
}

t.test('the tree is read', async (t) => {
  t.ok(libFiles.length > 50, `${libFiles.length} lib files`);
  t.ok(testFiles.size > 50, `${testFiles.size} test files`);
  t.same(testsOf('route/matchers.ts'), ['route/matchers.test.ts'], 'the name rule finds a mirrored test');
  t.same(testsOf('l4/ipvs/ipvsadm-text.ts'), [], 'a test in another folder does not count (test/l4/ipvs-text.test.ts)');
  t.same(
    testsOf('health/agent.ts'),
    ['health/agent-reply.test.ts', 'health/agent-server.test.ts', 'health/agent.test.ts'],
    '<name>-<aspect>.test.ts counts',
  );
});

/** test/<dir>/<name>.test.ts for lib/<dir>/<name>.ts, for messages. */
function mirrorName(file: string): string {
  return `test/${file.replace(/\.ts$/, '.test.ts')}`;
}

t.test('every lib file has a test named after it, or a reason in NOT_MIRRORED', async (t) => {
  const missing = libFiles.filter((f) => testsOf(f).length === 0 && !(f in NOT_MIRRORED));
  // One failure per file, so the list reads plainly in any reporter.
  for (const f of missing) {
    t.fail(
      `lib/${f}: no ${mirrorName(f)} (or <name>-*.test.ts there); write one, or add it to NOT_MIRRORED in test/layout/mirror.test.ts with a reason`,
    );
  }
  if (missing.length === 0) t.pass(`all ${libFiles.length} lib files are mirrored or listed`);
});

t.test('NOT_MIRRORED lists only lib files that exist and have no test of their own', async (t) => {
  let stale = 0;
  for (const [file, reason] of Object.entries(NOT_MIRRORED)) {
    if (!libFiles.includes(file)) {
      stale++;
      t.fail(`lib/${file} is in NOT_MIRRORED but not in lib/: remove the entry`);
    } else if (testsOf(file).length > 0) {
      stale++;
      t.fail(`lib/${file} is in NOT_MIRRORED but has test/${testsOf(file).join(', test/')} now: remove the entry`);
    }
    if (reason.trim() === '' || reason.includes('\n')) t.fail(`lib/${file}: NOT_MIRRORED needs a one-line reason`);
  }
  if (stale === 0) t.pass(`${Object.keys(NOT_MIRRORED).length} entries, none stale`);
});

t.test('a test file a NOT_MIRRORED reason names exists', async (t) => {
  const named = new Set<string>();
  for (const reason of Object.values(NOT_MIRRORED)) for (const m of reason.matchAll(/test\/([\w./-]+?\.test\.ts)/g)) named.add(m[1]);
  const absent = [...named].filter((f) => !testFiles.has(f));
  t.same(absent, [], `reasons name test files that do not exist:\n${absent.map((f) => `  test/${f}`).join('\n')}`);
});

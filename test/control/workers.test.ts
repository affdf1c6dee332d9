// All cores: --workers N runs N worker threads that each bind the listen
// address (SO_REUSEPORT). Connections spread over them, hashing schedulers
// agree across them, SIGHUP reloads every worker, and SIGTERM lets requests
// in flight finish before the workers exit.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { httpGet, spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, waitUntil } from '../helpers/wait.ts';

t.test('two workers share the port, agree on hashing, reload together and drain on SIGTERM', async (t) => {
  const backends = await Promise.all(['A', 'B', 'C'].map((n) => startIdentityBackend(n)));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-workers-'));
  const log = join(dir, 'tcpvs.log');
  const config = (sched: string) =>
    [
      'log level info',
      `log destination ${log}`,
      'service web',
      '  listen 127.0.0.1:0',
      `  group caches scheduler ${sched}`,
      ...backends.map((b) => `    server 127.0.0.1:${b.port}`),
      '  default caches',
      '',
    ].join('\n');
  const tcpvs = await spawnTcpvs(config('mh'), 20_000, 1, 2);
  t.teardown(() => tcpvs.stop());
  t.match(tcpvs.stderr(), /2 worker threads/);

  // Many short connections: both workers take some, and mh maps each key the same in both.
  const byKey = new Map<string, string>();
  let disagreements = 0;
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 40; k++) {
      const who = (await httpGet(tcpvs.port, `/obj/${k}`)).body.split(' ')[0];
      const before = byKey.get(`/obj/${k}`);
      if (before !== undefined && before !== who) disagreements++;
      byKey.set(`/obj/${k}`, who);
    }
  }
  t.equal(disagreements, 0, 'every key went to the same server whichever worker took it');
  const requestLines = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l) as { pid: number; worker?: number });
  const workersLogged = () => [...new Set(requestLines().map((l) => l.worker))].sort();
  // The access lines are buffered: wait until both workers' have reached the file.
  await pollUntil(() => workersLogged().length >= 2, 5000);
  const lines = requestLines();
  t.same(workersLogged(), [0, 1], 'requests were served by both worker threads');
  t.ok(
    lines.every((l) => l.pid === tcpvs.pid),
    'of the one tcpvs process',
  );

  // SIGHUP: every worker takes the new config (rr now spreads a single key).
  const cliFile = tcpvs.file;
  writeFileSync(cliFile, config('rr'));
  process.kill(tcpvs.pid, 'SIGHUP');
  await pollUntil(() => /reloaded/.test(tcpvs.stderr()), 5000);
  t.match(tcpvs.stderr(), /reloaded/);
  const spread = new Set<string>();
  for (let i = 0; i < 12; i++) spread.add((await httpGet(tcpvs.port, '/obj/1')).body.split(' ')[0]);
  t.ok(spread.size >= 2, `after the reload one key spreads over servers (${[...spread].join(',')})`);

  // A bad config is refused and the workers keep serving.
  writeFileSync(cliFile, config('nosuch'));
  process.kill(tcpvs.pid, 'SIGHUP');
  await pollUntil(() => /reload refused/.test(tcpvs.stderr()), 5000);
  t.match(tcpvs.stderr(), /reload refused/);
  t.equal((await httpGet(tcpvs.port, '/still')).status, 200);

  // SIGTERM with requests in flight: they finish, then everything exits 0.
  const slow = [0, 1, 2, 3].map(() => httpGet(tcpvs.port, '/slow?delay=800'));
  const atBackends = () => backends.reduce((n, b) => n + b.requests.filter((r) => r.url.startsWith('/slow')).length, 0);
  await waitUntil(() => atBackends() === 4, 5000, 'the four slow requests at the backends');
  process.kill(tcpvs.pid, 'SIGTERM');
  const results = await Promise.all(slow);
  t.ok(
    results.every((r) => r.status === 200),
    'requests in flight at SIGTERM completed',
  );
  await new Promise<void>((r) => (tcpvs.child.exitCode !== null ? r() : tcpvs.child.once('exit', () => r())));
  t.equal(tcpvs.child.exitCode, 0, 'tcpvs exits 0 once the workers are done');
});

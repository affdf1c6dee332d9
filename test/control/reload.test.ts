// Hot reload: requests in flight finish on the old config, new ones (also on
// kept-alive connections) use the new one, a bad config is refused with its
// errors and the old one keeps running, and ten reloads under autocannon load
// cost zero failed responses.
import t, { type Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { spawnTcpvs, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, sleep, waitUntil } from '../helpers/wait.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';

// autocannon ships no types; the part used here.
interface LoadResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  requests: { total: number };
}
const autocannon = createRequire(import.meta.url)('autocannon') as (o: {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
}) => Promise<LoadResult>;

function text(defaultGroup: string, a: IdentityBackend, b: IdentityBackend, extra: string[] = []): string {
  return [
    'log level silent',
    'service web',
    '  listen 127.0.0.1:0',
    '  group a',
    `    server 127.0.0.1:${a.port}`,
    '  group b',
    `    server 127.0.0.1:${b.port}`,
    `  default ${defaultGroup}`,
    ...extra,
    '',
  ].join('\n');
}

async function backends(t: Test): Promise<[IdentityBackend, IdentityBackend]> {
  const a = await startIdentityBackend('A');
  const b = await startIdentityBackend('B');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return [a, b];
}

async function ask(c: RawClient, path: string): Promise<string> {
  c.write(requestHead('GET', path));
  const res = await c.readResponse();
  return `${res.status} ${res.body.toString().split(' ')[0]}`;
}

t.test('in flight on the old config, new requests and kept-alive connections on the new one', async (t) => {
  const [a, b] = await backends(t);
  const tcpvs = await startTcpvs(text('a', a, b));
  t.teardown(() => tcpvs.close());
  const keep = await RawClient.connect(tcpvs.port);
  t.teardown(() => keep.close());
  t.equal(await ask(keep, '/1'), '200 A');
  const slow = await RawClient.connect(tcpvs.port);
  t.teardown(() => slow.close());
  slow.write(requestHead('GET', '/slow?delay=400'));
  await waitUntil(() => a.requests.some((r) => r.url.startsWith('/slow')), 5000, 'the slow request at A');

  await tcpvs.running.control.apply(parseConfigText(text('b', a, b), 'next.tcpvs'), 'test');
  t.equal(tcpvs.running.services[0].address?.port, tcpvs.port, 'the same listener, handed over');
  const slowRes = await slow.readResponse();
  t.equal(`${slowRes.status} ${slowRes.body.toString().split(' ')[0]}`, '200 A', 'the request in flight finished on the old config');
  t.equal(await ask(keep, '/2'), '200 B', 'the kept-alive connection moved to the new config at its next request');
  t.equal(await ask(slow, '/3'), '200 B', 'so did the one that was busy');
  const fresh = await RawClient.connect(tcpvs.port);
  t.teardown(() => fresh.close());
  t.equal(await ask(fresh, '/4'), '200 B', 'new connections get the new config');
});

t.test('a refused config leaves the running one untouched', async (t) => {
  const [a, b] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-reload-'));
  const file = join(dir, 'web.tcpvs');
  writeFileSync(file, text('a', a, b));
  const tcpvs = await startTcpvs(readFileSync(file, 'utf8'));
  t.teardown(() => tcpvs.close());

  writeFileSync(file, text('nowhere', a, b));
  const err = await tcpvs.running.control.reload(file).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, ConfigError, 'refused with the config errors');
  t.match((err as ConfigError).message, `${file}:8: default`);

  // A listener that cannot be opened: a second service on a taken port.
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => taken.close(() => r())));
  const port = (taken.address() as net.AddressInfo).port;
  const withTaken = text('b', a, b, [
    'service other',
    `  listen 127.0.0.1:${port}`,
    '  group g',
    `    server 127.0.0.1:${a.port}`,
    '  default g',
  ]);
  await t.rejects(tcpvs.running.control.apply(parseConfigText(withTaken, 'x.tcpvs'), 'test'), /EADDRINUSE/);

  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  t.equal(await ask(c, '/still'), '200 A', 'the old config still serves');
  t.equal(tcpvs.running.services.length, 1);
  t.equal(tcpvs.running.control.config().services[0].defaultGroup, 'a');
});

t.test('ten SIGHUP reloads under autocannon load: zero failed or unexpected responses', async (t) => {
  const [a, b] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-reload-'));
  const file = join(dir, 'web.tcpvs');
  const log = join(dir, 'tcpvs.log');
  const withLog = (g: string) => text(g, a, b).replace('log level silent', `log level info\nlog destination ${log}`);
  writeFileSync(file, withLog('a'));
  const tcpvs = await spawnTcpvs(readFileSync(file, 'utf8'));
  t.teardown(() => tcpvs.stop());
  // spawnTcpvs wrote its own copy: point reloads at ours by sending the same text there.
  const cliFile = tcpvs.file;
  t.ok(existsSync(cliFile), 'the CLI config file');

  const run = autocannon({ url: `http://127.0.0.1:${tcpvs.port}/load`, connections: 50, duration: 6, pipelining: 1 });
  let reloads = 0;
  const reloader = (async () => {
    await sleep(500);
    for (let i = 0; i < 10; i++) {
      writeFileSync(cliFile, withLog(i % 2 === 0 ? 'b' : 'a'));
      process.kill(tcpvs.pid, 'SIGHUP');
      reloads++;
      await sleep(400);
    }
  })();
  const result = await run;
  await reloader;
  t.equal(reloads, 10);
  t.ok(result.requests.total > 1000, `load ran (${result.requests.total} requests)`);
  t.equal(result.errors, 0, 'no connection errors');
  t.equal(result.timeouts, 0, 'no timeouts');
  t.equal(result.non2xx, 0, 'no non-2xx responses');
  t.equal(result['2xx'], result.requests.total, 'every response a 2xx');
  t.ok(a.requests.length > 0 && b.requests.length > 0, 'both configs served traffic');
  const applied = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"config applied"')).length;
  await pollUntil(() => applied() >= 10, 2500, 50);
  t.equal(applied(), 10, 'each SIGHUP applied a config');
});

// Active checks on real sockets: an HTTP backend flipped unhealthy goes down
// after `fall` failed checks and its traffic moves to the other server; back
// healthy, it returns after `rise` successes. Also: a check that gets no
// answer, a body that does not match, TCP checks against a closed port,
// staggering, and stop().
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import { WARN, INFO, closedPort, get, groupConfig, spread, startFlipBackend, startWithHealth, waitFor } from './helpers.ts';
import { quietFor, untilSteady } from '../helpers/wait.ts';

t.test('http check: fall failures take a server down, rise successes bring it back, traffic follows', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([a.port, b.port], ['check http /health interval 50ms timeout 1s rise 2 fall 3']),
  );
  const [serverA, serverB] = tcpvs.servers('g');
  t.ok(serverA.up && serverB.up, 'servers start up');
  t.same(await spread(tcpvs.port, 6), { A: 3, B: 3 }, 'rr spreads over both while healthy');
  await waitFor(() => a.hits.length >= 3, 2000, 'A is being checked');
  t.ok(serverA.up, 'A stays up while its checks pass');

  a.mode = 'fail';
  const flippedAt = Date.now();
  await waitFor(() => !serverA.up, 2000, 'A goes down');
  const failed = a.hits.filter((h) => h.at >= flippedAt && h.mode === 'fail').length;
  t.ok(failed >= 3, `A went down only after 3 failed checks (saw ${failed})`);
  t.ok(failed <= 4, `and not much later (saw ${failed})`);
  t.ok(serverB.up, 'B stays up');
  const servedBefore = a.served;
  t.same(await spread(tcpvs.port, 6), { B: 6 }, 'all traffic goes to B');
  t.equal(a.served, servedBefore, 'A gets no request while down');
  const down = lines.find((l) => l.msg === 'server down');
  t.match(down, { level: WARN, service: 'test', group: 'g', server: `127.0.0.1:${a.port}`, from: 'up', to: 'down', check: 'http' });
  t.match(String(down?.reason), /3 consecutive http check failures, last: status 503/);

  a.mode = 'ok';
  const healedAt = Date.now();
  await waitFor(() => serverA.up, 2000, 'A comes back');
  const passed = a.hits.filter((h) => h.at >= healedAt && h.mode === 'ok').length;
  t.ok(passed >= 2, `A came back only after 2 good checks (saw ${passed})`);
  const up = lines.find((l) => l.msg === 'server up');
  t.match(up, { level: INFO, group: 'g', server: `127.0.0.1:${a.port}`, from: 'down', to: 'up', check: 'http' });
  const back = await spread(tcpvs.port, 6);
  t.same(back, { A: 3, B: 3 }, 'traffic returns to A');
});

t.test('http check: no answer within the timeout is a failure', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([a.port, b.port], ['check http /health interval 150ms timeout 100ms rise 1 fall 2']),
  );
  const [serverA] = tcpvs.servers('g');
  a.mode = 'hang';
  const took = await waitFor(() => !serverA.up, 2000, 'A goes down');
  t.ok(took >= 150, `two timed-out checks take at least one interval (took ${took} ms)`);
  t.match(lines.find((l) => l.msg === 'server down')?.reason, /no answer within 100ms/);
  t.same(await spread(tcpvs.port, 4), { B: 4 });
  a.mode = 'ok';
  await waitFor(() => serverA.up, 2000, 'A comes back after one good check');
});

t.test('http check: a body that does not match the regex is a failure', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([a.port], ['check http GET /health expect 200 body "^status: ok\\s*$" interval 40ms timeout 1s rise 1 fall 2']),
  );
  const [serverA] = tcpvs.servers('g');
  await waitFor(() => a.hits.length >= 3, 2000, 'checks run');
  t.ok(serverA.up, 'status 200 and a matching body: up');
  a.mode = 'degraded';
  await waitFor(() => !serverA.up, 2000, 'A goes down on the body');
  t.match(lines.find((l) => l.msg === 'server down')?.reason, /status 200, body does not match/);
  t.equal((await get(tcpvs.port)).status, 503, 'no server left: tcpvs answers 503');
  a.mode = 'ok';
  await waitFor(() => serverA.up, 2000, 'A comes back');
  t.equal((await get(tcpvs.port)).backend, 'A');
});

t.test('http check: expect names the statuses that pass', async (t) => {
  const a = await startFlipBackend(t, 'A');
  // 503 is what this check expects: the healthy 200 is a failure.
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([a.port], ['check http /health expect 503 interval 40ms timeout 1s rise 1 fall 1']),
  );
  const [serverA] = tcpvs.servers('g');
  await waitFor(() => !serverA.up, 2000, 'A goes down on 200');
  t.match(lines.find((l) => l.msg === 'server down')?.reason, /last: status 200$/);
  a.mode = 'fail';
  await waitFor(() => serverA.up, 2000, 'A comes up on 503');
  t.match(lines.find((l) => l.msg === 'server up')?.reason, /1 consecutive http check success, last: status 503$/);
});

t.test('tcp check: a closed port goes down, an open one stays up, and the port option is used', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const dead = await closedPort();
  const { tcpvs, lines } = await startWithHealth(t, groupConfig([a.port, dead], ['check tcp interval 40ms timeout 1s rise 2 fall 2']));
  const [serverA, serverDead] = tcpvs.servers('g');
  await waitFor(() => !serverDead.up, 2000, 'the closed port goes down');
  t.match(
    lines.find((l) => l.msg === 'server down'),
    { server: `127.0.0.1:${dead}`, check: 'tcp', reason: /ECONNREFUSED/ },
  );
  t.ok(serverA.up, 'the open port stays up');
  t.same(await spread(tcpvs.port, 4), { A: 4 });

  // `port P` checks another port than the server's: here a closed one.
  const other = await startWithHealth(t, groupConfig([a.port], [`check tcp interval 40ms timeout 1s rise 1 fall 1 port ${dead}`]));
  await waitFor(() => !other.tcpvs.servers('g')[0].up, 2000, 'checked on the port option, the server goes down');
});

t.test('tcp check: a port that starts listening comes up after rise checks', async (t) => {
  const dead = await closedPort();
  const { tcpvs, lines } = await startWithHealth(t, groupConfig([dead], ['check tcp interval 40ms timeout 1s rise 2 fall 1']));
  const [server] = tcpvs.servers('g');
  await waitFor(() => !server.up, 2000, 'down while closed');
  const net = await import('node:net');
  const listener = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(dead, '127.0.0.1', () => resolve());
  });
  t.teardown(() => new Promise<void>((r) => listener.close(() => r())));
  await waitFor(() => server.up, 2000, 'up once it listens');
  t.match(
    lines.find((l) => l.msg === 'server up'),
    { check: 'tcp', reason: /2 consecutive tcp check successes, last: connected/ },
  );
});

t.test('checks of one group are spread over the interval', async (t) => {
  const backends = await Promise.all(['A', 'B', 'C', 'D'].map((n) => startFlipBackend(t, n)));
  await startWithHealth(
    t,
    groupConfig(
      backends.map((b) => b.port),
      ['check http /health interval 400ms timeout 1s'],
    ),
  );
  await waitFor(() => backends.every((b) => b.hits.length >= 1), 2000, 'every server checked once');
  const firsts = backends.map((b) => b.hits[0].at).sort((x, y) => x - y);
  t.ok(firsts[3] - firsts[0] >= 200, `first checks spread over the interval (${firsts.map((f) => f - firsts[0]).join(', ')} ms)`);
});

t.test('stop() ends the checks: nothing changes afterwards', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs, health } = await startWithHealth(t, groupConfig([a.port], ['check http /health interval 30ms timeout 1s rise 1 fall 1']));
  await waitFor(() => a.hits.length >= 2, 2000, 'checks run');
  t.equal(health.status().length, 1);
  t.match(health.status()[0], { group: 'g', up: true, check: 'up', ejected: false, agent: null });
  health.stop();
  health.stop(); // twice is harmless
  // A check in flight at stop() may still land: wait until the count holds still.
  const hits = await untilSteady(() => a.hits.length, 60, 2000);
  t.not(hits, null, 'the checks stop');
  a.mode = 'fail';
  await quietFor(200, 'a check after stop() (the interval is 30 ms)');
  t.equal(a.hits.length, hits, 'no checks after stop()');
  t.ok(tcpvs.servers('g')[0].up, 'and no state change');
});

t.test('a config change keeps a server seen down down until rise successes', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const text = groupConfig([a.port, b.port], ['check http /health interval 30ms timeout 1s rise 3 fall 1']);
  const { tcpvs } = await startWithHealth(t, text);
  const [server] = tcpvs.servers('g');
  a.mode = 'fail';
  await waitFor(() => !server.up, 2000, 'down');
  // The same config, and one with an unrelated change: a timeout.
  await tcpvs.running.control.apply(parseConfigText(text, 'same.tcpvs'), 'test');
  t.notOk(server.up, 'still down after a reload of the same config');
  await tcpvs.running.control.apply(
    parseConfigText(text.replace('  default g', '  timeout connect 3s\n  default g'), 'other.tcpvs'),
    'test',
  );
  t.notOk(tcpvs.servers('g')[0].up, 'still down after an unrelated change');
  t.equal(tcpvs.servers('g')[0], server, 'the same server state');
  t.same(await spread(tcpvs.port, 4), { B: 4 }, 'and traffic stays off it');
  a.mode = 'ok';
  const restartedAt = Date.now();
  await waitFor(() => server.up, 2000, 'up after rise successes');
  const passed = a.hits.filter((h) => h.at >= restartedAt).length;
  t.ok(passed >= 3, `after 3 good checks (saw ${passed})`);
});

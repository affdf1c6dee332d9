// Passive ejection: a server whose requests fail N times in a row is taken
// out for a backoff that doubles on each re-ejection, then re-admitted. On
// real sockets (a backend that resets, a closed port) and with records fed
// to the data path's passive check directly, for what counts as a failure.
import net from 'node:net';
import t, { type Test } from 'tap';
import type { RequestOutcome } from '../../lib/proxy/observer.ts';
import type { InProcessTcpvs } from '../helpers/tcpvs.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { listen, closeServer } from '../helpers/backends.ts';
import { INFO, WARN, closedPort, get, groupConfig, spread, startFlipBackend, startWithHealth, waitFor } from './helpers.ts';
import { sleep } from '../helpers/wait.ts';

/** A backend that accepts and resets every connection as soon as a request arrives. */
async function startResetBackend(t: Test): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => socket.resetAndDestroy());
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  return { port, connections: () => connections };
}

t.test('a resetting server is ejected after N failures, re-admitted after the backoff, and the backoff doubles', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const bad = await startResetBackend(t);
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([a.port, bad.port], ['eject after 3 failures backoff 300ms max-backoff 5s']),
  );
  const [, serverBad] = tcpvs.servers('g');
  // rr alternates: requests 1, 3, 5 go to the resetting server and get 502.
  const first = await spread(tcpvs.port, 6);
  t.same(first, { A: 3, 'status 502': 3 }, 'three 502s from the resetting server');
  t.notOk(serverBad.up, 'ejected after the third');
  const down = lines.find((l) => l.msg === 'server down');
  t.match(down, { level: WARN, group: 'g', server: `127.0.0.1:${bad.port}`, from: 'up', to: 'down', check: 'eject' });
  t.match(String(down?.reason), /3 consecutive failed requests \(last: upstream-failed, status 502\); ejected for 300ms/);
  const connections = bad.connections();
  t.same(await spread(tcpvs.port, 6), { A: 6 }, 'while ejected, everything goes to A');
  t.equal(bad.connections(), connections, 'and nothing reaches the ejected server');

  await waitFor(() => serverBad.up, 2000, 're-admitted');
  const up = lines.find((l) => l.msg === 'server up');
  t.match(up, { level: INFO, check: 'eject', from: 'down', to: 'up', reason: 'ejection of 300ms over' });
  const tookMs = Number(up?.time) - Number(down?.time);
  t.ok(tookMs >= 295 && tookMs < 1000, `re-admitted after the backoff (${tookMs} ms by the log)`);
  // Fails again at once: ejected again, for twice as long.
  await spread(tcpvs.port, 6);
  t.notOk(serverBad.up, 'ejected again');
  const second = lines.filter((l) => l.msg === 'server down')[1];
  t.match(String(second?.reason), /ejected for 600ms/);
});

t.test('a server that refuses connections is ejected (connect-failed)', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const dead = await closedPort();
  const { tcpvs, lines } = await startWithHealth(t, groupConfig([a.port, dead], ['eject after 2 failures backoff 10s']));
  const [, serverDead] = tcpvs.servers('g');
  // A refused connect ejects at once, whatever the count, and the request goes to A (retries).
  t.same(await spread(tcpvs.port, 4), { A: 4 });
  t.notOk(serverDead.up);
  t.match(lines.find((l) => l.msg === 'server down')?.reason, /connect failed/);
  t.same(await spread(tcpvs.port, 4), { A: 4 });
});

/** Feeds request ends to the group's passive check as the data path does at the end of each request. */
function feeder(tcpvs: InProcessTcpvs) {
  const group = tcpvs.group('g');
  return (serverIndex: number, outcome: RequestOutcome, status: number) => {
    group.passive!.requestEnded(group.servers[serverIndex], outcome, status);
  };
}

t.test('what counts as a failure, what resets the count, and what neither', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs } = await startWithHealth(t, groupConfig([a.port], ['eject after 2 failures backoff 10s']));
  const [server] = tcpvs.servers('g');
  const feed = feeder(tcpvs);

  feed(0, 'ok', 503);
  feed(0, 'ok', 200); // a good response resets the count
  feed(0, 'ok', 500);
  t.ok(server.up, 'failures separated by a success do not eject');
  feed(0, 'ok', 404); // below 500: the server answered properly
  feed(0, 'ok', 502);
  feed(0, 'ok', 501); // 501 and 505: the request, not the server
  feed(0, 'ok', 504);
  t.ok(server.up, '501 resets like any good answer');
  feed(0, 'aborted', 0); // the client left: says nothing of the server
  feed(0, 'refused', 503); // tcpvs answered itself
  t.ok(server.up, 'aborts and refusals neither count nor reset');
  feed(0, 'upstream-failed', 200); // cut off mid-response
  t.notOk(server.up, 'the second failure in a row (504, then a response cut short) ejects');

  // Records that end while the server is ejected change nothing.
  feed(0, 'ok', 200);
  t.notOk(server.up);
});

t.test('ejection and an active check combine: up only when both say up', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs, lines, health } = await startWithHealth(
    t,
    groupConfig([a.port], ['check http /health interval 30ms timeout 1s rise 1 fall 1', 'eject after 2 failures backoff 400ms']),
  );
  const [server] = tcpvs.servers('g');
  const feed = feeder(tcpvs);
  feed(0, 'connect-failed', 502);
  feed(0, 'connect-failed', 502);
  t.notOk(server.up, 'ejected while its check passes');
  t.match(health.status()[0], { up: false, check: 'up', ejected: true });
  a.mode = 'fail';
  await waitFor(() => lines.some((l) => l.msg === 'http says down; server was already down'), 2000, 'the check fails too');
  // The ejection ends while the check still fails: the server stays down.
  await waitFor(() => lines.some((l) => l.msg === 'eject says up; server stays down'), 2000, 'the ejection ends');
  t.notOk(server.up, 'still down: the check says so');
  a.mode = 'ok';
  await waitFor(() => server.up, 2000, 'up once the check passes');
  t.match(lines.filter((l) => l.msg === 'server up').at(-1), { check: 'http' });
  t.equal((await get(tcpvs.port)).backend, 'A');
});

t.test('the backoff starts over once a server stays admitted for max-backoff', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs, lines } = await startWithHealth(t, groupConfig([a.port], ['eject after 1 failures backoff 50ms max-backoff 200ms']));
  const [server] = tcpvs.servers('g');
  const feed = feeder(tcpvs);
  const backoffs: number[] = [];
  const ejectOnce = async () => {
    feed(0, 'ok', 500);
    t.notOk(server.up);
    backoffs.push(Number(/ejected for (\d+)ms/.exec(String(lines.filter((l) => l.msg === 'server down').at(-1)?.reason))?.[1]));
    await waitFor(() => server.up, 2000, 're-admitted');
  };
  await ejectOnce();
  await ejectOnce();
  await ejectOnce();
  await ejectOnce();
  t.same(backoffs, [50, 100, 200, 200], 'doubles up to max-backoff');
  // The backoff resets once a server has stayed up for max-backoff (200 ms): let that time pass.
  await sleep(250);
  await ejectOnce();
  t.equal(backoffs.at(-1), 50, 'after max-backoff admitted, back to the first backoff');
});

t.test('a config change keeps an ejection and its backoff; dropping the eject statement readmits', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const text = groupConfig([a.port, b.port], ['eject after 1 failures backoff 10s']);
  const { tcpvs, health } = await startWithHealth(t, text);
  const [server] = tcpvs.servers('g');
  feeder(tcpvs)(0, 'ok', 500);
  t.notOk(server.up, 'ejected');
  await tcpvs.running.control.apply(parseConfigText(text.replace('  default g', '  timeout connect 2s\n  default g'), 'x.tcpvs'), 'test');
  t.notOk(server.up, 'still ejected after an unrelated change');
  t.match(health.status()[0], { ejected: true });
  t.same(await spread(tcpvs.port, 4), { B: 4 }, 'and traffic stays off it');
  await tcpvs.running.control.apply(parseConfigText(text.replace('    eject after 1 failures backoff 10s\n', ''), 'y.tcpvs'), 'test');
  t.ok(server.up, 'no eject statement: readmitted');
  feeder(tcpvs)(0, 'ok', 500);
  t.ok(server.up, 'and a 5xx no longer counts: only the default ejection on connect failures is left');
  t.same(await spread(tcpvs.port, 4), { A: 2, B: 2 });
});

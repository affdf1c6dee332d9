// The user-space L4 core forwarding TCP: scheduling over real sockets,
// half-close, resets, counters, thresholds, quiescence and limits.
import t from 'tap';
import net from 'node:net';
import { createUserspaceCore } from '../../../lib/l4/userspace/core.ts';
import { knownSchedulers } from '../../../lib/sched/index.ts';
import {
  addServiceOnFreePort,
  askName,
  expectRefused,
  freePort,
  openClient,
  realServer,
  sleep,
  startTcpBackend,
  tally,
  waitFor,
  withTimeout,
} from '../userspace-helpers.ts';
import { newCore, tcpBackends } from '../userspace-helpers.ts';
import type { TestClient } from '../userspace-helpers.ts';
import { untilSteady } from '../../helpers/wait.ts';

t.test('rr spreads connections evenly, in order', async (t) => {
  const servers = await tcpBackends(t, ['a', 'b', 'c']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  for (const s of servers) await core.addRealServer(key, realServer(s.port));
  const names: string[] = [];
  for (let i = 0; i < 9; i++) names.push(await askName(key.port));
  t.same(tally(names), { a: 3, b: 3, c: 3 });
  t.same(names.slice(0, 3), names.slice(3, 6), 'the same rotation each cycle');
  t.same(new Set(names.slice(0, 3)).size, 3);
});

t.test('wrr gives connections in proportion to the weights', async (t) => {
  const servers = await tcpBackends(t, ['w1', 'w2', 'w3']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'wrr');
  for (const [i, s] of servers.entries()) await core.addRealServer(key, realServer(s.port, i + 1));
  const names: string[] = [];
  for (let i = 0; i < 12; i++) names.push(await askName(key.port));
  t.same(tally(names), { w1: 2, w2: 4, w3: 6 });
});

for (const scheduler of ['lc', 'wlc', 'nq']) {
  t.test(`${scheduler}: one connection at a time still splits 3:1 by weight`, async (t) => {
    const servers = await tcpBackends(t, ['heavy', 'light']);
    const core = newCore(t);
    const key = await addServiceOnFreePort(core, 'tcp', scheduler);
    await core.addRealServer(key, realServer(servers[0].port, 3));
    await core.addRealServer(key, realServer(servers[1].port, 1));
    const names: string[] = [];
    for (let i = 0; i < 200; i++) {
      names.push(await askName(key.port));
      // Sequential for the core too: the connection has left its table before the next one.
      const idle = await waitFor(async () => (await core.list())[0].realServers.every((r) => r.activeConns + r.inactiveConns === 0));
      if (!idle) t.fail(`connection ${i} still in the table`);
    }
    t.same(tally(names), { heavy: 150, light: 50 });
  });
}

t.test('a key-using scheduler hashes the client address', { skip: !knownSchedulers().includes('mh') && 'mh not registered' }, async (t) => {
  const servers = await tcpBackends(t, ['m1', 'm2', 'm3']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'mh');
  for (const s of servers) await core.addRealServer(key, realServer(s.port));
  const byClient = new Map<string, Set<string>>();
  for (let host = 2; host <= 9; host++) {
    const address = `127.0.0.${host}`;
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) seen.add(await askName(key.port, address));
    byClient.set(address, seen);
  }
  for (const [address, seen] of byClient) t.equal(seen.size, 1, `${address} always reaches one server`);
  const all = new Set([...byClient.values()].flatMap((s) => [...s]));
  t.ok(all.size >= 2, `eight client addresses spread over more than one server (${[...all]})`);
});

t.test('half-close: the client ends first and still gets the whole answer', async (t) => {
  const answer = Buffer.alloc(4 << 20, 'r'); // large enough to need backpressure
  let heard = '';
  const backend = await startTcpBackend('hc', (socket) => {
    socket.on('data', (chunk: Buffer) => (heard += chunk.toString()));
    socket.on('end', () => {
      // The answer starts only after the client's FIN, and after a pause.
      setTimeout(() => {
        socket.write(`got ${heard}\n`);
        socket.end(answer);
      }, 150);
    });
  });
  t.teardown(() => backend.close());
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(backend.port));

  const client = await openClient(key.port);
  client.socket.end('question');
  t.ok(
    await waitFor(async () => (await core.connections()).some((c) => c.state === 'CLOSE_WAIT'), 2000),
    'the entry shows CLOSE_WAIT after the client FIN',
  );
  await withTimeout(client.closedPromise, 5000, 'client close');
  const expected = `got question\n`.length + answer.length;
  t.equal(client.length, expected, 'every byte of the answer arrived');
  t.ok(client.text().startsWith('got question\n'));
  t.ok(client.ended, 'the real server FIN reached the client');
  t.equal(client.errorCode, null);
  t.ok(await waitFor(async () => (await core.connections()).length === 0), 'the entry leaves the table');
});

t.test('half-close: the server ends first and still gets the client data', async (t) => {
  let heard = '';
  let serverSawEnd = false;
  const backend = await startTcpBackend('hs', (socket) => {
    socket.end('bye\n'); // FIN at once; keeps reading
    socket.on('data', (chunk: Buffer) => (heard += chunk.toString()));
    socket.on('end', () => (serverSawEnd = true));
  });
  t.teardown(() => backend.close());
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(backend.port));

  const client = await openClient(key.port);
  t.ok(await waitFor(() => client.ended), 'the client sees the server FIN');
  t.equal(client.text(), 'bye\n');
  const states = (await core.connections()).map((c) => c.state);
  t.same(states, ['FIN_WAIT'], 'FIN_WAIT after the real server FIN');
  const late = 'x'.repeat(200_000);
  client.socket.write('late ');
  await sleep(50);
  client.socket.end(late);
  await withTimeout(client.closedPromise, 5000, 'client close');
  t.ok(await waitFor(() => serverSawEnd), 'the client FIN reached the server');
  t.equal(heard, `late ${late}`, 'data sent after the server FIN arrived whole');
});

t.test('backpressure: a slow reader holds back the sender instead of filling memory', async (t) => {
  const total = 64 << 20;
  const chunk = Buffer.alloc(64 << 10, 'b');
  // The real server pushes `total` bytes as fast as the core takes them.
  let serverSocket: net.Socket | null = null;
  const backend = await startTcpBackend('bp', (socket) => {
    serverSocket = socket;
    let written = 0;
    const pump = (): void => {
      while (written < total) {
        written += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  t.teardown(() => backend.close());
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(backend.port));

  const client = await openClient(key.port);
  client.socket.pause();
  // Wait until the server has pushed all it can: its handed-over count still for 200 ms.
  const serverHandedOver = () => {
    const sock = serverSocket as net.Socket | null;
    return sock === null ? -1 : sock.bytesWritten - sock.writableLength;
  };
  t.not(await untilSteady(serverHandedOver, 200, 10_000), null, 'the server stops handing bytes over');
  t.ok(((serverSocket as net.Socket | null)?.writableLength ?? 0) > 0, 'it is blocked: bytes wait in its socket');
  const flushed = (serverSocket as net.Socket | null)?.bytesWritten ?? 0;
  const queued = (serverSocket as net.Socket | null)?.writableLength ?? 0;
  t.ok(flushed - queued < total / 2, `the server could hand over only ${flushed - queued} of ${total} bytes while the client read nothing`);
  client.socket.resume();
  await withTimeout(new Promise<void>((resolve) => client.socket.once('end', () => resolve())), 20_000, 'all bytes');
  t.equal(client.length, total, 'everything arrives once the client reads');
  client.socket.end();

  // The other way: a real server that does not read holds back the client.
  let stalled: net.Socket | null = null;
  let heard = 0;
  const sink = await startTcpBackend('sink', (socket) => {
    stalled = socket;
    socket.pause();
    socket.on('data', (c: Buffer) => (heard += c.length));
  });
  t.teardown(() => sink.close());
  const sinkKey = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(sinkKey, realServer(sink.port));
  const writer = await openClient(sinkKey.port);
  let handedOver = 0;
  const fill = async (): Promise<void> => {
    for (let i = 0; i < total / chunk.length; i++) {
      if (!writer.socket.write(chunk)) {
        const drained = await Promise.race([
          new Promise<boolean>((resolve) => writer.socket.once('drain', () => resolve(true))),
          sleep(600).then(() => false),
        ]);
        if (!drained) return;
      }
      handedOver += chunk.length;
    }
  };
  await fill();
  t.ok(handedOver < total / 2, `the client could hand over only ${handedOver} of ${total} bytes to a server that reads nothing`);
  (stalled as net.Socket | null)?.resume();
  t.ok(await waitFor(() => heard >= handedOver, 10_000), 'what was handed over arrives once the server reads');
  writer.socket.destroy();
});

t.test('a reset on either side resets the other', async (t) => {
  const backend = await startTcpBackend('rst', (socket) => {
    socket.write('hi\n');
    socket.on('data', () => socket.resetAndDestroy());
  });
  t.teardown(() => backend.close());
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(backend.port));

  const client = await openClient(key.port);
  await client.firstLine();
  client.socket.write('trigger');
  await withTimeout(client.closedPromise, 3000, 'client close');
  t.equal(client.errorCode, 'ECONNRESET', 'the server reset reached the client as a reset');

  // The other way: the client resets, the server's socket closes.
  const closedOnServer = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (backend.accepted() === 2 && backend.sockets.size === 0) {
        clearInterval(check);
        resolve();
      }
    }, 20);
    t.teardown(() => clearInterval(check));
  });
  const second = await openClient(key.port);
  await second.firstLine();
  second.socket.resetAndDestroy();
  await withTimeout(closedOnServer, 3000, 'server side close');
  t.ok(await waitFor(async () => (await core.connections()).length === 0), 'no entry left');
});

t.test('a real server that refuses: the client is closed, nothing is left behind', async (t) => {
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(await freePort('tcp')));
  t.equal(await expectRefused(key.port), 0, 'the client is closed with nothing received');
  t.ok(await waitFor(async () => (await core.connections()).length === 0));
  const [status] = await core.list();
  t.equal(status.stats.conns, 1, 'the attempt counts as a connection');
  t.equal(status.realServers[0].activeConns + status.realServers[0].inactiveConns, 0);
});

t.test('counters: bytes and connections as sent, per service and per real server', async (t) => {
  const servers = await tcpBackends(t, ['s1', 's2']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  for (const s of servers) await core.addRealServer(key, realServer(s.port));

  // Two held connections show as active on their servers.
  const held = [await openClient(key.port), await openClient(key.port)];
  for (const c of held) await c.firstLine();
  let [status] = await core.list();
  t.same(
    status.realServers.map((s) => s.activeConns),
    [1, 1],
  );
  for (const c of held) await c.finish();

  const payloads = [Buffer.alloc(1000, 1), Buffer.alloc(70_000, 2), Buffer.alloc(5, 3), Buffer.alloc(123_456, 4)];
  let sent = 0;
  let received = 0;
  for (const payload of payloads) {
    const client = await openClient(key.port);
    client.socket.end(payload);
    await withTimeout(client.closedPromise, 3000, 'client close');
    sent += payload.length;
    received += client.length;
    t.equal(client.length, 3 + payload.length, 'greeting plus the echo');
  }
  t.ok(await waitFor(async () => (await core.connections()).length === 0));
  core.sampleRates();
  [status] = await core.list();
  t.equal(status.stats.conns, 6);
  t.equal(status.stats.inBytes, sent, 'inBytes: what clients sent');
  t.equal(status.stats.outBytes, received + 6, 'outBytes: what clients got (the held ones got 3 each)');
  t.ok(status.stats.inPackets >= payloads.length, 'at least one packet per payload');
  t.ok(status.stats.outPackets >= 6);
  for (const field of ['conns', 'inPackets', 'outPackets', 'inBytes', 'outBytes'] as const) {
    t.equal(
      status.realServers.reduce((sum, s) => sum + s.stats[field], 0),
      status.stats[field],
      `real servers' ${field} add up to the service's`,
    );
  }
  t.same(
    status.realServers.map((s) => s.stats.conns),
    [3, 3],
  );
  t.same(
    status.realServers.map((s) => s.activeConns + s.inactiveConns),
    [0, 0],
  );
  t.ok(status.rates.cps > 0 && status.rates.inBps > 0 && status.rates.outBps > 0, 'rates after a sample');
  t.ok(status.rates.inPps > 0 && status.rates.outPps > 0);
  const burstRate = status.rates.inBps;
  await sleep(20);
  core.sampleRates();
  [status] = await core.list();
  t.ok(status.rates.inBps < burstRate, 'an idle sample pulls the rate down');
});

t.test('quiescent server: no new connections, open ones keep flowing', async (t) => {
  const [a, b] = await tcpBackends(t, ['qa', 'qb']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(a.port));
  await core.addRealServer(key, realServer(b.port));
  const first = await openClient(key.port);
  const second = await openClient(key.port);
  t.equal(await first.firstLine(), 'qa');
  t.equal(await second.firstLine(), 'qb');
  const onB = second;

  await core.editRealServer(key, realServer(b.port, 0));
  const later: string[] = [];
  for (let i = 0; i < 6; i++) later.push(await askName(key.port));
  t.same(tally(later), { qa: 6 }, 'weight 0 takes no new connection');

  onB.socket.write('still here');
  t.ok(await onB.waitForBytes(3 + 'still here'.length), 'the open connection to the quiescent server still echoes');
  const [status] = await core.list();
  t.equal(status.realServers[1].weight, 0);
  t.equal(status.realServers[1].activeConns, 1);
  await first.finish();
  await second.finish();

  await core.editRealServer(key, realServer(b.port, 1));
  const back: string[] = [];
  for (let i = 0; i < 4; i++) back.push(await askName(key.port));
  t.same(tally(back), { qa: 2, qb: 2 }, 'weight restored: back in the rotation');
});

t.test('upper threshold skips a server; it is readmitted below the lower one', async (t) => {
  const [a, b] = await tcpBackends(t, ['ta', 'tb']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(a.port, 1, { upperThreshold: 2, lowerThreshold: 1 }));
  const open = [await openClient(key.port), await openClient(key.port)];
  for (const c of open) t.equal(await c.firstLine(), 'ta');
  t.equal(await expectRefused(key.port), 0, 'a third connection is refused: the only server is overloaded');

  await open[0].finish();
  t.equal(await expectRefused(key.port), 0, 'one connection left is not below the lower threshold 1');
  await open[1].finish();
  t.equal(await askName(key.port), 'ta', 'readmitted once below the lower threshold');

  // With another server, an overloaded one is skipped rather than refused.
  await core.addRealServer(key, realServer(b.port));
  const held = [await openClient(key.port), await openClient(key.port)];
  const heldNames = [await held[0].firstLine(), await held[1].firstLine()];
  t.same(heldNames, ['ta', 'tb']);
  const next: string[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await openClient(key.port);
    next.push(await c.firstLine());
    held.push(c);
  }
  t.same(next, ['ta', 'tb', 'tb'], 'ta takes its second connection, then is skipped');
  const [status] = await core.list();
  t.same(
    status.realServers.map((s) => s.activeConns),
    [2, 3],
  );
  for (const c of held) await c.finish();
});

t.test('upper threshold without a lower one readmits below three quarters', async (t) => {
  const [a] = await tcpBackends(t, ['ua']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'wlc');
  await core.addRealServer(key, realServer(a.port, 1, { upperThreshold: 4 }));
  const open: TestClient[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await openClient(key.port);
    t.equal(await c.firstLine(), 'ua');
    open.push(c);
  }
  t.equal(await expectRefused(key.port), 0, 'at 4 connections the server is overloaded');
  await open.pop()!.finish();
  t.equal(await expectRefused(key.port), 0, '3 of 4 is not below three quarters');
  await open.pop()!.finish();
  t.equal(await askName(key.port), 'ua', '2 of 4 is: readmitted');

  for (let i = 0; i < 2; i++) {
    const c = await openClient(key.port);
    await c.firstLine();
    open.push(c);
  }
  t.equal(await expectRefused(key.port), 0, 'overloaded again at 4');
  await core.editRealServer(key, realServer(a.port, 1, { upperThreshold: 10 }));
  t.equal(await askName(key.port), 'ua', 'a raised threshold readmits at once');
  await core.editRealServer(key, realServer(a.port, 1, { upperThreshold: 3 }));
  t.equal(await expectRefused(key.port), 0, 'a threshold lowered below the open count overloads at once');
  for (const c of open) await c.finish();
});

t.test('maxConnections refuses clients beyond it', async (t) => {
  const [a] = await tcpBackends(t, ['mx']);
  const core = newCore(t, { maxConnections: 2 });
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(a.port));
  const open = [await openClient(key.port), await openClient(key.port)];
  for (const c of open) await c.firstLine();
  t.equal(await expectRefused(key.port), 0, 'the third client is closed without reaching a server');
  t.equal(a.accepted(), 2);
  await open[0].finish();
  t.ok(await waitFor(async () => (await core.connections()).length === 1));
  t.equal(await askName(key.port), 'mx', 'room again after one ends');
  await open[1].finish();
});

t.test('an idle connection expires after its state timeout', async (t) => {
  const [a] = await tcpBackends(t, ['idle']);
  const core = newCore(t, { tcpTimeoutMs: 300, tcpFinTimeoutMs: 300 });
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(a.port));
  const client = await openClient(key.port);
  await client.firstLine();
  const [entry] = await core.connections();
  t.equal(entry.state, 'ESTABLISHED');
  t.equal(entry.destination, `127.0.0.1:${a.port}`);
  t.equal(entry.virtual, `127.0.0.1:${key.port}`);
  t.equal(entry.source, `127.0.0.1:${client.socket.localPort}`);
  t.ok(entry.expiresInSec <= 1);
  // Traffic keeps it alive past one timeout...
  for (let i = 0; i < 4; i++) {
    await sleep(120);
    client.socket.write('.');
  }
  t.notOk(client.closed, 'traffic resets the idle timer');
  // ...silence ends it.
  t.ok(await waitFor(() => client.ended, 3000), 'silence closes the client side');
  t.ok(await waitFor(() => a.sockets.size === 0), 'the server side is closed too');
  t.equal((await core.connections()).length, 0);
});

t.test('deleting a service stops new clients; open connections run on; close() ends them', async (t) => {
  const [a] = await tcpBackends(t, ['del']);
  const core = createUserspaceCore();
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  await core.addRealServer(key, realServer(a.port));
  const client = await openClient(key.port);
  await client.firstLine();
  await core.deleteService(key);
  t.same(await core.list(), []);
  await t.rejects(openClient(key.port, undefined, 2000), { code: 'ECONNREFUSED' }, 'the listener is gone');
  client.socket.write('ping');
  t.ok(await client.waitForBytes(4 + 4), 'the open connection still forwards');
  await core.close();
  t.ok(await waitFor(() => client.ended || client.closed), 'close() closes the open connection');
  await a.close();
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(key.port, '127.0.0.1', resolve);
  });
  t.pass('the port is free after close()');
  await new Promise((resolve) => probe.close(resolve));
  await t.rejects(core.addService({ key, scheduler: 'rr', persistence: null }), { code: 'unavailable' });
});

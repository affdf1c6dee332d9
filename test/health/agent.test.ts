// The agent check: tcpvs reads one line from each server's agent and follows
// it (weight NN%, drain, down, up, maint, ready); an agent that cannot be
// reached changes nothing. Also the line reader; the reply parser is in
// agent-reply.test.ts.
import net from 'node:net';
import t from 'tap';
import { AGENT_LINE_LIMIT, readAgentLine } from '../../lib/health/probes.ts';
import { closeServer, listen } from '../helpers/backends.ts';
import { INFO, WARN, closedPort, groupConfig, spread, startFakeAgent, startFlipBackend, startWithHealth, waitFor } from './helpers.ts';

t.test('readAgentLine: a line, a close, a cut line, the size bound and timeouts', async (t) => {
  const replies: Array<(s: net.Socket) => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    replies.shift()?.(s);
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server, sockets));
  const stop = new AbortController();
  const read = (reply: (s: net.Socket) => void, timeoutMs = 300) => {
    replies.push(reply);
    return readAgentLine('127.0.0.1', port, timeoutMs, stop.signal);
  };
  t.same(await read((s) => s.write('50% up\r\nignored second line\n')), { ok: true, line: '50% up' });
  t.same(await read((s) => s.end('drain')), { ok: true, line: 'drain' }, 'a close ends a line without a newline');
  t.match(await read((s) => s.end()), { ok: false, reason: 'closed without a reply' });
  t.match(
    await read((s) => s.write('5'), 80),
    { ok: false, reason: /no complete line within 80ms/ },
    'a line cut by the timeout is not used',
  );
  t.match(await read((s) => s.write('5', () => s.resetAndDestroy())), { ok: false, reason: /ECONNRESET/ });
  const long = await read((s) => s.write('x'.repeat(5000)));
  t.same(long, { ok: true, line: 'x'.repeat(AGENT_LINE_LIMIT) }, 'reading stops at the bound');
  t.match(await readAgentLine('127.0.0.1', await closedPort(), 300, stop.signal), { ok: false, reason: /ECONNREFUSED/ });
  const pending = read(() => {}, 5000);
  setTimeout(() => stop.abort(), 30);
  t.same(await pending, { ok: false, reason: 'stopped' }, 'stop ends a read at once');
  t.same(await readAgentLine('127.0.0.1', port, 300, stop.signal), { ok: false, reason: 'stopped' });
});

t.test('tcpvs follows its agent: 50%, drain, ready, down, up, maint', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const agent = await startFakeAgent(t, '100% ready');
  const { tcpvs, lines, health } = await startWithHealth(
    t,
    groupConfig(
      [
        { port: a.port, weight: 10 },
        { port: b.port, weight: 10 },
      ],
      [`agent ${agent.port} interval 30ms timeout 200ms`],
    ),
  );
  // Both servers are on 127.0.0.1, so one agent answers for both.
  const [serverA, serverB] = tcpvs.servers('g');
  await waitFor(() => agent.connections >= 2, 2000, 'the agent is asked');
  t.same([serverA.weight, serverA.up], [10, true]);

  const seen = (msg: string, after: number) => waitFor(() => lines.slice(after).some((l) => l.msg === msg), 2000, msg);
  agent.line = '50%';
  await waitFor(() => serverA.weight === 5 && serverB.weight === 5, 2000, 'weight 50%');
  t.match(
    lines.find((l) => l.msg === 'agent changed the weight'),
    { level: INFO, check: 'agent', reason: 'agent says "50%"', weight: 5 },
  );

  agent.line = 'drain';
  await waitFor(() => serverA.weight === 0 && serverB.weight === 0, 2000, 'drained');
  t.ok(serverA.up, 'drain keeps the server up');
  t.equal((await spread(tcpvs.port, 2))['status 503'], 2, 'a drained group takes no new requests');

  agent.line = 'ready';
  await waitFor(() => serverA.weight === 5 && serverB.weight === 5, 2000, 'ready ends the drain; the 50% still holds');

  let mark = lines.length;
  agent.line = 'down';
  await waitFor(() => !serverA.up && !serverB.up, 2000, 'agent down');
  await seen('server down', mark);
  t.match(
    lines.slice(mark).find((l) => l.msg === 'server down'),
    { level: WARN, check: 'agent', from: 'up', to: 'down', reason: 'agent says "down"' },
  );
  t.match(health.status()[0].agent, { up: false, line: 'down' });

  mark = lines.length;
  agent.line = 'up 100%';
  await waitFor(() => serverA.up && serverA.weight === 10 && serverB.up && serverB.weight === 10, 2000, 'agent up');
  t.match(
    lines.slice(mark).find((l) => l.msg === 'server up'),
    { level: INFO, check: 'agent', to: 'up' },
  );
  t.same(await spread(tcpvs.port, 4), { A: 2, B: 2 });

  agent.line = 'maint';
  await waitFor(() => !serverA.up && !serverB.up, 2000, 'maint takes them down');
  agent.line = 'up';
  const asked = agent.connections;
  await waitFor(() => agent.connections >= asked + 4, 2000, 'the agent says up a few times');
  t.notOk(serverA.up, '`up` does not end maint');
  agent.line = 'ready';
  await waitFor(() => serverA.up, 2000, '`ready` does');
});

t.test('an agent that cannot be reached changes nothing', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const agent = await startFakeAgent(t, '20%');
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig([{ port: a.port, weight: 10 }], [`agent ${agent.port} interval 25ms timeout 100ms`]),
  );
  const [server] = tcpvs.servers('g');
  await waitFor(() => server.weight === 2, 2000, 'the agent sets 20%');
  await agent.close();
  const mark = lines.length;
  await waitFor(() => lines.slice(mark).filter((l) => l.msg === 'agent check failed').length >= 4, 2000, 'failed agent checks');
  t.match(
    lines.slice(mark).find((l) => l.msg === 'agent check failed'),
    { reason: /ECONNREFUSED/ },
  );
  t.same([server.up, server.weight], [true, 2], 'up, at the last weight the agent gave');
});

t.test('agent and active check together: weight from the agent, up/down from both', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const agent = await startFakeAgent(t, '40% up');
  const { tcpvs } = await startWithHealth(
    t,
    groupConfig(
      [{ port: a.port, weight: 10 }],
      [`agent ${agent.port} interval 25ms`, 'check http /health interval 25ms timeout 1s rise 1 fall 1'],
    ),
  );
  const [server] = tcpvs.servers('g');
  await waitFor(() => server.weight === 4, 2000, 'agent weight');
  a.mode = 'fail';
  await waitFor(() => !server.up, 2000, 'check down');
  const replies = agent.connections;
  await waitFor(() => agent.connections >= replies + 3, 2000, 'three more agent replies');
  t.notOk(server.up, 'the agent saying up does not override the check');
  a.mode = 'ok';
  await waitFor(() => server.up, 2000, 'check up');
  t.equal(server.weight, 4, 'the agent weight holds through the check');
});

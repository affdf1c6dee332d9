// The load agent tcpvs ships (`tcpvs agent --listen HOST:PORT`): its formula,
// its line as tcpvs's own agent check reads it, and agentMain's arguments.
import t from 'tap';
import { parseAgentReply } from '../../lib/health/agent-reply.ts';
import { agentMain, loadAgentLine, loadWeightPercent, readHostLoad, startLoadAgent } from '../../lib/health/agent-server.ts';
import { readAgentLine } from '../../lib/health/probes.ts';
import { closedPort, groupConfig, startFlipBackend, startWithHealth, waitFor } from './helpers.ts';

t.test('the weight formula', async (t) => {
  t.equal(loadWeightPercent(0, 4), 100, 'idle: full weight');
  t.equal(loadWeightPercent(1, 4), 75);
  t.equal(loadWeightPercent(2, 4), 50);
  t.equal(loadWeightPercent(3.9, 4), 3);
  t.equal(loadWeightPercent(4, 4), 1, 'load = CPUs: 1%, never 0');
  t.equal(loadWeightPercent(40, 4), 1, 'overloaded: still 1%');
  t.equal(loadWeightPercent(0.5, 0), 50, 'a CPU count below 1 counts as 1');
  t.equal(loadAgentLine({ load1: 1, cpus: 4, runnable: 3 }), '75% ready # load1 1.00 cpus 4 runnable 3\n');
  t.equal(loadAgentLine({ load1: 0.256, cpus: 2, runnable: null }), '87% ready # load1 0.26 cpus 2\n');
});

t.test('readHostLoad reads this host', async (t) => {
  const load = await readHostLoad();
  t.ok(load.load1 >= 0 && Number.isFinite(load.load1), `load1 ${load.load1}`);
  t.ok(Number.isInteger(load.cpus) && load.cpus >= 1, `cpus ${load.cpus}`);
  if (process.platform === 'linux') t.ok(Number.isInteger(load.runnable) && load.runnable! >= 0, `runnable ${load.runnable}`);
});

t.test('the load agent answers each connection with one parseable line', async (t) => {
  const agent = await startLoadAgent({ host: '127.0.0.1', port: 0 });
  t.teardown(() => agent.close());
  const stop = new AbortController().signal;
  for (let i = 0; i < 3; i++) {
    const read = await readAgentLine('127.0.0.1', agent.port, 1000, stop);
    if (!read.ok) {
      t.fail(read.reason);
      return;
    }
    t.match(read.line, /^\d{1,3}% ready # load1 \d+\.\d\d cpus \d+( runnable \d+)?$/);
    const reply = parseAgentReply(read.line);
    t.ok(reply.percent !== null && reply.percent >= 1 && reply.percent <= 100, `percent ${reply.percent}`);
    t.match(reply, { state: 'up', admin: 'ready', ignored: [] });
  }
});

t.test('tcpvs sets weights from the load agent', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const agent = await startLoadAgent({ host: '127.0.0.1', port: 0, readLoad: async () => ({ load1: 3, cpus: 4, runnable: 2 }) });
  t.teardown(() => agent.close());
  const { tcpvs, health } = await startWithHealth(t, groupConfig([{ port: a.port, weight: 40 }], [`agent ${agent.port} interval 30ms`]));
  const [server] = tcpvs.servers('g');
  await waitFor(() => server.weight === 10, 2000, '25% of 40');
  t.match(health.status()[0].agent, { up: true, percent: 25, line: '25% ready # load1 3.00 cpus 4 runnable 2' });
});

t.test('agentMain: arguments, listening, stopping', async (t) => {
  const written: string[] = [];
  const io = { stdout: (text: string) => written.push(text), stderr: (text: string) => written.push(text) };
  t.equal(await agentMain([], io), 2);
  t.match(written.pop(), /--listen HOST:PORT is required/);
  t.equal(await agentMain(['--bogus'], io), 2);
  t.match(written.pop(), /unexpected '--bogus'/);
  t.equal(await agentMain(['--listen', 'nowhere'], io), 2);
  t.match(written.pop(), /^tcpvs agent: /);
  t.equal(await agentMain(['--help'], io), 0);
  t.match(written.pop(), /usage: tcpvs agent --listen HOST:PORT/);

  const busy = await startLoadAgent({ host: '127.0.0.1', port: 0 });
  t.equal(await agentMain([`--listen=127.0.0.1:${busy.port}`], io), 1, 'a port in use: exit 1');
  t.match(written.pop(), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  await busy.close();

  const port = await closedPort();
  const stop = new AbortController();
  const running = agentMain(['-l', `127.0.0.1:${port}`], { ...io, stop: stop.signal });
  await waitFor(() => written.some((w) => w.includes(`listening on 127.0.0.1:${port}`)), 2000, 'agentMain listens');
  const read = await readAgentLine('127.0.0.1', port, 1000, new AbortController().signal);
  t.equal(read.ok, true, 'and answers');
  stop.abort();
  t.equal(await running, 0, 'stops with 0');
});

// Slow start: a server that comes back up (from an active check or an
// ejection) ramps its effective weight from about a tenth to its configured
// weight over the slow-start time; each step reaches the data path, whose
// scheduler is refreshed at its next request.
import t from 'tap';
import { groupConfig, startFlipBackend, startWithHealth, waitFor } from './helpers.ts';
import { quietFor, sleep } from '../helpers/wait.ts';

/** Samples `read` every 15 ms until `done` holds on a sample (bounded). */
async function sampleUntil(read: () => number, done: (v: number) => boolean, timeoutMs: number): Promise<Array<{ at: number; v: number }>> {
  const samples: Array<{ at: number; v: number }> = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = read();
    samples.push({ at: Date.now(), v });
    if (done(v)) return samples;
    if (Date.now() > deadline) throw new Error(`no final sample within ${timeoutMs} ms: ${samples.map((s) => s.v).join(',')}`);
    await sleep(15);
  }
}

function monotone(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v >= values[i - 1]);
}

t.test('after an active check brings a server back, its weight ramps to the configured weight', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const { tcpvs, lines } = await startWithHealth(
    t,
    groupConfig(
      [
        { port: a.port, weight: 20 },
        { port: b.port, weight: 20 },
      ],
      ['check http /health interval 25ms timeout 1s rise 1 fall 1', 'slow-start 600ms'],
      'wrr',
    ),
  );
  const group = tcpvs.group('g');
  const [serverA, serverB] = tcpvs.servers('g');
  t.same([serverA.weight, serverB.weight], [20, 20], 'no slow start when tcpvs starts');
  let refreshes = 0;
  const weightChanged = group.scheduler.weightChanged.bind(group.scheduler);
  group.scheduler.weightChanged = (server, previous) => {
    refreshes++;
    weightChanged(server, previous);
  };

  a.mode = 'fail';
  await waitFor(() => !serverA.up, 2000, 'A goes down');
  a.mode = 'ok';
  await waitFor(() => serverA.up, 2000, 'A comes back');
  const upAt = Date.now();
  let inStep = 0;
  const samples = await sampleUntil(
    () => {
      group.sync(); // what the data path does at each request
      if (group.servers[0].weight === serverA.weight) inStep++;
      return serverA.weight;
    },
    (w) => w === 20,
    3000,
  );
  const values = samples.map((s) => s.v);
  t.ok(values[0] <= 4, `starts near a tenth of 20 (first ${values[0]})`);
  t.ok(values[0] >= 1, 'never 0 while up');
  t.ok(monotone(values), `weights never go down: ${values.join(',')}`);
  t.ok(new Set(values).size >= 5, `several steps on the way (${[...new Set(values)].join(',')})`);
  const tookMs = samples[samples.length - 1].at - upAt;
  t.ok(tookMs >= 450 && tookMs < 2000, `reaches 20 after about the slow-start time (${tookMs} ms)`);
  t.equal(inStep, samples.length, 'the data path sees every step at its next request');
  t.ok(refreshes >= new Set(values).size - 1, `and tells its scheduler of each (${refreshes})`);
  t.equal(serverB.weight, 20, 'the other server is untouched');
  await quietFor(120, 'the weight moving past the configured one');
  t.equal(serverA.weight, 20, 'and it stays at the configured weight');
  t.match(
    lines.find((l) => l.msg === 'server up'),
    { check: 'http', weight: values[0] },
  );
});

t.test('slow start after an ejection, and a quiescent server stays at 0', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const b = await startFlipBackend(t, 'B');
  const { tcpvs, health } = await startWithHealth(
    t,
    groupConfig(
      [
        { port: a.port, weight: 10 },
        { port: b.port, weight: 0 },
      ],
      ['eject after 1 failures backoff 50ms', 'slow-start 300ms'],
    ),
  );
  const group = tcpvs.group('g');
  const [serverA, serverB] = tcpvs.servers('g');
  group.passive!.requestEnded(group.servers[0], 'ok', 500);
  t.notOk(serverA.up, 'ejected');
  await waitFor(() => serverA.up, 2000, 're-admitted');
  t.match(health.status()[0], { slowStart: true });
  const values = (
    await sampleUntil(
      () => serverA.weight,
      (w) => w === 10,
      2000,
    )
  ).map((s) => s.v);
  t.ok(values[0] <= 2, `starts low (${values[0]})`);
  t.ok(monotone(values), `monotone: ${values.join(',')}`);
  await waitFor(() => !health.status()[0].slowStart, 2000, 'the ramp ends');
  t.match(health.status()[0], { weight: 10, configuredWeight: 10 });

  group.passive!.requestEnded(group.servers[1], 'ok', 500);
  t.notOk(serverB.up);
  await waitFor(() => serverB.up, 2000, 'B re-admitted');
  t.equal(serverB.weight, 0, 'weight 0 stays 0 through the ramp');
});

t.test('a server that goes down during the ramp starts the ramp over when it returns', async (t) => {
  const a = await startFlipBackend(t, 'A');
  const { tcpvs } = await startWithHealth(
    t,
    groupConfig([{ port: a.port, weight: 30 }], ['check http /health interval 20ms timeout 1s rise 1 fall 1', 'slow-start 2s']),
  );
  const [serverA] = tcpvs.servers('g');
  a.mode = 'fail';
  await waitFor(() => !serverA.up, 2000, 'down');
  a.mode = 'ok';
  await waitFor(() => serverA.up, 2000, 'up');
  await waitFor(() => serverA.weight >= 9, 3000, 'ramping');
  a.mode = 'fail';
  await waitFor(() => !serverA.up, 2000, 'down again mid-ramp');
  a.mode = 'ok';
  await waitFor(() => serverA.up, 2000, 'up again');
  t.ok(serverA.weight <= 6, `the ramp starts over (weight ${serverA.weight})`);
});

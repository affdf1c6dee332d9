import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { Scheduler } from '../../lib/sched/index.ts';

const runFile = promisify(execFile);

const SPECS = [
  { host: '10.0.0.1', port: 8080, weight: 3 },
  { host: '10.0.0.2', port: 8080, weight: 1 },
  { host: 'fd00::3', port: 8080, weight: 4 },
];
const TOTAL_WEIGHT = SPECS.reduce((sum, s) => sum + s.weight, 0);

function clientOf(n: number): string {
  return n % 4 === 3 ? `2001:db8::${n.toString(16)}` : `198.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function pickName(scheduler: Scheduler, clientAddress: string, key: string | undefined = '/'): string | undefined {
  return scheduler.pick({ key, clientAddress })?.name;
}

function mapClients(scheduler: Scheduler, count: number): (string | undefined)[] {
  return Array.from({ length: count }, (_, n) => pickName(scheduler, clientOf(n)));
}

t.test('one client maps to one server whatever it requests, across 10k picks, instances and config order', async (t) => {
  const sh = createScheduler('sh', makeRealServers(SPECS), {});
  t.equal(sh.usesKey, false);
  const first = pickName(sh, '192.0.2.77');
  let moved = 0;
  for (let n = 0; n < 10_000; n++) {
    if (pickName(sh, '192.0.2.77', `/page/${n}`) !== first) moved++;
    if (pickName(sh, '192.0.2.77', undefined) !== first) moved++;
    pickName(sh, clientOf(n)); // other clients in between
  }
  t.equal(moved, 0, 'the client never moved, whatever its key');
  const mapping = mapClients(sh, 1000);
  t.same(mapClients(createScheduler('sh', makeRealServers(SPECS), {}), 1000), mapping, 'a new instance agrees');
  t.same(mapClients(createScheduler('sh', makeRealServers([...SPECS].reverse()), {}), 1000), mapping, 'reversed config order agrees');
  t.equal(new Set(mapping).size, SPECS.length, 'clients reach every server');
});

t.test('another process computes the same mapping', async (t) => {
  const indexUrl = new URL('../../lib/sched/index.ts', import.meta.url).href;
  const childProgram = `
    import { createScheduler, makeRealServers } from ${JSON.stringify(indexUrl)};
    const sh = createScheduler('sh', makeRealServers(JSON.parse(process.argv[1])), {});
    const clients = JSON.parse(process.argv[2]);
    process.stdout.write(JSON.stringify(clients.map((clientAddress) => sh.pick({ key: undefined, clientAddress })?.name)));
  `;
  const clients = Array.from({ length: 1000 }, (_, n) => clientOf(n));
  const { stdout } = await runFile(
    process.execPath,
    ['--input-type=module', '-e', childProgram, JSON.stringify(SPECS), JSON.stringify(clients)],
    {
      timeout: 30_000,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    },
  );
  const theirs = JSON.parse(stdout) as string[];
  t.equal(theirs.length, 1000);
  t.same(theirs, mapClients(createScheduler('sh', makeRealServers(SPECS), {}), 1000));
});

t.test('clients spread in proportion to weight', async (t) => {
  const servers = makeRealServers(SPECS);
  const sh = createScheduler('sh', servers, {});
  const clientCount = 60_000;
  const counts = new Map<string, number>();
  for (const name of mapClients(sh, clientCount)) counts.set(name!, (counts.get(name!) ?? 0) + 1);
  for (const server of servers) {
    const share = (counts.get(server.name) ?? 0) / clientCount;
    const expected = server.weight / TOTAL_WEIGHT;
    t.ok(Math.abs(share - expected) <= 0.01, `${server.name}: client share ${share.toFixed(4)} within 0.01 of ${expected.toFixed(4)}`);
  }
});

t.test('a down server: only its clients move, and they come back', async (t) => {
  const servers = makeRealServers(SPECS);
  const sh = createScheduler('sh', servers, {});
  const before = mapClients(sh, 10_000);
  const down = servers[0];
  down.up = false;
  resync(sh, servers);
  const during = mapClients(sh, 10_000);
  let movedFromOthers = 0;
  let movedFromDown = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === down.name) {
      if (during[i] !== down.name) movedFromDown++;
    } else if (during[i] !== before[i]) movedFromOthers++;
  }
  t.equal(movedFromOthers, 0, 'clients of the other servers stay put');
  t.equal(movedFromDown, before.filter((n) => n === down.name).length, 'every client of the down server moved');
  t.ok(movedFromDown > 1000);
  down.up = true;
  resync(sh, servers);
  t.same(mapClients(sh, 10_000), before, 'the same mapping once it is back');
});

t.test('quiescent servers take no clients; none usable gives null', async (t) => {
  const servers = makeRealServers(SPECS);
  const sh = createScheduler('sh', servers, {});
  servers[2].weight = 0;
  t.notOk(mapClients(sh, 5000).includes(servers[2].name), 'skipped before refresh');
  resync(sh, servers);
  t.notOk(mapClients(sh, 5000).includes(servers[2].name), 'and after');
  servers[0].up = false;
  servers[1].up = false;
  t.equal(pickName(sh, '192.0.2.1'), undefined);
  t.equal(pickName(createScheduler('sh', [], {}), '192.0.2.1'), undefined);
  servers[2].weight = 1; // usable again, outside the table until refresh()
  t.equal(pickName(sh, '192.0.2.1'), servers[2].name);
});

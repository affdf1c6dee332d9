// The change callbacks (serverUp, serverDown, weightChanged) through
// setServerState: each scheduler updates what the change touches and no more.
import t from 'tap';
import { createScheduler, makeRealServers, setServerState } from '../../lib/sched/index.ts';
import type { PickContext, RealServer, Scheduler } from '../../lib/sched/index.ts';
import type { MaglevScheduler } from '../../lib/sched/mh.ts';
import type { DestinationHashScheduler } from '../../lib/sched/dh.ts';
import type { SourceHashScheduler } from '../../lib/sched/sh.ts';

const SPECS = [
  { host: '10.0.0.1', port: 80, weight: 1 },
  { host: '10.0.0.2', port: 80, weight: 2 },
  { host: '10.0.0.3', port: 80, weight: 3 },
  { host: '10.0.0.4', port: 80, weight: 0 },
];

const ctx = (key: string | undefined, client = '192.0.2.1'): PickContext => ({ key, clientAddress: client });

/** Servers for `count` keys, each from a client of its own (sh hashes the client). */
function picks(scheduler: Scheduler, count: number): number[] {
  return Array.from({ length: count }, (_, n) => scheduler.pick(ctx(`/k/${n}`, `198.51.${n >> 8}.${n & 255}`))?.id ?? -1);
}

t.test('mh: the table is rebuilt only when the usable set or a usable weight changes, once per batch', async (t) => {
  const servers = makeRealServers(SPECS);
  const mh = createScheduler('mh', servers, { tableSize: 1009 }) as MaglevScheduler;
  const count = (): number => {
    mh.pick(ctx('/probe')); // builds happen at the next pick
    return mh.builds;
  };
  const start = count();
  setServerState(mh, servers[3], false, 0);
  setServerState(mh, servers[3], true, 0);
  t.equal(count(), start, 'up/down of a quiescent server: not in the table, no rebuild');
  setServerState(mh, servers[1], false, 2);
  t.equal(count(), start + 1, 'a usable server goes down: one rebuild');
  setServerState(mh, servers[1], false, 7);
  setServerState(mh, servers[1], false, 2);
  t.equal(count(), start + 1, 'weight changes while it is down: no rebuild');
  setServerState(mh, servers[1], true, 2);
  t.equal(count(), start + 2, 'it comes back: one rebuild (Maglev repopulates the table)');
  const table = Array.from({ length: 1009 }, (_, slot) => mh.slotOwner(slot)?.id);
  setServerState(mh, servers[1], false, 5);
  t.equal(count(), start + 3, 'down and reweighted in one change: one rebuild, not two');
  setServerState(mh, servers[1], true, 2);
  t.equal(count(), start + 4);
  t.same(
    Array.from({ length: 1009 }, (_, slot) => mh.slotOwner(slot)?.id),
    table,
    'after the flap, the same table as before it',
  );
  setServerState(mh, servers[0], true, 4);
  setServerState(mh, servers[2], true, 4);
  setServerState(mh, servers[1], true, 4);
  t.equal(count(), start + 5, 'three weight changes before a pick: one rebuild');
});

t.test('dh and sh: up/down keeps the bucket table, a weight change rebuilds it', async (t) => {
  for (const name of ['dh', 'sh']) {
    const servers = makeRealServers(SPECS);
    const scheduler = createScheduler(name, servers, {}) as DestinationHashScheduler | SourceHashScheduler;
    const before = picks(scheduler, 200);
    const builds = scheduler.builds;
    setServerState(scheduler, servers[2], false, 3);
    const down = picks(scheduler, 200);
    t.notOk(down.includes(2), `${name}: a down server gets nothing`);
    t.equal(scheduler.builds, builds, `${name}: and the table stays`);
    setServerState(scheduler, servers[2], true, 3);
    t.same(picks(scheduler, 200), before, `${name}: its keys come back with it`);
    t.equal(scheduler.builds, builds, `${name}: still no rebuild`);
    setServerState(scheduler, servers[3], true, 5);
    const reweighted = picks(scheduler, 200);
    t.equal(scheduler.builds, builds + 1, `${name}: a weight change rebuilds once`);
    t.ok(reweighted.includes(3), `${name}: the newly weighted server gets keys`);
  }
});

t.test('the least-load family picks by the new state right after each callback', async (t) => {
  for (const name of ['lc', 'wlc', 'sed', 'nq']) {
    const servers = makeRealServers([
      { host: '10.0.0.1', port: 80, weight: 1 },
      { host: '10.0.0.2', port: 80, weight: 1 },
    ]);
    const scheduler = createScheduler(name, servers, {});
    servers[0].active = 5; // busy
    t.equal(scheduler.pick(ctx(undefined))?.id, 1, `${name}: the idle server`);
    setServerState(scheduler, servers[1], false, 1);
    t.equal(scheduler.pick(ctx(undefined))?.id, 0, `${name}: it went down, the busy one is all there is`);
    setServerState(scheduler, servers[1], true, 1);
    t.equal(scheduler.pick(ctx(undefined))?.id, 1, `${name}: back up, idle again`);
    setServerState(scheduler, servers[1], true, 0);
    t.equal(scheduler.pick(ctx(undefined))?.id, 0, `${name}: quiescent, skipped`);
    setServerState(scheduler, servers[0], false, 1);
    t.equal(scheduler.pick(ctx(undefined)), null, `${name}: nothing usable`);
  }
});

t.test('wrr and p2c follow up/down and weights through the callbacks', async (t) => {
  const servers = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 1 },
    { host: '10.0.0.2', port: 80, weight: 3 },
  ]);
  const wrr = createScheduler('wrr', servers, {});
  const share = (s: Scheduler, n: number): number[] => {
    const counts = [0, 0];
    for (let i = 0; i < n; i++) counts[(s.pick(ctx(undefined)) as RealServer).id]++;
    return counts;
  };
  t.same(share(wrr, 400), [100, 300], 'wrr 1:3');
  setServerState(wrr, servers[0], true, 3);
  t.same(share(wrr, 600), [300, 300], 'wrr reweighted to 3:3');
  setServerState(wrr, servers[1], false, 3);
  t.same(share(wrr, 10), [10, 0], 'wrr: a down server is skipped');

  const p2c = createScheduler('p2c', servers, { seed: 1 });
  t.same(share(p2c, 50), [50, 0], 'p2c: only the usable server');
  setServerState(p2c, servers[1], true, 3);
  const both = share(p2c, 200);
  t.ok(both[0] > 0 && both[1] > 0, `p2c: both again after up (${both.join(':')})`);
});

t.test('mh with balance-factor: bounded load spreads a hot key, plain mh does not', async (t) => {
  const specs = Array.from({ length: 5 }, (_, i) => ({ host: `10.0.1.${i + 1}`, port: 80, weight: 1 }));
  const spread = (options: { balanceFactor?: number; balanceOn?: 'requests' | 'active' }): number[] => {
    const servers = makeRealServers(specs);
    const mh = createScheduler('mh', servers, { tableSize: 1009, ...options });
    const counts = servers.map(() => 0);
    // One hot key among a few cold ones: 900 of 1000 requests.
    for (let i = 0; i < 1000; i++) counts[(mh.pick(ctx(i % 10 === 0 ? `/cold/${i}` : '/hot')) as RealServer).id]++;
    return counts;
  };
  const plain = spread({});
  t.ok(Math.max(...plain) >= 900, `plain Maglev: the hot key's server takes it all (${plain.join(',')})`);
  const bounded = spread({ balanceFactor: 1.25 });
  // Each server's count stays within ceil(1.25 × (total + 1) / 5), about 251 at the end.
  t.ok(Math.max(...bounded) <= Math.ceil((1.25 * 1001) / 5), `bounded: no server above its bound (${bounded.join(',')})`);
  t.ok(Math.min(...bounded) > 0, 'bounded: every server takes a share');
  const active = spread({ balanceOn: 'active' });
  t.ok(Math.max(...active) >= 900, 'balance-on active with nothing in flight: nobody is over the bound');
});

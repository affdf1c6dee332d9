import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { RealServer, SchedulerOptions } from '../../lib/sched/index.ts';
import type { LocalityLeastConnectionScheduler } from '../../lib/sched/lblc.ts';

function lblcFor(servers: RealServer[], options: SchedulerOptions = {}): LocalityLeastConnectionScheduler {
  return createScheduler('lblc', servers, options) as LocalityLeastConnectionScheduler;
}

function pickId(lblc: LocalityLeastConnectionScheduler, key: string | undefined): number | undefined {
  return lblc.pick({ key, clientAddress: '127.0.0.1' })?.id;
}

/** A clock the test moves by hand; starts above 0, which lru-cache reads as "no TTL". */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

t.test('a key sticks to its server while that server is not overloaded', async (t) => {
  const servers = group([4, 4, 4]);
  const lblc = lblcFor(servers);
  t.equal(lblc.usesKey, true);
  const home = pickId(lblc, '/a')!;
  // Load it up to its weight (not beyond) while the others idle: no move,
  // though wlc would now choose another server.
  servers[home].active = 4;
  for (let i = 0; i < 100; i++) t.equal(pickId(lblc, '/a'), home);
  // Hold requests open on the key: it stays until active passes the weight.
  const held: number[] = [];
  servers[home].active = 0;
  for (let i = 0; i < 5; i++) {
    const id = pickId(lblc, '/a')!;
    servers[id].active++;
    held.push(id);
  }
  t.same(held, [home, home, home, home, home], 'the 5th request sees active 4 = weight: not overloaded');
  t.not(pickId(lblc, '/a'), home, 'the 6th sees active 5 > weight with idle servers around: moved');
});

t.test('overloaded means active > weight AND some server below half its weight; only then does a key move', async (t) => {
  const servers = group([4, 4, 4]);
  const lblc = lblcFor(servers);
  const home = pickId(lblc, '/k')!;
  const others = [0, 1, 2].filter((i) => i !== home);
  servers[home].active = 50; // far beyond its weight
  servers[others[0]].active = 2; // 2 * 2 = 4, not below the weight 4
  servers[others[1]].active = 3;
  for (let i = 0; i < 100; i++) t.equal(pickId(lblc, '/k'), home, 'no other server under half load: the key stays');
  servers[others[0]].up = false;
  servers[others[0]].active = 0; // idle but down: no spare capacity
  for (let i = 0; i < 10; i++) t.equal(pickId(lblc, '/k'), home, 'an idle down server does not count');
  servers[others[0]].up = true;
  servers[others[0]].active = 1; // 1 * 2 < 4: the home server is now overloaded
  t.equal(pickId(lblc, '/k'), others[0], 'moved to the weighted least-connection server');
  t.equal(lblc.assigned('/k'), others[0], 'and the table says so');
  servers[home].active = 0;
  for (let i = 0; i < 20; i++) t.equal(pickId(lblc, '/k'), others[0], 'no move back once the old server is idle');
});

t.test('a down or quiescent server loses its keys to wlc; they stay moved', async (t) => {
  const servers = group([2, 2, 2]);
  const lblc = lblcFor(servers);
  const keys = Array.from({ length: 30 }, (_, n) => `/k${n}`);
  const homes = keys.map((k) => pickId(lblc, k)!);
  t.equal(new Set(homes).size, 3, 'new keys spread by wlc rotation');
  const victim = homes[0];
  servers[victim].up = false; // no refresh needed
  const moved = keys.map((k) => pickId(lblc, k)!);
  for (let i = 0; i < keys.length; i++) {
    if (homes[i] === victim) t.not(moved[i], victim, `${keys[i]} left the down server`);
    else t.equal(moved[i], homes[i], `${keys[i]} stayed`);
  }
  servers[victim].up = true;
  t.same(
    keys.map((k) => pickId(lblc, k)),
    moved,
    'keys do not return when it is back',
  );
  const quiesced = moved[1];
  servers[quiesced].weight = 0;
  resync(lblc, servers);
  for (let i = 0; i < keys.length; i++) t.not(pickId(lblc, keys[i]), quiesced, `${keys[i]} not on the quiescent server`);
});

t.test('the table is bounded by maxEntries, least recently used out first', async (t) => {
  const lblc = lblcFor(group([1, 1, 1]), { maxEntries: 100 });
  let most = 0;
  for (let n = 0; n < 1000; n++) {
    pickId(lblc, `/k${n}`);
    if (n % 10 === 0) pickId(lblc, '/kept'); // used often: survives
    most = Math.max(most, lblc.entries);
  }
  t.equal(most, 100, 'never above the bound');
  t.equal(lblc.entries, 100);
  t.not(lblc.assigned('/kept'), undefined, 'a key in use stays');
  t.equal(lblc.assigned('/k0'), undefined, 'an old key was evicted');
  t.not(lblc.assigned('/k999'), undefined, 'the newest key is there');
  t.equal(lblcFor(group([1])).pick({ key: 'x', clientAddress: '' })?.id, 0, 'the default bound works too');
});

t.test('an entry unused for expireMs is dropped; each use renews it', async (t) => {
  const clock = manualClock();
  const servers = group([4, 4]);
  const lblc = lblcFor(servers, { expireMs: 1000, clock: clock.now });
  const home = pickId(lblc, '/e')!;
  const other = 1 - home;
  servers[home].active = 2; // not overloaded, but wlc would choose the other server
  clock.advance(900);
  t.equal(pickId(lblc, '/e'), home, 'used again within expireMs');
  clock.advance(900); // 1800 since the first use, 900 since the last
  t.equal(pickId(lblc, '/e'), home, 'the use renewed it');
  clock.advance(1001);
  t.equal(lblc.assigned('/e'), undefined, 'expired');
  t.equal(pickId(lblc, '/e'), other, 'scheduled afresh by wlc');
  t.equal(lblc.assigned('/e'), other);
});

t.test('keyless requests go to wlc and are not entered', async (t) => {
  const servers = group([1, 3]);
  const lblc = lblcFor(servers);
  for (let i = 0; i < 40; i++) servers[pickId(lblc, undefined)!].active++;
  t.same(
    servers.map((s) => s.active),
    [10, 30],
  );
  t.equal(lblc.entries, 0);
});

t.test('none usable gives null and leaves the table alone', async (t) => {
  const servers = group([1, 0]);
  const lblc = lblcFor(servers);
  t.equal(pickId(lblc, '/n'), 0);
  servers[0].up = false;
  resync(lblc, servers);
  t.equal(pickId(lblc, '/n'), undefined);
  t.equal(pickId(lblc, '/new'), undefined);
  t.equal(lblc.assigned('/n'), 0);
  t.equal(lblc.assigned('/new'), undefined);
  t.equal(pickId(lblcFor([]), '/x'), undefined);
});

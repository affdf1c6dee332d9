import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { serverGroup as group } from '../helpers/sched-sim.ts';
import { createScheduler } from '../../lib/sched/index.ts';
import type { RealServer, SchedulerOptions } from '../../lib/sched/index.ts';
import type { LocalityReplicatedScheduler } from '../../lib/sched/lblcr.ts';

function lblcrFor(servers: RealServer[], options: SchedulerOptions = {}): LocalityReplicatedScheduler {
  return createScheduler('lblcr', servers, options) as LocalityReplicatedScheduler;
}

function pickId(lblcr: LocalityReplicatedScheduler, key: string | undefined): number | undefined {
  return lblcr.pick({ key, clientAddress: '127.0.0.1' })?.id;
}

function sorted(ids: readonly number[] | undefined): number[] {
  return [...(ids ?? [])].sort((a, b) => a - b);
}

/** A clock the test moves by hand; starts above 0, which lru-cache reads as "no TTL". */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/** Hold `count` requests for `key` open; returns the server of each. */
function hold(lblcr: LocalityReplicatedScheduler, servers: RealServer[], key: string, count: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = pickId(lblcr, key)!;
    servers[id].active++;
    ids.push(id);
  }
  return ids;
}

t.test('the set grows exactly when its least loaded member is overloaded', async (t) => {
  const servers = group([2, 2, 2, 2, 2, 2]);
  const lblcr = lblcrFor(servers);
  t.equal(lblcr.usesKey, true);
  let grewWrongly = 0;
  let offSet = 0;
  for (let i = 0; i < 15; i++) {
    const before = [...(lblcr.members('/hot') ?? [])];
    // The rule, from the outside: the least active/weight usable member has
    // active > weight while some up server has active * 2 < weight.
    const least = before.map((id) => servers[id]).sort((a, b) => a.active / a.weight - b.active / b.weight)[0];
    const overloaded = least !== undefined && least.active > least.weight && servers.some((s) => s.up && s.active * 2 < s.weight);
    const id = hold(lblcr, servers, '/hot', 1)[0];
    const after = lblcr.members('/hot')!;
    if (before.length > 0 && after.length > before.length !== overloaded) grewWrongly++;
    if (!after.includes(id)) offSet++;
  }
  t.equal(grewWrongly, 0, 'grew on every overload and never otherwise');
  t.equal(offSet, 0, 'every request went to a member');
  // Each member takes weight + 1 = 3 requests before it counts as overloaded.
  t.equal(lblcr.members('/hot')!.length, 5);
  t.same(sorted(lblcr.members('/hot')!.map((id) => servers[id].active)), [3, 3, 3, 3, 3]);
});

t.test('no growth while no server is below half its weight', async (t) => {
  const servers = group([2, 2, 2, 2]);
  const lblcr = lblcrFor(servers);
  const home = pickId(lblcr, '/k')!;
  for (const s of servers) s.active = 1; // 1 * 2 = 2: not below the weight
  servers[home].active = 40;
  for (let i = 0; i < 100; i++) t.equal(pickId(lblcr, '/k'), home);
  t.same(lblcr.members('/k'), [home]);
  const spare = (home + 1) % 4;
  servers[spare].active = 0;
  t.equal(pickId(lblcr, '/k'), spare, 'a server below half its weight: the set takes it');
  t.same(sorted(lblcr.members('/k')), sorted([home, spare]));
});

t.test('requests spread over the set and nowhere else', async (t) => {
  const servers = group([2, 2, 2, 2, 2]);
  const lblcr = lblcrFor(servers);
  hold(lblcr, servers, '/hot', 9); // three members of three each, as above
  const members = sorted(lblcr.members('/hot'));
  t.equal(members.length, 3);
  for (const s of servers) s.active = 0;
  // Keep at most 6 in flight: the least loaded member never passes its weight.
  const counts = servers.map(() => 0);
  const held: number[] = [];
  for (let step = 0; step < 3000; step++) {
    if (held.length >= 6 || (held.length > 0 && step % 3 === 2)) {
      const id = held.splice((step * 7) % held.length, 1)[0];
      servers[id].active--;
      continue;
    }
    const id = pickId(lblcr, '/hot')!;
    servers[id].active++;
    held.push(id);
    counts[id]++;
  }
  const picks = counts.reduce((a, b) => a + b, 0);
  t.same(sorted(lblcr.members('/hot')), members, 'the set did not change');
  for (let id = 0; id < servers.length; id++) {
    if (members.includes(id)) t.ok(counts[id] >= picks * 0.25, `member ${id} took ${counts[id]} of ${picks}`);
    else t.equal(counts[id], 0, `non-member ${id} took none`);
  }
});

t.test('a set unchanged for setExpireMs sheds its most loaded member, one per request', async (t) => {
  const clock = manualClock();
  const servers = group([2, 2, 2, 2]);
  const lblcr = lblcrFor(servers, { setExpireMs: 10_000, clock: clock.now });
  hold(lblcr, servers, '/s', 9);
  const members = sorted(lblcr.members('/s'));
  t.equal(members.length, 3);
  const [a, b, c] = members;
  for (const s of servers) s.active = 0;
  servers[a].active = 1;
  servers[b].active = 2; // the most loaded member, not overloaded
  clock.advance(10_000);
  t.equal(pickId(lblcr, '/s'), c, 'at setExpireMs exactly: nothing shed; least loaded member');
  t.equal(lblcr.members('/s')!.length, 3);
  clock.advance(1);
  t.equal(pickId(lblcr, '/s'), c);
  t.same(sorted(lblcr.members('/s')), [a, c], 'past it: the most loaded member left');
  t.equal(pickId(lblcr, '/s'), c);
  t.equal(lblcr.members('/s')!.length, 2, 'the removal counts as a change: no second removal at once');
  clock.advance(10_001);
  pickId(lblcr, '/s');
  t.same(lblcr.members('/s'), [c], 'the next most loaded left after another setExpireMs');
  clock.advance(1_000_000);
  t.equal(pickId(lblcr, '/s'), c);
  t.same(lblcr.members('/s'), [c], 'a set of one is never emptied');
});

t.test('growth counts as a change and restarts the set timer; quiescent members are not shed', async (t) => {
  const clock = manualClock();
  const servers = group([2, 2, 2]);
  const lblcr = lblcrFor(servers, { setExpireMs: 10_000, clock: clock.now });
  const first = pickId(lblcr, '/g')!;
  clock.advance(6000);
  servers[first].active = 3; // overloaded, others idle
  const second = pickId(lblcr, '/g')!;
  t.not(second, first);
  servers[first].active = 2;
  clock.advance(6000); // 12 s since the set was made, 6 s since it grew
  pickId(lblcr, '/g');
  t.equal(lblcr.members('/g')!.length, 2, 'no shrink: the set changed 6 s ago');
  servers[first].weight = 0; // quiescent: skipped, and never "most loaded"
  servers[second].active = 1;
  clock.advance(4001);
  t.equal(pickId(lblcr, '/g'), second);
  t.same(lblcr.members('/g'), [first], 'the only weighted member left; the quiescent one stays');
});

t.test('down and quiescent members are skipped; a set with none usable grows', async (t) => {
  const servers = group([2, 2, 2]);
  const lblcr = lblcrFor(servers);
  hold(lblcr, servers, '/d', 6);
  const [x, y] = lblcr.members('/d')!;
  for (const s of servers) s.active = 0;
  servers[x].up = false; // no refresh
  for (let i = 0; i < 10; i++) t.equal(pickId(lblcr, '/d'), y);
  servers[y].weight = 0;
  const z = pickId(lblcr, '/d')!;
  t.not(z, x);
  t.not(z, y);
  t.same(sorted(lblcr.members('/d')), sorted([x, y, z]), 'no usable member: wlc added one');
  servers[z].up = false;
  resync(lblcr, servers);
  t.equal(pickId(lblcr, '/d'), undefined, 'none usable: null');
  t.equal(pickId(lblcr, '/new'), undefined);
  t.equal(lblcr.members('/new'), undefined, 'no entry for a key that got no server');
});

t.test('the table is bounded by maxEntries and entries expire after expireMs unused', async (t) => {
  const clock = manualClock();
  const servers = group([1, 1, 1]);
  const lblcr = lblcrFor(servers, { maxEntries: 50, expireMs: 5000, clock: clock.now });
  let most = 0;
  for (let n = 0; n < 500; n++) {
    pickId(lblcr, `/k${n}`);
    if (n % 10 === 0) pickId(lblcr, '/kept');
    most = Math.max(most, lblcr.entries);
  }
  t.equal(most, 50, 'never above the bound');
  t.not(lblcr.members('/kept'), undefined, 'a key in use stays');
  t.equal(lblcr.members('/k0'), undefined, 'an old key was evicted');
  const home = lblcr.members('/kept')![0];
  servers[home].active = 1; // not overloaded (1 = weight), but wlc would go elsewhere
  clock.advance(4000);
  t.equal(pickId(lblcr, '/kept'), home, 'within expireMs of its last use');
  clock.advance(4000);
  t.equal(pickId(lblcr, '/kept'), home, 'renewed by the use');
  clock.advance(5001);
  t.equal(lblcr.members('/kept'), undefined, 'expired');
  t.not(pickId(lblcr, '/kept'), home, 'scheduled afresh by wlc');
});

t.test('keyless requests go to wlc and are not entered', async (t) => {
  const servers = group([1, 3]);
  const lblcr = lblcrFor(servers);
  for (let i = 0; i < 40; i++) servers[pickId(lblcr, undefined)!].active++;
  t.same(
    servers.map((s) => s.active),
    [10, 30],
  );
  t.equal(lblcr.entries, 0);
  t.equal(pickId(lblcrFor([]), '/x'), undefined);
});

// Disruption of the table and ring hashes: how many keys change server when
// one server joins or leaves a group of N. The target is at most 1/N + 3%,
// the minimum being the leaver's share (1/N) or the joiner's (1/(N+1)).
import t from 'tap';
import { createScheduler, makeRealServers, setServerState } from '../../lib/sched/index.ts';
import type { RealServer, RealServerSpec, Scheduler } from '../../lib/sched/index.ts';
import type { SchedulerOptions } from '../../lib/sched/scheduler.ts';

const KEY_COUNT = 100_000;
const KEYS = Array.from({ length: KEY_COUNT }, (_, n) => `/object/${n}?v=${n % 7}`);
const SLACK = 0.03;
// chbl bounds the requests it sent recently by default, and 100 000 picks in
// a row would fill the servers with the larger key shares and spill: what is
// measured here is the ring itself, the zero-load mapping, so chbl balances on
// requests in flight, which stay 0. mh takes no such option.
const AT_ZERO_LOAD: SchedulerOptions = { balanceOn: 'active' };

function specs(count: number): RealServerSpec[] {
  return Array.from({ length: count }, (_, i) => ({ host: `192.168.${10 + i}.${20 + 3 * i}`, port: 8000 + i, weight: 1 }));
}

/** Server id per key; -1 where none. */
function mapping(scheduler: Scheduler): Int32Array {
  const ids = new Int32Array(KEY_COUNT);
  const ctx = { key: '', clientAddress: '127.0.0.1' } as { key: string | undefined; clientAddress: string };
  for (let i = 0; i < KEY_COUNT; i++) {
    ctx.key = KEYS[i];
    ids[i] = scheduler.pick(ctx)?.id ?? -1;
  }
  return ids;
}

interface Moves {
  moved: number; // fraction of keys whose server changed
  movedOthers: number; // fraction that changed although their server is still there
}

/** Compare two mappings; `gone` is the server that left (-1 for none). */
function compare(before: Int32Array, after: Int32Array, gone: number): Moves {
  let moved = 0;
  let movedOthers = 0;
  for (let i = 0; i < KEY_COUNT; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (before[i] !== gone) movedOthers++;
  }
  return { moved: moved / KEY_COUNT, movedOthers: movedOthers / KEY_COUNT };
}

/** How many keys map differently (t.same on 100k-entry arrays is slow). */
function differences(a: Int32Array, b: Int32Array): number {
  let count = 0;
  for (let i = 0; i < KEY_COUNT; i++) if (a[i] !== b[i]) count++;
  return count;
}

function fraction(value: number): string {
  return value.toFixed(4);
}

for (const name of ['mh', 'chbl']) {
  t.test(`${name}: adding one server to N moves at most 1/N + 3% of keys`, async (t) => {
    for (let count = 5; count <= 10; count++) {
      const before = mapping(createScheduler(name, makeRealServers(specs(count)), AT_ZERO_LOAD));
      const grown = makeRealServers(specs(count + 1));
      const after = mapping(createScheduler(name, grown, AT_ZERO_LOAD));
      const { moved } = compare(before, after, -1);
      t.ok(moved <= 1 / count + SLACK, `N=${count}: ${fraction(moved)} moved, at most ${fraction(1 / count + SLACK)}`);
      let toNewcomer = 0;
      for (let i = 0; i < KEY_COUNT; i++) if (after[i] === count) toNewcomer++;
      t.ok(toNewcomer / KEY_COUNT >= 1 / (count + 1) - SLACK, `N=${count}: the new server took ${fraction(toNewcomer / KEY_COUNT)}`);
      if (name === 'chbl') t.equal(toNewcomer / KEY_COUNT, moved, `N=${count}: every moved key went to the new server`);

      // The same join at runtime: a quiescent server given weight.
      const runtime = makeRealServers(specs(count + 1));
      runtime[count].weight = 0;
      const scheduler = createScheduler(name, runtime, AT_ZERO_LOAD);
      t.equal(differences(mapping(scheduler), before), 0, `N=${count}: a quiescent extra server changes nothing`);
      setServerState(scheduler, runtime[count], true, 1);
      t.equal(differences(mapping(scheduler), after), 0, `N=${count}: weighting it up maps as the larger group`);
    }
  });

  t.test(`${name}: removing one of N servers moves at most 1/N + 3% of keys, and only its own`, async (t) => {
    for (let count = 5; count <= 10; count++) {
      const servers: RealServer[] = makeRealServers(specs(count));
      const scheduler = createScheduler(name, servers, AT_ZERO_LOAD);
      const before = mapping(scheduler);
      // Leavers: the first and last listed and the one holding the most keys,
      // whose leaving moves the most (every leaver would take minutes under
      // coverage for no more insight).
      const keysHeld = new Int32Array(count);
      for (let i = 0; i < KEY_COUNT; i++) keysHeld[before[i]]++;
      const busiest = keysHeld.indexOf(Math.max(...keysHeld));
      const leavers = [...new Set([0, count - 1, busiest])].map((id) => servers[id]);

      // Marked down but the scheduler not yet told: skipped at once, and the fallback
      // moves its keys only.
      const leaver = servers[busiest];
      leaver.up = false;
      const beforeRefresh = compare(before, mapping(scheduler), leaver.id);
      t.equal(beforeRefresh.moved, keysHeld[busiest] / KEY_COUNT, `N=${count}: before refresh every key of the down server moved`);
      t.equal(beforeRefresh.movedOthers, 0, `N=${count}: before refresh no other key moved`);
      leaver.up = true;

      for (const leaver of leavers) {
        setServerState(scheduler, leaver, false, leaver.weight);
        const after = mapping(scheduler);
        const { moved, movedOthers } = compare(before, after, leaver.id);
        const limit = 1 / count + SLACK;
        const label = `N=${count}, ${leaver.name} (${fraction(keysHeld[leaver.id] / KEY_COUNT)} of keys) leaves`;
        t.ok(moved <= limit, `${label}: ${fraction(moved)} moved, limit ${fraction(limit)}`);
        t.notOk(after.includes(leaver.id), `${label}: no key maps to it`);
        if (name === 'chbl') {
          t.equal(movedOthers, 0, `${label}: keys of the other servers stay`);
        } else {
          // Maglev's rebuilt table is near-minimal, not minimal: the freed
          // slots change which slots some others claim. The paper accepts
          // this for its even balance; it stays a fraction of a percent.
          t.ok(movedOthers <= 0.01, `${label}: ${fraction(movedOthers)} of keys moved between the remaining servers`);
        }
        setServerState(scheduler, leaver, true, leaver.weight);
      }
      t.equal(differences(mapping(scheduler), before), 0, `N=${count}: all back, the original mapping`);
    }
  });
}

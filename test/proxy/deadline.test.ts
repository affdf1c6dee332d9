// lib/proxy/deadline.ts: a session's one deadline, as the service's timer
// sweep reads it: set relative to now or at a time, cleared, and due from
// its instant on, never when cleared.
import t from 'tap';
import { D_BODY, D_CONNECT, D_HEAD, D_IDLE, D_NONE, D_RESPONSE, Deadline } from '../../lib/proxy/deadline.ts';

t.test('the kinds are distinct, and none is 0 but D_NONE', async (t) => {
  const kinds = [D_NONE, D_IDLE, D_HEAD, D_CONNECT, D_RESPONSE, D_BODY];
  t.same(kinds, [0, 1, 2, 3, 4, 5], 'small integers: the sweep switches on them');
  t.equal(new Set(kinds).size, kinds.length);
});

t.test('a new deadline is none, and never due', async (t) => {
  const d = new Deadline();
  t.equal(d.kind, D_NONE);
  t.equal(d.at, 0);
  t.equal(d.due(0), false);
  t.equal(d.due(Number.MAX_SAFE_INTEGER), false);
});

t.test('setAt: due from `at` on, not before', async (t) => {
  const d = new Deadline();
  d.setAt(D_HEAD, 1000);
  t.same([d.kind, d.at], [D_HEAD, 1000]);
  t.equal(d.due(999), false);
  t.equal(d.due(1000), true, 'at the instant itself');
  t.equal(d.due(5000), true);
  d.setAt(D_RESPONSE, 2000);
  t.same([d.kind, d.at], [D_RESPONSE, 2000], 'a later deadline replaces the earlier one');
  t.equal(d.due(1500), false);
});

t.test('set: `ms` from Date.now()', async (t) => {
  const d = new Deadline();
  const before = Date.now();
  d.set(D_CONNECT, 250);
  const after = Date.now();
  t.equal(d.kind, D_CONNECT);
  t.ok(d.at >= before + 250 && d.at <= after + 250, `at ${d.at} is 250 ms after a now in [${before}, ${after}]`);
  t.equal(d.due(d.at - 1), false);
  t.equal(d.due(d.at), true);
  d.set(D_IDLE, 0);
  t.ok(d.due(Date.now()), '0 ms: due at once');
});

t.test('clear: never due, whatever the time; a new set arms it again', async (t) => {
  const d = new Deadline();
  d.setAt(D_BODY, 10);
  d.clear();
  t.equal(d.kind, D_NONE);
  t.equal(d.due(10), false);
  t.equal(d.due(1e15), false);
  d.setAt(D_IDLE, 20);
  t.equal(d.due(20), true);
});

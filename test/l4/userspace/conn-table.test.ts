// The user-space L4 connection table (lib/l4/userspace/conn-table.ts): its
// bound, listing and aborting every entry (even those that remove themselves
// while aborted), and the two formatting helpers ipvsadm -L -c output uses.
import t from 'tap';
import { ConnectionTable, endpointLabel, secondsLeft, type TableConnection } from '../../../lib/l4/userspace/conn-table.ts';
import type { ConnectionEntry } from '../../../lib/l4/model.ts';

function entry(n: number, nowMs: number): ConnectionEntry {
  return {
    protocol: 'tcp',
    state: 'ESTABLISHED',
    expiresInSec: nowMs,
    source: `10.0.0.${n}:1000`,
    virtual: '10.0.0.100:80',
    destination: '10.0.1.1:80',
  };
}

/** A connection that, like the real ones, leaves the table when aborted. */
function connection(table: ConnectionTable, n: number, log: string[]): TableConnection {
  const c: TableConnection = {
    describe: (nowMs) => entry(n, nowMs),
    abort: () => {
      log.push(`abort ${n}`);
      table.remove(c);
    },
  };
  return c;
}

t.test('the table counts, fills at its bound, and lists each entry at the time given', async (t) => {
  const table = new ConnectionTable(2);
  const log: string[] = [];
  t.equal(table.size, 0);
  t.equal(table.full, false);
  const a = connection(table, 1, log);
  table.add(a);
  t.equal(table.full, false);
  table.add(connection(table, 2, log));
  t.equal(table.size, 2);
  t.equal(table.full, true, 'full at maxConnections');
  t.same(
    table.list(1234).map((e) => [e.source, e.expiresInSec]),
    [
      ['10.0.0.1:1000', 1234],
      ['10.0.0.2:1000', 1234],
    ],
    'in the order they came, described at the given time',
  );
  table.remove(a);
  t.equal(table.full, false);
  table.remove(a);
  t.equal(table.size, 1, 'removing twice is harmless');
  table.add(connection(table, 3, log));
  table.add(connection(table, 4, log));
  t.equal(table.size, 3, 'the bound is for callers to check: add() itself never refuses');
  t.equal(new ConnectionTable(0).full, true, 'a bound of 0 is always full');
});

t.test('abortAll aborts every connection, though each removes itself meanwhile', async (t) => {
  const table = new ConnectionTable(10);
  const log: string[] = [];
  for (let n = 1; n <= 5; n++) table.add(connection(table, n, log));
  table.abortAll();
  t.same(log, ['abort 1', 'abort 2', 'abort 3', 'abort 4', 'abort 5']);
  t.equal(table.size, 0);
  t.same(table.list(0), []);
});

t.test('endpointLabel: IPv6 in brackets, as ipvsadm prints it', async (t) => {
  t.equal(endpointLabel('10.0.0.1', 80), '10.0.0.1:80');
  t.equal(endpointLabel('2001:db8::1', 443), '[2001:db8::1]:443');
  t.equal(endpointLabel('::ffff:10.0.0.1', 53), '[::ffff:10.0.0.1]:53');
});

t.test('secondsLeft: rounded up, 0 only when due', async (t) => {
  t.equal(secondsLeft(1), 1, 'a millisecond left is a second');
  t.equal(secondsLeft(1000), 1);
  t.equal(secondsLeft(1001), 2);
  t.equal(secondsLeft(0), 0);
  t.equal(secondsLeft(-500), 0, 'overdue');
});

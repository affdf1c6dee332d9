import t from 'tap';
import { createAffinity, withAffinityDefaults } from '../../lib/affinity/index.ts';
import { HeaderAffinity, SourceAffinity } from '../../lib/affinity/table.ts';
import { SharedLruTable } from '../../lib/state/lru-table.ts';
import type { RealServer } from '../../lib/sched/scheduler.ts';
import { fakeServers, manualClock, request } from './helpers.ts';

const GROUP = { groupName: 'web' };

/** What the session does: lookup, else a "scheduler" choice and pin. */
function route(affinity: ReturnType<typeof createAffinity>, view: ReturnType<typeof request>, schedule: () => RealServer): RealServer {
  const pinned = affinity.lookup(view);
  if (pinned !== null) return pinned;
  return affinity.pin(view, schedule());
}

t.test('source persistence: a client sticks to its server while the scheduler would move it', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2', '10.0.0.3');
  const clock = manualClock();
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, { ...GROUP, clock: clock.now });
  t.equal(affinity.kind, 'source');
  t.equal(affinity.rewritesRequest, false);
  t.equal(affinity.rewritesResponse, false);
  let turn = 0;
  const roundRobin = () => servers[turn++ % servers.length];
  const alice = request('192.0.2.10');
  const bob = request('192.0.2.11');
  t.equal(affinity.lookup(alice), null, 'nothing pinned yet');
  const aliceServer = route(affinity, alice, roundRobin);
  const bobServer = route(affinity, bob, roundRobin);
  t.not(aliceServer, bobServer, 'two clients, two choices of the scheduler');
  for (let i = 0; i < 20; i++) {
    clock.advance(10_000);
    t.equal(route(affinity, alice, roundRobin), aliceServer);
    t.equal(route(affinity, bob, roundRobin), bobServer);
  }
  t.equal(affinity.size(), 2);
  const headers = ['Host', 'x'];
  t.equal(affinity.rewriteRequestHeaders(headers), headers, 'no header work');
  t.equal(affinity.rewriteResponseHeaders(headers, aliceServer, aliceServer), headers);
});

t.test('source persistence expires timeout after the last use, not after the first', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const clock = manualClock();
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source', timeoutMs: 1_000 }), servers, { ...GROUP, clock: clock.now });
  const view = request('198.51.100.7');
  affinity.pin(view, servers[1]);
  for (let i = 0; i < 5; i++) {
    clock.advance(900); // 4.5 s in all, each use within the timeout of the one before
    t.equal(affinity.lookup(view), servers[1], `use ${i + 1} keeps it`);
  }
  clock.advance(1_001);
  t.equal(affinity.lookup(view), null, 'idle past the timeout: gone');
  t.equal(affinity.size(), 0, 'and out of the table');
});

t.test('default timeout is ipvsadm -p default, 300 s', async (t) => {
  const servers = fakeServers('10.0.0.1');
  const clock = manualClock();
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, { ...GROUP, clock: clock.now });
  const view = request('198.51.100.7');
  affinity.pin(view, servers[0]);
  clock.advance(299_999);
  t.equal(affinity.lookup(view), servers[0]);
  clock.advance(300_001);
  t.equal(affinity.lookup(view), null);
});

t.test('netmask groups IPv4 clients, IPv4-mapped IPv6 and IPv6 clients', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source', netmaskV4: 24, netmaskV6: 48 }), servers, GROUP);
  affinity.pin(request('203.0.113.5'), servers[1]);
  t.equal(affinity.lookup(request('203.0.113.200')), servers[1], 'same /24');
  t.equal(affinity.lookup(request('::ffff:203.0.113.77')), servers[1], 'mapped address in the same /24');
  t.equal(affinity.lookup(request('203.0.114.5')), null, 'next /24');
  affinity.pin(request('2001:db8:aa::1'), servers[0]);
  t.equal(affinity.lookup(request('2001:db8:aa:ffff::9')), servers[0], 'same /48');
  t.equal(affinity.lookup(request('2001:db8:ab::1')), null, 'next /48');
  t.equal(affinity.size(), 2);

  const exact = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, GROUP);
  exact.pin(request('203.0.113.5'), servers[1]);
  t.equal(exact.lookup(request('::ffff:203.0.113.5')), servers[1], 'default /32: mapped form is the same client');
  t.equal(exact.lookup(request('203.0.113.6')), null, 'default /32: the neighbour is not');
  exact.pin(request('2001:db8::1'), servers[0]);
  t.equal(exact.lookup(request('2001:db8:0::0:1')), servers[0]);
  t.equal(exact.lookup(request('2001:db8::2')), null, 'default /128');
});

t.test('clients without an address are never pinned', async (t) => {
  const servers = fakeServers('10.0.0.1');
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, GROUP);
  affinity.pin(request(''), servers[0]);
  t.equal(affinity.size(), 0);
  t.equal(affinity.lookup(request('')), null);
});

t.test('the table is bounded: the least recently used pin goes first', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source', maxEntries: 100 }), servers, GROUP);
  const clientOf = (n: number) => request(`10.9.${n >> 8}.${n & 255}`);
  for (let n = 0; n < 100; n++) affinity.pin(clientOf(n), servers[n % 2]);
  t.equal(affinity.size(), 100);
  t.equal(affinity.lookup(clientOf(0)), servers[0], 'client 0 used again: now the most recent');
  for (let n = 100; n < 1000; n++) affinity.pin(clientOf(n), servers[n % 2]);
  t.equal(affinity.size(), 100, 'never above the bound');
  t.equal(affinity.lookup(clientOf(1)), null, 'old pins evicted');
  t.equal(affinity.lookup(clientOf(999)), servers[1], 'recent pins kept');
  t.equal(affinity.lookup(clientOf(900)), servers[0]);
});

t.test('pinned server down or removed: no pin, the session is scheduled again and re-pinned', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, GROUP);
  const view = request('192.0.2.1');
  affinity.pin(view, servers[0]);
  servers[0].up = false;
  t.equal(affinity.lookup(view), null, 'down');
  t.equal(
    route(affinity, view, () => servers[1]),
    servers[1],
    'rescheduled',
  );
  servers[0].up = true;
  t.equal(affinity.lookup(view), servers[1], 'the new pin holds when the old server comes back');

  // A reload drops 10.0.0.2 and keeps 10.0.0.1 (the same server, so the same uid).
  const reloaded = [servers[0], fakeServers('10.0.0.3')[0]];
  affinity.pin(request('192.0.2.2'), servers[0]);
  affinity.updateServers(reloaded);
  t.equal(affinity.lookup(view), null, 'pinned to a removed server');
  t.equal(affinity.lookup(request('192.0.2.2')), reloaded[0], 'a pin to a kept server survives the reload');
});

t.test('pinned server quiescent (weight 0): still serves its pinned clients', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, GROUP);
  const view = request('192.0.2.1');
  affinity.pin(view, servers[0]);
  servers[0].weight = 0;
  t.equal(affinity.lookup(view), servers[0]);
  servers[0].up = false;
  t.equal(affinity.lookup(view), null, 'but not once it is down');
});

t.test('header affinity pins by the header value', async (t) => {
  const servers = fakeServers('10.0.0.1', '10.0.0.2', '10.0.0.3');
  const clock = manualClock();
  const affinity = createAffinity(withAffinityDefaults({ kind: 'header', name: 'X-Session-Id', timeoutMs: 5_000 }), servers, {
    ...GROUP,
    clock: clock.now,
  });
  t.ok(affinity instanceof HeaderAffinity);
  t.equal(affinity.kind, 'header');
  const withSession = (address: string, id: string) => request(address, ['x-session-id', id]);
  let turn = 0;
  const roundRobin = () => servers[turn++ % servers.length];
  const first = route(affinity, withSession('192.0.2.1', 'abc'), roundRobin);
  const other = route(affinity, withSession('192.0.2.1', 'def'), roundRobin);
  t.not(first, other, 'another session from the same client may go elsewhere');
  t.equal(route(affinity, withSession('198.51.100.9', 'abc'), roundRobin), first, 'the session from another address stays');
  t.equal(affinity.lookup(request('192.0.2.1', ['X-SESSION-ID', 'abc'])), first, 'header names are case-insensitive');
  t.equal(affinity.lookup(request('192.0.2.1')), null, 'no header: no pin');
  affinity.pin(request('192.0.2.1'), servers[2]);
  affinity.pin(withSession('192.0.2.1', ''), servers[2]);
  t.equal(affinity.size(), 2, 'requests without a value are not entered');
  clock.advance(5_001);
  t.equal(affinity.lookup(withSession('192.0.2.1', 'abc')), null, 'expired');

  const long = 'x'.repeat(5_000);
  const bytes = (affinity as HeaderAffinity).table.buffer.byteLength;
  affinity.pin(withSession('192.0.2.1', long), servers[1]);
  t.equal(affinity.lookup(withSession('192.0.2.1', long)), servers[1], 'long values work');
  t.equal(affinity.lookup(withSession('192.0.2.1', long + 'y')), null, 'and are told apart');
  t.equal((affinity as HeaderAffinity).table.buffer.byteLength, bytes, 'but are not stored whole: the table never grows');
});

t.test('source affinity is a SourceAffinity; peek does not count as use', async (t) => {
  const servers = fakeServers('10.0.0.1');
  const clock = manualClock();
  const affinity = createAffinity(withAffinityDefaults({ kind: 'source', timeoutMs: 1_000 }), servers, { ...GROUP, clock: clock.now });
  t.ok(affinity instanceof SourceAffinity);
  const source = affinity as SourceAffinity;
  source.pin(request('10.1.1.1'), servers[0]);
  clock.advance(600);
  t.equal(source.peekRequest(request('10.1.1.1')), '10.0.0.1:8080');
  clock.advance(600);
  t.equal(source.peekRequest(request('10.1.1.1')), undefined, 'peeking did not refresh it');
});

t.test('two views of one table are one table: a pin made through either holds for both', async (t) => {
  // What two worker threads do: each builds its own SourceAffinity over the group's shared table.
  const servers = fakeServers('10.0.0.1', '10.0.0.2');
  const first = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, { ...GROUP, lockOwner: 1 }) as SourceAffinity;
  const table = SharedLruTable.attach(first.table.buffer);
  const second = createAffinity(withAffinityDefaults({ kind: 'source' }), servers, { ...GROUP, table, lockOwner: 2 });
  t.equal(second.pin(request('192.0.2.9'), servers[1]), servers[1]);
  t.equal(first.lookup(request('192.0.2.9')), servers[1], 'pinned through one, seen through the other');
  // A race: both missed, both scheduled; the second pin() adopts the first one's server.
  t.equal(first.pin(request('192.0.2.9'), servers[0]), servers[1], 'the first pin wins');
  t.equal(second.lookup(request('192.0.2.9')), servers[1]);
  t.equal(first.size(), 1);
});

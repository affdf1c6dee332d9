// Persistence in the user-space L4 core, with IPVS's semantics: templates per
// masked client address, their lifetime, quiescent and deleted servers.
import t from 'tap';
import { TemplateTable, formatIPv6, maskAddress, parseIPv6, parseNetmask } from '../../../lib/l4/userspace/persistence.ts';
import { addServiceOnFreePort, askName, openClient, realServer, sleep, waitFor } from '../userspace-helpers.ts';
import { newCore, tcpBackends } from '../userspace-helpers.ts';

t.test('netmask parsing and masking', async (t) => {
  t.equal(maskAddress('192.168.7.200', parseNetmask('255.255.255.0', 4)), '192.168.7.0');
  t.equal(maskAddress('192.168.7.200', parseNetmask('255.255.240.0', 4)), '192.168.0.0');
  t.equal(maskAddress('10.1.2.3', parseNetmask('255.255.255.255', 4)), '10.1.2.3');
  t.equal(maskAddress('::ffff:10.1.2.3', parseNetmask('255.0.0.0', 4)), '10.0.0.0', 'a v4-mapped client is masked as IPv4');
  t.equal(maskAddress('2001:db8:1:2:3:4:5:6', parseNetmask('64', 6)), '2001:db8:1:2::');
  t.equal(maskAddress('2001:db8:1:2:3:4:5:6', parseNetmask('56', 6)), '2001:db8:1::');
  t.equal(maskAddress('2001:db8::7', parseNetmask('128', 6)), '2001:db8::7');
  t.equal(maskAddress('fe80::1%lo', parseNetmask('10', 6)), 'fe80::');
  t.throws(() => parseNetmask('24', 4), { code: 'invalid' }, 'IPv4 takes a dotted mask');
  t.throws(() => parseNetmask('255.255.255.0', 6), { code: 'invalid' }, 'IPv6 takes a prefix length');
  t.throws(() => parseNetmask('129', 6), { code: 'invalid' });
  t.throws(() => parseNetmask('0', 6), { code: 'invalid' });
  t.equal(formatIPv6(parseIPv6('0:0:0:0:0:0:0:1')!), '::1');
  t.equal(formatIPv6(parseIPv6('1:0:0:2:0:0:0:3')!), '1:0:0:2::3', 'the longest zero run is compressed');
  t.equal(formatIPv6(parseIPv6('1:0:2:3:4:5:6:7')!), '1:0:2:3:4:5:6:7', 'a single zero group is not');
  t.equal(formatIPv6(parseIPv6('::ffff:1.2.3.4')!), '::ffff:102:304');
  t.equal(parseIPv6('not an address'), null);
});

t.test('the template table is bounded and counts templates per server', async (t) => {
  const table = new TemplateTable<{ persistentConns: number }>(3);
  const server = { persistentConns: 0 };
  for (let i = 0; i < 5; i++) table.create('svc', `10.0.0.${i}`, server, 1000, 1);
  t.equal(table.size, 3, 'the oldest templates were evicted');
  t.equal(server.persistentConns, 3, 'evictions are uncounted');
  t.equal(table.find('svc', '10.0.0.0', 2), undefined);
  const live = table.find('svc', '10.0.0.4', 2)!;
  t.ok(live);
  table.attach(live, 1000, 10);
  t.equal(table.find('svc', '10.0.0.4', 5000), live, 'a template in use does not expire');
  table.release(live, 6000);
  t.equal(table.find('svc', '10.0.0.4', 6999), live, 'the timeout restarts when its last connection ends');
  t.equal(table.find('svc', '10.0.0.4', 7000), undefined, 'then it expires');
  table.clear();
  t.equal(server.persistentConns, 0);
});

t.test('persistence holds across connections for its timeout, then lapses', async (t) => {
  const servers = await tcpBackends(t, ['p1', 'p2', 'p3']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 1, netmask: '255.255.255.255' });
  for (const s of servers) await core.addRealServer(key, realServer(s.port));

  const pinned = await askName(key.port);
  for (let i = 0; i < 4; i++) t.equal(await askName(key.port), pinned, `connection ${i + 2} goes to the pinned server`);
  const templates = (await core.connections()).filter((c) => c.state === 'NONE');
  t.equal(templates.length, 1, 'one template, listed with state NONE');
  t.equal(templates[0].source, '127.0.0.1:0');
  t.equal(templates[0].virtual, `127.0.0.1:${key.port}`);
  t.equal(templates[0].destination, `127.0.0.1:${servers.find((s) => s.name === pinned)!.port}`);
  t.equal(templates[0].protocol, 'tcp');
  let [status] = await core.list();
  t.same(
    status.realServers.map((s) => s.persistentConns),
    servers.map((s) => (s.name === pinned ? 1 : 0)),
    'PersistConn counts the template on its server',
  );

  // A connection held past the timeout keeps the template alive; the timeout
  // restarts only when it ends.
  const held = await openClient(key.port);
  t.equal(await held.firstLine(), pinned);
  await sleep(1300);
  t.ok(
    (await core.connections()).some((c) => c.state === 'NONE'),
    'the template outlives its timeout while a connection is open',
  );
  await held.finish();
  await sleep(500);
  t.equal(await askName(key.port), pinned, 'still pinned within the timeout after the last connection');

  await sleep(1300);
  const after = await askName(key.port);
  t.not(after, pinned, 'after the timeout rr schedules afresh: the next server');
  [status] = await core.list();
  t.equal(
    status.realServers.reduce((sum, s) => sum + s.persistentConns, 0),
    1,
    'the expired template is gone, the new one counted',
  );
});

t.test('a netmask groups clients: 127.0.0.2 and 127.0.0.3 share a pin under /24', async (t) => {
  const servers = await tcpBackends(t, ['n1', 'n2', 'n3']);
  const core = newCore(t);
  const grouped = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.0' });
  const separate = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.255' });
  for (const s of servers) {
    await core.addRealServer(grouped, realServer(s.port));
    await core.addRealServer(separate, realServer(s.port));
  }
  const fromTwo = await askName(grouped.port, '127.0.0.2');
  t.equal(await askName(grouped.port, '127.0.0.3'), fromTwo, '/24: the neighbour gets the same server');
  t.equal(await askName(grouped.port, '127.0.0.4'), fromTwo);
  const templates = (await core.connections()).filter((c) => c.state === 'NONE' && c.virtual.endsWith(`:${grouped.port}`));
  t.same(
    templates.map((c) => c.source),
    ['127.0.0.0:0'],
    'one template for the whole /24',
  );

  const two = await askName(separate.port, '127.0.0.2');
  const three = await askName(separate.port, '127.0.0.3');
  t.not(two, three, '/32: each address is scheduled on its own');
  t.equal(await askName(separate.port, '127.0.0.2'), two);
  t.equal(await askName(separate.port, '127.0.0.3'), three);
});

t.test('a quiescent server keeps its persistent clients (IPVS default)', async (t) => {
  const [a, b] = await tcpBackends(t, ['qa', 'qb']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.255' });
  await core.addRealServer(key, realServer(a.port));
  await core.addRealServer(key, realServer(b.port));
  t.equal(await askName(key.port, '127.0.0.2'), 'qa');
  t.equal(await askName(key.port, '127.0.0.3'), 'qb');
  await core.editRealServer(key, realServer(b.port, 0));
  t.equal(await askName(key.port, '127.0.0.3'), 'qb', 'the template outranks quiescence');
  t.equal(await askName(key.port, '127.0.0.4'), 'qa', 'a new client is not sent to the quiescent server');
  t.equal(await askName(key.port, '127.0.0.5'), 'qa');
});

t.test('expireQuiescentTemplate drops templates to a quiescent server', async (t) => {
  const [a, b] = await tcpBackends(t, ['ea', 'eb']);
  const core = newCore(t, { expireQuiescentTemplate: true });
  const key = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.255' });
  await core.addRealServer(key, realServer(a.port));
  await core.addRealServer(key, realServer(b.port));
  t.equal(await askName(key.port, '127.0.0.2'), 'ea');
  t.equal(await askName(key.port, '127.0.0.3'), 'eb');
  await core.editRealServer(key, realServer(b.port, 0));
  t.equal(await askName(key.port, '127.0.0.3'), 'ea', 'rescheduled away from the quiescent server');
  t.equal(await askName(key.port, '127.0.0.3'), 'ea', 'and pinned there');
});

t.test('a deleted server loses its templates; its open connections run on', async (t) => {
  const [a, b] = await tcpBackends(t, ['da', 'db']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.255' });
  await core.addRealServer(key, realServer(a.port));
  await core.addRealServer(key, realServer(b.port));
  t.equal(await askName(key.port, '127.0.0.2'), 'da');
  const open = await openClient(key.port, '127.0.0.3');
  t.equal(await open.firstLine(), 'db');

  await core.deleteRealServer(key, '127.0.0.1', b.port);
  t.equal(await askName(key.port, '127.0.0.3'), 'da', 'the pin to the deleted server is dropped: rescheduled');
  open.socket.write('more');
  t.ok(await open.waitForBytes(3 + 4), 'the connection to the deleted server still forwards');
  const entries = await core.connections();
  t.ok(
    entries.some((c) => c.state === 'ESTABLISHED' && c.destination === `127.0.0.1:${b.port}`),
    'it stays in the connection table',
  );
  t.notOk(
    entries.some((c) => c.state === 'NONE' && c.destination === `127.0.0.1:${b.port}`),
    'no template points at the deleted server',
  );
  await open.finish();
  t.ok(await waitFor(async () => !(await core.connections()).some((c) => c.state !== 'NONE')));
});

t.test('an overloaded server keeps its persistent clients, as in IPVS', async (t) => {
  const [a, b] = await tcpBackends(t, ['oa', 'ob']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr', { timeoutSec: 30, netmask: '255.255.255.255' });
  await core.addRealServer(key, realServer(a.port, 1, { upperThreshold: 1 }));
  await core.addRealServer(key, realServer(b.port));
  const first = await openClient(key.port, '127.0.0.2');
  t.equal(await first.firstLine(), 'oa');
  t.equal(await askName(key.port, '127.0.0.3'), 'ob', 'a new client skips the overloaded server');
  const second = await openClient(key.port, '127.0.0.2');
  t.equal(await second.firstLine(), 'oa', 'the pinned client still reaches it');
  await first.finish();
  await second.finish();
});

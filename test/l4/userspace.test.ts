// The user-space L4 core's management API: ipvsadm's commands and errors,
// list(), and apply() with its ownership rules.
import t from 'tap';
import net from 'node:net';
import type { VirtualServiceConfig } from '../../lib/l4/model.ts';
import { addServiceOnFreePort, askName, freePort, openClient, realServer, serviceKey, tally } from './userspace-helpers.ts';
import { newCore, tcpBackends } from './userspace-helpers.ts';

t.test('ipvsadm errors', async (t) => {
  const core = newCore(t);
  t.equal(core.driver, 'userspace');
  const key = await addServiceOnFreePort(core, 'tcp', 'wlc');
  const missing = serviceKey('tcp', key.port === 65535 ? 65534 : key.port + 1);
  await t.rejects(core.addService({ key, scheduler: 'rr', persistence: null }), { code: 'exists', message: 'Service already exists' });
  await t.rejects(core.editService({ key: missing, scheduler: 'rr', persistence: null }), {
    code: 'no-service',
    message: 'No such service',
  });
  await t.rejects(core.deleteService(missing), { code: 'no-service', message: 'No such service' });
  await t.rejects(core.addRealServer(missing, realServer(1)), { code: 'no-service' });
  await core.addRealServer(key, realServer(1000));
  await t.rejects(core.addRealServer(key, realServer(1000, 5)), { code: 'exists', message: 'Destination already exists' });
  await t.rejects(core.editRealServer(key, realServer(1001)), { code: 'no-dest', message: 'No such destination' });
  await t.rejects(core.deleteRealServer(key, '127.0.0.1', 1001), { code: 'no-dest', message: 'No such destination' });
  await t.rejects(core.deleteRealServer(key, '127.0.0.2', 1000), { code: 'no-dest' });

  const fwmark = { protocol: 'fwmark' as const, address: '', port: 0, fwmark: 7, family: 4 as const };
  await t.rejects(core.addService({ key: fwmark, scheduler: 'rr', persistence: null }), {
    code: 'invalid',
    message: 'firewall-mark services need the ipvs driver',
  });
  const other = serviceKey('tcp', await freePort('tcp'));
  await t.rejects(core.addService({ key: other, scheduler: 'no-such', persistence: null }), {
    code: 'invalid',
    message: /Scheduler not found/,
  });
  await t.rejects(core.addService({ key: other, scheduler: 'rr', persistence: { timeoutSec: 0, netmask: '255.255.255.255' } }), {
    code: 'invalid',
  });
  await t.rejects(core.addService({ key: other, scheduler: 'rr', persistence: { timeoutSec: 60, netmask: '64' } }), { code: 'invalid' });
  await t.rejects(core.addService({ key: { ...other, address: 'localhost' }, scheduler: 'rr', persistence: null }), { code: 'invalid' });
  await t.rejects(core.addService({ key: { ...other, family: 6 }, scheduler: 'rr', persistence: null }), { code: 'invalid' });
  await t.rejects(core.addService({ key: { ...other, port: 0 }, scheduler: 'rr', persistence: null }), { code: 'invalid' });
  await t.rejects(core.addRealServer(key, realServer(1002, -1)), { code: 'invalid', message: /weight/ });
  await t.rejects(core.addRealServer(key, realServer(1002, 1, { lowerThreshold: 5, upperThreshold: 2 })), { code: 'invalid' });
  await t.rejects(core.addRealServer(key, { ...realServer(1002), address: 'db.example' }), { code: 'invalid' });
  await t.rejects(core.addRealServer(key, { ...realServer(1002), method: 'carrier-pigeon' as 'masq' }), { code: 'invalid' });

  // A port somebody else holds cannot be bound.
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => holder.close(resolve)));
  const held = serviceKey('tcp', (holder.address() as net.AddressInfo).port);
  await t.rejects(core.addService({ key: held, scheduler: 'rr', persistence: null }), { code: 'failed', message: /EADDRINUSE/ });

  const listed = await core.list();
  t.equal(listed.length, 1, 'failed adds left nothing behind');
  t.same(
    listed[0].realServers.map((s) => s.port),
    [1000],
  );
});

t.test('list() reports services and real servers as given', async (t) => {
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'wrr', { timeoutSec: 300, netmask: '255.255.255.0' });
  await core.addRealServer(key, realServer(2000, 3, { method: 'route', upperThreshold: 10, lowerThreshold: 5 }));
  await core.addRealServer(key, realServer(2001, 1, { method: 'tunnel' }));
  await core.addRealServer(key, { ...realServer(0, 2), address: '::1' });
  const [status] = await core.list();
  t.same(status.key, key);
  t.equal(status.scheduler, 'wrr');
  t.same(status.persistence, { timeoutSec: 300, netmask: '255.255.255.0' });
  t.same(
    status.realServers.map((s) => [s.address, s.port, s.weight, s.method, s.upperThreshold, s.lowerThreshold]),
    [
      ['127.0.0.1', 2000, 3, 'route', 10, 5],
      ['127.0.0.1', 2001, 1, 'tunnel', 0, 0],
      ['::1', 0, 2, 'masq', 0, 0],
    ],
    'forwarding methods are reported as given (the core proxies them all)',
  );
  for (const server of status.realServers) {
    t.same(server.stats, { conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 });
    t.same([server.activeConns, server.inactiveConns, server.persistentConns], [0, 0, 0]);
  }
  await t.rejects(
    core.addRealServer(key, { ...realServer(0, 1), address: '0:0::1' }),
    { code: 'exists' },
    'IPv6 spellings name one server',
  );

  await core.editService({ key, scheduler: 'rr', persistence: null });
  const [edited] = await core.list();
  t.equal(edited.scheduler, 'rr');
  t.equal(edited.persistence, null);
  await core.editRealServer(key, realServer(2000, 7, { method: 'masq' }));
  await core.deleteRealServer(key, '0::1', 0);
  const [after] = await core.list();
  t.same(
    after.realServers.map((s) => [s.port, s.weight, s.method]),
    [
      [2000, 7, 'masq'],
      [2001, 1, 'tunnel'],
    ],
  );
  await core.clear();
  t.same(await core.list(), []);
});

t.test('a real server with port 0 is reached on the virtual port', async (t) => {
  // The real server listens on the service's port, on another loopback address.
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  const backend = net.createServer((socket) => socket.end('same port\n'));
  await new Promise<void>((resolve, reject) => {
    backend.once('error', reject);
    backend.listen(key.port, '127.0.0.2', resolve);
  });
  t.teardown(() => new Promise((resolve) => backend.close(resolve)));
  await core.addRealServer(key, { ...realServer(0), address: '127.0.0.2' });
  t.equal(await askName(key.port), 'same port');
  const [status] = await core.list();
  t.equal(status.realServers[0].port, 0, 'reported as given');
});

t.test('editing the scheduler takes effect for new connections', async (t) => {
  const servers = await tcpBackends(t, ['e1', 'e2']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'tcp', 'rr');
  for (const [i, s] of servers.entries()) await core.addRealServer(key, realServer(s.port, i === 0 ? 3 : 1));
  const rr: string[] = [];
  for (let i = 0; i < 4; i++) rr.push(await askName(key.port));
  t.same(tally(rr), { e1: 2, e2: 2 }, 'rr ignores weights');
  await core.editService({ key, scheduler: 'wrr', persistence: null });
  const wrr: string[] = [];
  for (let i = 0; i < 8; i++) wrr.push(await askName(key.port));
  t.same(tally(wrr), { e1: 6, e2: 2 }, 'wrr honours them');
});

function desiredService(port: number, servers: Array<[number, number]>, scheduler = 'rr'): VirtualServiceConfig {
  return {
    key: serviceKey('tcp', port),
    scheduler,
    persistence: null,
    realServers: servers.map(([p, w]) => realServer(p, w)),
  };
}

t.test('apply() converges, is idempotent and leaves other services alone', async (t) => {
  const [a, b, c] = await tcpBackends(t, ['aa', 'ab', 'ac']);
  const core = newCore(t);
  const manual = await addServiceOnFreePort(core, 'tcp', 'wlc');
  await core.addRealServer(manual, realServer(a.port));
  const portOne = await freePort('tcp');
  const portTwo = await freePort('tcp');

  const first = [
    desiredService(portOne, [
      [a.port, 1],
      [b.port, 1],
    ]),
    desiredService(portTwo, [[c.port, 2]], 'wrr'),
  ];
  await core.apply(first);
  let listed = await core.list();
  t.same(
    listed.map((s) => s.key.port),
    [manual.port, portOne, portTwo],
  );
  const names: string[] = [];
  for (let i = 0; i < 4; i++) names.push(await askName(portOne));
  t.same(tally(names), { aa: 2, ab: 2 }, 'the applied service forwards');
  const open = await openClient(portOne);
  await open.firstLine();

  await core.apply(first);
  listed = await core.list();
  t.equal(listed[1].stats.conns, 5, 'applying the same again changes nothing: counters kept');
  t.equal(
    listed[1].realServers.reduce((sum, s) => sum + s.activeConns, 0),
    1,
    'and the open connection kept',
  );
  open.socket.write('x');
  t.ok(await open.waitForBytes(3 + 1), 'which still forwards');
  await open.finish();

  // Weight change, one server out, one in, scheduler change, persistence on.
  const second: VirtualServiceConfig[] = [
    {
      ...desiredService(
        portOne,
        [
          [b.port, 4],
          [c.port, 1],
        ],
        'wrr',
      ),
      persistence: { timeoutSec: 60, netmask: '255.255.255.255' },
    },
  ];
  await core.apply(second);
  listed = await core.list();
  t.same(
    listed.map((s) => s.key.port),
    [manual.port, portOne],
    'the service left out is deleted',
  );
  t.equal(listed[1].scheduler, 'wrr');
  t.same(listed[1].persistence, { timeoutSec: 60, netmask: '255.255.255.255' });
  t.same(
    listed[1].realServers.map((s) => [s.port, s.weight]),
    [
      [b.port, 4],
      [c.port, 1],
    ],
  );
  t.equal(listed[1].realServers[0].stats.conns, 2, 'the unchanged server keeps its counters');
  await t.rejects(openClient(portTwo, undefined, 2000), { code: 'ECONNREFUSED' }, 'its listener is closed');
  t.same(
    listed[0].realServers.map((s) => s.port),
    [a.port],
    'the manual service is untouched',
  );

  await t.rejects(
    core.apply([...second, desiredService(manual.port, [[b.port, 1]])]),
    { code: 'exists' },
    'a service apply did not create cannot be taken over',
  );
  t.same(
    (await core.list()).map((s) => [s.key.port, s.scheduler, s.realServers.length]),
    [
      [manual.port, 'wlc', 1],
      [portOne, 'wrr', 2],
    ],
    'a refused apply changes nothing',
  );
  await t.rejects(
    core.apply([
      desiredService(portOne, [
        [b.port, 1],
        [b.port, 2],
      ]),
    ]),
    { code: 'invalid' },
    'duplicate servers',
  );
  await t.rejects(core.apply([desiredService(portOne, []), desiredService(portOne, [])]), { code: 'invalid' }, 'duplicate services');

  // A service apply created but someone deleted by hand is simply created again.
  await core.deleteService(serviceKey('tcp', portOne));
  await core.apply(second);
  t.equal((await core.list()).length, 2);

  await core.apply([]);
  t.same(
    (await core.list()).map((s) => s.key.port),
    [manual.port],
    'apply([]) removes only what apply created',
  );
});

t.test('apply() reports a bind failure and still applies the rest', async (t) => {
  const core = newCore(t);
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => holder.close(resolve)));
  const heldPort = (holder.address() as net.AddressInfo).port;
  const freeOne = await freePort('tcp');
  await t.rejects(core.apply([desiredService(heldPort, [[1, 1]]), desiredService(freeOne, [[2, 1]])]), {
    code: 'failed',
    message: /EADDRINUSE/,
  });
  t.same(
    (await core.list()).map((s) => s.key.port),
    [freeOne],
  );
});

// The L4 core over the admin socket: l4Handlers serves a core, remoteL4Core
// calls it, and L4Error codes survive the trip. `close` is not served.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminServer } from '../../lib/admin/server.ts';
import { adminCall, openAdminClient } from '../../lib/admin/client.ts';
import { l4Handlers, remoteL4Core } from '../../lib/admin/l4.ts';
import { L4Error, type ServiceKey } from '../../lib/l4/model.ts';
import { createFakeL4 } from '../helpers/fake-l4.ts';

const dir = mkdtempSync(join(tmpdir(), 'tcpvs-admin-l4-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const key: ServiceKey = { protocol: 'tcp', address: '10.0.0.1', port: 80, fwmark: 0, family: 4 };
const server1 = { address: '10.1.1.2', port: 80, weight: 1, method: 'masq' as const, upperThreshold: 0, lowerThreshold: 0 };
const daemon = {
  role: 'master' as const,
  mcastInterface: 'eth0',
  syncId: 1,
  syncMaxLen: null,
  mcastGroup: '224.0.0.81',
  mcastPort: null,
  mcastTtl: 1,
};

t.test('every L4Core method works through the socket', async (t) => {
  const core = createFakeL4('ipvs');
  const path = join(dir, 'l4.sock');
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(() => server.close());
  const remote = await remoteL4Core(await openAdminClient(path));
  t.equal(remote.driver, 'ipvs', 'the driver comes from the running core');
  await remote.addService({ key, scheduler: 'rr', persistence: { timeoutSec: 60, netmask: '255.255.255.0' } });
  await remote.addRealServer(key, server1);
  await remote.editRealServer(key, { ...server1, weight: 4 });
  await remote.editService({ key, scheduler: 'wlc', persistence: null });
  let list = await remote.list();
  t.equal(list.length, 1);
  t.equal(list[0].scheduler, 'wlc');
  t.equal(list[0].persistence, null);
  t.equal(list[0].realServers[0].weight, 4);
  core.connectionTable = [
    { protocol: 'tcp', state: 'ESTABLISHED', expiresInSec: 10, source: '1.2.3.4:5', virtual: '10.0.0.1:80', destination: '10.1.1.2:80' },
  ];
  t.same(await remote.connections(), core.connectionTable);
  await remote.deleteRealServer(key, '10.1.1.2', 80);
  t.same((await remote.list())[0].realServers, []);
  await remote.deleteService(key);
  t.same(await remote.list(), []);
  await remote.apply([{ key, scheduler: 'sh', persistence: null, realServers: [server1] }]);
  list = await remote.list();
  t.equal(list[0].scheduler, 'sh');
  t.equal(list[0].realServers.length, 1);
  await remote.clear();
  t.same(await remote.list(), []);
  t.same(
    core.calls.map((c) => c.name),
    [
      'addService',
      'addRealServer',
      'editRealServer',
      'editService',
      'list',
      'connections',
      'deleteRealServer',
      'list',
      'deleteService',
      'list',
      'apply',
      'list',
      'clear',
      'list',
    ],
  );
  await remote.close();
  t.equal(core.closed, false, 'closing the remote core closes only the connection');
});

t.test('the sync daemon methods through the socket', async (t) => {
  const core = createFakeL4('ipvs');
  const path = join(dir, 'daemon.sock');
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(() => server.close());
  const remote = await remoteL4Core(await openAdminClient(path));
  t.teardown(() => remote.close());
  t.same(await remote.daemons(), []);
  await remote.startDaemon(daemon);
  t.same(await remote.daemons(), [daemon], 'null fields survive the trip');
  await t.rejects(remote.startDaemon(daemon), { code: 'exists', message: 'Daemon has already run' });
  await remote.stopDaemon('master');
  await t.rejects(remote.stopDaemon('master'), { code: 'failed', message: 'No daemon is running' });
  t.same(
    core.calls.map((c) => c.name),
    ['daemons', 'startDaemon', 'daemons', 'startDaemon', 'stopDaemon', 'stopDaemon'],
  );
});

t.test('L4Error codes come back as L4Errors', async (t) => {
  const core = createFakeL4();
  const path = join(dir, 'errors.sock');
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(() => server.close());
  const client = await openAdminClient(path);
  t.teardown(() => client.close());
  const remote = await remoteL4Core(client);
  await remote.addService({ key, scheduler: 'wlc', persistence: null });
  const dup = await remote.addService({ key, scheduler: 'wlc', persistence: null }).catch((e: unknown) => e);
  t.ok(dup instanceof L4Error, 'an L4Error');
  t.match(dup, { code: 'exists', message: 'Service already exists' });
  await t.rejects(remote.deleteService({ ...key, port: 81 }), { code: 'no-service' });
  await t.rejects(remote.deleteRealServer(key, '10.9.9.9', 80), { code: 'no-dest' });
  await t.rejects(remote.addService({ key: { ...key, port: 82 }, scheduler: 'nope', persistence: null }), { code: 'invalid' });
});

t.test('close is not served, and malformed params are refused', async (t) => {
  const core = createFakeL4();
  const path = join(dir, 'params.sock');
  const server = await startAdminServer({ path, handlers: l4Handlers(core) });
  t.teardown(() => server.close());
  await t.rejects(adminCall(path, 'l4.close', {}, 5000), { code: 'no-method' });
  t.equal(core.closed, false);
  const bad: Array<[string, unknown, RegExp]> = [
    ['l4.addService', 5, /params must be an object/],
    ['l4.addService', {}, /service must be an object/],
    ['l4.addService', { service: { key, scheduler: 1, persistence: null } }, /service.scheduler must be a string/],
    ['l4.addService', { service: { key: { ...key, protocol: 'sctp' }, scheduler: 'wlc' } }, /service.key.protocol/],
    ['l4.addService', { service: { key: { ...key, family: 5 }, scheduler: 'wlc' } }, /service.key.family/],
    ['l4.addService', { service: { key: { ...key, port: -1 }, scheduler: 'wlc' } }, /service.key.port/],
    ['l4.editService', { service: { key, scheduler: 'wlc', persistence: { timeoutSec: 'x', netmask: '' } } }, /persistence.timeoutSec/],
    ['l4.deleteService', { key: 'TCP:10.0.0.1:80' }, /key must be an object/],
    ['l4.addRealServer', { key, server: { ...server1, method: 'nat' } }, /server.method/],
    ['l4.editRealServer', { key, server: { ...server1, weight: 1.5 } }, /server.weight/],
    ['l4.deleteRealServer', { key, address: 10, port: 80 }, /address must be a string/],
    ['l4.apply', { desired: {} }, /desired must be an array/],
    ['l4.apply', { desired: [{ key, scheduler: 'wlc', persistence: null }] }, /desired\[0\].realServers must be an array/],
    ['l4.startDaemon', {}, /daemon must be an object/],
    ['l4.startDaemon', { daemon: { ...daemon, role: 'primary' } }, /daemon.role must be master or backup/],
    ['l4.startDaemon', { daemon: { ...daemon, mcastInterface: 0 } }, /daemon.mcastInterface must be a string/],
    ['l4.startDaemon', { daemon: { ...daemon, syncId: '1' } }, /daemon.syncId must be a non-negative integer/],
    ['l4.startDaemon', { daemon: { ...daemon, mcastPort: -1 } }, /daemon.mcastPort must be a non-negative integer/],
    ['l4.startDaemon', { daemon: { ...daemon, mcastGroup: 224 } }, /daemon.mcastGroup must be a string/],
    ['l4.stopDaemon', { role: 'all' }, /role must be master or backup/],
  ];
  for (const [method, params, message] of bad) {
    await t.rejects(adminCall(path, method, params, 5000), { code: 'invalid', message }, `${method} ${JSON.stringify(params)}`);
  }
  t.same(core.calls, [], 'nothing malformed reached the core');
});

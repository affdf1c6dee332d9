import t from 'tap';
import { resync } from '../helpers/sched.ts';
import { available, createScheduler, knownSchedulers, makeRealServers } from '../../lib/sched/index.ts';

t.test('every known scheduler can be created and picks', async (t) => {
  const names = knownSchedulers();
  for (const expected of ['rr', 'wrr', 'lc', 'wlc', 'hhttp']) t.ok(names.includes(expected), `${expected} is registered`);
  for (const name of names) {
    const servers = makeRealServers([
      { host: '10.0.0.1', port: 80, weight: 1 },
      { host: '10.0.0.2', port: 80, weight: 0 },
    ]);
    const scheduler = createScheduler(name, servers, {});
    t.equal(scheduler.name, name);
    t.equal(scheduler.pick({ key: 'k', clientAddress: '127.0.0.1' })?.id, 0, `${name} picks the only usable server`);
    servers[0].up = false;
    resync(scheduler, servers);
    t.equal(scheduler.pick({ key: 'k', clientAddress: '127.0.0.1' }), null, `${name}: null when none is usable`);
  }
});

t.test('an unknown name is an error naming it', async (t) => {
  for (const name of ['roundrobin', 'constructor', '__proto__', '']) {
    t.throws(() => createScheduler(name, [], {}), { message: new RegExp(`unknown scheduler "${name}"`) });
  }
});

t.test('knownSchedulers returns a copy', async (t) => {
  knownSchedulers().push('mutated');
  t.notOk(knownSchedulers().includes('mutated'), 'callers get a copy');
});

t.test('makeRealServers builds fresh records', async (t) => {
  const servers = makeRealServers([
    { host: '192.0.2.7', port: 8080, weight: 3 },
    { host: '2001:db8::1', port: 443, weight: 0 },
    { host: 'app.internal', port: 80, weight: 1 },
  ]);
  t.same(
    servers.map((s) => [s.id, s.name, s.weight, s.up, s.active, s.total]),
    [
      [0, '192.0.2.7:8080', 3, true, 0, 0],
      [1, '[2001:db8::1]:443', 0, true, 0, 0],
      [2, 'app.internal:80', 1, true, 0, 0],
    ],
  );
  t.same(servers.map(available), [true, false, true]);
});

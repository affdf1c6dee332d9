// The choice of a server without sockets: a service built as the control
// plane builds it (never listening) serves as the session's context.
import t from 'tap';
import { Choice } from '../../lib/proxy/choice.ts';
import type { ServiceRuntime } from '../../lib/proxy/service.ts';
import { buildRuntimes } from '../helpers/runtimes.ts';

const config = `log level silent
service test
  listen 127.0.0.1:0
  group images scheduler rr
    server 127.0.0.1:9001
    server 127.0.0.1:9002
  group lone
    server 127.0.0.1:9003
  group drained
    server 127.0.0.1:9004 weight 0
  route img prefix /images/ to images
  route one prefix /one/ to lone
  route none prefix /none/ to drained
`;

function service(text = config): ServiceRuntime {
  return buildRuntimes(text)[0];
}

/** Sets the service's request view to a GET of `url`, as the session does before choosing. */
function request(svc: ServiceRuntime, url: string): void {
  svc.requestView.reset('GET', url, ['Host', 'example'], '192.0.2.1');
  svc.requestView.check('example');
}

t.test('a rule names the group; its scheduler picks and the server is begun', async (t) => {
  const svc = service();
  const choice = new Choice();
  request(svc, '/images/a.png');
  t.equal(choice.choose(svc, '192.0.2.1'), 0);
  t.equal(choice.ruleName, 'img');
  t.equal(choice.group?.name, 'images');
  const server = choice.server!;
  t.equal(server.port, 9001, 'rr: the first server');
  t.equal(choice.chosen, server, 'kept for the record');
  t.equal(choice.pinned, null, 'no affinity');
  t.equal(choice.pool, choice.group!.pools[server.id], "the server's pool");
  t.equal(server.active, 1, 'one request in flight on it');
  choice.release();
  t.equal(server.active, 0, 'released');
  t.equal(choice.server, null);
  t.equal(choice.chosen, server, 'still named for the record');
  choice.release();
  t.equal(server.active, 0, 'a second release ends nothing');
});

t.test('404: no rule and no default group', async (t) => {
  const svc = service();
  const choice = new Choice();
  request(svc, '/elsewhere');
  t.equal(choice.choose(svc, '192.0.2.1'), 404);
  t.equal(choice.group, null);
  t.equal(choice.chosen, null);
});

t.test('the default group', async (t) => {
  const svc = service(`${config}  default lone\n`);
  const choice = new Choice();
  request(svc, '/elsewhere');
  t.equal(choice.choose(svc, '192.0.2.1'), 0);
  t.equal(choice.ruleName, 'default');
  t.equal(choice.server?.port, 9003);
});

t.test('503: the group has no usable server', async (t) => {
  const svc = service();
  const choice = new Choice();
  request(svc, '/none/x');
  t.equal(choice.choose(svc, '192.0.2.1'), 503);
  t.equal(choice.group?.name, 'drained', 'the group is known (it is counted)');
  t.equal(choice.server, null);
  t.equal(choice.chosen, null);
});

t.test('after a failed connect: another server, never the one that failed', async (t) => {
  const svc = service();
  const choice = new Choice();
  request(svc, '/images/a.png');
  choice.choose(svc, '192.0.2.1');
  const failed = choice.server!;
  choice.release();
  t.ok(choice.chooseAgain(svc, '192.0.2.1', failed), 'the other server of the group');
  t.not(choice.server, failed);
  t.equal(choice.chosen, choice.server);
  choice.release();

  request(svc, '/one/x');
  choice.reset();
  choice.choose(svc, '192.0.2.1');
  const only = choice.server!;
  choice.release();
  t.notOk(choice.chooseAgain(svc, '192.0.2.1', only), 'a group of one: nowhere else to go');
  t.equal(choice.chosen, only, 'the record still names the server that failed');
});

t.test('reset forgets the last request', async (t) => {
  const svc = service();
  const choice = new Choice();
  request(svc, '/images/a.png');
  choice.choose(svc, '192.0.2.1');
  choice.release();
  choice.reset();
  t.same([choice.ruleName, choice.group, choice.server, choice.chosen, choice.pinned, choice.pool], ['', null, null, null, null, null]);
});

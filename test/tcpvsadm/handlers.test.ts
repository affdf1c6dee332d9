// tcpvsadm's admin methods against a fake ControlPlane: every change is one
// apply() of a whole new config; a refused change applies nothing; stopped
// services are kept aside and come back in place; changes run one at a time;
// listings, the rule table and statistics.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../lib/config/errors.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/model.ts';
import type { ServiceView } from '../../lib/control/control-plane.ts';
import { makeRealServers, type RealServer } from '../../lib/sched/index.ts';
import { formatList } from '../../lib/tcpvsadm/format.ts';
import { tcpvsadmHandlers } from '../../lib/tcpvsadm/handlers.ts';
import type { ListResult, StatsResult } from '../../lib/tcpvsadm/wire.ts';
import { fakeControl } from './fake-control.ts';

const dir = mkdtempSync(join(tmpdir(), 'tcpvsadm-handlers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const TEXT = [
  'service web',
  '  listen 127.0.0.1:8080',
  '  group static',
  '    server 10.0.0.1:80',
  '  default static',
  'service api',
  '  listen 127.0.0.1:8081',
  '  group servers',
  '    server 10.0.0.2:80',
  '  default servers',
  '',
].join('\n');

function config(text = TEXT): Config {
  return parseConfigText(text, 'web.tcpvs');
}

/** The error a handler call rejects with: its code and message. */
async function failure(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (err) {
    return { code: String((err as { code?: unknown }).code), message: (err as Error).message };
  }
  return { code: '(resolved)', message: '' };
}

const names = (c: Config) => c.services.map((s) => s.name);

t.test('an edit is one apply() of the whole next config, with a reason', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  t.same(await h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80', weight: 2 }), { warnings: [] });
  t.equal(control.applied.length, 1);
  t.equal(control.applied[0].reason, 'tcpvsadm add-server ident=api server=10.0.0.3:80 weight=2');
  t.same(control.config().services[1].groups[0].servers, [
    { host: '10.0.0.2', port: 80, weight: 1 },
    { host: '10.0.0.3', port: 80, weight: 2 },
  ]);
  t.same(
    await h['tcpvs.addService']({ ident: 'h', scheduler: 'http', listen: '127.0.0.1:8082' }),
    {
      warnings: ["scheduler http routes by rules and virtual 'h' has none: every request gets 404 until --add-rule"],
    },
    'warnings come back to the client',
  );
  t.same(names(control.config()), ['web', 'api', 'h']);
  await h['tcpvs.serverWeight']({ service: 'web', group: 'static', server: '10.0.0.1:80', weight: 0 });
  t.equal(control.config().services[0].groups[0].servers[0].weight, 0, 'native: drained');
  t.equal(control.applied.length, 3);
});

t.test('a refused change applies nothing and says why, naming the field', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  const before = control.config();
  t.same(await failure(h['tcpvs.addServer']({ ident: 'nope', server: '10.0.0.3:80' })), {
    code: 'refused',
    message: "ident: no service 'nope' (services: web, api)",
  });
  t.same(
    await failure(h['tcpvs.addService']({ ident: 'dup', listen: '127.0.0.1:8080' })),
    {
      code: 'refused',
      message: "listen: 127.0.0.1:8080 is already the listen address of service 'web' (line 1)",
    },
    'the whole next config is checked: a duplicate listen',
  );
  t.same(await failure(h['tcpvs.serverAdd']({ service: 'web', group: 'static', server: '10.0.0.5:80', weight: 70000 })), {
    code: 'refused',
    message: "weight: bad weight '70000': must be an integer 0..65535 (0 = quiescent)",
  });
  control.refuseNext = new ConfigError([
    { file: 'tcpvsadm', line: 0, field: 'group', message: 'no' },
    { file: 'f', line: 3, field: 'x', message: 'y' },
  ]);
  t.same(
    await failure(h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80' })),
    { code: 'refused', message: 'group: no\nf:3: x: y' },
    "the ControlPlane's ConfigError, one problem a line",
  );
  control.refuseNext = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8082'), { code: 'EADDRINUSE' });
  t.same(
    await failure(h['tcpvs.addService']({ ident: 'n', listen: '127.0.0.1:8082' })),
    {
      code: 'EADDRINUSE',
      message: 'listen EADDRINUSE: address already in use 127.0.0.1:8082',
    },
    'a listen error passes through',
  );
  t.equal(control.config(), before, 'the running config is the same object');
  t.equal(control.applied.length, 0);
  const listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(
    listed.services.map((s) => s.name),
    ['web', 'api'],
    'no half-made service left behind',
  );
});

t.test('bad params are refused as such', async (t) => {
  const h = tcpvsadmHandlers(fakeControl(config()));
  t.same(await failure(h['tcpvs.addServer']({ server: '10.0.0.3:80' })), { code: 'bad-params', message: 'bad params: ident is missing' });
  t.same(await failure(h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80', weight: '2' })), {
    code: 'bad-params',
    message: 'bad params: weight must be an integer -9007199254740991..9007199254740991',
  });
  t.same(await failure(h['tcpvs.flush']([])), { code: 'bad-params', message: 'bad params: params must be an object' });
  t.same(await failure(h['tcpvs.routeAdd']({ service: 'web', name: 'r', matchers: [1], group: 'static' })), {
    code: 'bad-params',
    message: 'bad params: matchers must be an array of strings',
  });
  t.same(await failure(h['tcpvs.default']({ service: 'web', group: 3 })), {
    code: 'bad-params',
    message: 'bad params: group must be a string or null',
  });
  t.same(await failure(h['tcpvs.serverWeight']({ service: 'web', group: 'static', server: '10.0.0.1:80' })), {
    code: 'bad-params',
    message: 'bad params: weight is missing',
  });
  t.same(await failure(h['tcpvs.stats']({ intervalMs: 60_000 })), {
    code: 'bad-params',
    message: 'bad params: intervalMs must be an integer 1..10000',
  });
});

t.test('a problem the running config already has does not block an unrelated edit', async (t) => {
  const running = config();
  const web = running.services[0];
  // Two copies of one server: validateConfig flags it, but this edit did not make it.
  const odd: Config = {
    ...running,
    services: [
      { ...web, groups: [{ ...web.groups[0], servers: [web.groups[0].servers[0], web.groups[0].servers[0]] }] },
      running.services[1],
    ],
  };
  const control = fakeControl(odd);
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80' });
  t.equal(control.applied.length, 1);
});

t.test('--stop keeps a service aside, --start puts it back in place', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  t.same(await h['tcpvs.stop']({ ident: 'web' }), { warnings: [] });
  t.same(names(control.config()), ['api'], 'the applied config has no web: its listener closes');
  t.equal(control.applied.at(-1)?.reason, 'tcpvsadm --stop -i web');
  let listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(
    listed.services.map((s) => `${s.name}${s.stopped ? ' (stopped)' : ''}`),
    ['web (stopped)', 'api'],
    'listed in place, marked',
  );

  await h['tcpvs.serverAdd']({ service: 'web', group: 'static', server: '10.0.0.9:80' });
  t.equal(control.applied.length, 1, 'an edit of a stopped service applies nothing');
  t.same(
    await failure(h['tcpvs.addService']({ ident: 'web' })),
    { code: 'refused', message: "ident: virtual service 'web' already exists" },
    'a stopped service still owns its name',
  );
  t.same(
    await failure(h['tcpvs.addService']({ ident: 'x', listen: '127.0.0.1:8080' })),
    {
      code: 'refused',
      message: "listen: 127.0.0.1:8080 is already the listen address of service 'web' (line 1)",
    },
    'and its listen address',
  );
  t.same(await h['tcpvs.stop']({ ident: 'web' }), { warnings: ["virtual 'web' is already stopped"] });

  t.same(await h['tcpvs.start']({ ident: 'web' }), { warnings: [] });
  t.same(names(control.config()), ['web', 'api'], 'back where it was');
  t.same(
    control.config().services[0].groups[0].servers.map((s) => s.host),
    ['10.0.0.1', '10.0.0.9'],
    'with the edit made while stopped',
  );
  t.same(await h['tcpvs.start']({ ident: 'web' }), { warnings: ["virtual 'web' is already running"] });

  await h['tcpvs.stop']({});
  t.same(names(control.config()), [], '--stop without -i stops all');
  await h['tcpvs.start']({});
  t.same(names(control.config()), ['web', 'api'], '--start without -i starts all');
  t.same(await failure(h['tcpvs.stop']({ ident: 'nope' })), { code: 'refused', message: "ident: no virtual service 'nope'" });

  await h['tcpvs.stop']({ ident: 'api' });
  const applies = control.applied.length;
  await h['tcpvs.deleteService']({ ident: 'api' });
  t.equal(control.applied.length, applies, 'deleting a stopped service applies nothing');
  listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(
    listed.services.map((s) => s.name),
    ['web'],
  );
  await h['tcpvs.start']({});
  t.same(names(control.config()), ['web'], 'and it does not come back');
});

t.test('a failed --start leaves the service stopped', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.stop']({ ident: 'web' });
  control.refuseNext = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
  t.equal((await failure(h['tcpvs.start']({ ident: 'web' }))).code, 'EADDRINUSE');
  const listed = (await h['tcpvs.list']({ ident: 'web' })) as ListResult;
  t.equal(listed.services[0].stopped, true);
});

t.test('a reload that brings a stopped service back runs it', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.stop']({ ident: 'web' });
  control.replace(config()); // SIGHUP: the file has web again
  const listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(
    listed.services.map((s) => `${s.name}${s.stopped ? ' (stopped)' : ''}`),
    ['web', 'api'],
  );
  await h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80' });
  t.same(names(control.config()), ['web', 'api'], 'and the next edit does not stop it again');
});

t.test('-f: the text the client read, named by an absolute path; the stopped set is cleared', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.stop']({ ident: 'web' });
  const file = join(dir, 'k.conf');
  const text = 'virtual k {\n  listen = 127.0.0.1:9000\n  server = 10.0.0.1:80\n  startservers = 8\n}\n';
  writeFileSync(file, 'not what the client sent\n');
  const answer = (await h['tcpvs.load']({ path: file, text })) as { warnings: string[] };
  t.same(control.reloads, [file]);
  t.same(names(control.config()), ['k']);
  t.match(answer.warnings, [/k\.conf:4: startservers: ignored/], "the file's warnings");
  t.same(
    ((await h['tcpvs.list']({})) as ListResult).services.map((s) => s.name),
    ['k'],
    'web was stopped; -f replaced everything',
  );
  t.same(await failure(h['tcpvs.load']({ path: 'k.conf', text })), { code: 'bad-params', message: "path: 'k.conf' is not absolute" });
  t.equal((await failure(h['tcpvs.load']({ path: file }))).code, 'bad-params', 'no text: tcpvs does not read the path itself');
  const bad = await failure(h['tcpvs.load']({ path: file, text: 'virtual k {\n  listen = 127.0.0.1:9000\n}\n' }));
  t.equal(bad.code, 'refused');
  t.match(bad.message, /k\.conf:1: server: virtual 'k' has no 'server = HOST:PORT' lines/);
  t.same(names(control.config()), ['k'], 'the running config stays');
});

t.test('changes run one at a time', async (t) => {
  const control = fakeControl(config());
  control.applyDelayMs = 30;
  const h = tcpvsadmHandlers(control);
  await Promise.all([
    h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80' }),
    h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.4:80' }),
    h['tcpvs.serverAdd']({ service: 'web', group: 'static', server: '10.0.0.5:80' }),
  ]);
  t.equal(control.applied.length, 3);
  t.same(
    control.config().services[1].groups[0].servers.map((s) => s.host),
    ['10.0.0.2', '10.0.0.3', '10.0.0.4'],
    'no change lost',
  );
  t.same(
    control.config().services[0].groups[0].servers.map((s) => s.host),
    ['10.0.0.1', '10.0.0.5'],
  );
});

t.test('tcpvs.list and tcpvs.show', async (t) => {
  const control = fakeControl(config());
  control.runtimes = [
    { spec: control.config().services[0], address: { address: '127.0.0.1', port: 8080 }, groups: [] } as unknown as ServiceView,
  ];
  const h = tcpvsadmHandlers(control);
  const listed = (await h['tcpvs.list']({ ident: 'api' })) as ListResult;
  t.match(listed.version, /^\d+\.\d+\.\d+/);
  t.same(
    listed.services,
    [
      {
        name: 'api',
        stopped: false,
        listen: '127.0.0.1:8081',
        bound: null,
        shape: { kind: 'balanced', scheduler: 'wlc' },
        servers: [{ address: '10.0.0.2:80', weight: 1 }],
        rules: [],
        groups: [{ name: 'servers', scheduler: 'wlc', servers: [{ address: '10.0.0.2:80', weight: 1 }] }],
        routes: [],
        defaultGroup: 'servers',
        idleTimeoutSec: 60,
      },
    ],
    'a native service with one group servers as default reads as a KTCPVS virtual',
  );
  t.same(((await h['tcpvs.list']({ ident: 'web' })) as ListResult).services[0].bound, '127.0.0.1:8080');
  t.same(await failure(h['tcpvs.list']({ ident: 'nope' })), { code: 'refused', message: "ident: no virtual service 'nope'" });
  await h['tcpvs.stop']({ ident: 'api' });
  const all = (await h['tcpvs.show']({})) as string;
  t.match(all, /^stopped \(defined, not listening\): api\nweb\.tcpvs: native format, 2 service\(s\)/);
  t.match(all, /service web {2}\(line 1\)\n {2}listen 127\.0\.0\.1:8080/);
  const one = (await h['tcpvs.show']({ service: 'web' })) as string;
  t.match(one, /1 service\(s\)/);
  t.notMatch(one, /stopped/);
  t.same(await failure(h['tcpvs.show']({ service: 'nope' })), { code: 'refused', message: "service: no virtual service 'nope'" });
});

/** A stand-in for a running service: what tcpvs.stats reads of one. */
function runtime(name: string, port: number, groups: Record<string, RealServer[]>): ServiceView {
  const list = Object.entries(groups).map(([g, servers]) => ({ name: g, scheduler: 'wlc', servers }));
  return {
    spec: { name, listen: { host: '127.0.0.1', port: 0 } },
    address: { address: '127.0.0.1', port },
    groups: list,
  } as unknown as ServiceView;
}

t.test('tcpvs.stats: the stats snapshot when there is one, else the runtimes with rates', async (t) => {
  const snapshot = { generatedAt: 1, services: [{ name: 'web' }] };
  const withStats = tcpvsadmHandlers(fakeControl(config()), { stats: () => snapshot });
  t.same(await withStats['tcpvs.stats']({}), { source: 'stats', snapshot });

  const control = fakeControl(config());
  const servers = makeRealServers([
    { host: '10.0.0.1', port: 80, weight: 2 },
    { host: '10.0.0.9', port: 80, weight: 1 },
  ]);
  servers[0].total = 10;
  servers[0].active = 3;
  servers[1].up = false;
  control.runtimes = [runtime('web', 8080, { static: servers })];
  const h = tcpvsadmHandlers(control);
  const now = (await h['tcpvs.stats']({})) as StatsResult;
  t.equal(now.source, 'runtime');
  t.match(now.snapshot, {
    services: [
      {
        name: 'web',
        listen: '127.0.0.1:8080',
        activeRequests: 3,
        requests: { total: 10 },
        groups: [
          {
            name: 'static',
            scheduler: 'wlc',
            activeRequests: 3,
            requests: { total: 10 },
            servers: [
              { name: '10.0.0.1:80', up: true, weight: 2, activeRequests: 3, requests: { total: 10 } },
              { name: '10.0.0.9:80', up: false, weight: 1, activeRequests: 0, requests: { total: 0 } },
            ],
          },
        ],
      },
    ],
  });
  t.notOk('intervalMs' in (now.snapshot as object), 'no rates without an interval');

  const pending = h['tcpvs.stats']({ intervalMs: 200 });
  setTimeout(() => (servers[0].total += 20), 50);
  const rated = (await pending) as {
    snapshot: {
      intervalMs: number;
      services: { requests: { perSecond: number }; groups: { servers: { requests: { perSecond: number } }[] }[] }[];
    };
  };
  t.equal(rated.snapshot.intervalMs, 200);
  const rps = rated.snapshot.services[0].groups[0].servers[0].requests.perSecond;
  // 20 requests over a timer of 200 ms, which may fire a little early or late.
  t.ok(rps > 20 && rps < 110, `20 requests in about 0.2 s: ${rps}/s`);
  t.equal(rated.snapshot.services[0].groups[0].servers[1].requests.perSecond, 0);
  t.equal(rated.snapshot.services[0].requests.perSecond, rps, 'the service sums its servers');

  // A reload in between builds new servers with new counters: no rate rather than a wrong one.
  const later = h['tcpvs.stats']({ intervalMs: 100 });
  const fresh = makeRealServers([{ host: '10.0.0.1', port: 80, weight: 2 }]);
  fresh[0].total = 1000; // more than before: only the objects tell the counters apart
  setTimeout(() => (control.runtimes = [runtime('web', 8080, { static: fresh })]), 20);
  const reset = (await later) as typeof rated;
  t.equal(reset.snapshot.services[0].groups[0].servers[0].requests.perSecond, null);
  t.equal(reset.snapshot.services[0].requests.perSecond, null, 'and no sum over it');
});

t.test('a rule pattern lists and deletes as it was given (issue 12: ^/images/ was listed as ^\\/images\\/)', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.addService']({ ident: 'k', scheduler: 'http', listen: '127.0.0.1:8090' });
  await h['tcpvs.addServer']({ ident: 'k', server: '10.0.0.1:80' });
  await h['tcpvs.addRule']({ ident: 'k', pattern: '^/images/', server: '10.0.0.1:80' });
  await h['tcpvs.addRule']({ ident: 'k', pattern: '/a"b\\\\c/', server: '10.0.0.1:80' });
  const rules = async () => ((await h['tcpvs.list']({ ident: 'k' })) as ListResult).services[0].rules.map((r) => r.pattern);
  t.same(await rules(), ['^/images/', '/a"b\\\\c/'], 'listed as given');
  const text = formatList((await h['tcpvs.list']({ ident: 'k' })) as ListResult);
  t.match(text, /^ {4}rule = pattern "\^\/images\/" use server 10\.0\.0\.1:80$/m, '-L prints it as given');
  t.same(
    await failure(h['tcpvs.delRule']({ ident: 'k', pattern: '^\\/images\\/', server: '10.0.0.1:80' })),
    {
      code: 'refused',
      message: 'pattern: no rule pattern "^\\\\/images\\\\/" use server 10.0.0.1:80 in virtual \'k\'',
    },
    'the escaped RegExp#source is not the pattern',
  );
  t.same(
    await h['tcpvs.delRule']({ ident: 'k', pattern: '^/images/', server: '10.0.0.1:80' }),
    { warnings: [] },
    'deleted by the text it was added with',
  );
  t.same(await rules(), ['/a"b\\\\c/']);
  await h['tcpvs.delRule']({ ident: 'k', pattern: '/a"b\\\\c/', server: '10.0.0.1:80' });
  t.same(await rules(), []);
  // -L's block loads back with the pattern as given, and --del-rule finds it there too.
  await h['tcpvs.addRule']({ ident: 'k', pattern: '^/images/', server: '10.0.0.1:80' });
  const saved = formatList((await h['tcpvs.list']({ ident: 'k' })) as ListResult);
  const again = fakeControl(parseConfigText(saved, 'saved.conf'));
  const h2 = tcpvsadmHandlers(again);
  t.same(await h2['tcpvs.delRule']({ ident: 'k', pattern: '^/images/', server: '10.0.0.1:80' }), { warnings: [] });
});

t.test('chttp and phttp through the handlers', async (t) => {
  const control = fakeControl(config());
  const h = tcpvsadmHandlers(control);
  await h['tcpvs.addService']({ ident: 'c', scheduler: 'chttp', listen: '127.0.0.1:8090' });
  await h['tcpvs.addServer']({ ident: 'c', server: '10.0.0.1:80' });
  await h['tcpvs.addRule']({ ident: 'c', pattern: '.*', server: '10.0.0.1:80' });
  await h['tcpvs.addService']({ ident: 'p', scheduler: 'phttp', listen: '127.0.0.1:8091' });
  const listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(
    listed.services.filter((s) => s.name === 'c' || s.name === 'p').map((s) => s.shape),
    [
      { kind: 'content', scheduler: 'chttp' },
      { kind: 'content', scheduler: 'http' },
    ],
  );
  const c = control.config().services.find((s) => s.name === 'c');
  t.same(
    c?.groups.map((g) => g.affinity?.kind === 'cookie' && g.affinity.name),
    ['KTCPVS_SID', 'KTCPVS_SID'],
  );
  t.same(await failure(h['tcpvs.addService']({ ident: 'x', scheduler: 'chtp' })), {
    code: 'refused',
    message:
      "scheduler: unknown scheduler 'chtp' (known: http, hhttp, chttp, phttp, rr, wrr, lc, wlc, sed, nq, dh, sh, p2c, lblc, lblcr, mh, chbl); did you mean 'chttp'?",
  });
});

t.test('-L notes what a KTCPVS block cannot carry', async (t) => {
  const h = tcpvsadmHandlers(
    fakeControl(
      config(
        [
          'service api',
          '  listen 127.0.0.1:8081',
          '  timeout connect 1s',
          '  group servers',
          '    persist source timeout 5m',
          '    server 10.0.0.2:80',
          '  default servers',
          '',
        ].join('\n'),
      ),
    ),
  );
  const listed = (await h['tcpvs.list']({})) as ListResult;
  t.same(listed.services[0].dropped, ['timeout connect', 'group servers: persist source']);
  t.match(
    formatList(listed),
    /^ {4}# not in KTCPVS terms, so not in this block \('tcpvsadm show api' has them\): timeout connect; group servers: persist source$/m,
  );
});

t.test('an edit runs the validator once (the standing problems are kept from the last commit)', async (t) => {
  const actual = await import('../../lib/config/validate.ts');
  let runs = 0;
  const { tcpvsadmHandlers: counted } = await t.mockImport<typeof import('../../lib/tcpvsadm/handlers.ts')>(
    '../../lib/tcpvsadm/handlers.ts',
    {
      '../../lib/config/validate.ts': {
        ...actual,
        validateConfig: (...args: Parameters<typeof actual.validateConfig>) => {
          runs++;
          return actual.validateConfig(...args);
        },
      },
    },
  );
  const control = fakeControl(config());
  const h = counted(control);
  await h['tcpvs.addServer']({ ident: 'api', server: '10.0.0.3:80', weight: 2 });
  t.equal(runs, 2, 'the first edit also finds what the running config already had');
  for (const weight of [3, 4, 5]) {
    const before = runs;
    await h['tcpvs.serverWeight']({ service: 'web', group: 'static', server: '10.0.0.1:80', weight });
    t.equal(runs - before, 1, `weight ${weight}: one validation`);
  }
  control.replace(config());
  const before = runs;
  await h['tcpvs.serverWeight']({ service: 'web', group: 'static', server: '10.0.0.1:80', weight: 6 });
  t.equal(runs - before, 2, 'after a change from elsewhere, the standing problems are found again');
});

// lib/stats/registry-stats.ts over a RuntimeView built by hand (no node
// running): which counters each entity reads and with what arguments, the
// sums and counts it adds up, the listen address it shows, when the
// "no server" and "no group" entries appear, and the clock it uses.
// test/stats/page.test.ts and the admin tests read it through a running node.
import t from 'tap';
import { registryStats } from '../../lib/stats/registry-stats.ts';
import { BUCKET_UPPER_MS, WINDOW_SECONDS } from '../../lib/stats/histogram.ts';
import type { RequestStats } from '../../lib/stats/collector.ts';
import type {
  GroupRuntimeView,
  RequestCounts,
  RuntimeView,
  ServerRuntimeView,
  ServiceRuntimeView,
} from '../../lib/control/runtime-view.ts';
import type { GroupSpec, ServiceSpec } from '../../lib/config/model.ts';

type Read = [string, number, number, boolean | undefined];

/** Counters that answer with their own label and log every read. */
function counts(label: string, total: number, log: Read[]): RequestCounts & { count: number } {
  return {
    count: total,
    total() {
      return this.count;
    },
    read(nowMs: number, startedAtMs: number, histograms: boolean) {
      log.push([label, nowMs, startedAtMs, histograms]);
      return { label } as unknown as RequestStats;
    },
  };
}

function server(name: string, up: boolean, active: number, log: Read[]): ServerRuntimeView {
  return {
    name,
    up,
    weight: up ? 2 : 0,
    active,
    peak: active + 10,
    changedAt: 1234,
    lastCheck: up ? null : { ok: false, reason: 'connect refused', at: 999 },
    requests: counts(`server ${name}`, 0, log),
  };
}

function group(name: string, scheduler: string, servers: ServerRuntimeView[], noServer: number, log: Read[]): GroupRuntimeView {
  return {
    name,
    spec: { name, scheduler, servers: [] } as GroupSpec,
    servers,
    requests: counts(`group ${name}`, 0, log),
    noServer: counts(`noServer ${name}`, noServer, log),
  };
}

function service(
  name: string,
  listen: { host: string; port: number },
  bound: { address: string; port: number } | null,
  groups: GroupRuntimeView[],
  noGroup: number,
  log: Read[],
): ServiceRuntimeView {
  return {
    name,
    spec: { name, listen } as ServiceSpec,
    bound,
    groups,
    requests: counts(`service ${name}`, 0, log),
    noGroup: counts(`noGroup ${name}`, noGroup, log),
    connections: {
      read(nowMs: number, startedAtMs: number) {
        log.push([`connections ${name}`, nowMs, startedAtMs, undefined]);
        return { active: 3, total: 40, perSecond: 0.5 };
      },
    },
  };
}

function fixture() {
  const log: Read[] = [];
  const web = service(
    'web',
    { host: '0.0.0.0', port: 0 },
    { address: '0.0.0.0', port: 41000 },
    [
      group(
        'static',
        'wlc',
        [server('10.0.0.1:80', true, 3, log), server('10.0.0.2:80', false, 1, log), server('[fd00::3]:80', true, 4, log)],
        0,
        log,
      ),
      group('api', 'mh', [server('10.0.0.9:81', true, 7, log)], 5, log),
      group('empty', 'rr', [], 0, log),
    ],
    2,
    log,
  );
  const v6 = service('v6', { host: '::1', port: 8443 }, null, [], 0, log);
  const registry: RuntimeView = { startedAt: 1_000_000, services: () => [web, v6] };
  return { log, web, v6, registry };
}

t.test('services, groups and servers in order, with their sums and counts', async (t) => {
  const { registry } = fixture();
  const snap = registryStats(registry).snapshot();
  t.same(
    snap.services.map((s) => [s.name, s.listen, s.activeRequests]),
    [
      ['web', '0.0.0.0:41000', 15],
      ['v6', '[::1]:8443', 0],
    ],
    'the bound port, not the configured 0; an IPv6 listen in brackets; active summed over groups',
  );
  const web = snap.services[0];
  t.same(web.connections, { active: 3, total: 40, perSecond: 0.5 });
  t.same(
    web.groups.map((g) => [g.name, g.scheduler, g.activeRequests, g.serversUp, g.servers.length]),
    [
      ['static', 'wlc', 8, 2, 3],
      ['api', 'mh', 7, 1, 1],
      ['empty', 'rr', 0, 0, 0],
    ],
    "a down server's requests in flight still count",
  );
  t.same(web.groups[0].servers[1], {
    name: '10.0.0.2:80',
    up: false,
    weight: 0,
    activeRequests: 1,
    peakRequests: 11,
    changedAt: 1234,
    lastCheck: { ok: false, reason: 'connect refused', at: 999 },
    requests: { label: 'server 10.0.0.2:80' },
  });
  t.same(web.requests, { label: 'service web' });
  t.same(web.groups[1].requests, { label: 'group api' });
});

t.test('"no server" and "no group" only when something was counted there', async (t) => {
  const { registry, web } = fixture();
  const stats = registryStats(registry);
  let snap = stats.snapshot();
  t.same(
    snap.services[0].groups.map((g) => g.noServer),
    [null, { label: 'noServer api' }, null],
  );
  t.same(snap.services[0].noGroup, { label: 'noGroup web' });
  t.equal(snap.services[1].noGroup, null);
  (web.noGroup as RequestCounts & { count: number }).count = 0;
  (web.groups[0].noServer as RequestCounts & { count: number }).count = 1;
  snap = stats.snapshot();
  t.equal(snap.services[0].noGroup, null, 'read afresh on each snapshot');
  t.same(snap.services[0].groups[0].noServer, { label: 'noServer static' });
});

t.test("the registry's start, or the injected clock's now at creation", async (t) => {
  const { registry, log } = fixture();
  const real = registryStats(registry).snapshot();
  t.equal(real.startedAt, 1_000_000, "without a clock: the registry's start");
  t.ok(Math.abs(real.generatedAt - Date.now()) < 60_000, 'generated now');
  t.equal(real.windowSeconds, WINDOW_SECONDS);
  t.ok(
    log.every(([, now, started]) => now === real.generatedAt && started === 1_000_000),
    'every read at the snapshot time, from the start',
  );

  let clock = 5_000;
  const stats = registryStats(registry, { now: () => clock });
  clock = 8_000;
  log.length = 0;
  const snap = stats.snapshot();
  t.same([snap.startedAt, snap.generatedAt], [5_000, 8_000], 'with a clock: started when the stats were made');
  t.ok(
    log.every(([, now, started]) => now === 8_000 && started === 5_000),
    'the clock reaches every read',
  );
  clock = 9_500;
  t.equal(stats.snapshot().generatedAt, 9_500, 'each snapshot reads the clock');
});

t.test('histograms: passed to every request counter, and the bucket bounds added', async (t) => {
  const { registry, log } = fixture();
  const stats = registryStats(registry, { now: () => 1 });
  const plain = stats.snapshot();
  t.notOk('bucketUpperMs' in plain, 'no bounds without histograms');
  t.ok(
    log.filter(([label]) => !label.startsWith('connections')).every(([, , , h]) => h === false),
    'histograms: false to each read',
  );
  log.length = 0;
  const full = stats.snapshot({ histograms: true });
  t.equal(full.bucketUpperMs, BUCKET_UPPER_MS);
  const requestReads = log.filter(([label]) => !label.startsWith('connections'));
  t.ok(
    requestReads.every(([, , , h]) => h === true),
    'histograms: true to each read',
  );
  t.same(
    requestReads.map(([label]) => label),
    [
      'server 10.0.0.1:80',
      'server 10.0.0.2:80',
      'server [fd00::3]:80',
      'group static',
      'server 10.0.0.9:81',
      'group api',
      'noServer api',
      'group empty',
      'service web',
      'noGroup web',
      'service v6',
    ],
    'each counter read once, "no" entries only when counted',
  );
  t.same(
    log.filter(([label]) => label.startsWith('connections')).map(([label, , , h]) => [label, h]),
    [
      ['connections web', undefined],
      ['connections v6', undefined],
    ],
    'connections take no histograms flag',
  );
  stats.snapshot({ histograms: false });
  t.notOk('bucketUpperMs' in stats.snapshot({}), 'an empty options object is no histograms');
});

t.test('no services: an empty snapshot', async (t) => {
  const snap = registryStats({ startedAt: 7, services: () => [] }, { now: () => 42 }).snapshot();
  t.same(snap, { generatedAt: 42, startedAt: 42, windowSeconds: WINDOW_SECONDS, services: [] });
});

// The statistics collector, fed records directly with a test clock: rates,
// percentiles, status classes, outcomes, live server state, and counters that
// carry on by name when a reload replaces the runtimes.
import t from 'tap';
import type { ServiceRuntime } from '../../lib/proxy/service.ts';
import { buildNode, setServerState } from '../helpers/runtimes.ts';
import type { RequestOutcome, RequestRecord } from '../../lib/proxy/observer.ts';
import { ratePerSecond, statusClassIndex, type ServiceSnapshot, type StatsSnapshot } from '../../lib/stats/collector.ts';

const CONFIG = `log level silent
service web
  listen 127.0.0.1:0
  group static scheduler rr
    server 127.0.0.1:9001
    server 127.0.0.1:9002 weight 3
  group images
    server 127.0.0.1:9003
  route img prefix /img/ to images
  default static
service api
  listen 127.0.0.1:0
  group app
    server 127.0.0.1:9100
  default app
`;

/** A node's statistics, and an observer-shaped way to feed them records as the data path does. */
function rig(clock?: Clock, text = CONFIG) {
  const node = buildNode(text, 'stats.tcpvs', clock?.now);
  const o = {
    requestEnded: (r: RequestRecord) => node.feed(r),
    connectionOpened: (name: string) => node.opened(name),
    connectionClosed: (name: string) => node.closed(name),
  };
  return { node, stats: node.stats, o, services: node.services };
}

class Clock {
  ms = 1_700_000_000_000; // a whole second
  now = () => this.ms;
}

function record(svc: ServiceRuntime, group: string | null, server: number | null, fields: Partial<RequestRecord> = {}): RequestRecord {
  const g = group === null ? null : svc.groups.get(group)!;
  return {
    service: svc.spec.name,
    group: g,
    server: g !== null && server !== null ? g.servers[server] : null,
    status: 200,
    bytesIn: 100,
    bytesOut: 1000,
    durationMs: 5,
    outcome: 'ok',
    ...fields,
  };
}

function service(s: StatsSnapshot, name: string): ServiceSnapshot {
  const found = s.services.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

t.test('status classes: 1xx..5xx, and other for no status', async (t) => {
  t.same([101, 200, 299, 302, 404, 503, 599, 0, 600, 42].map(statusClassIndex), [0, 1, 1, 2, 3, 4, 4, 5, 5, 5]);
});

t.test('counts per service, group and server; no-group and no-server requests are their own rows', async (t) => {
  const clock = new Clock();
  const {
    stats,
    o,
    services: [web, api],
  } = rig(clock);
  const statuses = [200, 200, 204, 301, 404, 500, 503, 101, 0];
  for (const status of statuses) o.requestEnded(record(web, 'static', 1, { status, outcome: status === 0 ? 'aborted' : 'ok' }));
  o.requestEnded(record(web, 'static', 0, { bytesIn: 7, bytesOut: 11 }));
  o.requestEnded(record(web, 'images', 0, { status: 502, outcome: 'connect-failed' }));
  o.requestEnded(record(web, 'static', null, { status: 503, outcome: 'refused', bytesOut: 50 }));
  o.requestEnded(record(web, null, null, { status: 404, outcome: 'refused', bytesOut: 40 }));
  o.requestEnded(record(web, null, null, { status: 400, outcome: 'refused', bytesOut: 40 }));
  o.requestEnded(record(api, 'app', 0, { status: 201, outcome: 'upstream-failed' }));

  const snap = stats.snapshot();
  const w = service(snap, 'web');
  t.equal(w.requests.total, statuses.length + 5, 'the service counts every request');
  t.same(w.requests.status, { '1xx': 1, '2xx': 4, '3xx': 1, '4xx': 3, '5xx': 4, other: 1 });
  t.same(w.requests.outcomes, { ok: statuses.length, refused: 3, 'connect-failed': 1, 'upstream-failed': 0, aborted: 1 });
  t.equal(w.requests.bytesIn, 100 * (statuses.length + 4) + 7);
  t.equal(w.requests.bytesOut, 1000 * (statuses.length + 1) + 11 + 50 + 40 + 40);

  const staticGroup = w.groups.find((g) => g.name === 'static')!;
  t.equal(staticGroup.requests.total, statuses.length + 2, 'the group counts its servers and its no-server requests');
  t.equal(staticGroup.scheduler, 'rr');
  t.same(
    staticGroup.servers.map((s) => [s.name, s.requests.total]),
    [
      ['127.0.0.1:9001', 1],
      ['127.0.0.1:9002', statuses.length],
    ],
  );
  t.same(staticGroup.servers[1].requests.status, { '1xx': 1, '2xx': 3, '3xx': 1, '4xx': 1, '5xx': 2, other: 1 });
  t.equal(staticGroup.servers[0].requests.bytesIn, 7);
  t.equal(staticGroup.servers[0].requests.bytesOut, 11);
  t.equal(staticGroup.noServer?.total, 1);
  t.equal(staticGroup.noServer?.status['5xx'], 1);
  const images = w.groups.find((g) => g.name === 'images')!;
  t.equal(images.requests.outcomes['connect-failed'], 1);
  t.equal(images.noServer, null, 'no no-server row when there were none');
  t.equal(w.noGroup?.total, 2);
  t.same(w.noGroup?.status, { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 2, '5xx': 0, other: 0 });

  const a = service(snap, 'api');
  t.equal(a.requests.total, 1, 'services are counted apart');
  t.equal(a.requests.outcomes['upstream-failed'], 1);
  t.equal(a.noGroup, null);
  t.equal(a.groups[0].servers[0].requests.total, 1);
});

t.test('rates over the sliding window, for requests and connections', async (t) => {
  const clock = new Clock();
  const {
    stats,
    o,
    services: [web],
  } = rig(clock);
  // 10 requests a second for 3 s, and 2 connections a second.
  for (let i = 0; i < 30; i++) {
    clock.ms = 1_700_000_000_000 + i * 100;
    o.requestEnded(record(web, 'static', 0));
    if (i % 5 === 0) o.connectionOpened('web');
  }
  clock.ms = 1_700_000_003_000;
  let w = service(stats.snapshot(), 'web');
  t.equal(w.requests.perSecond, 10, 'young stats divide by their age: 30 requests in 3 s');
  t.equal(w.groups[0].servers[0].requests.perSecond, 10);
  t.equal(w.groups[1].requests.perSecond, 0);
  t.equal(w.connections.perSecond, 2);
  t.equal(w.connections.total, 6);
  t.equal(w.connections.active, 6);
  for (let i = 0; i < 6; i++) o.connectionClosed('web');
  o.connectionClosed('web'); // one more than opened must not go negative
  clock.ms = 1_700_000_005_500;
  w = service(stats.snapshot(), 'web');
  t.equal(w.connections.active, 0);
  t.equal(w.requests.perSecond, 30 / 5.5);
  clock.ms = 1_700_000_010_500;
  w = service(stats.snapshot(), 'web');
  t.equal(w.requests.perSecond, 20 / 9.5, 'second 0 has left the window: 20 requests over seconds 1..10.5');
  clock.ms = 1_700_000_030_000;
  w = service(stats.snapshot(), 'web');
  t.equal(w.requests.perSecond, 0, 'idle for longer than the window: 0');
  t.equal(w.requests.total, 30, 'totals stay');
  t.equal(w.connections.perSecond, 0);

  t.equal(ratePerSecond(5, 1_000_000_000_100, 1_000_000_000_000), 5, 'never divides by less than a second');
  t.equal(ratePerSecond(95, 1_000_000_500_500, 1_000_000_000_000), 95 / 9.5, 'full second slots plus the current part');
});

t.test('latency percentiles: since start and over the last 10 s', async (t) => {
  const clock = new Clock();
  const {
    stats,
    o,
    services: [web],
  } = rig(clock);
  // 100 requests of 1..100 ms.
  for (let i = 1; i <= 100; i++) o.requestEnded(record(web, 'images', 0, { durationMs: i }));
  let r = service(stats.snapshot(), 'web').groups[1].servers[0].requests;
  const step = 10 ** (1 / 20);
  const within = (got: number | null, want: number) => got !== null && got / want < step && want / got < step;
  t.ok(within(r.latency.p50Ms, 50), `p50 ${r.latency.p50Ms} ≈ 50 ms`);
  t.ok(within(r.latency.p99Ms, 99), `p99 ${r.latency.p99Ms} ≈ 99 ms`);
  t.equal(r.latency.meanMs, 50.5);
  t.equal(r.latency.maxMs, 100);
  t.equal(r.recentLatency.count, 100);
  t.ok(within(r.recentLatency.p50Ms, 50));

  // 20 s later, 10 fast requests: the recent window sees only them.
  clock.ms += 20_000;
  for (let i = 0; i < 10; i++) o.requestEnded(record(web, 'images', 0, { durationMs: 0.5 }));
  r = service(stats.snapshot(), 'web').groups[1].servers[0].requests;
  t.equal(r.recentLatency.count, 10);
  t.equal(r.recentLatency.p50Ms, 0.5);
  t.equal(r.recentLatency.p99Ms, 0.5);
  t.equal(r.latency.count, 110, 'since start keeps everything');
  t.ok(within(r.latency.p99Ms, 99));
  const fresh = service(stats.snapshot(), 'web').groups[0].servers[0].requests;
  t.same([fresh.latency.p50Ms, fresh.recentLatency.p99Ms, fresh.latency.meanMs], [null, null, null], 'no requests: no latency');
  t.equal(fresh.histogram, undefined, 'bucket counts only when asked for');
  const withBuckets = stats.snapshot({ histograms: true });
  const h = service(withBuckets, 'web').groups[1].servers[0].requests.histogram!;
  t.equal(
    h.counts.reduce((a, b) => a + b, 0),
    110,
  );
  t.equal(h.counts.length, withBuckets.bucketUpperMs!.length + 1);
  t.ok(Math.abs(h.sumSeconds - (5050 + 5) / 1000) < 1e-9);
});

t.test('server state is read live: up/down, weight, requests in flight', async (t) => {
  const {
    stats,
    services: [web],
  } = rig();
  const servers = web.groups.get('static')!.servers;
  setServerState(servers[0], { up: false });
  setServerState(servers[1], { weight: 0 });
  servers[1].active = 4;
  web.groups.get('images')!.servers[0].active = 2;
  const w = service(stats.snapshot(), 'web');
  const g = w.groups[0];
  t.same(
    g.servers.map((s) => [s.up, s.weight, s.activeRequests]),
    [
      [false, 1, 0],
      [true, 0, 4],
    ],
  );
  t.equal(g.serversUp, 1);
  t.equal(g.activeRequests, 4);
  t.equal(w.activeRequests, 6, 'the service sums its groups');
  setServerState(servers[0], { up: true });
  t.equal(service(stats.snapshot(), 'web').groups[0].serversUp, 2, 'the next snapshot sees the change');
});

t.test('a config change: counters carry on for what stays, and go with what leaves', async (t) => {
  const clock = new Clock();
  const { node, stats, o } = rig(clock);
  const first = node.services;
  for (let i = 0; i < 5; i++) o.requestEnded(record(first[0], 'static', 1));
  o.connectionOpened('web');
  o.connectionOpened('web');

  // The change drops the api service and the images group, adds a server and a group.
  node.apply(
    CONFIG.replace(
      '  group images\n    server 127.0.0.1:9003\n  route img prefix /img/ to images\n',
      '  group thumbs\n    server 127.0.0.1:9004\n',
    )
      .replace('    server 127.0.0.1:9002 weight 3\n', '    server 127.0.0.1:9002 weight 3\n    server 127.0.0.1:9005\n')
      .replace(/service api[\s\S]*$/, ''),
  );
  const [web] = node.services;
  t.equal(web, first[0], 'the web service is updated in place');
  for (let i = 0; i < 3; i++) o.requestEnded(record(web, 'static', 1));
  o.requestEnded(record(web, 'static', 2));
  o.requestEnded(record(web, 'thumbs', 0));
  o.connectionClosed('web');

  const snap = stats.snapshot();
  t.same(
    snap.services.map((s) => s.name),
    ['web'],
    'the snapshot shows what runs now',
  );
  const w = snap.services[0];
  t.same(
    w.groups.map((g) => g.name),
    ['static', 'thumbs'],
  );
  const staticGroup = w.groups[0];
  t.same(
    staticGroup.servers.map((s) => [s.name, s.requests.total]),
    [
      ['127.0.0.1:9001', 0],
      ['127.0.0.1:9002', 8],
      ['127.0.0.1:9005', 1],
    ],
    'a server that stays keeps counting',
  );
  t.equal(staticGroup.requests.total, 9);
  t.equal(w.requests.total, 10);
  t.equal(w.connections.total, 2);
  t.equal(w.connections.active, 1, 'a connection opened before the change closes after it');
  t.equal(w.groups[1].requests.total, 1);

  // Back to the first config: images and api come back as new, with no numbers.
  node.apply(CONFIG);
  const again = stats.snapshot();
  t.same(
    again.services.map((s) => s.name),
    ['web', 'api'],
  );
  t.equal(service(again, 'api').requests.total, 0, 'a service that left and came back starts again');
  t.equal(service(again, 'web').groups.find((g) => g.name === 'images')?.requests.total, 0);
  t.equal(service(again, 'web').requests.total, 10, 'the service that stayed keeps its count');
});

t.test('every outcome has its counter', async (t) => {
  const {
    stats,
    o,
    services: [web],
  } = rig();
  const outcomes: RequestOutcome[] = ['ok', 'refused', 'connect-failed', 'upstream-failed', 'aborted'];
  outcomes.forEach((outcome, i) => {
    for (let n = 0; n <= i; n++) o.requestEnded(record(web, 'static', 0, { outcome, status: 0 }));
  });
  t.same(service(stats.snapshot(), 'web').requests.outcomes, { ok: 1, refused: 2, 'connect-failed': 3, 'upstream-failed': 4, aborted: 5 });
  t.equal(service(stats.snapshot(), 'web').requests.status.other, 15);
});

// Merging per-worker snapshots: the merge of two collectors that each saw
// part of the traffic equals one collector that saw all of it.
import t from 'tap';
import pino from 'pino';
import { parseConfigText } from '../../lib/config/load.ts';
import type { ServiceRuntime } from '../../lib/proxy/service.ts';
import { buildRuntimes, setServerState } from '../helpers/runtimes.ts';
import type { RequestOutcome, RequestRecord } from '../../lib/proxy/observer.ts';
import type { RequestStats } from '../../lib/stats/collector.ts';
import { createStats } from '../helpers/reference-collector.ts';
import { mergeSnapshots } from '../../lib/stats/merge.ts';
import { renderMetrics } from '../../lib/stats/prometheus.ts';
import { parsePrometheus } from './prometheus-parse.ts';

const CONFIG = `log level silent
service web
  listen 127.0.0.1:0
  group static
    server 127.0.0.1:9001
    server 127.0.0.1:9002
  group images
    server 127.0.0.1:9003
  route img prefix /img/ to images
  default static
`;

function build(t: { teardown(fn: () => void): void }, text = CONFIG): ServiceRuntime {
  const [svc] = buildRuntimes(text, 'm.tcpvs');
  t.teardown(() => svc.discard());
  return svc;
}

function recordOn(svc: ServiceRuntime, i: number): RequestRecord {
  const kind = i % 7;
  const group = kind === 6 ? null : svc.groups.get(kind < 4 ? 'static' : 'images')!;
  const outcomes: RequestOutcome[] = ['ok', 'ok', 'ok', 'refused', 'connect-failed', 'ok', 'refused'];
  return {
    service: 'web',
    group,
    server: group === null || kind === 3 ? null : group.servers[i % group.servers.length],
    status: [200, 204, 301, 503, 502, 200, 404][kind],
    bytesIn: 50 + i,
    bytesOut: 500 + 3 * i,
    durationMs: 0.05 * (1 + ((i * 37) % 4000)),
    outcome: outcomes[kind],
  };
}

t.test('two workers merged equal one that saw everything', async (t) => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const worker1 = createStats({ now: clock });
  const worker2 = createStats({ now: clock });
  const reference = createStats({ now: clock });
  const w1 = build(t);
  const w2 = build(t);
  const ref = build(t);
  worker1.attach([w1]);
  worker2.attach([w2]);
  reference.attach([ref]);
  for (let i = 0; i < 3000; i++) {
    now = 1_700_000_000_000 + i * 5; // 15 s of traffic: the recent window holds part of it
    (i % 3 === 0 ? worker1 : worker2).observer.requestEnded(recordOn(i % 3 === 0 ? w1 : w2, i));
    reference.observer.requestEnded(recordOn(ref, i));
    if (i % 100 === 0) {
      (i % 200 === 0 ? worker1 : worker2).observer.connectionOpened('web');
      reference.observer.connectionOpened('web');
    }
  }
  now += 500;
  setServerState(w2.groups.get('static')!.servers[1], { up: false });
  setServerState(ref.groups.get('static')!.servers[1], { up: false });
  w1.groups.get('images')!.servers[0].active = 2;
  w2.groups.get('images')!.servers[0].active = 3;
  ref.groups.get('images')!.servers[0].active = 5;

  const merged = mergeSnapshots([worker1.snapshot({ histograms: true }), worker2.snapshot({ histograms: true })], { histograms: true });
  const want = reference.snapshot({ histograms: true });
  const close = (a: number | null, b: number | null) => (a === null || b === null ? a === b : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));
  const same = (got: RequestStats, expected: RequestStats, where: string) => {
    t.same(
      { total: got.total, bytesIn: got.bytesIn, bytesOut: got.bytesOut, status: got.status, outcomes: got.outcomes, counts: got.histogram?.counts, recent: got.histogram?.recentCounts },
      { total: expected.total, bytesIn: expected.bytesIn, bytesOut: expected.bytesOut, status: expected.status, outcomes: expected.outcomes, counts: expected.histogram?.counts, recent: expected.histogram?.recentCounts },
      `${where}: counters and buckets`,
    );
    for (const k of ['count', 'p50Ms', 'p99Ms', 'minMs', 'maxMs', 'meanMs'] as const)
      t.ok(close(got.latency[k], expected.latency[k]), `${where}: latency ${k} ${got.latency[k]} = ${expected.latency[k]}`);
    for (const k of ['count', 'p50Ms', 'p99Ms', 'minMs', 'maxMs'] as const)
      t.ok(close(got.recentLatency[k], expected.recentLatency[k]), `${where}: recent ${k} ${got.recentLatency[k]} = ${expected.recentLatency[k]}`);
    t.ok(close(got.perSecond, expected.perSecond), `${where}: rate ${got.perSecond} = ${expected.perSecond}`);
  };
  const [m] = merged.services;
  const [r] = want.services;
  t.ok(r.requests.recentLatency.count > 0 && r.requests.recentLatency.count < r.requests.total, 'the window holds part of the traffic');
  same(m.requests, r.requests, 'service');
  same(m.noGroup!, r.noGroup!, 'no group');
  t.same(m.connections, r.connections);
  t.same(
    m.groups.map((g) => g.name),
    r.groups.map((g) => g.name),
  );
  for (let gi = 0; gi < r.groups.length; gi++) {
    same(m.groups[gi].requests, r.groups[gi].requests, `group ${r.groups[gi].name}`);
    t.equal(m.groups[gi].noServer?.total, r.groups[gi].noServer?.total);
    t.equal(m.groups[gi].serversUp, r.groups[gi].serversUp);
    t.equal(m.groups[gi].activeRequests, r.groups[gi].activeRequests);
    for (let si = 0; si < r.groups[gi].servers.length; si++) {
      const [ms, rs] = [m.groups[gi].servers[si], r.groups[gi].servers[si]];
      same(ms.requests, rs.requests, `server ${rs.name}`);
      t.same([ms.name, ms.up, ms.weight, ms.activeRequests], [rs.name, rs.up, rs.weight, rs.activeRequests]);
    }
  }
  t.equal(m.groups[0].servers[1].up, false, 'down in one worker: shown down');
  t.equal(m.activeRequests, 5);
  // The merged snapshot exports the same metrics as the reference.
  const metrics = parsePrometheus(renderMetrics(merged));
  const expected = parsePrometheus(renderMetrics(want));
  t.same(
    metrics.samples.filter((s) => !s.name.endsWith('_sum') && s.name !== 'tcpvs_stats_start_time_seconds'),
    expected.samples.filter((s) => !s.name.endsWith('_sum') && s.name !== 'tcpvs_stats_start_time_seconds'),
  );
  const plain = mergeSnapshots([worker1.snapshot({ histograms: true })]);
  t.equal(plain.services[0].requests.histogram, undefined, 'no histograms unless asked for');
  t.equal(plain.bucketUpperMs, undefined);
});

t.test('workers that differ: union by name; a part without histograms is refused', async (t) => {
  const a = createStats();
  const b = createStats();
  const wa = build(t);
  const wb = build(t, CONFIG.replace('  group images\n    server 127.0.0.1:9003\n', '  group images\n    server 127.0.0.1:9003\n    server 127.0.0.1:9004\n'));
  a.attach([wa]);
  b.attach([wb]);
  b.observer.requestEnded({ ...recordOn(wb, 4), server: wb.groups.get('images')!.servers[1] });
  const merged = mergeSnapshots([a.snapshot({ histograms: true }), b.snapshot({ histograms: true })]);
  const images = merged.services[0].groups.find((g) => g.name === 'images')!;
  t.same(
    images.servers.map((s) => [s.name, s.requests.total]),
    [
      ['127.0.0.1:9003', 0],
      ['127.0.0.1:9004', 1],
    ],
  );
  t.equal(images.requests.latency.p50Ms, recordOn(wb, 4).durationMs, 'one request: its own duration');
  t.throws(() => mergeSnapshots([a.snapshot(), b.snapshot()]), /histograms/);
  t.same(mergeSnapshots([]).services, []);
});

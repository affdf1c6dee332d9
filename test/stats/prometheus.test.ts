// The Prometheus exposition: families, leaves, histogram buckets, escaping.
// Read back with the strict test parser, which is itself checked first.
import t from 'tap';
import { buildNode, setServerState } from '../helpers/runtimes.ts';
import type { RequestStats, StatsSnapshot } from '../../lib/stats/collector.ts';
import { escapeLabelValue, renderMetrics } from '../../lib/stats/prometheus.ts';
import { parsePrometheus } from './prometheus-parse.ts';

t.test('the test parser refuses what the format does not allow', async (t) => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v"} 1\n';
  t.equal(parsePrometheus(ok).value('a_total', { k: 'v' }), 1);
  const bad: Array<[string, string]> = [
    ['a_total 1\n', 'sample before HELP/TYPE'],
    ['# HELP a x\n# TYPE a gauge\na{k="v} 1\n', 'unterminated label'],
    ['# HELP a x\n# TYPE a gauge\na{k="\\t"} 1\n', 'bad escape'],
    ['# HELP a x\n# TYPE a gauge\na{k=v} 1\n', 'unquoted label value'],
    ['# HELP a x\n# TYPE a gauge\na 1\na 2\n', 'series twice'],
    ['# HELP a x\n# TYPE a gauge\na one\n', 'bad value'],
    ['# HELP a x\n# TYPE a gauge\na 1', 'no final line feed'],
    ['# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n', 'HELP after samples'],
    ['# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n', 'buckets not cumulative'],
    ['# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 0\n', 'no +Inf bucket'],
    ['# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 2\nh_sum 0\n', '_count differs'],
  ];
  for (const [text, why] of bad) t.throws(() => parsePrometheus(text), why);
});

t.test('label values are escaped: backslash, double quote, line feed', async (t) => {
  t.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  t.equal(escapeLabelValue('plain:80'), 'plain:80');
});

function emptyRequests(total: number, durationSeconds: number): RequestStats {
  const counts = new Array(142).fill(0);
  counts[40] = total; // the bucket whose bound is 1 ms (10^(0/20))
  return {
    total,
    perSecond: 0,
    bytesIn: 3,
    bytesOut: 4,
    status: { '1xx': 0, '2xx': total, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 },
    outcomes: { ok: total, refused: 0, 'connect-failed': 0, 'upstream-failed': 0, aborted: 0 },
    latency: { count: total, p50Ms: 1, p99Ms: 1, minMs: 1, maxMs: 1, meanMs: 1 },
    recentLatency: { count: 0, p50Ms: null, p99Ms: null, minMs: null, maxMs: null },
    histogram: { counts, recentCounts: new Array(142).fill(0), sumSeconds: durationSeconds },
  };
}

t.test('odd names survive the round trip', async (t) => {
  const weird = 'we"ird\\na\nme';
  const snap: StatsSnapshot = {
    generatedAt: 2000,
    startedAt: 1000,
    windowSeconds: 10,
    services: [
      {
        name: weird,
        listen: '127.0.0.1:1',
        connections: { active: 1, total: 2, perSecond: 0 },
        activeRequests: 0,
        requests: emptyRequests(5, 0.005),
        groups: [
          {
            name: 'g',
            scheduler: 'rr',
            activeRequests: 0,
            serversUp: 1,
            requests: emptyRequests(5, 0.005),
            servers: [
              {
                name: '[::1]:80',
                up: true,
                weight: 2,
                activeRequests: 0,
                peakRequests: 0,
                changedAt: 0,
                lastCheck: null,
                requests: emptyRequests(5, 0.005),
              },
            ],
            noServer: null,
          },
        ],
        noGroup: null,
      },
    ],
  };
  const p = parsePrometheus(renderMetrics(snap));
  t.equal(p.value('tcpvs_requests_total', { service: weird, group: 'g', server: '[::1]:80', code_class: '2xx' }), 5);
  t.equal(p.value('tcpvs_connections_active', { service: weird }), 1);
  t.equal(p.value('tcpvs_server_weight', { service: weird, group: 'g', server: '[::1]:80' }), 2);
  t.equal(
    p.value('tcpvs_request_duration_seconds_bucket', { service: weird, group: 'g', server: '[::1]:80', le: '0.001' }),
    5,
    'the 1 ms bucket bound is exported as le="0.001"',
  );
  t.equal(p.value('tcpvs_request_duration_seconds_bucket', { service: weird, group: 'g', server: '[::1]:80', le: '0.000630957' }), 0);
  t.equal(p.value('tcpvs_stats_start_time_seconds'), 1);
  t.throws(
    () =>
      renderMetrics({
        ...snap,
        services: [
          {
            ...snap.services[0],
            groups: [
              {
                ...snap.services[0].groups[0],
                servers: [{ ...snap.services[0].groups[0].servers[0], requests: { ...emptyRequests(1, 0), histogram: undefined } }],
              },
            ],
          },
        ],
      }),
    /histograms/,
  );
});

t.test('the metrics of a collector: leaves sum to the totals, every family typed', async (t) => {
  const text = `log level silent
service web
  listen 127.0.0.1:0
  group static scheduler wrr
    server 127.0.0.1:9001 weight 2
    server 127.0.0.1:9002
  default static
`;
  const node = buildNode(text, 'm.tcpvs');
  const [web] = node.services;
  t.teardown(() => web.discard());
  const stats = node.stats;
  const g = web.groups.get('static')!;
  const base = { service: 'web', bytesIn: 10, bytesOut: 20, outcome: 'ok' as const };
  const durations = [0.05, 0.2, 1, 3, 15, 80, 400, 2500, 150_000];
  for (const d of durations) node.feed({ ...base, group: g, server: g.servers[0], status: 200, durationMs: d });
  node.feed({ ...base, group: g, server: g.servers[1], status: 404, durationMs: 2 });
  node.feed({ ...base, group: g, server: null, status: 503, durationMs: 0.1, outcome: 'refused' });
  node.feed({ ...base, group: null, server: null, status: 400, durationMs: 0.1, outcome: 'refused' });
  node.opened('web');
  setServerState(g.servers[1], { up: false });
  g.servers[0].active = 3;

  const p = parsePrometheus(renderMetrics(stats.snapshot({ histograms: true })));
  for (const [name, type] of [
    ['tcpvs_requests_total', 'counter'],
    ['tcpvs_request_outcomes_total', 'counter'],
    ['tcpvs_bytes_in_total', 'counter'],
    ['tcpvs_bytes_out_total', 'counter'],
    ['tcpvs_request_duration_seconds', 'histogram'],
    ['tcpvs_server_up', 'gauge'],
    ['tcpvs_server_weight', 'gauge'],
    ['tcpvs_server_active_requests', 'gauge'],
    ['tcpvs_connections_active', 'gauge'],
    ['tcpvs_connections_total', 'counter'],
  ])
    t.equal(p.families.get(name)?.type, type, `${name} is a ${type}`);
  t.equal(p.sum('tcpvs_requests_total', { service: 'web' }), durations.length + 3, 'the leaves add up to every request');
  const s1 = { service: 'web', group: 'static', server: '127.0.0.1:9001' };
  t.equal(p.value('tcpvs_requests_total', { ...s1, code_class: '2xx' }), durations.length);
  t.equal(
    p.value('tcpvs_requests_total', { service: 'web', group: 'static', server: '', code_class: '5xx' }),
    1,
    'no server: empty server label',
  );
  t.equal(p.value('tcpvs_requests_total', { service: 'web', group: '', server: '', code_class: '4xx' }), 1, 'no group: empty labels');
  t.equal(p.value('tcpvs_request_outcomes_total', { service: 'web', group: '', server: '', outcome: 'refused' }), 1);
  t.equal(p.sum('tcpvs_bytes_in_total'), 10 * (durations.length + 3));
  t.equal(p.value('tcpvs_server_up', s1), 1);
  t.equal(p.value('tcpvs_server_up', { ...s1, server: '127.0.0.1:9002' }), 0);
  t.equal(p.value('tcpvs_server_weight', s1), 2);
  t.equal(p.value('tcpvs_server_active_requests', s1), 3);
  t.equal(p.value('tcpvs_connections_total', { service: 'web' }), 1);
  t.equal(p.value('tcpvs_request_duration_seconds_count', s1), durations.length);
  t.ok(Math.abs(p.value('tcpvs_request_duration_seconds_sum', s1) - durations.reduce((a, b) => a + b) / 1000) < 1e-9);
  const le = (seconds: string) => p.value('tcpvs_request_duration_seconds_bucket', { ...s1, le: seconds });
  t.equal(le('0.0001'), 1, '0.05 ms is under 0.1 ms');
  t.equal(le('0.001'), 3, '0.05, 0.2 and 1 ms are under 1 ms (the bound is inclusive)');
  t.equal(le('0.01'), 4);
  t.equal(le('0.1'), 6);
  t.equal(le('1'), 7);
  t.equal(le('10'), 8);
  t.equal(le('100'), 8, '150 s is beyond the last bound');
  t.equal(le('+Inf'), 9);
  const bounds = p.samples
    .filter((s) => s.name === 'tcpvs_request_duration_seconds_bucket' && s.labels.server === s1.server)
    .map((s) => s.labels.le);
  t.equal(bounds.length, 32, '5 bounds a decade from 0.1 ms to 100 s, and +Inf');
});

// The stats snapshot in the Prometheus text exposition format 0.0.4. Request
// counters are exported per leaf (real server; a group's "no server" and a
// service's "no group" requests with empty labels), so summing a metric over
// any label gives the group or service total.
import { BUCKET_COUNT, BUCKET_UPPER_MS } from './histogram.ts';
import { OUTCOMES, STATUS_CLASSES, type RequestStats, type StatsSnapshot } from './collector.ts';
import type { ProcessSample } from './process.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// The exported `le` buckets: every 4th bound of the stats histogram (5 per
// decade: 1, 1.58, 2.51, 3.98, 6.31 × 10^n), 0.1 ms .. 100 s. Each is a
// bound of the fine histogram, so its cumulative count is exact.
const EXPORT_STEP = 4;
const EXPORTED_BUCKETS: ReadonlyArray<{ index: number; le: string }> = BUCKET_UPPER_MS.flatMap((ms, index) =>
  index % EXPORT_STEP === 0 && ms >= 0.1 - 1e-12 ? [{ index, le: formatNumber(Number((ms / 1000).toPrecision(6))) }] : [],
);

/** Label values escaped as the format says: backslash, double quote, line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

type Labels = ReadonlyArray<readonly [string, string]>;

function labelText(labels: Labels): string {
  if (labels.length === 0) return '';
  return '{' + labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',') + '}';
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    this.lines.push(`${name}${labelText(labels)} ${formatNumber(value)}`);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

interface Leaf {
  labels: Labels; // service, group, server
  requests: RequestStats;
}

function leaves(snapshot: StatsSnapshot): Leaf[] {
  const out: Leaf[] = [];
  for (const s of snapshot.services) {
    for (const g of s.groups) {
      for (const server of g.servers)
        out.push({
          labels: [
            ['service', s.name],
            ['group', g.name],
            ['server', server.name],
          ],
          requests: server.requests,
        });
      if (g.noServer !== null)
        out.push({
          labels: [
            ['service', s.name],
            ['group', g.name],
            ['server', ''],
          ],
          requests: g.noServer,
        });
    }
    if (s.noGroup !== null)
      out.push({
        labels: [
          ['service', s.name],
          ['group', ''],
          ['server', ''],
        ],
        requests: s.noGroup,
      });
  }
  return out;
}

/** A counted state change of the cluster (lib/control/notify.ts), without importing the control plane. */
export interface StateChangeSample {
  kind: string;
  state: string;
  vip: string;
  real: string;
  count: number;
}

/** State sync with the other director (lib/control/director-sync.ts). */
export interface SyncSample {
  connected: boolean; // this director's sending connection to the peer is up
  templatesAdopted: number;
  tableEntriesAdopted: number;
  tableEntriesSent: number;
}

/** What the control plane adds to the data path's statistics. */
export interface ClusterSample {
  stateChanges?: readonly StateChangeSample[];
  sync?: SyncSample | null;
  process?: ProcessSample;
}

/** The /metrics body. The snapshot must have been taken with histograms. */
export function renderMetrics(snapshot: StatsSnapshot, cluster: ClusterSample = {}): string {
  const stateChanges = cluster.stateChanges ?? [];
  const x = new Exposition();
  const all = leaves(snapshot);

  x.family(
    'tcpvs_requests_total',
    'counter',
    "Requests that ended, by the class of the status the client got ('other': none, e.g. aborted).",
  );
  for (const leaf of all)
    for (const cls of STATUS_CLASSES) x.sample('tcpvs_requests_total', [...leaf.labels, ['code_class', cls]], leaf.requests.status[cls]);

  x.family(
    'tcpvs_request_outcomes_total',
    'counter',
    'Requests that ended, by outcome: ok, refused (tcpvs answered), connect-failed, upstream-failed, aborted.',
  );
  for (const leaf of all)
    for (const outcome of OUTCOMES)
      x.sample('tcpvs_request_outcomes_total', [...leaf.labels, ['outcome', outcome]], leaf.requests.outcomes[outcome]);

  x.family('tcpvs_bytes_in_total', 'counter', 'Bytes received from clients (request heads and bodies).');
  for (const leaf of all) x.sample('tcpvs_bytes_in_total', leaf.labels, leaf.requests.bytesIn);

  x.family('tcpvs_bytes_out_total', 'counter', 'Bytes sent to clients (response heads and bodies).');
  for (const leaf of all) x.sample('tcpvs_bytes_out_total', leaf.labels, leaf.requests.bytesOut);

  x.family('tcpvs_request_duration_seconds', 'histogram', 'Time from the first byte of a request to the end of its response.');
  for (const leaf of all) {
    const h = leaf.requests.histogram;
    if (h === undefined) throw new Error('renderMetrics needs a snapshot taken with histograms');
    let cumulative = 0;
    let next = 0;
    for (const b of EXPORTED_BUCKETS) {
      for (; next <= b.index; next++) cumulative += h.counts[next];
      x.sample('tcpvs_request_duration_seconds_bucket', [...leaf.labels, ['le', b.le]], cumulative);
    }
    for (; next < BUCKET_COUNT; next++) cumulative += h.counts[next];
    x.sample('tcpvs_request_duration_seconds_bucket', [...leaf.labels, ['le', '+Inf']], cumulative);
    x.sample('tcpvs_request_duration_seconds_sum', leaf.labels, h.sumSeconds);
    x.sample('tcpvs_request_duration_seconds_count', leaf.labels, cumulative);
  }

  const servers = snapshot.services.flatMap((s) =>
    s.groups.flatMap((g) =>
      g.servers.map((server) => ({
        labels: [
          ['service', s.name],
          ['group', g.name],
          ['server', server.name],
        ] as Labels,
        server,
      })),
    ),
  );
  x.family('tcpvs_server_up', 'gauge', '1 when the real server is up, 0 when it is marked down.');
  for (const { labels, server } of servers) x.sample('tcpvs_server_up', labels, server.up ? 1 : 0);
  x.family('tcpvs_server_weight', 'gauge', 'Scheduling weight of the real server (0: quiescent).');
  for (const { labels, server } of servers) x.sample('tcpvs_server_weight', labels, server.weight);
  x.family('tcpvs_server_active_requests', 'gauge', 'Requests in flight on the real server.');
  for (const { labels, server } of servers) x.sample('tcpvs_server_active_requests', labels, server.activeRequests);

  x.family('tcpvs_connections_active', 'gauge', 'Client connections open now.');
  for (const s of snapshot.services) x.sample('tcpvs_connections_active', [['service', s.name]], s.connections.active);
  x.family('tcpvs_connections_total', 'counter', 'Client connections accepted.');
  for (const s of snapshot.services) x.sample('tcpvs_connections_total', [['service', s.name]], s.connections.total);

  if (stateChanges.length > 0) {
    x.family(
      'tcpvs_state_changes_total',
      'counter',
      'State changes: the director (MASTER, BACKUP, FAULT, STOP, from keepalived) and L4 real servers (up, down, from their checks).',
    );
    for (const c of stateChanges) {
      const labels: [string, string][] = [
        ['kind', c.kind],
        ['state', c.state],
      ];
      if (c.kind === 'real') labels.push(['vip', c.vip], ['real', c.real]);
      x.sample('tcpvs_state_changes_total', labels, c.count);
    }
  }
  const sync = cluster.sync;
  if (sync != null) {
    x.family('tcpvs_sync_peer_connected', 'gauge', 'State sync: 1 while this director is connected to its peer to send.');
    x.sample('tcpvs_sync_peer_connected', [], sync.connected ? 1 : 0);
    x.family(
      'tcpvs_sync_entries_total',
      'counter',
      'State sync: L4 persistence templates and L7 table entries (persistence pins, lblc/lblcr) sent to and adopted from the peer.',
    );
    x.sample(
      'tcpvs_sync_entries_total',
      [
        ['kind', 'l4-template'],
        ['direction', 'adopted'],
      ],
      sync.templatesAdopted,
    );
    x.sample(
      'tcpvs_sync_entries_total',
      [
        ['kind', 'table'],
        ['direction', 'sent'],
      ],
      sync.tableEntriesSent,
    );
    x.sample(
      'tcpvs_sync_entries_total',
      [
        ['kind', 'table'],
        ['direction', 'adopted'],
      ],
      sync.tableEntriesAdopted,
    );
  }
  const p = cluster.process;
  if (p !== undefined) {
    x.family('tcpvs_build_info', 'gauge', 'The running tcpvs: its version and the Node.js that runs it.');
    x.sample(
      'tcpvs_build_info',
      [
        ['version', p.version],
        ['node', p.nodeVersion],
      ],
      1,
    );
    x.family('process_cpu_user_seconds_total', 'counter', 'User CPU time of the process (every thread), in seconds.');
    x.sample('process_cpu_user_seconds_total', [], p.cpuUserSeconds);
    x.family('process_cpu_system_seconds_total', 'counter', 'System CPU time of the process (every thread), in seconds.');
    x.sample('process_cpu_system_seconds_total', [], p.cpuSystemSeconds);
    x.family('process_cpu_seconds_total', 'counter', 'User and system CPU time of the process, in seconds.');
    x.sample('process_cpu_seconds_total', [], p.cpuUserSeconds + p.cpuSystemSeconds);
    x.family('process_resident_memory_bytes', 'gauge', 'Resident memory of the process, in bytes.');
    x.sample('process_resident_memory_bytes', [], p.residentBytes);
    x.family('nodejs_heap_used_bytes', 'gauge', "The control thread's V8 heap in use, in bytes.");
    x.sample('nodejs_heap_used_bytes', [], p.heapUsedBytes);
    if (p.openFds !== null) {
      x.family('process_open_fds', 'gauge', 'Open file descriptors.');
      x.sample('process_open_fds', [], p.openFds);
    }
    x.family('process_start_time_seconds', 'gauge', 'When the process started, in seconds since the epoch.');
    x.sample('process_start_time_seconds', [], p.startTimeSeconds);
    x.family(
      'nodejs_eventloop_delay_seconds',
      'gauge',
      "The control thread's event-loop delay since the previous scrape (p50, p99, max), in seconds.",
    );
    x.sample('nodejs_eventloop_delay_seconds', [['quantile', '0.5']], p.loopDelayP50Seconds);
    x.sample('nodejs_eventloop_delay_seconds', [['quantile', '0.99']], p.loopDelayP99Seconds);
    x.sample('nodejs_eventloop_delay_seconds', [['quantile', '1']], p.loopDelayMaxSeconds);
  }
  x.family('tcpvs_stats_start_time_seconds', 'gauge', 'When the counters started, in seconds since the epoch.');
  x.sample('tcpvs_stats_start_time_seconds', [], snapshot.startedAt / 1000);
  return x.text();
}

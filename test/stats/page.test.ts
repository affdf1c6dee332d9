// The stats page as text: escaping, number formats, and a CSP that allows
// exactly the page's own inline style and script.
import t from 'tap';
import { createHash } from 'node:crypto';
import type { RequestStats, StatsSnapshot } from '../../lib/stats/collector.ts';
import { PAGE_CSP, escapeHtml, formatAge, formatBytes, formatCount, formatMs, formatRate, renderStatsPage } from '../../lib/stats/page.ts';

function requests(total: number, extra: Partial<RequestStats> = {}): RequestStats {
  return {
    total,
    perSecond: total / 10,
    bytesIn: total * 100,
    bytesOut: total * 2000,
    status: { '1xx': 0, '2xx': total, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 },
    outcomes: { ok: total, refused: 0, 'connect-failed': 0, 'upstream-failed': 0, aborted: 0 },
    latency: { count: total, p50Ms: 2, p99Ms: 9, minMs: 1, maxMs: 12, meanMs: 3 },
    recentLatency: { count: total, p50Ms: 2.5, p99Ms: 9.5, minMs: 1, maxMs: 10 },
    ...extra,
  };
}

const GENERATED = Date.UTC(2025, 0, 2, 3, 4, 5);
const SNAPSHOT: StatsSnapshot = {
  generatedAt: GENERATED,
  startedAt: Date.UTC(2025, 0, 1, 0, 0, 0),
  windowSeconds: 10,
  services: [
    {
      name: 'web<script>',
      listen: '127.0.0.1:8080',
      connections: { active: 3, total: 1234, perSecond: 1.5 },
      activeRequests: 2,
      requests: requests(1500),
      noGroup: requests(7, { status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 7, '5xx': 0, other: 0 } }),
      groups: [
        {
          name: 'static',
          scheduler: 'wrr',
          activeRequests: 2,
          serversUp: 1,
          requests: requests(1493),
          noServer: requests(3, { status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 3, other: 0 } }),
          servers: [
            {
              name: '10.0.0.1:80',
              up: true,
              weight: 3,
              activeRequests: 2,
              peakRequests: 17,
              changedAt: GENERATED - 3_725_000,
              lastCheck: { ok: true, reason: 'HTTP 200', at: GENERATED - 1000 },
              requests: requests(1000),
            },
            {
              name: '10.0.0.2:80',
              up: false,
              weight: 1,
              activeRequests: 0,
              peakRequests: 4,
              changedAt: GENERATED - 45_000,
              lastCheck: { ok: false, reason: 'connect ECONNREFUSED 10.0.0.2:80', at: GENERATED - 2000 },
              requests: requests(490),
            },
            {
              name: '10.0.0.3:80',
              up: true,
              weight: 0,
              activeRequests: 0,
              peakRequests: 0,
              changedAt: GENERATED,
              lastCheck: null,
              requests: requests(0, { recentLatency: { count: 0, p50Ms: null, p99Ms: null, minMs: null, maxMs: null } }),
            },
          ],
        },
      ],
    },
  ],
};

t.test('number formats', async (t) => {
  t.equal(formatCount(1234567), '1,234,567');
  t.equal(formatRate(0), '0');
  t.equal(formatRate(2.345), '2.35');
  t.equal(formatRate(23.45), '23.4');
  t.equal(formatRate(2345.6), '2,346');
  t.equal(formatBytes(512), '512 B');
  t.equal(formatBytes(1536), '1.50 KiB');
  t.equal(formatBytes(50 * 1024 * 1024), '50.0 MiB');
  t.equal(formatBytes(300 * 1024 ** 3), '300 GiB');
  t.equal(formatMs(0.004), '0.004 ms');
  t.equal(formatMs(0.42), '0.42 ms');
  t.equal(formatMs(4.2), '4.2 ms');
  t.equal(formatMs(42.1), '42.1 ms');
  t.equal(formatMs(420.4), '420 ms');
  t.equal(formatMs(4204), '4.20 s');
  t.match(formatMs(null), /—/);
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

t.test('the page: names escaped, rows per group and server, states, links with the token', async (t) => {
  const html = renderStatsPage(SNAPSHOT, { hostname: 'lb1<x>', pid: 42, linkQuery: '?token=a%26b' });
  t.notMatch(html, /web<script>/, 'a name never reaches the page unescaped');
  t.match(html, /<section data-service="web&lt;script&gt;">/);
  t.match(html, /lb1&lt;x&gt;/);
  t.match(html, /<tr class="group" data-group="static">/);
  t.match(html, /data-server="10\.0\.0\.1:80"/);
  t.match(html, /class="badge up">UP</);
  t.match(html, /class="badge down">DOWN</);
  t.match(html, /class="badge drain">DRAIN</);
  t.match(html, /1\/3 up/);
  t.match(html, /no server available/);
  t.match(html, /no route \/ refused/);
  t.match(html, /data-stat="total">1,000</);
  t.match(html, /data-stat="conn-total">1,234</);
  t.match(html, /up 1d 3h 4m/);
  t.match(html, /updated 03:04:05 UTC/);
  t.match(html, /href="stats\.json\?token=a%26b"/);
  t.match(html, /href="metrics\?token=a%26b"/);
  t.match(html, /<main data-generated-at="1735787045000">/);
  t.match(html, /<noscript><meta http-equiv="refresh" content="2"><\/noscript>/, 'refreshes without JavaScript too');
  t.notMatch(html, / style="/, 'no style attributes: the CSP allows only the hashed <style>');
  const empty = renderStatsPage({ ...SNAPSHOT, services: [] }, { hostname: 'h', pid: 1 });
  t.match(empty, /No services are running/);
  t.match(empty, /href="stats\.json"/);
});

t.test('each server: time since its last change, its last check and why, its peak of requests in flight', async (t) => {
  const html = renderStatsPage(SNAPSHOT, { hostname: 'h', pid: 1 });
  const row = (server: string): string =>
    new RegExp(`<tr class="server[^"]*"[^>]*data-server="${server.replace(/\./g, '\\.')}">.*?</tr>`).exec(html)?.[0] ?? '';
  t.match(row('10.0.0.1:80'), /data-stat="since"[^>]*>1h2m</, 'up for 1h2m');
  t.match(row('10.0.0.1:80'), /data-stat="check"[^>]*title="passed 1s ago: HTTP 200">OK HTTP 200</);
  t.match(row('10.0.0.1:80'), /data-stat="max"[^>]*>17</, 'its peak');
  t.match(row('10.0.0.2:80'), /data-stat="since"[^>]*>45s</);
  t.match(
    row('10.0.0.2:80'),
    /data-stat="check" class="bad" title="failed 2s ago: connect ECONNREFUSED 10\.0\.0\.2:80">FAIL connect ECONNREFUSED 10…</,
    'a failed check, its reason shortened, whole in the title',
  );
  t.match(row('10.0.0.3:80'), /data-stat="check" title="no active check">/);
  for (const [ms, text] of [
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [7_200_000, '2h'],
    [90_000_000, '1d1h'],
    [172_800_000, '2d'],
  ] as const)
    t.equal(formatAge(ms), text);
});

t.test('the CSP names the hashes of exactly the inline style and script', async (t) => {
  const html = renderStatsPage(SNAPSHOT, { hostname: 'h', pid: 1 });
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  t.match(PAGE_CSP, `style-src ${hash(style)}`);
  t.match(PAGE_CSP, `script-src ${hash(script)}`);
  t.match(PAGE_CSP, "default-src 'none'");
  t.match(PAGE_CSP, "connect-src 'self'");
  t.equal(html.match(/<script/g)?.length, 1);
  t.equal(html.match(/<style/g)?.length, 1);
});

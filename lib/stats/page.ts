// The stats page: one HTML document, no external assets. Per service, a table
// of its groups and their real servers, in the manner of HAProxy's stats page.
// It refreshes itself: a small inline script fetches the page again every
// REFRESH_SECONDS and swaps in the new <main> (so the server renders it one
// way only); without JavaScript a meta refresh does the same.
import { createHash } from 'node:crypto';
import type { GroupSnapshot, RequestStats, ServerSnapshot, ServiceSnapshot, StatsSnapshot } from './collector.ts';

export const REFRESH_SECONDS = 2;

export interface PageOptions {
  /** Shown in the title and header: which tcpvs this is. */
  hostname: string;
  pid: number;
  /** Appended to the page's links, e.g. `?token=...` when the page was opened with one. */
  linkQuery?: string;
}

const STYLE = `
:root { --bg:#f4f6f9; --card:#fff; --ink:#1b2230; --muted:#6b7485; --line:#dde2ea; --head:#eef1f6;
  --group:#e7eefb; --accent:#2455a4; --up:#1f7a3f; --up-bg:#e2f4e8; --down:#b3261e; --down-bg:#fbe4e2;
  --drain:#8a5a00; --drain-bg:#fdf0d5; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
header { display:flex; flex-wrap:wrap; align-items:baseline; gap:.4rem 1.5rem; padding:.9rem 1.5rem; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { margin:0; font-size:1.25rem; letter-spacing:.01em; }
header h1 span { color:var(--muted); font-weight:400; }
.meta { color:var(--muted); font-variant-numeric:tabular-nums; }
.live { display:inline-block; width:.6rem; height:.6rem; border-radius:50%; background:var(--up); margin-right:.35rem; vertical-align:baseline; }
.live.stale { background:var(--down); }
main { padding:1rem 1.5rem 0; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; margin:0 0 1.25rem; overflow:hidden; }
section h2 { margin:0; padding:.7rem 1rem .2rem; font-size:1.1rem; }
section h2 small { color:var(--muted); font-weight:400; font-size:.85rem; margin-left:.6rem; font-variant-numeric:tabular-nums; }
.summary { display:flex; flex-wrap:wrap; gap:.3rem 1.6rem; margin:0; padding:.2rem 1rem .7rem; }
.summary div { display:flex; flex-direction:column; }
.summary dt { color:var(--muted); font-size:.78rem; }
.summary dd { margin:0; font-size:1.05rem; font-weight:600; font-variant-numeric:tabular-nums; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:.32rem .6rem; border-top:1px solid var(--line); white-space:nowrap; }
thead th { background:var(--head); font-size:.75rem; font-weight:600; color:#3c4557; text-align:right; }
thead tr.bands th { text-align:center; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); border-left:1px solid var(--line); }
thead tr.bands th:first-child { border-left:0; }
th.name, td.name { text-align:left; }
td { text-align:right; background:var(--card); }
/* The name column stays in view when a narrow window scrolls the table sideways. */
td.name, th.name { position:sticky; left:0; z-index:1; }
td.first { border-left:1px solid var(--line); }
tr.group td { background:var(--group); font-weight:600; }
tr.group td.name .sched { font-weight:400; color:var(--muted); margin-left:.4rem; font-size:.8rem; }
tr.server td.name { padding-left:1.6rem; }
tr.server.down td { background:#fdf5f4; }
tr.extra td { color:var(--muted); font-style:italic; }
tr.total td { font-weight:700; border-top:2px solid #b9c1ce; }
td.state, th.state { text-align:center; }
.badge { display:inline-block; min-width:3.4rem; padding:.05rem .4rem; border-radius:4px; font-size:.75rem; font-weight:700; text-align:center; letter-spacing:.03em; }
.badge.up { color:var(--up); background:var(--up-bg); }
.badge.down { color:var(--down); background:var(--down-bg); }
.badge.drain { color:var(--drain); background:var(--drain-bg); }
.none { color:#aab1bd; }
.warn { color:var(--drain); }
.bad { color:var(--down); font-weight:600; }
footer { padding:.2rem 1.5rem 1.5rem; color:var(--muted); font-size:.8rem; }
footer a { color:var(--accent); }
.empty { padding:1rem; color:var(--muted); }
`;

// Kept small and self-contained; its hash goes into the page's CSP.
const SCRIPT = `(() => {
  const every = ${REFRESH_SECONDS * 1000};
  const live = document.getElementById('live');
  async function refresh() {
    try {
      const res = await fetch(location.href, { cache: 'no-store', headers: { accept: 'text/html' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const next = new DOMParser().parseFromString(await res.text(), 'text/html');
      const main = next.querySelector('main');
      const meta = next.getElementById('meta');
      if (main === null || meta === null) throw new Error('not a stats page');
      document.querySelector('main').replaceWith(document.adoptNode(main));
      document.getElementById('meta').innerHTML = meta.innerHTML;
      live.className = 'live';
      live.title = 'live';
    } catch (err) {
      live.className = 'live stale';
      live.title = 'refresh failed: ' + err.message;
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();`;

// An inline icon, so the browser does not ask for /favicon.ico (which would need the token).
const ICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2455a4"/>' +
      '<path d="M3 12V8h2v4zm4 0V4h2v8zm4 0V6h2v6z" fill="#fff"/></svg>',
  );

function sha256Source(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** Only the page's own inline style and script; fetches only from this origin. */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src ${sha256Source(STYLE)}`,
  `script-src ${sha256Source(SCRIPT)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

const NONE = '<span class="none">—</span>';

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(2);
  if (perSecond < 100) return perSecond.toFixed(1);
  return formatCount(perSecond);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${BYTE_UNITS[u]}`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return NONE;
  if (ms >= 1000) return `${(ms / 1000).toPrecision(3)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toPrecision(ms < 0.01 ? 1 : 2 + (ms >= 10 ? 1 : 0))} ms`;
}

function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + ' UTC';
}

function td(stat: string, html: string, cls = '', title = ''): string {
  const c = cls === '' ? '' : ` class="${cls}"`;
  const t = title === '' ? '' : ` title="${escapeHtml(title)}"`;
  return `<td data-stat="${stat}"${c}${t}>${html}</td>`;
}

function countCell(stat: string, n: number, cls = ''): string {
  return td(stat, n === 0 ? `<span class="none">0</span>` : formatCount(n), cls);
}

/** The columns every row shares: requests, bytes, responses, latency, failures. */
function requestCells(r: RequestStats, active: number | null, peak: number | null = null): string {
  const status = r.status;
  const failed = r.outcomes['connect-failed'] + r.outcomes['upstream-failed'];
  const lifetime = r.latency;
  const latencyTitle =
    lifetime.count > 0
      ? `since start: p50 ${plainMs(lifetime.p50Ms)}, p99 ${plainMs(lifetime.p99Ms)}, max ${plainMs(lifetime.maxMs)} over ${formatCount(lifetime.count)} requests`
      : 'no requests yet';
  return [
    active === null ? td('active', NONE, 'first') : countCell('active', active, 'first'),
    peak === null ? td('max', NONE) : td('max', formatCount(peak), '', 'the most requests in flight at once since the server joined'),
    td('total', formatCount(r.total)),
    td('rate', formatRate(r.perSecond)),
    td('bytes-in', formatBytes(r.bytesIn), 'first', `${formatCount(r.bytesIn)} bytes`),
    td('bytes-out', formatBytes(r.bytesOut), '', `${formatCount(r.bytesOut)} bytes`),
    countCell('1xx', status['1xx'], 'first'),
    countCell('2xx', status['2xx']),
    countCell('3xx', status['3xx']),
    countCell('4xx', status['4xx'], status['4xx'] > 0 ? 'warn' : ''),
    countCell('5xx', status['5xx'], status['5xx'] > 0 ? 'bad' : ''),
    countCell('other', status.other),
    td('p50', formatMs(r.recentLatency.p50Ms), 'first', latencyTitle),
    td('p99', formatMs(r.recentLatency.p99Ms), '', latencyTitle),
    td(
      'failed',
      failed === 0 ? '<span class="none">0</span>' : formatCount(failed),
      'first' + (failed > 0 ? ' bad' : ''),
      `connect failed ${r.outcomes['connect-failed']}, upstream failed ${r.outcomes['upstream-failed']}, ` +
        `refused by tcpvs ${r.outcomes.refused}, aborted by the client ${r.outcomes.aborted}`,
    ),
  ].join('');
}

function plainMs(ms: number | null): string {
  return ms === null ? '—' : formatMs(ms);
}

function serverState(s: ServerSnapshot): { label: string; cls: string } {
  if (!s.up) return { label: 'DOWN', cls: 'down' };
  if (s.weight === 0) return { label: 'DRAIN', cls: 'drain' };
  return { label: 'UP', cls: 'up' };
}

/** 45s, 12m, 3h5m, 2d4h: how long ago, as HAProxy's LastChk / status columns say it. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
}

function checkCell(s: ServerSnapshot, now: number): string {
  const c = s.lastCheck;
  if (c === null) return td('check', NONE, '', 'no active check');
  // The reason is the check's own words (status, connect error): in full in the title, shortened in the cell.
  const text = c.reason.length > 24 ? `${c.reason.slice(0, 23)}…` : c.reason;
  return td(
    'check',
    `${c.ok ? 'OK' : 'FAIL'} ${escapeHtml(text)}`,
    c.ok ? '' : 'bad',
    `${c.ok ? 'passed' : 'failed'} ${formatAge(now - c.at)} ago: ${c.reason}`,
  );
}

function serverRow(group: GroupSnapshot, s: ServerSnapshot, now: number): string {
  const state = serverState(s);
  return (
    `<tr class="server${s.up ? '' : ' down'}" data-group="${escapeHtml(group.name)}" data-server="${escapeHtml(s.name)}">` +
    `<td class="name" data-stat="name">${escapeHtml(s.name)}</td>` +
    `<td class="state first" data-stat="state"><span class="badge ${state.cls}">${state.label}</span></td>` +
    td('since', formatAge(now - s.changedAt), '', `${s.up ? 'up' : 'down'} since ${new Date(s.changedAt).toISOString()}`) +
    checkCell(s, now) +
    td('weight', formatCount(s.weight)) +
    requestCells(s.requests, s.activeRequests, s.peakRequests) +
    '</tr>'
  );
}

function groupRows(g: GroupSnapshot, now: number): string {
  // As HAProxy: the weight the group can serve with now, of the servers that are up.
  const weight = g.servers.reduce((sum, s) => sum + (s.up ? s.weight : 0), 0);
  const allUp = g.serversUp === g.servers.length;
  const state = g.serversUp === 0 ? 'down' : allUp ? 'up' : 'drain';
  const rows = [
    `<tr class="group" data-group="${escapeHtml(g.name)}">` +
      `<td class="name" data-stat="name">${escapeHtml(g.name)}<span class="sched">${escapeHtml(g.scheduler)}</span></td>` +
      `<td class="state first" data-stat="state"><span class="badge ${state}">${g.serversUp}/${g.servers.length} up</span></td>` +
      '<td></td><td></td>' +
      td('weight', formatCount(weight)) +
      requestCells(g.requests, g.activeRequests) +
      '</tr>',
    ...g.servers.map((s) => serverRow(g, s, now)),
  ];
  if (g.noServer !== null)
    rows.push(
      `<tr class="server extra" data-group="${escapeHtml(g.name)}" data-server="">` +
        `<td class="name" data-stat="name" title="routed here, but no server was up: answered 503">no server available</td>` +
        `<td class="state first"></td><td></td><td></td><td></td>${requestCells(g.noServer, null)}</tr>`,
    );
  return `<tbody>${rows.join('')}</tbody>`;
}

const HEAD = `<thead>
<tr class="bands"><th class="name"></th><th colspan="4">Server</th><th colspan="4">Requests</th><th colspan="2">Bytes</th><th colspan="6">Responses</th><th colspan="2">Latency (10 s)</th><th>Errors</th></tr>
<tr><th class="name">Group / server</th><th class="state">State</th><th title="since the last change of state">Since</th><th title="the last active check">Check</th><th>Weight</th><th>Active</th><th title="most requests in flight at once">Max</th><th>Total</th><th>Req/s</th><th>In</th><th>Out</th><th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th title="no status: aborted or failed before a response">Other</th><th>p50</th><th>p99</th><th title="connect failed + upstream failed">Failed</th></tr>
</thead>`;

function serviceSection(s: ServiceSnapshot, now: number): string {
  const summary: Array<[string, string, string]> = [
    ['conn-active', 'Connections', formatCount(s.connections.active)],
    ['conn-total', 'Conn. total', formatCount(s.connections.total)],
    ['conn-rate', 'Conn/s', formatRate(s.connections.perSecond)],
    ['req-active', 'Active req.', formatCount(s.activeRequests)],
    ['req-total', 'Requests', formatCount(s.requests.total)],
    ['req-rate', 'Req/s', formatRate(s.requests.perSecond)],
    ['p50', 'p50 (10 s)', formatMs(s.requests.recentLatency.p50Ms)],
    ['p99', 'p99 (10 s)', formatMs(s.requests.recentLatency.p99Ms)],
  ];
  const noGroup =
    s.noGroup === null
      ? ''
      : `<tbody><tr class="extra" data-group="" data-server=""><td class="name" data-stat="name" title="answered by tcpvs before a group was chosen: no route (404), bad request (400) and the like">no route / refused</td>` +
        `<td class="state first"></td><td></td><td></td><td></td>${requestCells(s.noGroup, null)}</tr></tbody>`;
  const total =
    `<tfoot><tr class="total"><td class="name" data-stat="name">Total</td><td class="state first"></td><td></td><td></td><td></td>` +
    `${requestCells(s.requests, s.activeRequests)}</tr></tfoot>`;
  return (
    `<section data-service="${escapeHtml(s.name)}">` +
    `<h2>${escapeHtml(s.name)}<small>${escapeHtml(s.listen)}</small></h2>` +
    `<dl class="summary">${summary.map(([k, dt, dd]) => `<div><dt>${dt}</dt><dd data-stat="${k}">${dd}</dd></div>`).join('')}</dl>` +
    `<div class="scroll"><table>${HEAD}${s.groups.map((g) => groupRows(g, now)).join('')}${noGroup}${total}</table></div>` +
    '</section>'
  );
}

export function renderStatsPage(snapshot: StatsSnapshot, opts: PageOptions): string {
  const host = escapeHtml(opts.hostname);
  const q = escapeHtml(opts.linkQuery ?? '');
  const body =
    snapshot.services.length === 0
      ? '<section><p class="empty">No services are running.</p></section>'
      : snapshot.services.map((s) => serviceSection(s, snapshot.generatedAt)).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<noscript><meta http-equiv="refresh" content="${REFRESH_SECONDS}"></noscript>
<link rel="icon" href="${ICON}">
<title>tcpvs stats · ${host}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>tcpvs <span>statistics · ${host}</span></h1>
<div class="meta"><span id="live" class="live" title="live"></span><span id="meta">pid ${opts.pid} · up ${formatUptime((snapshot.generatedAt - snapshot.startedAt) / 1000)} · updated ${clock(snapshot.generatedAt)} · refreshes every ${REFRESH_SECONDS} s</span></div>
</header>
<main data-generated-at="${snapshot.generatedAt}">
${body}
</main>
<footer>Rates and latency percentiles cover the last ${snapshot.windowSeconds} s; hover a latency for the figures since start, or Failed for the outcomes.
Raw data: <a href="stats.json${q}">stats.json</a> · Prometheus: <a href="metrics${q}">metrics</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

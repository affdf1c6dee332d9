// What tcpvsadm prints. -L lists the table the way KTCPVS's tcpvsadm did: each
// virtual as the config block that would make it (`virtual NAME { ... }`), with
// rule patterns as they were given, so `tcpvsadm -L > saved.conf` can be
// loaded again with -f (or tcpvs start -c) and gives back the same virtuals.
// Services a KTCPVS config cannot express (native routes on host, headers,
// several groups) are shown as comments, and native settings of a virtual that
// its block cannot carry are named in a comment line; `tcpvsadm show` prints
// the full rule table.
//
// -L --stats and -L --rate print one row per service, group and real server.
// The numbers come from the stats collector's snapshot when tcpvs runs one,
// else from the runtimes' own counters; columns nobody reported are left out.
import { DEFAULT_TIMEOUTS } from '../config/model.ts';
import { quoteToken } from '../config/tokenize.ts';
import type { ListResult, ListedService, StatsResult } from './wire.ts';
import type { StatsMode } from './parse.ts';

export function formatList(result: ListResult): string {
  const out = [`# TCP Virtual Server (tcpvs ${result.version})`];
  for (const s of result.services) out.push(...(s.shape.kind === 'native' ? nativeLines(s) : virtualLines(s)));
  return out.join('\n') + '\n';
}

function virtualLines(s: ListedService): string[] {
  const scheduler = s.shape.kind === 'native' ? '' : s.shape.scheduler;
  const out = [`virtual ${s.name} {${s.stopped ? `    # stopped: not listening (tcpvsadm --start -i ${s.name})` : ''}`];
  out.push(`    listen = ${s.listen}${boundNote(s)}`, `    scheduler = ${scheduler}`);
  const idle = s.idleTimeoutSec;
  if (idle * 1000 !== DEFAULT_TIMEOUTS.clientIdleMs && Number.isInteger(idle)) out.push(`    timeout = ${idle}`);
  if (s.dropped !== undefined && s.dropped.length > 0) {
    out.push(`    # not in KTCPVS terms, so not in this block ('tcpvsadm show ${s.name}' has them): ${s.dropped.join('; ')}`);
  }
  for (const server of s.servers) out.push(`    server = ${server.address} ${server.weight}`);
  for (const r of s.rules) {
    const match = scheduler === 'hhttp' ? `match ${r.match ?? 0} ` : '';
    out.push(`    rule = pattern ${quoteToken(r.pattern, true)} ${match}use server ${r.server}`);
  }
  out.push('}');
  return out;
}

function nativeLines(s: ListedService): string[] {
  const why = s.shape.kind === 'native' ? s.shape.reason : '';
  const out = [
    `# service ${s.name}${s.stopped ? ' (stopped)' : ''}: not a KTCPVS virtual (${why}); 'tcpvsadm show ${s.name}' prints its rule table`,
    `#     listen = ${s.listen}${boundNote(s)}`,
  ];
  for (const g of s.groups) {
    const servers = g.servers.length === 0 ? '(no servers)' : g.servers.map((x) => `${x.address} ${x.weight}`).join(', ');
    out.push(`#     group ${g.name} ${g.scheduler}: ${servers}`);
  }
  for (const r of s.routes) out.push(`#     route ${r.name} ${r.matchers} -> ${r.group}`);
  out.push(`#     default ${s.defaultGroup ?? '(none: 404)'}`);
  return out;
}

/** Where a listener on port 0 ("any free port") actually is. */
function boundNote(s: ListedService): string {
  return s.bound !== null && s.bound !== s.listen ? `    # bound to ${s.bound}` : '';
}

// ---- statistics ----

interface Column {
  title: string;
  path: readonly string[];
}

const STATS_COLUMNS: readonly Column[] = [
  { title: 'Conns', path: ['connections', 'total'] },
  { title: 'ActConn', path: ['connections', 'active'] },
  { title: 'Requests', path: ['requests', 'total'] },
  { title: 'Active', path: ['activeRequests'] },
  { title: 'InBytes', path: ['requests', 'bytesIn'] },
  { title: 'OutBytes', path: ['requests', 'bytesOut'] },
  { title: '5xx', path: ['requests', 'status', '5xx'] },
];

const RATE_COLUMNS: readonly Column[] = [
  { title: 'CPS', path: ['connections', 'perSecond'] },
  { title: 'RPS', path: ['requests', 'perSecond'] },
  { title: 'Active', path: ['activeRequests'] },
  { title: 'p50ms', path: ['requests', 'recentLatency', 'p50Ms'] },
  { title: 'p99ms', path: ['requests', 'recentLatency', 'p99Ms'] },
];

interface Row {
  label: string;
  entity: Record<string, unknown>;
  server: boolean;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function at(entity: Obj, path: readonly string[]): unknown {
  let v: unknown = entity;
  for (const key of path) {
    if (!isObj(v)) return undefined;
    v = v[key];
  }
  return v;
}

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

/** `-L --stats` / `-L --rate`: a table of what the snapshot has; `ident` keeps one service. */
export function formatStats(result: StatsResult, mode: StatsMode, ident?: string): string {
  const snapshot = result.snapshot;
  if (!isObj(snapshot) || !Array.isArray(snapshot.services)) {
    return `# statistics (${result.source}), in a shape tcpvsadm does not know:\n${JSON.stringify(snapshot, null, 2)}\n`;
  }
  const rows: Row[] = [];
  for (const s of list(snapshot.services)) {
    if (ident !== undefined && s.name !== ident) continue;
    rows.push({ label: `${String(s.name)}${typeof s.listen === 'string' ? ` ${s.listen}` : ''}`, entity: s, server: false });
    for (const g of list(s.groups)) {
      rows.push({ label: `  ${String(g.name)}${typeof g.scheduler === 'string' ? ` (${g.scheduler})` : ''}`, entity: g, server: false });
      for (const r of list(g.servers)) rows.push({ label: `    -> ${String(r.name ?? r.address)}`, entity: r, server: true });
    }
  }
  const known = mode === 'stats' ? STATS_COLUMNS : RATE_COLUMNS;
  // A column shows when some row reports it, as a number or as null (no data yet: '-').
  let columns = known.filter((c) =>
    rows.some((r) => {
      const v = at(r.entity, c.path);
      return typeof v === 'number' || v === null;
    }),
  );
  if (columns.length === 0) columns = genericColumns(rows, mode);
  const head = header(result, mode, snapshot);
  if (rows.length === 0) return `${head}\n(no services)\n`;
  const withServerState = rows.some((r) => r.server && (typeof r.entity.weight === 'number' || typeof r.entity.up === 'boolean'));
  const titles = ['Service / Group / -> Server', ...(withServerState ? ['Weight', 'Up'] : []), ...columns.map((c) => c.title)];
  const table = rows.map((r) => {
    const state = withServerState
      ? r.server
        ? [
            typeof r.entity.weight === 'number' ? String(r.entity.weight) : '',
            r.entity.up === true ? 'yes' : r.entity.up === false ? 'DOWN' : '',
          ]
        : ['', '']
      : [];
    return [r.label, ...state, ...columns.map((c) => cell(at(r.entity, c.path)))];
  });
  return `${head}\n${align([titles, ...table])}\n`;
}

function header(result: StatsResult, mode: StatsMode, snapshot: Obj): string {
  if (result.source === 'runtime') {
    const interval = typeof snapshot.intervalMs === 'number' ? `, rates over ${snapshot.intervalMs} ms` : '';
    return mode === 'rate'
      ? `# request rates of the running services (their own counters${interval})`
      : '# request counters of the running servers (since each joined; config changes keep them)';
  }
  const since = typeof snapshot.startedAt === 'number' ? ` since ${new Date(snapshot.startedAt).toISOString()}` : '';
  const window = typeof snapshot.windowSeconds === 'number' ? ` over the last ${snapshot.windowSeconds} s` : '';
  return mode === 'rate' ? `# rates${window}` : `# counters${since}`;
}

/** Every numeric leaf (up to three levels down) the rows carry, rates for --rate and the rest for --stats. */
function genericColumns(rows: readonly Row[], mode: StatsMode): Column[] {
  const seen = new Map<string, Column>();
  const walk = (v: unknown, path: string[]): void => {
    if (path.length > 3) return;
    if (typeof v === 'number') {
      const isRate = /persecond|rate|ps$/i.test(path[path.length - 1]);
      if (isRate === (mode === 'rate')) seen.set(path.join('.'), { title: path.join('.'), path });
      return;
    }
    if (isObj(v)) for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
  };
  for (const r of rows) walk(r.entity, []);
  return [...seen.values()];
}

function cell(v: unknown): string {
  if (typeof v !== 'number') return '-';
  if (Number.isInteger(v)) return String(v);
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}

/** The first column left-aligned, the others right-aligned, two spaces apart. */
function align(rows: readonly string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows
    .map((row) =>
      row
        .map((c, i) => (i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

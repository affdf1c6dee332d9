// What `tcpvs check -c FILE` prints: per service the listen address, the rule
// table in the order rules are tried, the default, the groups with their
// schedulers, keys, scheduler knobs and servers, then every warning. Matchers are printed in native
// syntax, so a KTCPVS file's table shows what tcpvs made of it.

import type { L4Spec, Config, GroupSpec, HashKey, Matcher, SchedulerTuning, ServerTlsSpec, ServiceSpec } from './model.ts';
import { formatDuration, formatEndpoint, formatSize, quoteToken, regexText } from './tokenize.ts';
import { formatProblem } from './errors.ts';
import { formatHealth } from '../health/print.ts';
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './model.ts';
import { knobStatements, schedulerDescriptor } from '../sched/index.ts';

/** A key as its `key` statement reads, without the keyword. */
export function formatKey(key: HashKey): string {
  switch (key.kind) {
    case 'header':
    case 'cookie':
      return `${key.kind} ${quoteToken(key.name)}`;
    case 'submatch':
      return `submatch ${key.index}`;
    default:
      return key.kind;
  }
}

/** What the group's scheduler is keyed by; '-' for a scheduler that reads no key. */
function groupKey(g: GroupSpec): string {
  if (g.key !== undefined) return formatKey(g.key);
  if (g.hashSubmatch !== undefined) return `submatch ${g.hashSubmatch}`;
  return schedulerDescriptor(g.scheduler)?.usesKey === true ? 'path (default)' : '-';
}

/** The knobs set for a group, as their statements read (the registry's order); '-' for none (the scheduler's defaults). */
export function formatTuning(tuning: SchedulerTuning | undefined): string {
  const parts: string[] = [];
  for (const [statement, { knob }] of knobStatements()) {
    const value = tuning?.[knob.field];
    if (value !== undefined) parts.push(`${statement} ${knob.print(value)}`);
  }
  return parts.length === 0 ? '-' : parts.join(', ');
}

export function formatMatcher(m: Matcher): string {
  switch (m.kind) {
    case 'path':
    case 'prefix':
      return `${m.kind} ${quoteToken(m.value)}`;
    case 'path-regex':
    case 'url-regex':
      return `${m.kind} ${quoteToken(m.text ?? regexText(m.re), true)}`;
    case 'host':
    case 'sni':
      return `${m.kind} ${m.wildcard ? `*${m.value}` : m.value}`;
    case 'method':
      return `method ${m.values.join(',')}`;
    case 'header':
    case 'cookie':
    case 'query': {
      const head = `${m.kind} ${quoteToken(m.name)}`;
      if (m.op === 'present') return `${head} present`;
      if (m.op === 'equals') return `${head} = ${quoteToken(m.value)}`;
      return `${head} ~ ${quoteToken(regexText(m.re), true)}`;
    }
  }
}

/** Rows of cells, each column padded to its widest cell; no trailing spaces. */
function table(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) => (indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).trimEnd());
}

function serviceLines(s: ServiceSpec): string[] {
  const out: string[] = [];
  out.push(`service ${s.name}  (line ${s.line})`);
  out.push(`  listen ${formatEndpoint(s.listen)}${s.tls === undefined ? '' : ' tls'}`);
  if (s.mode !== undefined) out.push(`  mode ${s.mode}`);
  if (s.tls !== undefined) {
    for (const c of s.tls.certificates) out.push(`  certificate ${quoteToken(c.certFile)} key ${quoteToken(c.keyFile)}  (line ${c.line})`);
    if (s.tls.ciphers !== undefined) out.push(`  ciphers ${quoteToken(s.tls.ciphers)}`);
    if (s.tls.strictSni) out.push('  strict-sni   (a request whose Host is not the SNI name: 421)');
  }
  if (s.acceptProxy !== undefined) out.push(`  accept-proxy from ${s.acceptProxy.map((n) => n.text).join(' ')}`);
  if (s.acceptProxyFromL4 === true) out.push(`  accept-proxy from its own address (the L4 core's real self)`);
  if (s.forwardNormalizedPath === true) out.push('  normalize-path forward   (the normalised path goes upstream)');

  const t = s.timeouts;
  const timeouts: [string, number, number][] = [
    ['client-header', t.clientHeaderMs, DEFAULT_TIMEOUTS.clientHeaderMs],
    ['client-idle', t.clientIdleMs, DEFAULT_TIMEOUTS.clientIdleMs],
    ['connect', t.connectMs, DEFAULT_TIMEOUTS.connectMs],
    ['response', t.responseMs, DEFAULT_TIMEOUTS.responseMs],
    ['upstream-idle', t.upstreamIdleMs, DEFAULT_TIMEOUTS.upstreamIdleMs],
    ['client-body', t.clientBodyMs, DEFAULT_TIMEOUTS.clientBodyMs],
  ];
  out.push(`  timeouts ${timeouts.map(([n, v, d]) => `${n} ${formatDuration(v)}${v === d ? '' : '*'}`).join(', ')}`);
  const l = s.limits;
  const mark = (v: number, d: number): string => (v === d ? '' : '*');
  out.push(
    `  limits   uri ${formatSize(l.maxUriBytes)}${mark(l.maxUriBytes, DEFAULT_LIMITS.maxUriBytes)}, ` +
      `headers ${formatSize(l.maxHeaderBytes)}${mark(l.maxHeaderBytes, DEFAULT_LIMITS.maxHeaderBytes)}, ` +
      `header-count ${l.maxHeaderCount}${mark(l.maxHeaderCount, DEFAULT_LIMITS.maxHeaderCount)}, ` +
      `body-rate ${l.bodyMinRate === 0 ? 'none' : formatSize(l.bodyMinRate)}${mark(l.bodyMinRate, DEFAULT_LIMITS.bodyMinRate)}, ` +
      `pool-idle ${l.poolMaxIdlePerServer}${mark(l.poolMaxIdlePerServer, DEFAULT_LIMITS.poolMaxIdlePerServer)}, ` +
      `retries ${l.retries}${mark(l.retries, DEFAULT_LIMITS.retries)}` +
      '   (* = not the default)',
  );
  out.push('');

  const rules: string[][] = [['#', 'rule', 'matchers (all must hold)', 'group', 'line']];
  s.rules.forEach((r, i) => void rules.push([String(i + 1), r.name, r.matchers.map(formatMatcher).join('  '), r.group, String(r.line)]));
  const noDefault = s.mode === undefined ? '(none: 404 Not Found)' : '(none: connection closed)';
  rules.push(['-', 'default', 'no rule matched', s.defaultGroup ?? noDefault, '']);
  out.push(...table(rules, '  '));
  out.push('');

  const groups: string[][] = [['group', 'scheduler', 'key', 'tuning', 'server', 'weight']];
  for (const g of s.groups) {
    const head = [g.name, g.scheduler, groupKey(g), formatTuning(g.tuning)];
    if (g.servers.length === 0) groups.push([...head, '(no servers)', '']);
    g.servers.forEach((srv, i) => {
      const weight = srv.weight === 0 ? '0 (quiescent)' : String(srv.weight);
      const sendProxy = srv.sendProxy === undefined ? '' : srv.sendProxy === 1 ? ' send-proxy' : ' send-proxy-v2';
      groups.push([...(i === 0 ? head : ['', '', '', '']), formatEndpoint(srv) + sendProxy + formatServerTls(srv.tls), weight]);
    });
  }
  out.push(...table(groups, '  '));
  return out;
}

/** A server's TLS options as written on its line (` tls verify CA-FILE sni NAME`); '' without TLS. */
export function formatServerTls(tls: ServerTlsSpec | undefined): string {
  if (tls === undefined) return '';
  const verify = tls.verify === 'ca' ? ` verify ${quoteToken(tls.caFile!)}` : tls.verify === 'no-verify' ? ' no-verify' : '';
  return ` tls${verify}${tls.sni === undefined ? '' : ` sni ${quoteToken(tls.sni)}`}`;
}

export function formatRuleTable(config: Config): string {
  const out: string[] = [`${config.file}: ${config.format} format, ${config.services.length} service(s)`, ''];
  for (const s of config.services) {
    out.push(...serviceLines(s), '');
  }
  if (config.l4 !== null) out.push(...l4Lines(config.l4), '');
  if (config.warnings.length === 0) out.push('no warnings');
  else {
    out.push(`warnings (${config.warnings.length}):`);
    for (const w of config.warnings) out.push(`  ${formatProblem(w)}`);
  }
  return out.join('\n') + '\n';
}

/** The L4 part: the driver and each vip with its real servers, as ipvsadm would list them. */
function l4Lines(l4: L4Spec): string[] {
  const out = [
    `l4 driver ${l4.driver}${l4.admin === null ? '' : `, admin socket ${l4.admin}`}, drain timeout ${formatDuration(l4.drainTimeoutMs)}`,
  ];
  for (const v of l4.vips) {
    const host = v.address.includes(':') ? `[${v.address}]` : v.address;
    const persist = v.persistence === null ? '' : ` persistent ${v.persistence.timeoutSec}s netmask ${v.persistence.netmask}`;
    out.push(
      `  vip ${v.name}  ${v.protocol.toUpperCase()} ${host}:${v.port} ${v.scheduler}${persist}${v.weightFollowsLoad ? ', self weight follows load' : ''}  (line ${v.line})`,
    );
    if (v.check !== undefined) for (const line of formatHealth({ check: v.check })) out.push(`    ${line}`);
    for (const r of v.reals) {
      if (r.kind === 'self') out.push(`    -> self (service ${r.service})  weight ${r.weight}`);
      else out.push(`    -> ${r.address.includes(':') ? `[${r.address}]` : r.address}:${r.port}  ${r.method}  weight ${r.weight}`);
    }
  }
  return out;
}

// The chart of a run, as a hand-written SVG: per scheduler, the hit rate with
// the two simulated bounds drawn across its group, and below it the throughput
// with a 2 x rr reference line. No dependencies; any browser or rsvg renders it.
import type { CacheBenchResult, SchedulerResult } from './report.ts';
import { MIN_LOCALITY_SPEEDUP, percent } from './report.ts';

const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';
const COLOR = {
  hit: '#3b6fb6',
  single: '#e07b00',
  partitioned: '#1e9e4a',
  rps: '#7d4bb0',
  reference: '#777777',
  grid: '#dddddd',
  axis: '#333333',
  text: '#222222',
  muted: '#888888',
};

interface Panel {
  top: number;
  height: number;
}

export function cacheChartSvg(result: CacheBenchResult): string {
  const schedulers = result.schedulers;
  const left = 78;
  const right = 40;
  const groupWidth = 86;
  const width = Math.max(900, left + right + schedulers.length * groupWidth);
  const plotWidth = width - left - right;
  const slot = plotWidth / Math.max(1, schedulers.length);
  const hitPanel: Panel = { top: 104, height: 250 };
  const rpsPanel: Panel = { top: 430, height: 190 };
  const height = rpsPanel.top + rpsPanel.height + 62;
  const s = result.settings;
  const out: string[] = [];

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    text(left, 28, `tcpvs in front of ${s.nodes} cache nodes: hit rate and throughput per scheduler`, 18, 'start', COLOR.text, 'bold'),
  );
  out.push(
    text(
      left,
      48,
      `Zipf \u03b1 = ${formatAlpha(s.alpha)} over ${s.objects.toLocaleString('en-US')} objects, ${s.capacity.toLocaleString('en-US')} per node (LRU), ` +
        `origin delay ${s.originDelayMs} ms, ${s.connections} connections, ${s.durationSeconds} s each, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
      12,
      'start',
      COLOR.muted,
    ),
  );

  // Each panel has a heading with its own legend beside it.
  const legend = (x: number, y: number, items: Array<[string, string]>): void => {
    let at = x;
    for (const [kind, label] of items) {
      if (kind.startsWith('bar:')) out.push(`<rect x="${fmt(at)}" y="${fmt(y - 9)}" width="22" height="12" fill="${kind.slice(4)}"/>`);
      else out.push(dashed(at, at + 22, y - 3, kind.slice(5)));
      out.push(text(at + 28, y + 1, label, 12, 'start', COLOR.text));
      at += 48 + label.length * 7;
    }
  };
  out.push(text(left, hitPanel.top - 20, 'Hit rate', 14, 'start', COLOR.text, 'bold'));
  legend(left + 84, hitPanel.top - 20, [
    [`bar:${COLOR.hit}`, 'measured'],
    [`dash:${COLOR.single}`, `one LRU of ${s.capacity.toLocaleString('en-US')} (no locality)`],
    [`dash:${COLOR.partitioned}`, `one LRU of N \u00d7 C = ${(s.nodes * s.capacity).toLocaleString('en-US')} (perfect partitioning)`],
  ]);

  // Hit-rate panel, 0..100 %.
  const hitY = (rate: number): number => hitPanel.top + hitPanel.height * (1 - rate);
  for (let tick = 0; tick <= 100; tick += 20) {
    const y = hitY(tick / 100);
    out.push(line(left, y, left + plotWidth, y, COLOR.grid, 1));
    out.push(text(left - 8, y + 4, `${tick}%`, 11, 'end', COLOR.text));
  }
  out.push(text(18, hitPanel.top + hitPanel.height / 2, 'hit rate', 13, 'middle', COLOR.text, 'normal', -90));
  schedulers.forEach((r, i) => {
    const x0 = left + i * slot;
    const center = x0 + slot / 2;
    const barWidth = slot * 0.56;
    if (r.hitRate === null) {
      out.push(text(center, hitY(0) - 8, statusLabel(r), 11, 'middle', COLOR.muted));
    } else {
      const y = hitY(r.hitRate);
      out.push(
        `<rect x="${fmt(center - barWidth / 2)}" y="${fmt(y)}" width="${fmt(barWidth)}" height="${fmt(hitY(0) - y)}" fill="${COLOR.hit}"/>`,
      );
      out.push(barLabel(center, y, hitY(0), percent(r.hitRate)));
    }
    if (r.boundSingle !== null) out.push(dashed(x0 + slot * 0.06, x0 + slot * 0.94, hitY(r.boundSingle), COLOR.single));
    if (r.boundPartitioned !== null) out.push(dashed(x0 + slot * 0.06, x0 + slot * 0.94, hitY(r.boundPartitioned), COLOR.partitioned));
    out.push(text(center, hitY(0) + 17, r.name, 12.5, 'middle', COLOR.text, 'bold'));
  });
  out.push(line(left, hitY(0), left + plotWidth, hitY(0), COLOR.axis, 1.2));

  // Throughput panel.
  const measured = schedulers.filter((r) => r.rps !== null);
  const rr = schedulers.find((r) => r.name === 'rr' && r.rps !== null);
  const reference = rr === undefined ? null : rr.rps! * MIN_LOCALITY_SPEEDUP;
  const highest = Math.max(1, reference ?? 0, ...measured.map((r) => r.rps!));
  const step = niceCeiling(highest / 5);
  const top = Math.ceil(highest / step) * step;
  const rpsY = (rps: number): number => rpsPanel.top + rpsPanel.height * (1 - rps / top);
  out.push(text(left, rpsPanel.top - 20, 'Throughput (requests/s)', 14, 'start', COLOR.text, 'bold'));
  legend(left + 215, rpsPanel.top - 20, [
    [`bar:${COLOR.rps}`, 'measured'],
    ...(reference === null
      ? []
      : [[`dash:${COLOR.reference}`, `${MIN_LOCALITY_SPEEDUP} \u00d7 rr (target for the best locality scheduler)`] as [string, string]]),
  ]);
  for (let value = 0; value <= top + step / 2; value += step) {
    const y = rpsY(value);
    out.push(line(left, y, left + plotWidth, y, COLOR.grid, 1));
    out.push(text(left - 8, y + 4, shortNumber(value), 11, 'end', COLOR.text));
  }
  out.push(text(18, rpsPanel.top + rpsPanel.height / 2, 'requests/s', 13, 'middle', COLOR.text, 'normal', -90));
  schedulers.forEach((r, i) => {
    const center = left + i * slot + slot / 2;
    const barWidth = slot * 0.56;
    if (r.rps === null) {
      out.push(text(center, rpsY(0) - 8, statusLabel(r), 11, 'middle', COLOR.muted));
    } else {
      const y = rpsY(r.rps);
      out.push(
        `<rect x="${fmt(center - barWidth / 2)}" y="${fmt(y)}" width="${fmt(barWidth)}" height="${fmt(rpsY(0) - y)}" fill="${COLOR.rps}"/>`,
      );
      out.push(barLabel(center, y, rpsY(0), shortNumber(r.rps)));
    }
    out.push(text(center, rpsY(0) + 17, r.name, 12.5, 'middle', COLOR.text, 'bold'));
    if (r.imbalance !== null) out.push(text(center, rpsY(0) + 33, r.imbalance.toFixed(2), 10.5, 'middle', COLOR.muted));
  });
  out.push(text(left - 8, rpsY(0) + 33, 'max/mean', 10.5, 'end', COLOR.muted));
  if (reference !== null) {
    const y = rpsY(reference);
    out.push(dashed(left, left + plotWidth, y, COLOR.reference));
  }
  out.push(line(left, rpsY(0), left + plotWidth, rpsY(0), COLOR.axis, 1.2));
  out.push(
    text(
      left,
      height - 8,
      'max/mean: requests on the busiest cache node over the mean of all nodes. The bounds are simulated on the exact request sequence each scheduler was sent.',
      10.5,
      'start',
      COLOR.muted,
    ),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// Inside the foot of the bar, in white, where no bound or reference line runs; above a bar too short to hold it.
function barLabel(center: number, barTop: number, baseline: number, label: string): string {
  if (baseline - barTop >= 22) return text(center, baseline - 8, label, 10.5, 'middle', '#ffffff', 'bold');
  return text(center, barTop - 5, label, 10.5, 'middle', COLOR.text);
}

function formatAlpha(alpha: number): string {
  return Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
}

function statusLabel(r: SchedulerResult): string {
  return r.status === 'measured' ? 'no data' : r.status === 'unavailable' ? 'n/a' : r.status;
}

/** The smallest 1, 2, 2.5 or 5 x 10^k at or above value. */
export function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function shortNumber(value: number): string {
  if (value >= 1000) {
    const thousands = value / 1000;
    return `${Number.isInteger(thousands) || thousands >= 10 ? Math.round(thousands) : thousands.toFixed(1)}k`;
  }
  return String(Math.round(value));
}

function text(x: number, y: number, content: string, size: number, anchor: string, fill: string, weight = 'normal', rotate = 0): string {
  const transform = rotate === 0 ? '' : ` transform="rotate(${rotate} ${fmt(x)} ${fmt(y)})"`;
  return `<text x="${fmt(x)}" y="${fmt(y)}" font-size="${size}" text-anchor="${anchor}" fill="${fill}" font-weight="${weight}"${transform}>${escapeXml(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, strokeWidth: number): string {
  return `<line x1="${fmt(x1)}" y1="${fmt(y1)}" x2="${fmt(x2)}" y2="${fmt(y2)}" stroke="${stroke}" stroke-width="${strokeWidth}"/>`;
}

function dashed(x1: number, x2: number, y: number, stroke: string): string {
  return `<line x1="${fmt(x1)}" y1="${fmt(y)}" x2="${fmt(x2)}" y2="${fmt(y)}" stroke="${stroke}" stroke-width="2.5" stroke-dasharray="6 3"/>`;
}

function fmt(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

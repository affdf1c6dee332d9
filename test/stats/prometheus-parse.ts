// A small, strict reader of the Prometheus text format 0.0.4, for tests:
// every sample line is `name{labels} value`, every family has its HELP and
// TYPE before its first sample, label values use only the three escapes, no
// series appears twice, and histogram buckets are cumulative up to +Inf.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  help: string;
  type: string;
}

export interface Parsed {
  families: Map<string, Family>;
  samples: Sample[];
  /** The value of the one sample with this name and exactly these labels; throws when missing. */
  value(name: string, labels?: Record<string, string>): number;
  /** Sum over the samples of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    if (families.get(base)?.type === 'histogram') return base;
  }
  return name;
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value '${text}'`);
  return Number(text);
}

function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after '{'
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const eq = text.indexOf('=', i);
    if (eq === -1) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name '${name}'`);
    if (name in labels) throw new Error(`line ${line}: label '${name}' twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value must be quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\n') throw new Error(`line ${line}: raw line feed in a label value`);
      if (text[j] !== '\\') {
        value += text[j];
        continue;
      }
      const next = text[++j];
      if (next === '\\') value += '\\';
      else if (next === '"') value += '"';
      else if (next === 'n') value += '\n';
      else throw new Error(`line ${line}: bad escape '\\${next}'`);
    }
    if (j >= text.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected ',' or '}' after a label`);
  }
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function parsePrometheus(text: string): Parsed {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const typed = new Set<string>();
  const helped = new Set<string>();
  const sampled = new Set<string>();
  const samples: Sample[] = [];
  const byKey = new Map<string, number>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(raw);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
      if (sampled.has(name)) throw new Error(`line ${line}: ${kind} for '${name}' after its samples`);
      const f = families.get(name) ?? { help: '', type: 'untyped' };
      if (kind === 'HELP') {
        if (helped.has(name)) throw new Error(`line ${line}: second HELP for '${name}'`);
        helped.add(name);
        f.help = rest;
      } else {
        if (typed.has(name)) throw new Error(`line ${line}: second TYPE for '${name}'`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${line}: bad type '${rest}'`);
        typed.add(name);
        f.type = rest;
      }
      families.set(name, f);
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${line}: not a sample: '${raw}'`);
    const name = raw.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
    let labels: Record<string, string> = {};
    let rest = raw.slice(nameEnd);
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const m = /^ (\S+)( -?\d+)?$/.exec(rest);
    if (m === null) throw new Error(`line ${line}: expected ' VALUE' after the labels, got '${rest}'`);
    const family = familyOf(name, families);
    if (!helped.has(family) || !typed.has(family)) throw new Error(`line ${line}: sample of '${family}' before its HELP and TYPE`);
    sampled.add(family);
    const key = seriesKey(name, labels);
    if (byKey.has(key)) throw new Error(`line ${line}: series ${key} twice`);
    byKey.set(key, samples.length);
    samples.push({ name, labels, value: parseValue(m[1], line) });
  });

  // Histograms: buckets cumulative, ending in +Inf equal to _count.
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Array<{ le: number; value: number }>>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket`) continue;
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${name}_bucket without le`);
      const key = seriesKey(name, rest);
      const list = series.get(key) ?? [];
      list.push({ le: parseValue(le, 0), value: s.value });
      series.set(key, list);
    }
    for (const [key, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) {
        if (!(buckets[i].le > buckets[i - 1].le)) throw new Error(`${key}: le not ascending`);
        if (buckets[i].value < buckets[i - 1].value) throw new Error(`${key}: buckets not cumulative`);
      }
      const last = buckets[buckets.length - 1];
      if (last.le !== Infinity) throw new Error(`${key}: no +Inf bucket`);
      const countIndex = byKey.get(key.replace(name, `${name}_count`));
      if (countIndex === undefined || samples[countIndex].value !== last.value) throw new Error(`${key}: _count is not the +Inf bucket`);
    }
  }

  const matches = (labels: Record<string, string>, match: Record<string, string>) =>
    Object.entries(match).every(([k, v]) => labels[k] === v);
  return {
    families,
    samples,
    value(name, labels = {}) {
      const i = byKey.get(seriesKey(name, labels));
      if (i === undefined) throw new Error(`no sample ${seriesKey(name, labels)}`);
      return samples[i].value;
    },
    sum(name, match = {}) {
      return samples.filter((s) => s.name === name && matches(s.labels, match)).reduce((a, s) => a + s.value, 0);
    },
  };
}

// No doc link points nowhere. Every relative link in README.md and docs/*.md
// (to a file, to an #anchor on the same page or on another) must lead to a
// file that exists and a heading that has that anchor, as GitHub computes
// anchors. And every doc a source file names (a path ending in .md, and any
// docs-NAME.md or README-NAME.md, the names of docs that no longer exist)
// must exist, with its #anchor if it gives one.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { headings, headingSlug } from '../../scripts/man.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const rel = (p: string): string => relative(ROOT, p);

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let set = anchorCache.get(file);
  if (set === undefined) {
    set = new Set(headings(readFileSync(file, 'utf8').split('\n')).map((h) => h.anchor));
    anchorCache.set(file, set);
  }
  return set;
}

/** Links of a markdown text, outside code blocks and code spans: [label](target). */
function markdownLinks(text: string): Array<{ label: string; target: string; line: number }> {
  const lines = text.split('\n');
  // Fenced blocks and indented code are not markdown: blank them, keeping line numbers.
  let fence = false;
  const kept = lines.map((l) => {
    if (/^\s*```/.test(l)) {
      fence = !fence;
      return '';
    }
    return fence ? '' : l;
  });
  const out: Array<{ label: string; target: string; line: number }> = [];
  // Paragraph by paragraph, since a link or a code span may run over a line break.
  let start = 0;
  for (let i = 0; i <= kept.length; i++) {
    if (i < kept.length && kept[i].trim() !== '') continue;
    const para = kept.slice(start, i).join('\n');
    const plain = para.replace(/(`+)[\s\S]*?[^`]\1(?!`)/g, (m) => m.replace(/[^\n]/g, ' '));
    for (const m of plain.matchAll(/!?\[((?:[^[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const line = start + 1 + (plain.slice(0, m.index).match(/\n/g)?.length ?? 0);
      out.push({ label: m[1].replace(/\s+/g, ' '), target: m[2], line });
    }
    start = i + 1;
  }
  return out;
}

/** Where a relative link leads, or why it leads nowhere. */
function follow(fromFile: string, target: string): string | null {
  const hash = target.indexOf('#');
  const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const file = path === '' ? fromFile : normalize(join(dirname(fromFile), path));
  if (!file.startsWith(ROOT)) return `${target}: outside the repository`;
  if (!existsSync(file)) return `${target}: no file ${rel(file)}`;
  if (anchor === undefined) return null;
  if (statSync(file).isDirectory() || !file.endsWith('.md')) return `${target}: an anchor into ${rel(file)}, which has no headings`;
  if (!anchorsOf(file).has(anchor)) return `${target}: ${rel(file)} has no heading with anchor #${anchor}`;
  return null;
}

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

t.test('GitHub anchors are computed as GitHub computes them', async (t) => {
  t.equal(headingSlug('All cores: `--workers N`'), 'all-cores---workers-n');
  t.equal(
    headingSlug('Statistics: the stats page, /stats.json and Prometheus /metrics'),
    'statistics-the-stats-page-statsjson-and-prometheus-metrics',
  );
  t.equal(headingSlug('KTCPVS format (tcpvsadm(8))'), 'ktcpvs-format-tcpvsadm8');
  t.equal(headingSlug("The client's address through the tiers (PROXY protocol)"), 'the-clients-address-through-the-tiers-proxy-protocol');
  t.equal(headingSlug('apply(): diff, then one `ipvsadm -R` batch'), 'apply-diff-then-one-ipvsadm--r-batch');
  const twice = headings(['# A', '## Logs', '```', '## Logs', '```', '### Logs', '## Logs']);
  t.same(
    twice.map((h) => h.anchor),
    ['a', 'logs', 'logs-1', 'logs-2'],
    'repeats are numbered; code is no heading',
  );
});

t.test('the link finder sees links over line breaks, and none in code', async (t) => {
  const links = markdownLinks('a [b\nc](x.md#y) `[no](z.md)`\n\n```\n[no](w.md)\n```\n[d](#e)');
  t.same(links, [
    { label: 'b c', target: 'x.md#y', line: 1 },
    { label: 'd', target: '#e', line: 7 },
  ]);
});

t.test('every relative link in the README and docs/ leads somewhere', async (t) => {
  t.ok(DOCS.length >= 9, `${DOCS.length} pages`);
  let checked = 0;
  for (const doc of DOCS) {
    const file = join(ROOT, doc);
    for (const link of markdownLinks(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue; // https:, mailto:
      checked++;
      const problem = follow(file, link.target);
      if (problem !== null) t.fail(`${doc}:${link.line}: [${link.label}](${problem})`);
    }
  }
  t.ok(checked > 50, `${checked} relative links checked`);
});

t.test('every page of docs/ is linked from the README', async (t) => {
  const linked = new Set(markdownLinks(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((l) => l.target.split('#')[0]));
  for (const doc of DOCS.filter((d) => d !== 'README.md')) t.ok(linked.has(doc), `README links ${doc}`);
});

// Sources that may name docs.
const SOURCE_ROOTS = ['lib', 'bench', 'test', 'scripts', 'rules', 'contrib', '.ci', 'index.ts', 'tcpvsadm.ts', '.gitignore'];
const SKIP = new Set(['bench/results', 'bench/results-local', 'test/artifacts', 'test/docs/links.test.ts']);

function sourceFiles(path: string, out: string[] = []): string[] {
  const full = join(ROOT, path);
  if (SKIP.has(path) || !existsSync(full)) return out;
  if (statSync(full).isDirectory()) {
    for (const name of readdirSync(full)) sourceFiles(`${path}/${name}`, out);
  } else if (/\.(ts|js|mjs|sh|md|tcpvs|conf|service)$|^\.gitignore$|\/run$/.test(path)) out.push(path);
  return out;
}

t.test('every doc a source file names exists', async (t) => {
  const files = SOURCE_ROOTS.flatMap((r) => sourceFiles(r));
  t.ok(files.length > 100, `${files.length} source files`);
  let named = 0;
  for (const path of files) {
    const lines = readFileSync(join(ROOT, path), 'utf8').split('\n');
    for (const [i, line] of lines.entries()) {
      // A path to a .md file (not an absolute one), or a bare docs-NAME.md / README-NAME.md.
      const mentions = [
        ...line.matchAll(/(?<![\w/.-])((?:[\w.-]+\/)+[\w.-]+\.md)(#[\w-]+)?/g),
        ...line.matchAll(/(?<![\w/.-])((?:docs|README)-[\w.-]*\.md)(#[\w-]+)?/g),
      ];
      for (const m of mentions) {
        named++;
        const problem = follow(join(ROOT, 'README.md'), m[1] + (m[2] ?? ''));
        if (problem !== null) t.fail(`${path}:${i + 1}: names ${m[0]}: ${problem}`);
      }
    }
  }
  t.ok(named >= 10, `${named} mentions checked`);
});

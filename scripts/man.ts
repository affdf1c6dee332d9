// The man pages, generated from the docs: man/tcpvs.8, man/tcpvsadm.8 and
// man/tcpvs.conf.5. The docs are where the text is written and checked;
// a man page is a few of their sections, converted to roff by the small
// markdown converter below. The pages are checked in (an npm package ships
// them, and its "man" field installs them), written again by `npm run
// build`, and test/docs/man.test.ts fails when they differ from what this
// script makes of the docs today.
//
//   node scripts/man.ts            write man/*
//   node scripts/man.ts --check    exit 1 when a page in man/ is stale
//
// The converter knows the markdown the docs use: ATX headings, paragraphs,
// fenced and indented code, pipe tables (each row becomes a tagged
// paragraph: the first cell as the tag, the others under it with their
// column's header), bullet and numbered lists (nested by indentation),
// and inline code, bold, italics and links.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** Where a part of a page comes from: a section of a doc (by its heading's text), or the text before a doc's first `##`. */
interface Part {
  doc: string;
  /** The heading's text as written after the #s; absent: the doc's intro (between its title and its first ##). */
  heading?: string;
  /** The .SH title; default: the heading, upper-cased. */
  title?: string;
  /** The section's subsections become .SH sections of their own (its text before them goes under `title`). */
  lift?: boolean;
  /** Only the first paragraph. */
  firstParagraph?: boolean;
}

interface PageSpec {
  file: string;
  name: string;
  section: '5' | '8';
  /** The NAME line's description. */
  summary: string;
  /** SYNOPSIS lines, taken from the docs' code blocks. */
  synopsis: () => string[];
  parts: Part[];
  seeAlso: string;
}

// ---------------------------------------------------------------- reading the docs

function readDoc(doc: string): string {
  return readFileSync(join(ROOT, doc), 'utf8');
}

export interface Heading {
  level: number;
  /** As written after the #s. */
  text: string;
  /** 0-based line number. */
  line: number;
  /** The anchor GitHub gives it (`#anchor`), numbered as GitHub numbers repeats. */
  anchor: string;
}

/** GitHub's anchor for a heading's text, before repeats are numbered: the text as rendered, lower-cased, without punctuation but `-` and `_`, spaces made `-`. */
export function headingSlug(text: string): string {
  const rendered = text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`+/g, '')
    .replace(/(\*\*|__)(.*?)\1/g, '$2')
    .replace(/<[^>]+>/g, '');
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The ATX headings of a markdown text, outside code fences, with their anchors. */
export function headings(lines: string[]): Heading[] {
  const out: Heading[] = [];
  const seen = new Map<string, number>();
  let fence = false;
  for (const [i, line] of lines.entries()) {
    if (/^\s*```/.test(line)) fence = !fence;
    if (fence) continue;
    const m = /^(#{1,6}) +(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = headingSlug(m[2]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1].length, text: m[2], line: i, anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}

/** The lines of a section, its heading line first, up to the next heading of its level or above; and the anchors of its headings. */
function sectionLines(doc: string, heading: string): { level: number; lines: string[]; anchors: string[] } {
  const lines = readDoc(doc).split('\n');
  const all = headings(lines);
  const found = all.filter((h) => h.text === heading);
  if (found.length !== 1) throw new Error(`man: ${doc}: ${found.length} headings '${heading}' (need exactly one)`);
  const h = found[0];
  const next = all.find((x) => x.line > h.line && x.level <= h.level);
  const end = next?.line ?? lines.length;
  return {
    level: h.level,
    lines: lines.slice(h.line, end),
    anchors: all.filter((x) => x.line >= h.line && x.line < end).map((x) => x.anchor),
  };
}

/** The text between a doc's title and its first `##`. */
function introLines(doc: string): string[] {
  const lines = readDoc(doc).split('\n');
  const all = headings(lines);
  const title = all.find((h) => h.level === 1);
  const first = all.find((h) => h.level >= 2);
  return lines.slice(title === undefined ? 0 : title.line + 1, first?.line ?? lines.length);
}

/** The first fenced code block in some lines. */
function firstCodeBlock(lines: string[]): string[] {
  const start = lines.findIndex((l) => /^```/.test(l));
  if (start === -1) return [];
  const end = lines.findIndex((l, i) => i > start && /^```/.test(l));
  return lines.slice(start + 1, end);
}

// ---------------------------------------------------------------- roff

/** Text for roff: backslashes and hyphens escaped. */
function escapeText(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
}

/** A line that roff would read as a request (leading . or ') is made text. */
function safeLine(line: string): string {
  return /^[.']/.test(line) ? `\\&${line}` : line;
}

/**
 * A link's target as a reader of the man page can follow it: nothing when
 * the section it names is in this man page, else the doc's path from the top
 * of the tree (or the URL).
 */
function linkNote(target: string, fromDoc: string, included: ReadonlySet<string>): string | null {
  if (/^[a-z]+:/i.test(target)) return target;
  const [path, anchor] = target.split('#');
  const dir = fromDoc.includes('/') ? fromDoc.slice(0, fromDoc.lastIndexOf('/') + 1) : '';
  const parts: string[] = [];
  for (const p of (path === '' ? fromDoc : dir + path).split('/')) {
    if (p === '..') parts.pop();
    else if (p !== '.' && p !== '') parts.push(p);
  }
  const doc = parts.join('/');
  if (anchor !== undefined && included.has(`${doc}#${anchor}`)) return null;
  return doc;
}

/** Inline markdown to roff: `code` and **bold** in bold, *emphasis* in italics, links as their text and where they lead. */
function inline(text: string, fromDoc: string, included: ReadonlySet<string> = new Set()): string {
  const held: string[] = [];
  const hold = (roff: string): string => `\u0000${held.push(roff) - 1}\u0000`;
  // Code spans first: nothing inside them is markdown.
  let s = text.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) =>
    hold(`\\fB${escapeText(code.trim() === '' ? code : code.replace(/^ (.*) $/, '$1'))}\\fR`),
  );
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label: string, target: string) => {
    // The label goes on through the rest (it may hold code spans); where the link leads is said after it.
    const note = linkNote(target, fromDoc, included);
    return note === null ? label : `${label}${hold(` (${escapeText(note)})`)}`;
  });
  s = escapeText(s);
  s = s.replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR');
  s = s.replace(/(^|[\s(])\*([^\s*][^*]*?)\*(?=[\s.,;:)]|$)/g, '$1\\fI$2\\fR');
  // Held pieces may hold others (a link around code): resolve until none is left.
  while (s.includes('\u0000')) s = s.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => held[Number(n)]);
  return s;
}

/** A heading's text for .SH/.SS: markdown dropped, quoted for the macro. */
function headingArg(text: string, upper: boolean): string {
  let t = text.replace(/`/g, '').replace(/\*\*/g, '');
  if (upper) t = t.toUpperCase();
  return `"${escapeText(t).replace(/"/g, '\\(dq')}"`;
}

/** Cells of a pipe-table row; `\|` is a pipe inside a cell. */
function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  const out: string[] = [];
  let cell = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '\\' && inner[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (inner[i] === '|') {
      out.push(cell.trim());
      cell = '';
    } else cell += inner[i];
  }
  out.push(cell.trim());
  return out;
}

interface ConvertOptions {
  fromDoc: string;
  /** `doc#anchor` of every section this man page holds: links to them need no note. */
  included: ReadonlySet<string>;
  /** The markdown level that becomes .SH; one level deeper becomes .SS, deeper still a bold line. */
  shLevel: number;
}

/** Markdown lines (no heading above shLevel) to roff lines. */
function convert(lines: string[], opts: ConvertOptions): string[] {
  const out: string[] = [];
  const text = (s: string): string => inline(s, opts.fromDoc, opts.included);
  // Lines of running text: joined first, since a code span or a link may run over a line break.
  const textLines = (ls: string[]): string[] =>
    text(ls.map((l) => l.trim()).join('\n'))
      .split('\n')
      .map(safeLine);
  let i = 0;
  let listDepth = 0; // .RS levels opened for nested lists
  const closeLists = (): void => {
    while (listDepth > 0) {
      out.push('.RE');
      listDepth--;
    }
  };
  const isBlockStart = (l: string): boolean => /^\s*```/.test(l) || /^#{1,6} /.test(l) || /^\s*\|/.test(l) || /^\s*([-*]|\d+\.) /.test(l);
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    // Fenced code.
    if (/^\s*```/.test(line)) {
      const indent = /^\s*/.exec(line)![0].length;
      const body: string[] = [];
      i++;
      while (i < lines.length && !/^\s*```/.test(lines[i])) body.push(lines[i++].slice(indent));
      i++;
      // Indented under a list item: inside the item. Else a block of its own.
      if (indent === 0) {
        closeLists();
        out.push('.PP');
      }
      out.push('.RS 4', '.nf', ...body.map((l) => safeLine(escapeText(l))), '.fi', '.RE');
      continue;
    }
    // Headings.
    const h = /^(#{1,6}) +(.*?)\s*$/.exec(line);
    if (h !== null) {
      closeLists();
      const level = h[1].length;
      if (level <= opts.shLevel) out.push(`.SH ${headingArg(h[2], true)}`);
      else if (level === opts.shLevel + 1) out.push(`.SS ${headingArg(h[2], false)}`);
      else out.push('.PP', `\\fB${text(h[2])}\\fR`);
      i++;
      continue;
    }
    // Tables.
    if (/^\s*\|/.test(line)) {
      closeLists();
      const rows: string[][] = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(cells(lines[i++]));
      const header = rows[0];
      const body = rows.slice(1).filter((r) => !r.every((c) => /^:?-+:?$/.test(c)));
      for (const row of body) {
        out.push('.TP');
        out.push(safeLine(row[0] === '' ? '\\&' : text(row[0])));
        let first = true;
        for (const [c, cell] of row.slice(1).entries()) {
          if (cell === '') continue;
          if (!first) out.push('.br');
          first = false;
          const label = header[c + 1] ?? '';
          out.push(safeLine(header.length > 2 && label !== '' ? `${text(label)}: ${text(cell)}` : text(cell)));
        }
      }
      continue;
    }
    // Lists: an item and its continuation lines.
    const item = /^(\s*)([-*]|\d+\.) +(.*)$/.exec(line);
    if (item !== null) {
      const depth = Math.floor(item[1].length / 2);
      while (listDepth < depth) {
        out.push('.RS 2');
        listDepth++;
      }
      while (listDepth > depth) {
        out.push('.RE');
        listDepth--;
      }
      const marker = /\d/.test(item[2]) ? item[2] : '\\(bu';
      const content = [item[3]];
      const contentIndent = item[1].length + item[2].length + 1;
      i++;
      while (
        i < lines.length &&
        lines[i].trim() !== '' &&
        !/^\s*([-*]|\d+\.) /.test(lines[i]) &&
        !/^\s*```/.test(lines[i]) &&
        !/^\s*\|/.test(lines[i])
      ) {
        content.push(lines[i].trim());
        i++;
      }
      out.push(`.IP ${marker} ${marker === '\\(bu' ? 2 : 4}`);
      out.push(...textLines(content));
      // A paragraph or code indented under the item belongs to it.
      while (
        i < lines.length &&
        lines[i].trim() === '' &&
        i + 1 < lines.length &&
        /^\s+/.test(lines[i + 1]) &&
        /^\s*/.exec(lines[i + 1])![0].length >= contentIndent &&
        !/^\s*([-*]|\d+\.) /.test(lines[i + 1])
      ) {
        i++;
        if (/^\s*```/.test(lines[i])) break; // handled at the top of the loop, inside the item
        const para: string[] = [];
        while (i < lines.length && lines[i].trim() !== '' && !isBlockStart(lines[i])) para.push(lines[i++].trim());
        out.push('.IP', ...textLines(para));
      }
      continue;
    }
    closeLists();
    // Indented code (4 spaces), outside lists.
    if (/^ {4}/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && (/^ {4}/.test(lines[i]) || (lines[i].trim() === '' && /^ {4}/.test(lines[i + 1] ?? ''))))
        body.push(lines[i++].slice(4));
      out.push('.PP', '.RS 4', '.nf', ...body.map((l) => safeLine(escapeText(l))), '.fi', '.RE');
      continue;
    }
    // A paragraph.
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() !== '' && !isBlockStart(lines[i])) para.push(lines[i++].trim());
    out.push('.PP', ...textLines(para));
  }
  closeLists();
  return out;
}

function firstParagraph(lines: string[]): string[] {
  const start = lines.findIndex((l) => l.trim() !== '');
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start, end === -1 ? lines.length : end);
}

function renderPart(part: Part, included: ReadonlySet<string>): string[] {
  const fromDoc = part.doc;
  if (part.heading === undefined) {
    const lines = introLines(part.doc);
    return [
      `.SH ${headingArg(part.title ?? 'DESCRIPTION', true)}`,
      ...convert(part.firstParagraph === true ? firstParagraph(lines) : lines, { fromDoc, included, shLevel: 1 }),
    ];
  }
  const { level, lines } = sectionLines(part.doc, part.heading);
  const body = lines.slice(1);
  const title = `.SH ${headingArg(part.title ?? part.heading, true)}`;
  if (part.lift === true) return [title, ...convert(body, { fromDoc, included, shLevel: level + 1 })];
  return [title, ...convert(part.firstParagraph === true ? firstParagraph(body) : body, { fromDoc, included, shLevel: level })];
}

function version(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

function renderPage(spec: PageSpec): string {
  const manual = spec.section === '8' ? "System Manager's Manual" : 'File Formats Manual';
  const sources = [...new Set(spec.parts.map((p) => p.doc))].join(', ');
  const out = [
    `.\\" ${spec.file}: generated by scripts/man.ts from ${sources}.`,
    '.\\" Do not edit: change the docs and run node scripts/man.ts.',
    `.TH ${spec.name.toUpperCase()} ${spec.section} "" "tcpvs ${version()}" "${manual}"`,
    '.SH NAME',
    `${escapeText(spec.name)} \\- ${escapeText(spec.summary)}`,
    '.SH SYNOPSIS',
    '.nf',
    ...spec.synopsis().map((l) => safeLine(escapeText(l))),
    '.fi',
  ];
  const included = new Set<string>();
  for (const part of spec.parts) {
    if (part.heading === undefined || part.firstParagraph === true) continue;
    for (const anchor of sectionLines(part.doc, part.heading).anchors) included.add(`${part.doc}#${anchor}`);
  }
  for (const part of spec.parts) out.push(...renderPart(part, included));
  out.push('.SH "SEE ALSO"', ...spec.seeAlso.split('\n').map((l) => safeLine(inline(l, 'README.md'))));
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- the pages

const DOCS_NOTE = `The whole documentation is README.md and docs/*.md, in the package (\`npm root -g\`/tcpvs) and in the source tree.`;

export const PAGES: PageSpec[] = [
  {
    file: 'man/tcpvs.8',
    name: 'tcpvs',
    section: '8',
    summary: 'a layer-7 content switch for HTTP, in the line of KTCPVS',
    synopsis: () => {
      const { lines } = sectionLines('docs/operations.md', 'Commands');
      const all = headings(lines);
      const out: string[] = [];
      for (const h of all.filter((x) => x.level === 3 && x.text.startsWith('tcpvs '))) {
        const next = all.find((x) => x.line > h.line);
        const block = firstCodeBlock(lines.slice(h.line, next?.line ?? lines.length));
        out.push(...(block.length > 0 ? block : [h.text]));
      }
      return out;
    },
    parts: [
      { doc: 'README.md', title: 'DESCRIPTION', firstParagraph: true },
      { doc: 'docs/operations.md', heading: 'Commands' },
      { doc: 'docs/operations.md', heading: 'All cores: `--workers N`', title: 'WORKER THREADS' },
      { doc: 'docs/operations.md', heading: 'Hot reload: a change changes only what it changes', title: 'HOT RELOAD' },
      { doc: 'docs/operations.md', heading: 'Graceful stop' },
      { doc: 'docs/operations.md', heading: 'Health checks' },
      { doc: 'docs/operations.md', heading: 'Statistics: the stats page, /stats.json and Prometheus /metrics', title: 'STATISTICS' },
      { doc: 'docs/operations.md', heading: 'Under systemd', title: 'SYSTEMD' },
    ],
    seeAlso: `tcpvsadm(8), tcpvs.conf(5), ipvsadm(8), keepalived(8)\n.PP\n${DOCS_NOTE}`,
  },
  {
    file: 'man/tcpvsadm.8',
    name: 'tcpvsadm',
    section: '8',
    summary: "change a running tcpvs: KTCPVS's tcpvsadm(8), and tcpvs's own commands",
    synopsis: () => [
      ...firstCodeBlock(sectionLines('docs/operations.md', 'KTCPVS commands').lines),
      ...firstCodeBlock(sectionLines('docs/operations.md', 'tcpvs commands').lines).map((l) => l.replace(/\s{2,}\S.*$/, '')),
    ],
    parts: [{ doc: 'docs/operations.md', heading: 'tcpvsadm: changing a running tcpvs', title: 'DESCRIPTION', lift: true }],
    seeAlso: `tcpvs(8), tcpvs.conf(5), ipvsadm(8)\n.PP\n${DOCS_NOTE}`,
  },
  {
    file: 'man/tcpvs.conf.5',
    name: 'tcpvs.conf',
    section: '5',
    summary: "tcpvs's configuration files: the native format and KTCPVS's",
    synopsis: () => ['tcpvs check -c FILE', 'tcpvs start -c FILE'],
    parts: [
      { doc: 'docs/configuration.md', title: 'DESCRIPTION' },
      { doc: 'docs/configuration.md', heading: 'Native format' },
      { doc: 'docs/configuration.md', heading: 'KTCPVS format (tcpvsadm(8))', title: 'KTCPVS FORMAT' },
      { doc: 'docs/configuration.md', heading: 'Errors and warnings' },
      { doc: 'docs/schedulers.md', title: 'SCHEDULERS' },
      { doc: 'docs/schedulers.md', heading: 'Group statements: key and scheduler knobs', title: 'GROUP STATEMENTS' },
      { doc: 'docs/affinity.md', heading: 'Settings', title: 'SESSION AFFINITY' },
      { doc: 'docs/configuration.md', heading: 'What tcpvs does with requests' },
    ],
    seeAlso: `tcpvs(8), tcpvsadm(8), ipvsadm(8)\n.PP\nThe L4 core's statements (\`l4\`, \`vip\`, \`vrrp\`, \`sync\`): docs/l4.md. ${DOCS_NOTE}`,
  },
];

/** Every page's text, by its path from the top of the tree. */
export function renderManPages(): Map<string, string> {
  return new Map(PAGES.map((p) => [p.file, renderPage(p)]));
}

export function writeManPages(): string[] {
  mkdirSync(join(ROOT, 'man'), { recursive: true });
  const written: string[] = [];
  for (const [file, text] of renderManPages()) {
    writeFileSync(join(ROOT, file), text);
    written.push(file);
  }
  return written;
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    let stale = 0;
    for (const [file, text] of renderManPages()) {
      let have = '';
      try {
        have = readFileSync(join(ROOT, file), 'utf8');
      } catch {
        // missing: stale
      }
      if (have !== text) {
        process.stderr.write(`man: ${file} is stale: run node scripts/man.ts\n`);
        stale++;
      }
    }
    process.exit(stale === 0 ? 0 : 1);
  }
  process.stderr.write(`man: wrote ${writeManPages().join(', ')}\n`);
}

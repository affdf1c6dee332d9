// docs/architecture.md names every file of lib/ under its layer, and only
// files that exist: the page stays a true map of the code.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const page = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');

const libFiles = (readdirSync(join(ROOT, 'lib'), { recursive: true }) as string[])
  .map((f) => `lib/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.ts'))
  .sort();

/** Every lib/….ts path the page names anywhere (lists, tables, the request picture). */
const named = [...page.matchAll(/\blib\/[\w./-]+?\.ts\b/g)].map((m) => m[0]);

/** The file list of "The layers, file by file": lines "- `lib/x.ts`: what it is". */
const start = page.indexOf('## The layers, file by file');
const end = page.indexOf('\n## ', start + 1);
const listed = [...page.slice(start, end).matchAll(/^- `(lib\/[^`]+\.ts)`: \S/gm)].map((m) => m[1]);

t.test('the page is read', async (t) => {
  t.ok(start > 0 && end > start, 'it has the section');
  t.ok(listed.length > 100, `${listed.length} files listed`);
  t.ok(libFiles.length > 100, `${libFiles.length} files in lib/`);
});

t.test('every lib/ file the page names exists', async (t) => {
  const gone = [...new Set(named)].filter((f) => !existsSync(join(ROOT, f)));
  t.same(gone, [], 'names on the page with no file behind them');
});

t.test('every file of lib/ is listed once, under a layer', async (t) => {
  const missing = libFiles.filter((f) => !listed.includes(f));
  t.same(missing, [], 'lib files the section does not list');
  const twice = listed.filter((f, i) => listed.indexOf(f) !== i);
  t.same(twice, [], 'files listed twice');
});

t.test('the list is under the three layer headings', async (t) => {
  const headings = [...page.slice(start, end).matchAll(/^### (.+)$/gm)].map((m) => m[1].split(':')[0]);
  t.same(headings, ['Data path', 'Control plane', 'Shared by both, and the rest']);
});

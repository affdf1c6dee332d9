// The man pages in man/ are generated from the docs by scripts/man.ts and
// checked in: regenerating them must give the same bytes, so they cannot go
// stale. Where groff is installed, each page must also format without a
// warning.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderManPages } from '../../scripts/man.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const pages = renderManPages();

t.test('man/ holds what scripts/man.ts makes of the docs today', async (t) => {
  t.same([...pages.keys()].sort(), ['man/tcpvs.8', 'man/tcpvs.conf.5', 'man/tcpvsadm.8']);
  for (const [file, text] of pages) {
    let have = '';
    try {
      have = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      // reported below
    }
    t.ok(have === text, `${file} is up to date${have === text ? '' : ': run node scripts/man.ts and commit man/'}`);
  }
});

t.test('package.json installs the three pages', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man?: string[]; files?: string[] };
  t.same([...(pkg.man ?? [])].map((m) => m.replace(/^\.\//, '')).sort(), [...pages.keys()].sort(), '"man" lists them');
  t.ok(
    pkg.files?.some((f) => f.replace(/\/$/, '') === 'man'),
    '"files" ships man/',
  );
});

t.test('each page is roff that man reads', async (t) => {
  for (const [file, text] of pages) {
    t.match(text, /^\.\\" /, `${file} starts with a comment`);
    t.match(text, /\n\.TH [A-Z.]+ [58] /, `${file} has a .TH line`);
    t.match(text, /\n\.SH NAME\n[\w.]+ \\- /, `${file} has a NAME line for whatis`);
    let fill = true;
    const spaced = text.split('\n').filter((line) => {
      if (line === '.nf') fill = false;
      if (line === '.fi') fill = true;
      return fill && /^[ \t]/.test(line);
    });
    t.same(spaced, [], `${file}: no filled line starts with a space (roff would break there)`);
    t.notMatch(text, /\u0000/, `${file}: no placeholder left`);
  }
  const groff = spawnSync('groff', ['--version'], { encoding: 'utf8' });
  if (groff.error !== undefined) {
    t.comment('groff is not installed (apt-get install groff-base): pages not formatted');
    return;
  }
  for (const file of pages.keys()) {
    const run = spawnSync('groff', ['-k', '-man', '-Tutf8', '-ww', '-z', join(ROOT, file)], { encoding: 'utf8' });
    t.equal(run.status, 0, `groff formats ${file}`);
    t.equal(run.stderr, '', `${file}: no warnings`);
  }
});

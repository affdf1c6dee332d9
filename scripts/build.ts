// npm run build (and prepack, so every `npm pack` builds): the package's
// JavaScript in dist/. Node does not strip types under node_modules, so the
// installed package runs these files, not the .ts sources the checkout runs.
//
// dist/ mirrors the source tree (dist/index.js, dist/lib/...), so every path
// the code computes from its own location (import.meta.dirname) finds the
// same thing in both layouts. That needs, besides the emitted JavaScript:
// - the files the program reads at run time: rules/ (the demo's rule set,
//   also the examples) and the demo site (lib/demo/site, images, cgi-bin,
//   its scripts still executable);
// - dist/package.json: the version that `tcpvs --version`, tcpvsadm and
//   ipvsadm read from the top of the tree, and "type": "module" for the .js
//   files under dist/ (the nearest package.json decides that).
// bin/tcpvs.js and bin/tcpvsadm.js, the package's commands, run dist/ where
// there are no sources beside them. It also writes the man pages (man/, from
// docs/ by scripts/man.ts), which npm installs from the "man" field.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeManPages } from './man.ts';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');

/** Files that are not TypeScript but are read at run time, relative to the root; copied to the same place under dist/. */
const RUNTIME_ASSETS = ['rules', 'lib/demo/site', 'lib/demo/images', 'lib/demo/cgi-bin'];

rmSync(DIST, { recursive: true, force: true });

const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
const built = spawnSync(tsc, ['-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (built.error !== undefined) {
  process.stderr.write(`build: cannot run ${tsc}: ${built.error.message} (run npm ci first)\n`);
  process.exit(1);
}
if (built.status !== 0) {
  process.stderr.write(`build: tsc -p tsconfig.build.json failed (${built.status ?? built.signal})\n`);
  process.exit(1);
}

for (const asset of RUNTIME_ASSETS) {
  // cpSync keeps file modes: the CGI scripts stay executable.
  cpSync(join(ROOT, asset), join(DIST, asset), { recursive: true });
}

// The package's commands (npm links its bin entries executable anyway; this is for ./dist/index.js).
for (const bin of ['index.js', 'tcpvsadm.js']) chmodSync(join(DIST, bin), 0o755);

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
mkdirSync(DIST, { recursive: true });
writeFileSync(
  join(DIST, 'package.json'),
  JSON.stringify(
    {
      '//': 'Written by scripts/build.ts from ../package.json; not a package of its own.',
      name: pkg.name,
      version: pkg.version,
      private: true,
      type: 'module',
    },
    null,
    2,
  ) + '\n',
);
// The man pages (package.json "man"), from the docs as they are now; they
// are checked in, and test/docs/man.test.ts fails when they are stale.
writeManPages();
process.stderr.write(`build: dist/ and man/ for ${pkg.name} ${pkg.version}\n`);

// lib/version.ts: the version is the one in the package.json beside lib/
// (the checkout's here; dist's after a build), and '?' when that file is
// missing, unreadable or has no version. The fallbacks run a copy of the
// module in a temp tree, so the real package.json is never touched.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { tcpvsVersion } from '../lib/version.ts';

const REPO_ROOT = join(import.meta.dirname, '..');
const SOURCE = join(REPO_ROOT, 'lib', 'version.ts');

t.test("the checkout's package.json version", async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  t.equal(tcpvsVersion(), pkg.version);
  t.match(tcpvsVersion(), /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semver version');
  t.equal(tcpvsVersion(), tcpvsVersion(), 'the same on every call');
});

t.test('a copy of the module reads the package.json above its own lib/', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tcpvs-version-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  let copies = 0;
  /** The version a fresh copy of lib/version.ts reports, with `pkg` (or nothing) beside its lib/. */
  async function versionWith(pkg: string | null): Promise<string> {
    const dir = join(root, `tree${++copies}`);
    mkdirSync(join(dir, 'lib'), { recursive: true });
    copyFileSync(SOURCE, join(dir, 'lib', 'version.ts'));
    // Node's loader reads the nearest package.json to load the module: one in
    // lib/ spares it the broken ones written above.
    writeFileSync(join(dir, 'lib', 'package.json'), '{"type":"module"}');
    if (pkg !== null) writeFileSync(join(dir, 'package.json'), pkg);
    const mod = (await import(pathToFileURL(join(dir, 'lib', 'version.ts')).href)) as typeof import('../lib/version.ts');
    return mod.tcpvsVersion();
  }
  t.equal(await versionWith('{"name":"tcpvs","version":"9.8.7-rc.1"}'), '9.8.7-rc.1', 'whatever the file says');
  t.equal(await versionWith(null), '?', 'no package.json');
  t.equal(await versionWith('{"name":"tcpvs"}'), '?', 'no version field');
  t.equal(await versionWith('{"version": '), '?', 'not JSON');
  t.equal(await versionWith(''), '?', 'empty');
});

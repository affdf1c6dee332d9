// tcpvs's version, from the package.json above lib/ (the checkout's, or the
// one scripts/build.ts writes into dist/).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function tcpvsVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

// `npm run bench:micro`: every micro-benchmark in this folder, one process
// each (so one case's JIT state never colours another's), one after another.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const here = import.meta.dirname;
let failed = 0;
for (const file of ['head-parse.ts', 'route.ts', 'pick.ts', 'head-rewrite.ts', 'access-log.ts']) {
  const r = spawnSync(process.execPath, [path.join(here, file)], { stdio: 'inherit', timeout: 120_000 });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`bench:micro: ${file} failed (${r.status ?? r.signal})\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;

// docs/cluster.md is a walk-through: every config block in it must load as
// written, and every `tcpvs ipvsadm` line must be a command tcpvs takes.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { keepalivedConfig } from '../../lib/l4/keepalived.ts';
import { parseIpvsadmArgs } from '../../lib/l4/ipvsadm-cli/parse.ts';
import { systemResolver } from '../../lib/l4/ipvsadm-cli/names.ts';

const PAGE = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'cluster.md'), 'utf8');
const blocks = [...PAGE.matchAll(/```tcpvs\n([\s\S]*?)```/g)].map((m) => m[1]);

t.test('every tcpvs block of docs/cluster.md loads without a problem', async (t) => {
  t.ok(blocks.length >= 2, `${blocks.length} config blocks`);
  for (const [i, text] of blocks.entries()) {
    const name = /^# (\S+)/.exec(text)?.[1] ?? `block ${i + 1}`;
    try {
      const config = parseConfigText(text, name);
      t.same(config.warnings, [], `${name}: no warnings`);
      if (config.l4?.vrrp !== undefined) {
        const conf = keepalivedConfig(config.l4, `/etc/tcpvs/${name}`, ['tcpvs']);
        t.match(conf, /virtual_ipaddress[\s\S]*10\.0\.0\.100/, `${name}: tcpvs keepalived writes the vip address`);
        t.match(conf, /notify "tcpvs director-state --admin \/run\/tcpvs\/admin\.sock"/, `${name}: and tells tcpvs its state`);
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      t.fail(`${name}: ${err.problems.map((p) => `${p.line}: ${p.field}: ${p.message}`).join('; ')}`);
    }
  }
});

t.test('every tcpvs ipvsadm line of docs/cluster.md is a command tcpvs takes', async (t) => {
  const lines = [...PAGE.matchAll(/^tcpvs ipvsadm (.+?)(?:\s+#.*)?$/gm)].map((m) => m[1].trim().split(/\s+/));
  t.ok(lines.length >= 3, `${lines.length} lines`);
  for (const args of lines) {
    const parsed = await parseIpvsadmArgs(args, systemResolver);
    t.equal(parsed.kind, 'run', `tcpvs ipvsadm ${args.join(' ')}${parsed.kind === 'error' ? `: ${parsed.message}` : ''}`);
  }
});

// The `persist` group statement: source, cookie and header affinity, and its
// errors naming file, line and field.
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';

const FILE = 'persist.tcpvs';
function text(persist: string[]): string {
  return ['service a', 'listen 127.0.0.1:8080', 'group g scheduler rr', 'server 127.0.0.1:1', ...persist, 'default g', ''].join('\n');
}
function affinity(persist: string[]) {
  return parseConfigText(text(persist), FILE).services[0].groups[0].affinity;
}
function problems(persist: string[]): string[] {
  try {
    parseConfigText(text(persist), FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file}:${p.line}:${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('persist source with ipvsadm defaults and options', async (t) => {
  t.same(affinity(['persist source']), { kind: 'source', timeoutMs: 300_000, netmaskV4: 32, netmaskV6: 128, maxEntries: 65_536 });
  t.same(affinity(['persist source timeout 30s netmask 255.255.255.0 netmask6 64 max-entries 100']), {
    kind: 'source',
    timeoutMs: 30_000,
    netmaskV4: 24,
    netmaskV6: 64,
    maxEntries: 100,
  });
  t.equal(
    affinity(['persist source netmask 16'])!.kind === 'source' &&
      (affinity(['persist source netmask 16']) as { netmaskV4: number }).netmaskV4,
    16,
  );
});

t.test('persist cookie in each mode, with attributes', async (t) => {
  t.same(affinity(['persist cookie SRV insert path /app domain example.com max-age 1h httponly secure same-site Strict secret s3']), {
    kind: 'cookie',
    name: 'SRV',
    mode: 'insert',
    path: '/app',
    domain: 'example.com',
    maxAgeSec: 3600,
    httpOnly: true,
    secure: true,
    sameSite: 'Strict',
    secret: 's3',
  });
  t.same(affinity(['persist cookie JSESSIONID prefix']), { kind: 'cookie', name: 'JSESSIONID', mode: 'prefix' });
  t.same(affinity(['persist cookie sid rewrite']), { kind: 'cookie', name: 'sid', mode: 'rewrite' });
});

t.test('persist header', async (t) => {
  t.same(affinity(['persist header X-Session-Id timeout 10m']), {
    kind: 'header',
    name: 'x-session-id',
    timeoutMs: 600_000,
    maxEntries: 65_536,
  });
});

t.test('errors name file, line and field', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['no kind', ['persist'], /^persist\.tcpvs:5:group\.persist: usage:/],
    ['bad mode', ['persist cookie SRV stick'], /^persist\.tcpvs:5:persist\.mode: cookie mode must be insert, rewrite or prefix/],
    ['option of another kind', ['persist source path /'], /^persist\.tcpvs:5:persist\.path: 'path' is not an option of persist source/],
    ['missing value', ['persist source timeout'], /^persist\.tcpvs:5:persist\.timeout: 'timeout' needs a value/],
    ['bad duration', ['persist header X timeout 5'], /^persist\.tcpvs:5:persist\.timeout: bad duration '5'/],
    ['non-contiguous netmask', ['persist source netmask 255.0.255.0'], /^persist\.tcpvs:5:persist\.netmask: bad netmask/],
    ['netmask6 too long', ['persist source netmask6 129'], /^persist\.tcpvs:5:persist\.netmask6: bad netmask6/],
    ['bad same-site', ['persist cookie SRV insert same-site Sometimes'], /^persist\.tcpvs:5:persist\.same-site:/],
    ['bad cookie name', ['persist cookie "a b" insert'], /^persist\.tcpvs:5:persist\.name:/],
    ['twice', ['persist source', 'persist source'], /^persist\.tcpvs:6:group\.persist: 'persist' is already set at line 5/],
  ];
  for (const [name, lines, re] of cases) {
    const found = problems(lines);
    t.equal(found.length, 1, `${name}: one problem (${found.join(' | ')})`);
    t.match(found[0] ?? '', re, name);
  }
  const outside = (() => {
    try {
      parseConfigText(
        ['service a', 'listen 127.0.0.1:8080', 'persist source', 'group g', 'server 127.0.0.1:1', 'default g'].join('\n'),
        FILE,
      );
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.line}:${p.field}`);
    }
    return [];
  })();
  t.same(outside, ['3:group.persist'], 'persist outside a group');
});

import t from 'tap';
import { affinityProblems, withAffinityDefaults, type AffinitySpec } from '../../lib/affinity/spec.ts';

const fields = (spec: AffinitySpec) => affinityProblems(spec).map((p) => p.field);

t.test('defaults: ipvsadm -p 300, -M 255.255.255.255, /128, 65536 entries', async (t) => {
  t.same(withAffinityDefaults({ kind: 'source' }), {
    kind: 'source',
    timeoutMs: 300_000,
    netmaskV4: 32,
    netmaskV6: 128,
    maxEntries: 65_536,
  });
  t.same(withAffinityDefaults({ kind: 'source', timeoutMs: 5, netmaskV4: 24, netmaskV6: 64, maxEntries: 9 }), {
    kind: 'source',
    timeoutMs: 5,
    netmaskV4: 24,
    netmaskV6: 64,
    maxEntries: 9,
  });
  t.same(withAffinityDefaults({ kind: 'header', name: 'X-Session-Id' }), {
    kind: 'header',
    name: 'x-session-id',
    timeoutMs: 300_000,
    maxEntries: 65_536,
  });
  const cookie = { kind: 'cookie' as const, mode: 'insert' as const, name: 'SRV', httpOnly: true };
  t.same(withAffinityDefaults(cookie), cookie);
  t.not(withAffinityDefaults(cookie), cookie, 'a copy');
});

t.test('good specs have no problems', async (t) => {
  t.same(affinityProblems(withAffinityDefaults({ kind: 'source' })), []);
  t.same(affinityProblems(withAffinityDefaults({ kind: 'source', netmaskV4: 0, netmaskV6: 0 })), []);
  t.same(affinityProblems(withAffinityDefaults({ kind: 'header', name: 'x-session-id' })), []);
  t.same(
    affinityProblems({
      kind: 'cookie',
      mode: 'prefix',
      name: 'sid',
      path: '/a b',
      domain: '.example.com',
      maxAgeSec: 0,
      secure: true,
      sameSite: 'None',
      secret: 'k',
    }),
    [],
  );
});

t.test('bad specs name the field at fault', async (t) => {
  t.same(fields({ kind: 'source', timeoutMs: 0, netmaskV4: 33, netmaskV6: -1, maxEntries: 1.5 }), [
    'affinity.timeout',
    'affinity.max-entries',
    'affinity.netmask',
    'affinity.netmask6',
  ]);
  t.same(fields({ kind: 'source', timeoutMs: 1, netmaskV4: 32, netmaskV6: 129, maxEntries: 1 }), ['affinity.netmask6']);
  t.same(fields({ kind: 'header', name: 'x session', timeoutMs: -5, maxEntries: 0 }), [
    'affinity.timeout',
    'affinity.max-entries',
    'affinity.name',
  ]);
  t.same(fields({ kind: 'cookie', mode: 'bogus' as 'insert', name: 'a;b' }), ['affinity.mode', 'affinity.name']);
  t.same(fields({ kind: 'cookie', mode: 'insert', name: '' }), ['affinity.name']);
  t.same(
    fields({ kind: 'cookie', mode: 'insert', name: 'SRV', path: '/;x', domain: '', maxAgeSec: -1, sameSite: 'Loose' as 'Lax', secret: '' }),
    ['affinity.path', 'affinity.domain', 'affinity.max-age', 'affinity.same-site', 'affinity.secret'],
  );
  t.same(fields({ kind: 'cookie', mode: 'insert', name: 'SRV', domain: 'a\nb', maxAgeSec: 1.5 }), ['affinity.domain', 'affinity.max-age']);
  const none = affinityProblems({ kind: 'cookie', mode: 'insert', name: 'SRV', sameSite: 'None' });
  t.same(
    none.map((p) => p.field),
    ['affinity.same-site'],
  );
  t.match(none[0].message, /Secure|secure/);
});

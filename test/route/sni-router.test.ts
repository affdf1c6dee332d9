// The passthrough rule table: exact names, one-label wildcards, the default.
import t from 'tap';
import type { RuleSpec } from '../../lib/config/model.ts';
import { SniRouter } from '../../lib/route/sni-router.ts';

const rule = (name: string, value: string, group: string): RuleSpec => {
  const wildcard = value.startsWith('*.');
  return { name, matchers: [{ kind: 'sni', value: wildcard ? value.slice(1) : value, wildcard }], group, file: 'x', line: 1 };
};

t.test('exact beats wildcard; a wildcard is one label; the rest go to the default', async (t) => {
  const router = new SniRouter(
    [rule('w', '*.example.com', 'wild'), rule('e', 'a.example.com', 'exact'), rule('w2', '*.example.com', 'later')],
    'fallback',
  );
  t.same(router.route('a.example.com'), { rule: 'e', group: 'exact' }, 'exact, though written after the wildcard');
  t.same(router.route('B.Example.com'), { rule: 'w', group: 'wild' }, 'case-insensitive; the first wildcard');
  t.same(router.route('x.b.example.com'), { rule: 'default', group: 'fallback' }, 'two labels: not the wildcard');
  t.same(router.route('example.com'), { rule: 'default', group: 'fallback' }, 'the bare parent: not the wildcard');
  t.same(router.route(null), { rule: 'default', group: 'fallback' }, 'no SNI: the default');
  t.equal(new SniRouter([rule('e', 'a.example.com', 'exact')], null).route('b.example.com'), null, 'no default: nothing');
});

// How health settings print (lib/health/print.ts): the expect list here;
// formatHealth's round trip through the parser is in test/config/health.test.ts.
import t from 'tap';
import { formatExpect, formatHealth } from '../../lib/health/print.ts';
import { DEFAULT_EXPECT } from '../../lib/health/spec.ts';

t.test("the default expect prints as HAProxy's: 2xx and 3xx", async (t) => {
  t.equal(formatExpect(DEFAULT_EXPECT), '2xx,3xx');
});

t.test('formatExpect: one status as itself, a class as Nxx, in order', async (t) => {
  t.equal(
    formatExpect([
      { lo: 204, hi: 204 },
      { lo: 300, hi: 399 },
      { lo: 200, hi: 200 },
    ]),
    '204,3xx,200',
  );
  t.equal(formatExpect([]), '');
});

t.test('formatHealth: one line per setting given, nothing for the rest', async (t) => {
  t.same(formatHealth({}), []);
  t.same(formatHealth({ slowStartMs: 30_000 }), ['slow-start 30s']);
});

// The health spec helpers (lib/health/spec.ts) on their own: which statuses
// an expect list accepts and which ejection a group runs. How it prints is
// in test/health/print.test.ts.
// formatHealth's round trip through the parser is in test/config/health.test.ts.
import t from 'tap';
import { DEFAULT_CONNECT_EJECT, DEFAULT_EXPECT, ejectionOf, statusAccepted } from '../../lib/health/spec.ts';

t.test('statusAccepted: inclusive ranges, any of several', async (t) => {
  const expect = [
    { lo: 200, hi: 299 },
    { lo: 404, hi: 404 },
  ];
  for (const status of [200, 250, 299, 404]) t.equal(statusAccepted(expect, status), true, `${status}`);
  for (const status of [199, 300, 403, 405, 500]) t.equal(statusAccepted(expect, status), false, `${status}`);
  t.equal(statusAccepted([], 200), false, 'an empty list accepts nothing');
});

t.test("the default expect is HAProxy's: 2xx and 3xx", async (t) => {
  t.same(
    [199, 200, 302, 399, 400, 503].map((s) => statusAccepted(DEFAULT_EXPECT, s)),
    [false, true, true, true, false, false],
  );
});

t.test('ejectionOf: the group’s eject, else connect failures only with the default', async (t) => {
  t.same(ejectionOf(undefined), { spec: DEFAULT_CONNECT_EJECT, connectOnly: true });
  t.same(ejectionOf({ slowStartMs: 1000 }), { spec: DEFAULT_CONNECT_EJECT, connectOnly: true }, 'health without eject');
  const eject = { failures: 3, backoffMs: 500, maxBackoffMs: 4000 };
  const own = ejectionOf({ eject });
  t.equal(own.spec, eject, 'its own spec, not a copy');
  t.equal(own.connectOnly, false, 'every failure counts');
  t.same(DEFAULT_CONNECT_EJECT, { failures: 1, backoffMs: 10_000, maxBackoffMs: 10_000 }, "nginx's max_fails=1 fail_timeout=10s");
});

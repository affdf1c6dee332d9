// The hand-built access line (lib/log/access-log.ts) must be the line pino
// itself writes for log.info({client, method, …}, 'request'), byte for byte:
// compared here with pino's own output on the same logger, with its
// bindings, and for values JSON must escape.
import t from 'tap';
import pino from 'pino';
import { AccessLog } from '../../lib/log/access-log.ts';

const TIME = 1_700_000_000_123;

/** A pino logger writing into `lines`, with a fixed clock so lines compare exactly. */
function capture(bindings?: Record<string, unknown>): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const root = pino({ level: 'info', timestamp: () => `,"time":${TIME}` }, { write: (s: string) => void lines.push(s) });
  return { log: bindings === undefined ? root : root.child(bindings), lines };
}

type Fields = [string, string, string, string, string, string, number, number, number, number];

function both(fields: Fields, bindings?: Record<string, unknown>): { ours: string; pinos: string } {
  const [client, method, path, rule, group, server, status, bytesIn, bytesOut, ms] = fields;
  const { log, lines } = capture(bindings);
  new AccessLog(log).write(TIME, client, method, path, rule, group, server, status, bytesIn, bytesOut, ms);
  log.info({ client, method, path, rule, group, server, status, bytesIn, bytesOut, ms }, 'request');
  return { ours: lines[0], pinos: lines[1] };
}

const PLAIN: Fields = ['192.0.2.1', 'GET', '/index.html', 'static', 'web', '10.0.0.1:80', 200, 120, 5120, 1.25];

t.test("the line is pino's, byte for byte", async (t) => {
  const { ours, pinos } = both(PLAIN);
  t.equal(ours, pinos);
  t.match(ours, /^\{"level":30,"time":1700000000123,"pid":\d+,"hostname":/, 'level, time and the base bindings first');
  t.ok(ours.endsWith(',"msg":"request"}\n'), 'one line, msg last');
  t.same(JSON.parse(ours), JSON.parse(pinos));
});

t.test("a child logger's bindings come along, in pino's place for them", async (t) => {
  const { ours, pinos } = both(PLAIN, { worker: 1, service: 'web' });
  t.equal(ours, pinos);
  t.match(ours, /"worker":1,"service":"web","client":/);
});

t.test('values JSON must escape: quotes, backslashes, control bytes, non-ASCII', async (t) => {
  const hostile: Fields = ['::ffff:10.0.0.1', 'M"X', '/a\\b"c\n\u0001\u2028é🙂', '', 'g\t', '[2001:db8::1]:443', 502, 0, 0, 0];
  const { ours, pinos } = both(hostile);
  t.equal(ours, pinos);
  t.equal(ours.split('\n').length, 2, 'a newline in the path does not break the line');
  t.equal(JSON.parse(ours).path, hostile[2], 'the path comes back as sent');
});

t.test('numbers as pino writes them: zero, fractions, large counts', async (t) => {
  const numbers: Fields = ['c', 'GET', '/', 'r', 'g', 's', 0, 2 ** 40, 0, 0.000123];
  const { ours, pinos } = both(numbers);
  t.equal(ours, pinos);
});

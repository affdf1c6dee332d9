import t from 'tap';
import { parseBenchOptions } from '../../bench/lib/options.ts';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const parsed = parseBenchOptions(argv, env, '/tmp/results');
  if ('help' in parsed) throw new Error('unexpected help');
  return parsed;
};

t.test('tcpvs-base is measured only with --baseline, right after tcpvs', async (t) => {
  t.notOk(parse([]).targets.includes('tcpvs-base'), 'absent from the default targets');
  t.equal(parse([]).baseline, null);
  const withBase = parse(['--baseline', 'HEAD~3']);
  t.equal(withBase.baseline, 'HEAD~3');
  t.same(withBase.targets.slice(0, 4), ['backend', 'pipe', 'tcpvs', 'tcpvs-base']);
  t.same(parse(['--targets', 'nginx,tcpvs', '--baseline', 'main']).targets, ['backend', 'nginx', 'tcpvs', 'tcpvs-base']);
  t.same(parse(['--targets', 'nginx'], { BENCH_BASELINE: 'v1' }).targets, ['backend', 'nginx', 'tcpvs-base'], 'from the environment too');
  t.throws(() => parse(['--targets', 'tcpvs-base']), /tcpvs-base needs --baseline/);
  t.throws(() => parse(['--baseline', 'a b']), /not a git revision/);
});

t.test('the TLS targets are in the default run and can be asked for alone', async (t) => {
  const all = parse([]).targets;
  t.ok(all.includes('tcpvs-tls') && all.includes('nginx-tls'), 'both measured by a plain npm run bench');
  t.same(parse(['--targets', 'tcpvs-tls,nginx-tls']).targets, ['backend', 'tcpvs-tls', 'nginx-tls']);
  t.same(parse([], { BENCH_TARGETS: 'nginx-tls' }).targets, ['backend', 'nginx-tls'], 'from the environment too');
  t.throws(() => parse(['--targets', 'haproxy-tls']), /unknown target "haproxy-tls"/);
});

import t from 'tap';
import { opensslArgs } from '../../bench/lib/bench-certificate.ts';
import { BENCH_TLS12_CIPHERS, nginxConfig, tcpvsConfig } from '../../bench/lib/proxy-configs.ts';
import type { ProxyConfigInput } from '../../bench/lib/proxy-configs.ts';
import { emptyTargetResult, summarizeSize } from '../../bench/lib/report.ts';
import type { SizeResult } from '../../bench/lib/report.ts';
import type { LoadSample } from '../../bench/lib/load.ts';
import type { TargetName } from '../../bench/lib/targets.ts';

const certificate = { certFile: '/run/bench/cert.pem', keyFile: '/run/bench/key.pem' };
const plain: ProxyConfigInput = { listenPort: 8443, backendPort: 9000, workDir: '/run/bench/nginx-tls' };
const withTls: ProxyConfigInput = { ...plain, tls: certificate };

t.test('nginx-tls: the nginx config with TLS on its listener, the upstream as for plain nginx', async (t) => {
  const text = nginxConfig(withTls);
  t.match(text, /\n {4}listen 127\.0\.0\.1:8443 ssl;\n/);
  t.match(text, `ssl_certificate ${certificate.certFile};`);
  t.match(text, `ssl_certificate_key ${certificate.keyFile};`);
  t.match(text, 'ssl_protocols TLSv1.2 TLSv1.3;');
  t.match(text, `ssl_ciphers ${BENCH_TLS12_CIPHERS};`);
  t.match(text, 'worker_processes 1;');
  for (const line of ['keepalive 64;', 'proxy_pass http://backend;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";']) {
    t.match(text, line, `upstream kept alive: ${line}`);
  }
  const withoutTlsLines = text
    .split('\n')
    .filter((line) => !/^\s+ssl_/.test(line))
    .join('\n')
    .replace(' ssl;', ';');
  t.equal(withoutTlsLines, nginxConfig(plain), 'nothing else differs from plain nginx');
  t.notMatch(nginxConfig(plain), 'ssl', 'plain nginx has no TLS');
});

t.test('tcpvs-tls: the same certificate and TLS 1.2 ciphers as nginx-tls', async (t) => {
  const lines = tcpvsConfig(withTls).split('\n');
  t.ok(lines.includes('  listen 127.0.0.1:8443 tls'));
  t.ok(lines.includes(`  certificate ${certificate.certFile} key ${certificate.keyFile}`));
  t.ok(lines.includes(`  ciphers ${BENCH_TLS12_CIPHERS}`));
  t.notMatch(BENCH_TLS12_CIPHERS, /\s/, 'one token in either config');
  t.notMatch(tcpvsConfig(plain), /tls|certificate|ciphers/, 'plain tcpvs has no TLS');
});

t.test('the certificate is ECDSA P-256 for localhost and 127.0.0.1', async (t) => {
  const args = opensslArgs(certificate).join(' ');
  t.match(args, '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes');
  t.match(args, `-keyout ${certificate.keyFile} -out ${certificate.certFile}`);
  t.match(args, 'subjectAltName=DNS:localhost,IP:127.0.0.1');
});

t.test('a TLS target is compared with nginx-tls, a plain one with nginx', async (t) => {
  const sample = (rps: number): LoadSample => ({
    rps,
    p50Ms: 1,
    p99Ms: 2,
    requests: rps,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    bytesPerSecond: 0,
    durationSeconds: 1,
  });
  const measured = (name: TargetName, rps: number) => ({ ...emptyTargetResult(name, 'measured', '', ''), rounds: [sample(rps)] });
  const size: SizeResult = {
    label: '100b',
    bytes: 100,
    targets: [
      measured('backend', 400),
      measured('tcpvs', 150),
      measured('nginx', 200),
      measured('tcpvs-tls', 90),
      measured('nginx-tls', 100),
    ],
  };
  summarizeSize(size);
  const ratios = Object.fromEntries(size.targets.map((x) => [x.name, [x.ratioToBackend, x.ratioToNginx]]));
  t.same(ratios, { backend: [1, 2], tcpvs: [0.375, 0.75], nginx: [0.5, 1], 'tcpvs-tls': [0.225, 0.9], 'nginx-tls': [0.25, 1] });
});

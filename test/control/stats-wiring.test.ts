// The stats page and /metrics of a running tcpvs count every request, also
// with several workers (the primary adds up every worker's collector).
import t from 'tap';
import http from 'node:http';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';

function fetchText(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

for (const workers of [1, 2]) {
  t.test(`--workers ${workers}: /metrics counts every request, behind a token`, async (t) => {
    const backend = await startIdentityBackend('b');
    t.teardown(() => backend.close());
    const tcpvs = await spawnTcpvs(
      [
        'log level silent',
        'admin http 127.0.0.1:0 token s3cret',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g',
        `    server 127.0.0.1:${backend.port}`,
        '    check tcp interval 200ms',
        '  default g',
        '',
      ].join('\n'),
      20_000,
      1,
      workers,
    );
    t.teardown(() => tcpvs.stop());
    const adminPort = Number(/stats page http:\/\/127\.0\.0\.1:(\d+)\//.exec(tcpvs.stderr())?.[1]);
    t.ok(adminPort > 0, 'the stats page address is printed');
    for (let i = 0; i < 25; i++) t.equal((await fetchText(tcpvs.port, `/r${i}`)).status, 200);
    t.equal((await fetchText(adminPort, '/metrics')).status, 401, 'no token, no metrics');
    const metrics = await fetchText(adminPort, '/metrics', 's3cret');
    t.equal(metrics.status, 200);
    let total = 0;
    for (const line of metrics.body.split('\n')) {
      const m = /^tcpvs_requests_total\{([^}]*)\} (\d+)$/.exec(line);
      if (m?.[1].includes('server="127.0.0.1:')) total += Number(m[2]);
    }
    t.equal(total, 25, "the servers' request counters add up to what was sent");
    const page = await fetchText(adminPort, '/?token=s3cret');
    t.equal(page.status, 200);
    t.match(page.body, /<html/i);
    t.match(page.body, `127.0.0.1:${backend.port}`);
    // Each server's last check, time since its last change and peak, from every worker's requests.
    type StatsJson = {
      services: Array<{
        groups: Array<{ servers: Array<{ peakRequests: number; changedAt: number; lastCheck: { ok: boolean } | null }> }>;
      }>;
    };
    const readStats = async () => JSON.parse((await fetchText(adminPort, '/stats.json', 's3cret')).body) as StatsJson;
    let json = await readStats();
    await pollUntil(async () => {
      json = await readStats();
      return json.services[0].groups[0].servers[0].lastCheck !== null;
    }, 10_000);
    const server = json.services[0].groups[0].servers[0];
    t.match(server.lastCheck, { ok: true }, 'the last check passed');
    t.ok(server.peakRequests >= 1, `a peak of requests in flight (${server.peakRequests})`);
    t.ok(server.changedAt <= Date.now() && server.changedAt > Date.now() - 60_000, 'up since it joined');
    t.match(page.body, /data-stat="max"/);
  });
}

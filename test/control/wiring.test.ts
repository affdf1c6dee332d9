// The CLI runs health checks in its control plane, with one worker and with
// two: a server whose check fails stops getting requests in every worker.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/wait.ts';

function who(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body.split(' ')[0]}`));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

for (const workers of [1, 2]) {
  t.test(`tcpvs start --workers ${workers}: a failing health check takes a server out`, async (t) => {
    const good = await startIdentityBackend('good');
    // "sick" accepts TCP but its HTTP check fails: it answers 503 on /health.
    const sick = http.createServer((req, res) => {
      res.statusCode = req.url === '/health' ? 503 : 200;
      res.end('sick ' + req.url);
    });
    await new Promise<void>((r) => sick.listen(0, '127.0.0.1', r));
    t.teardown(async () => {
      await good.close();
      await new Promise<void>((r) => sick.close(() => r()));
    });
    const sickPort = (sick.address() as net.AddressInfo).port;
    const tcpvs = await spawnTcpvs(
      [
        'log level silent',
        'service web',
        '  listen 127.0.0.1:0',
        '  group g scheduler rr',
        `    server 127.0.0.1:${good.port}`,
        `    server 127.0.0.1:${sickPort}`,
        '    check http GET /health expect 200 interval 100ms timeout 2s rise 2 fall 2',
        '  default g',
        '',
      ].join('\n'),
      20_000,
      1,
      workers,
    );
    t.teardown(() => tcpvs.stop());
    // fall 2 at 100 ms: poll until the sick server is out (generous deadline), then look.
    const outOfRotation = async () => {
      for (let i = 0; i < 4; i++) if ((await who(tcpvs.port, `/probe${i}`)) !== '200 good') return false;
      return true;
    };
    await pollUntil(outOfRotation, 15_000, 50);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await who(tcpvs.port, `/x${i}`));
    t.same([...seen], ['200 good'], 'only the healthy server gets requests');
  });
}

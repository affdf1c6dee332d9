// State sync between two directors' user-space cores: a template one makes
// reaches the other; the wire refuses a wrong secret and a forged line.
import t from 'tap';
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { createUserspaceCore, type UserspaceCore } from '../../lib/l4/userspace/core.ts';
import { TemplateSync } from '../../lib/control/l4-sync.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { startIdentityBackend } from '../helpers/backends.ts';
import { sleep } from '../helpers/tcpvs.ts';
import pino from 'pino';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function pollUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

const SECRET = 'a-shared-secret-of-some-length';

/** Connects to a sync listener, proves `secret`, sends `json` lines numbered from `firstSeq`; resolves when the listener closes or after the lines were sent and read. */
function speak(port: number, secret: string, jsons: string[], firstSeq = 1): Promise<string> {
  const sign = (text: string): string => createHmac('sha256', secret).update(text, 'latin1').digest('hex');
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let sent = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      const m = /^tcpvs-sync 1 ([0-9a-f]{32})\n/.exec(text);
      if (m === null || sent) return;
      sent = true;
      let out = `${sign(`auth:${m[1]}`)}\n`;
      jsons.forEach((json, i) => (out += `${json}\t${sign(`${m[1]}:${firstSeq + i}:${json}`)}\n`));
      s.write(out);
      // The listener never answers a good line: give it a moment's round trip, then hang up.
      setTimeout(() => s.end(), 200);
    });
    s.on('close', () => resolve(text));
    s.on('error', () => {});
  });
}

t.test('templates from the peer are adopted and used; a wrong secret and a forged line are refused', async (t) => {
  const backends = await Promise.all([startIdentityBackend('x'), startIdentityBackend('y')]);
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const [vip, syncPort, nobody] = await Promise.all([freePort(), freePort(), freePort()]);
  const core: UserspaceCore = createUserspaceCore();
  t.teardown(() => core.close());
  // rr would send a new client to y first: only an adopted template sends it to x.
  const reals = [backends[1], backends[0]].map((b) => ({ address: '127.0.0.1', port: b.port, weight: 1, method: 'masq' as const, upperThreshold: 0, lowerThreshold: 0 }));
  await core.apply([{ key: { protocol: 'tcp', address: '127.0.0.1', port: vip, fwmark: 0, family: 4 }, scheduler: 'rr', persistence: { timeoutSec: 300, netmask: '255.255.255.255' }, realServers: reals }]);
  const sync = new TemplateSync(core, { listen: { host: '127.0.0.1', port: syncPort }, peer: { host: '127.0.0.1', port: nobody }, secret: SECRET }, log);
  await sync.start();
  t.teardown(() => sync.close());

  const template = { service: `TCP:127.0.0.1:${vip}`, client: '127.0.0.5', address: '127.0.0.1', port: backends[0].port, timeoutMs: 300_000, expiresInMs: 200_000 };
  const unknownVip = { ...template, service: 'TCP:127.0.0.1:1', client: '127.0.0.6' };
  await speak(syncPort, SECRET, [JSON.stringify({ templates: [template, unknownVip] })]);
  t.ok(await pollUntil(() => sync.adopted === 1, 5000), 'one template adopted; the one for a vip this core lacks is skipped');
  t.ok(core.templateSnapshot().some((x) => x.client === '127.0.0.5' && x.port === backends[0].port), 'the core has it');
  await new Promise<void>((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port: vip, localAddress: '127.0.0.5' }, () => c.end('GET /pinned HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    c.on('error', reject);
    c.on('close', () => resolve());
    c.resume();
  });
  t.equal(backends[0].requests.length, 1, 'the client goes where the template says');
  t.equal(backends[1].requests.length, 0);

  const forged = { ...template, client: '127.0.0.66' };
  await speak(syncPort, 'not-the-shared-secret-at-all', [JSON.stringify({ templates: [forged] })]);
  await speak(syncPort, SECRET, [JSON.stringify({ templates: [forged] })], 2); // sequence 2 where 1 is due
  await speak(syncPort, SECRET, ['{"templates":[{"service":1}]}']);
  t.ok(await pollUntil(() => lines.filter((l) => l.msg === 'l4 sync: refused').length >= 3, 5000), 'three refusals');
  t.equal(sync.adopted, 1, 'nothing more was adopted');
  t.notOk(core.templateSnapshot().some((x) => x.client === '127.0.0.66'), 'the forged template is not there');
  const reasons = lines.filter((l) => l.msg === 'l4 sync: refused').map((l) => String(l.reason));
  t.ok(reasons.includes('wrong shared secret'));
  t.ok(reasons.includes('line 1: bad signature'));
  t.ok(reasons.includes('line 1: template 0 is malformed'));
});

t.test('config: sync statements', async (t) => {
  const problems = (lines: string[]): string[] => {
    try {
      parseConfigText(lines.join('\n'), 's.tcpvs');
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.field}`);
      throw err;
    }
  };
  const base = ['service web', '  listen 127.0.0.1:8080', '  group g', '    server 127.0.0.1:9001', '  default g', 'vip v tcp 10.0.0.1:80', '  real self web'];
  const sync = ['sync listen 10.0.0.11:8402', 'sync peer 10.0.0.12:8402', 'sync secret 0123456789abcdef'];
  t.same(problems([...base, ...sync]), []);
  t.same(problems([...base, sync[0], sync[1]]), ['8:sync.secret']);
  t.same(problems([...base, ...sync, 'sync peer 10.0.0.13:8402']), ['11:sync.peer']);
  t.same(problems([...base, sync[0], sync[1], 'sync secret short']), ['10:sync.secret']);
  t.same(problems([...base, 'sync listen example.com:8402', sync[1], sync[2]]), ['8:sync.listen']);
  t.same(problems(['l4 driver ipvs', ...base, ...sync]), ['9:sync']);
});

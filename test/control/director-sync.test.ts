// State sync between two directors' user-space cores: a template one makes
// reaches the other; the wire refuses a wrong secret and a forged line.
import t from 'tap';
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { createUserspaceCore, type UserspaceCore } from '../../lib/l4/userspace/core.ts';
import { DirectorSync } from '../../lib/control/director-sync.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';
import { startIdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil } from '../helpers/process.ts';
import { deadPort } from '../helpers/refuse-helpers.ts';
import pino from 'pino';

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
      jsons.forEach((json, i) => {
        out += `${json}\t${sign(`${m[1]}:${firstSeq + i}:${json}`)}\n`;
      });
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
  const [vip, syncPort, nobody] = await Promise.all([deadPort(), deadPort(), deadPort()]);
  const core: UserspaceCore = createUserspaceCore();
  t.teardown(() => core.close());
  // rr would send a new client to y first: only an adopted template sends it to x.
  const reals = [backends[1], backends[0]].map((b) => ({
    address: '127.0.0.1',
    port: b.port,
    weight: 1,
    method: 'masq' as const,
    upperThreshold: 0,
    lowerThreshold: 0,
  }));
  await core.apply([
    {
      key: { protocol: 'tcp', address: '127.0.0.1', port: vip, fwmark: 0, family: 4 },
      scheduler: 'rr',
      persistence: { timeoutSec: 300, netmask: '255.255.255.255' },
      realServers: reals,
    },
  ]);
  const sync = new DirectorSync(
    core,
    null,
    { listen: { host: '127.0.0.1', port: syncPort }, peer: { host: '127.0.0.1', port: nobody }, secret: SECRET },
    log,
  );
  await sync.start();
  t.teardown(() => sync.close());

  const template = {
    service: `TCP:127.0.0.1:${vip}`,
    client: '127.0.0.5',
    address: '127.0.0.1',
    port: backends[0].port,
    timeoutMs: 300_000,
    expiresInMs: 200_000,
  };
  const unknownVip = { ...template, service: 'TCP:127.0.0.1:1', client: '127.0.0.6' };
  await speak(syncPort, SECRET, [JSON.stringify({ templates: [template, unknownVip] })]);
  t.ok(await pollUntil(() => sync.adopted === 1, 5000), 'one template adopted; the one for a vip this core lacks is skipped');
  t.ok(
    core.templateSnapshot().some((x) => x.client === '127.0.0.5' && x.port === backends[0].port),
    'the core has it',
  );
  await new Promise<void>((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port: vip, localAddress: '127.0.0.5' }, () =>
      c.end('GET /pinned HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    );
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
  await speak(syncPort, SECRET, ['{"tables":[{"table":"web/g/affinity","shape":"source","servers":[],"entries":["1"]}]}']);
  t.ok(await pollUntil(() => lines.filter((l) => l.msg === 'sync: refused').length >= 4, 5000), 'four refusals');
  t.equal(sync.adopted, 1, 'nothing more was adopted');
  t.notOk(
    core.templateSnapshot().some((x) => x.client === '127.0.0.66'),
    'the forged template is not there',
  );
  const reasons = lines.filter((l) => l.msg === 'sync: refused').map((l) => String(l.reason));
  t.ok(reasons.includes('wrong shared secret'));
  t.ok(reasons.includes('line 1: bad signature'));
  t.ok(reasons.includes('line 1: template 0 is malformed'));
  t.ok(reasons.includes('line 1: table batch 0 is malformed'));
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
  const base = [
    'service web',
    '  listen 127.0.0.1:8080',
    '  group g',
    '    server 127.0.0.1:9001',
    '  default g',
    'vip v tcp 10.0.0.1:80',
    '  real self web',
  ];
  const sync = ['sync listen 10.0.0.11:8402', 'sync peer 10.0.0.12:8402', 'sync secret 0123456789abcdef'];
  t.same(problems([...base, ...sync]), []);
  t.same(problems([...base, sync[0], sync[1]]), ['8:sync.secret']);
  t.same(problems([...base, ...sync, 'sync peer 10.0.0.13:8402']), ['11:sync.peer']);
  t.same(problems([...base, sync[0], sync[1], 'sync secret short']), ['10:sync.secret']);
  t.same(problems([...base, 'sync listen example.com:8402', sync[1], sync[2]]), ['8:sync.listen']);
  // With the ipvs driver the kernel's sync daemon syncs L4 state; tcpvs's sync still carries the groups' tables.
  t.same(problems(['l4 driver ipvs', ...base, ...sync]), []);
});

// The L7 side: two tcpvs directors (two worker threads each) sync their
// groups' tables. Every group lists its servers the other way round on the
// second director, so that its scheduler alone would send a new key to
// another server: only the first director's entries make the second agree.
t.test('source and header pins and lblc/lblcr entries learned on one director are used on the other', { timeout: 60_000 }, async (t) => {
  const backends = await Promise.all([startIdentityBackend('x'), startIdentityBackend('y')]);
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const [syncA, syncB, httpA, httpB] = await Promise.all([deadPort(), deadPort(), deadPort(), deadPort()]);
  const config = (syncListen: number, syncPeer: number, http: number, order: number[]): string => {
    const servers = order.map((i) => `    server 127.0.0.1:${backends[i].port}`);
    return [
      'log level warn',
      `admin http 127.0.0.1:${http}`,
      'service web',
      '  listen 127.0.0.1:0',
      '  group src scheduler rr',
      ...servers,
      '    persist source timeout 5m',
      '  group hdr scheduler rr',
      ...servers,
      '    persist header X-User timeout 5m',
      '  group loc scheduler lblc',
      ...servers,
      '  group rep scheduler lblcr',
      ...servers,
      '  route src prefix /src/ to src',
      '  route rep prefix /rep/ to rep',
      '  route hdr prefix /hdr/ to hdr',
      '  default loc',
      `sync listen 127.0.0.1:${syncListen}`,
      `sync peer 127.0.0.1:${syncPeer}`,
      `sync secret ${SECRET}`,
      '',
    ].join('\n');
  };
  const a = await spawnTcpvs(config(syncA, syncB, httpA, [0, 1]), 15_000, 1, 2);
  t.teardown(() => a.stop());
  const b = await spawnTcpvs(config(syncB, syncA, httpB, [1, 0]), 15_000, 1, 2);
  t.teardown(() => b.stop());

  const metric = async (port: number, name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const adopted = (port: number): Promise<number> => metric(port, 'tcpvs_sync_entries_total{kind="table",direction="adopted"}');
  const sent = (port: number): Promise<number> => metric(port, 'tcpvs_sync_entries_total{kind="table",direction="sent"}');

  t.ok(
    await pollUntil(
      async () => (await metric(httpA, 'tcpvs_sync_peer_connected')) === 1 && (await metric(httpB, 'tcpvs_sync_peer_connected')) === 1,
      15_000,
    ),
    'each director connects to the other',
  );

  // Which backend answered: the identity backend's name is in its answer.
  const ask = (port: number, client: string, path: string, user?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port, localAddress: client }, () =>
        c.end(`GET ${path} HTTP/1.1\r\nHost: x\r\n${user === undefined ? '' : `X-User: ${user}\r\n`}Connection: close\r\n\r\n`),
      );
      let text = '';
      c.setEncoding('latin1');
      c.on('data', (d: string) => (text += d));
      c.on('error', reject);
      c.on('close', () => {
        const m = /x-backend: (\w+)/i.exec(text);
        if (m === null) reject(new Error(`no X-Backend in ${JSON.stringify(text.slice(0, 300))}`));
        else resolve(m[1]);
      });
    });
  const KEYS = 10;
  const clients = Array.from({ length: KEYS }, (_, i) => `127.0.0.${30 + i}`);
  const learned: Array<{ client: string; path: string; user?: string; server: string }> = [];
  for (let i = 0; i < KEYS; i++) {
    for (const [path, user] of [[`/src/${i}`], ['/hdr/', `user${i}`], [`/page/${i}`], [`/rep/${i}`]] as Array<[string, string?]>) {
      const client = path.startsWith('/hdr/') ? '127.0.0.2' : clients[i];
      learned.push({ client, path, user, server: await ask(a.port, client, path, user) });
    }
  }
  t.ok(await pollUntil(async () => (await adopted(httpB)) >= 4 * KEYS, 15_000), 'the second director adopts the first one’s entries');
  t.equal(await adopted(httpB), 4 * KEYS, 'one per key: source pins, header pins, lblc and lblcr entries');
  t.equal(await sent(httpA), 4 * KEYS, 'the first director sent each once');
  t.equal(await sent(httpB), 0, 'and the second sent nothing back: adopted entries do not echo');

  const answers = [];
  for (const l of learned) answers.push({ ...l, there: await ask(b.port, l.client, l.path, l.user) });
  t.same(
    answers.filter((x) => x.there !== x.server).map((x) => `${x.path} ${x.user ?? x.client}: ${x.server} then ${x.there}`),
    [],
    'every key reaches the same server through the second director',
  );
  // The second director's own uses now go back, and are newer than the first's.
  t.ok(await pollUntil(async () => (await adopted(httpA)) >= 4 * KEYS, 15_000), 'the first director adopts the uses on the second');
  t.equal(await sent(httpB), 4 * KEYS, 'each used key went back once');
});

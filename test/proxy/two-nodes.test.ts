// Several tcpvs nodes in front of one cache cluster must agree, without
// sharing state, on which server each key goes to: two real tcpvs processes
// with the same config, one service per stateless hash, the same requests.
import t from 'tap';
import http from 'node:http';
import { startIdentityBackend, type IdentityBackend } from '../helpers/backends.ts';
import { spawnTcpvs } from '../helpers/tcpvs.ts';

const SCHEDULERS = ['dh', 'sh', 'mh', 'chbl', 'hhttp'];

function config(backends: IdentityBackend[]): string {
  const lines = ['log level silent'];
  for (const sched of SCHEDULERS) {
    lines.push(`service ${sched}`, '  listen 127.0.0.1:0', `  group caches scheduler ${sched}`);
    // Servers listed in a different order per service: the mapping follows names.
    const order = sched.length % 2 === 0 ? backends : [...backends].reverse();
    for (const b of order) lines.push(`    server 127.0.0.1:${b.port}`);
    if (sched === 'hhttp') lines.push('  route objects url-regex "^/obj/([0-9]+)" to caches');
    else lines.push('  default caches');
  }
  return lines.join('\n') + '\n';
}

/** GET one path, sequentially (so chbl sees equal, zero load); returns the backend's name. */
function who(port: number, path: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body.split(' ')[0]));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

t.test('two tcpvs processes map every key to the same server under dh, sh, mh, chbl and hhttp', async (t) => {
  const backends: IdentityBackend[] = [];
  for (let i = 0; i < 5; i++) backends.push(await startIdentityBackend(`cache${i}`));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const text = config(backends);
  const nodeA = await spawnTcpvs(text, 15_000, SCHEDULERS.length);
  t.teardown(() => nodeA.stop());
  const nodeB = await spawnTcpvs(text, 15_000, SCHEDULERS.length);
  t.teardown(() => nodeB.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  for (const [i, sched] of SCHEDULERS.entries()) {
    const used = new Set<string>();
    let disagreements = 0;
    for (let k = 0; k < 150; k++) {
      const path = `/obj/${k * 7919}`;
      const [a, b] = [await who(nodeA.ports[i], path, agent), await who(nodeB.ports[i], path, agent)];
      if (a !== b) disagreements++;
      used.add(a);
    }
    t.equal(disagreements, 0, `${sched}: both nodes send every key to the same server`);
    if (sched === 'sh') t.equal(used.size, 1, 'sh: one client address, one server');
    else t.ok(used.size >= 4, `${sched}: keys spread over the cluster (${used.size} of 5 servers)`);
  }
});

// Issue 14: smuggling vectors are refused over TLS exactly as over plain HTTP.
// One tcpvs, in this process, with a plain and a `listen ... tls` service for
// each profile of the request corpus (default; `limit uri 1k` + `limit
// headers 4k`; `normalize-path forward`), all in front of the same three
// recording backends and the routes of test/corpus/requests.ts. Every request
// vector (allRequestVectors: framing, host-path, refuse) goes in one write on
// a fresh connection to both; for each, the client's view (the statuses, and
// whether tcpvs closed or reset the connection) and what each backend
// received are the same over TLS as over plain, but for the one field TLS
// changes by design: X-Forwarded-Proto: https (docs/tls.md).
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch } from '../../lib/control/switch.ts';
import { createTestCa, ensureOpenssl, type TestCa } from '../helpers/certs.ts';
import { answerFramed, parseResponses, startRecordingBackend, type RecordingBackend } from '../helpers/refuse-helpers.ts';
import { allRequestVectors, HOST_PATH_ROUTES, type HostPathBackend as Name, type Profile } from '../corpus/requests.ts';

const openssl = ensureOpenssl();
const skip = 'skip' in openssl ? openssl.skip : false;
if (skip !== false) t.comment(`TLS corpus skipped: ${skip}`);

/** Vectors whose outcome differs over TLS today: id → the difference (marked todo, never skipped). */
const KNOWN_DIFFERENCES: Record<string, string> = {};

const SERVERNAME = 'corpus.test';
const PROFILES: Record<Profile, string[]> = {
  default: [],
  limits: ['limit uri 1k', 'limit headers 4k'],
  forward: ['normalize-path forward'],
};
const NAMES: Name[] = ['web', 'static', 'admin'];

interface Seen {
  /** What the client saw: the statuses in order, and how the connection ended. */
  client: string;
  /** Each backend's bytes of the vector (the sentinels removed). */
  upstream: Record<Name, string>;
}

/**
 * Sends `request` in one write on a fresh connection and reads until tcpvs
 * closes it, or until a complete response leaves it open (a forwarded
 * request without `Connection: close`: the plain host-path test reads one
 * response too), or 3 s pass.
 */
function exchange(port: number, overTls: boolean, request: string): Promise<string> {
  return new Promise((resolve) => {
    const bytes = Buffer.from(request, 'latin1');
    const socket: net.Socket = overTls
      ? tls.connect({ host: '127.0.0.1', port, servername: SERVERNAME, ca: ca.caPem }, () => socket.write(bytes))
      : net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let got = Buffer.alloc(0);
    let error = '';
    let done = false;
    const finish = (end: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const statuses = parseResponses(got).map((r) => `${r.status}${r.complete ? '' : ' (incomplete)'}`);
      resolve(`${statuses.join(', ') || 'no response'}; ${end}${error === '' ? '' : ` (${error})`}`);
    };
    const timer = setTimeout(() => finish('still open after 3 s'), 3000);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      const last = parseResponses(got).at(-1);
      if (last?.complete === true && last.status < 400 && last.headers.connection !== 'close') finish('left open');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => finish('closed'));
  });
}

let ca: TestCa;
const backends = {} as Record<Name, RecordingBackend>;
const ports = {} as Record<Profile, { plain: number; tls: number }>;

if (skip === false) {
  ca = createTestCa((openssl as { path: string }).path);
  t.teardown(() => ca.cleanup());
  const cert = ca.issue('corpus', { cn: SERVERNAME, dns: [SERVERNAME] });
  for (const name of NAMES) backends[name] = await startRecordingBackend(answerFramed);
  const lines = ['log level silent'];
  for (const [profile, extra] of Object.entries(PROFILES)) {
    for (const overTls of [false, true]) {
      lines.push(`service ${profile}-${overTls ? 'tls' : 'plain'}`, `  listen 127.0.0.1:0${overTls ? ' tls' : ''}`);
      if (overTls) lines.push(`  certificate ${cert.certFile} key ${cert.keyFile}`);
      for (const x of extra) lines.push(`  ${x}`);
      for (const name of NAMES) lines.push(`  group ${name}`, `    server 127.0.0.1:${backends[name].port}`);
      for (const r of HOST_PATH_ROUTES) lines.push(`  route ${r}`);
      lines.push('  default web');
    }
  }
  const running = await startSwitch(parseConfigText(lines.join('\n') + '\n', 'tls-corpus.tcpvs'));
  t.teardown(async () => {
    await running.close();
    for (const b of Object.values(backends)) await b.close();
  });
  const services = running.services;
  Object.keys(PROFILES).forEach((profile, i) => {
    ports[profile as Profile] = { plain: services[2 * i].address!.port, tls: services[2 * i + 1].address!.port };
  });
}

const SENTINEL: Record<Name, string> = { web: '/sentinel', static: '/static/sentinel', admin: '/admin/sentinel' };

/**
 * The vector over one transport, then one sentinel per backend on a fresh
 * plain connection, answered: anything the vector made tcpvs send a backend
 * arrived before the sentinel's answer (as in test/proxy/host-path.test.ts).
 */
async function run(port: number, overTls: boolean, request: string): Promise<Seen> {
  for (const b of Object.values(backends)) b.reset();
  const client = await exchange(port, overTls, request);
  const upstream = {} as Record<Name, string>;
  for (const name of NAMES) {
    const answer = await exchange(ports.default.plain, false, `GET ${SENTINEL[name]} HTTP/1.1\r\nHost: test\r\n\r\n`);
    if (answer !== '200; left open') throw new Error(`sentinel to ${name}: ${answer}`);
    const seen = backends[name].received().toString('latin1');
    const at = seen.indexOf(`GET ${SENTINEL[name]} HTTP/1.1\r\n`);
    if (at === -1) throw new Error(`sentinel to ${name} never reached it`);
    upstream[name] = seen.slice(0, at) + seen.slice(seen.indexOf('\r\n\r\n', at) + 4);
  }
  return { client, upstream };
}

const vectors = allRequestVectors();

t.test(`${vectors.length} corpus vectors over TLS and over plain HTTP`, { skip }, async (t) => {
  t.ok(vectors.length >= 100, `${vectors.length} vectors`);
  for (const v of vectors) {
    const known = KNOWN_DIFFERENCES[v.id];
    await t.test(v.id, known === undefined ? {} : { todo: `over TLS today: ${known}` }, async (t) => {
      t.comment(v.rule);
      const { plain: plainPort, tls: tlsPort } = ports[v.profile];
      const plain = await run(plainPort, false, v.request);
      const overTls = await run(tlsPort, true, v.request);
      t.equal(overTls.client, plain.client, `${v.id}: the client sees the same over TLS as over plain (${plain.client})`);
      for (const name of NAMES) {
        // The one difference TLS makes upstream, by design: X-Forwarded-Proto says https.
        const expected = plain.upstream[name].replaceAll('\r\nX-Forwarded-Proto: http\r\n', '\r\nX-Forwarded-Proto: https\r\n');
        t.equal(overTls.upstream[name], expected, `${v.id}: ${name} receives the same bytes over TLS as over plain`);
      }
      // The plain outcome is the corpus's (its own tests check it in detail): two equal wrong answers do not pass.
      const status = Number(plain.client.slice(0, 3));
      t.ok(v.tcpvs.statuses.includes(status), `${v.id}: status ${v.tcpvs.statuses.join(' or ')} (plain: ${plain.client})`);
      const reached = NAMES.filter((n) => plain.upstream[n] !== '');
      t.equal(reached.length > 0, v.tcpvs.forwarded, `${v.id}: ${v.tcpvs.forwarded ? 'forwarded' : 'nothing reaches a backend'}`);
    });
  }
});

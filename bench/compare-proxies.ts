// `npm run bench:compare` (node bench/compare-proxies.ts): the request and
// malicious-server corpus of the tests (test/corpus/) sent through tcpvs,
// Debian's nginx and Debian's HAProxy, each in front of one raw recording
// backend. For every request vector: the status each proxy answers (or
// closed / timeout) and whether any byte of it reached the backend. For every
// malicious-server case: what the client got. Prints a table, writes JSON to
// bench/results-local/compare-proxies.json; docs/http-strictness.md is written
// from a run of it.
//
// Each vector goes on a fresh client connection; a sentinel request on
// another fresh connection follows it, after the backend has dropped its
// connections, so every byte the vector caused has arrived and the proxy is
// seen to still work. Every wait is bounded (2 s per exchange), the whole run
// has a deadline, and every process started here is stopped by its PID.
//
// Options: --no-install (do not apt-get install nginx/haproxy), --targets
// tcpvs,nginx,haproxy, --filter TEXT (only cases whose id contains it),
// --json FILE, --deadline S.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CorpusRequest, Profile } from '../test/corpus/requests.ts';
import type { CorpusResponse } from '../test/corpus/responses.ts';
import {
  PROFILES,
  PROXIES,
  agreement,
  bytesOf,
  configFor,
  forwardingDiffers,
  formatTable,
  loadCompareCorpus,
  readChunked,
  readResponses,
  requestKey,
  responseKey,
  tcpvsAsExpected,
  tcpvsResponseAsExpected,
  type Agreement,
  type ProxyName,
  type RequestOutcome,
  type ResponseOutcome,
} from './lib/compare-corpus.ts';
import { freePort, sleep, startChild, stopChild, waitUntilAnswering, type ManagedChild } from './lib/processes.ts';
import { guardRun } from './lib/run-guard.ts';
import { ensureSystemProxy, haproxyVersion, nginxVersion, runCommand } from './lib/system-proxies.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const EXCHANGE_TIMEOUT_MS = 2000;
const SETTLE_MS = 150; // after a complete response, to see whether anything else comes
const SERVER_CLOSE_MS = 1000; // a malicious server closes this long after its bad response
const SENTINEL_PATH = '/__compare_sentinel';
const READY_PATH = '/__compare_ready';
const OK_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const NEXT_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnext ok';
const say = (line: string): void => {
  process.stdout.write(line + '\n');
};

const guard = guardRun('compare-proxies', () => {});

// ---- the recording backend -----------------------------------------------------

type BackendMode = { kind: 'answer' } | { kind: 'respond'; c: CorpusResponse };

interface BackendConn {
  id: number;
  socket: net.Socket;
  buf: Buffer;
  /** The bytes cannot be framed as a request: nothing more is answered on it. */
  stuck: boolean;
}

/**
 * Records every byte per connection. In `answer` mode each complete request
 * (Content-Length or chunked body) gets a fixed 200 "ok"; in `respond` mode
 * each gets the case's raw response (and its extra bytes), except `/next`
 * and the harness's own requests.
 */
class RecordingBackend {
  mode: BackendMode = { kind: 'answer' };
  /** Since the last reset: [connection id, bytes] in arrival order. */
  log: Array<[number, Buffer]> = [];
  /** Requests read since the last reset, the harness's own not counted. */
  requests = 0;
  /** respond mode: when the backend closed its side after a bad response, or null. */
  endedAt: number | null = null;
  private nextId = 1;
  private readonly conns = new Set<BackendConn>();
  private server = net.createServer((socket) => this.accept(socket));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port: 0 }, resolve);
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  reset(): void {
    this.log = [];
    this.requests = 0;
    this.endedAt = null;
  }

  /** Closes every connection (the proxies see it and drop them from their pools). */
  dropAll(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }

  /** What the backend received since the reset, without the sentinel's head. */
  received(): string {
    const perConn = new Map<number, string>();
    for (const [id, bytes] of this.log) perConn.set(id, (perConn.get(id) ?? '') + bytes.toString('latin1'));
    let out = '';
    for (const text of perConn.values()) {
      const at = text.indexOf(`GET ${SENTINEL_PATH} `);
      const headEnd = at === -1 ? -1 : text.indexOf('\r\n\r\n', at);
      out += at === -1 ? text : text.slice(0, at) + (headEnd === -1 ? '' : text.slice(headEnd + 4));
    }
    return out;
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const conn: BackendConn = { id: this.nextId++, socket, buf: Buffer.alloc(0), stuck: false };
    this.conns.add(conn);
    socket.on('error', () => {});
    socket.on('close', () => this.conns.delete(conn));
    socket.on('data', (chunk: Buffer) => {
      this.log.push([conn.id, chunk]);
      conn.buf = Buffer.concat([conn.buf, chunk]);
      this.serve(conn);
    });
  }

  private serve(conn: BackendConn): void {
    for (let guardN = 0; guardN < 100 && !conn.stuck && !conn.socket.destroyed; guardN++) {
      const headEnd = conn.buf.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const lines = conn.buf.subarray(0, headEnd).toString('latin1').split('\r\n');
      const target = lines[0].split(' ')[1] ?? '';
      const fields = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
      const te = fields
        .filter(([n]) => n === 'transfer-encoding')
        .map(([, v]) => v)
        .join(', ');
      const cl = fields.find(([n]) => n === 'content-length')?.[1];
      let end = headEnd + 4;
      if (te !== '') {
        // Lenient, like most servers: chunked if it is the last coding named.
        const codings = te
          .split(',')
          .map((c) => c.trim().toLowerCase())
          .filter((c) => c !== '');
        if (codings.at(-1) !== 'chunked') return void (conn.stuck = true);
        const body = readChunked(conn.buf, end);
        if (body === null) {
          // Incomplete, or unreadable: the proxy's bytes will tell.
          if (/^[0-9a-fA-F]/.test(conn.buf.subarray(end, end + 1).toString('latin1')) || conn.buf.length === end) return;
          return void (conn.stuck = true);
        }
        end = body.end;
      } else if (cl !== undefined) {
        if (!/^\d+$/.test(cl)) return void (conn.stuck = true);
        if (conn.buf.length < end + Number(cl)) return;
        end += Number(cl);
      }
      conn.buf = conn.buf.subarray(end);
      this.answer(conn.socket, target);
    }
  }

  private answer(socket: net.Socket, target: string): void {
    if (target === SENTINEL_PATH || target === READY_PATH) return void socket.write(OK_RESPONSE);
    this.requests++;
    const mode = this.mode;
    if (mode.kind === 'answer') return void socket.write(OK_RESPONSE);
    if (target === '/next') return void socket.write(NEXT_RESPONSE);
    socket.write(bytesOf(mode.c.response + (mode.c.extra ?? '')));
    // A bad response is followed, a second later, by the server closing its
    // side: what a proxy that reads "until close" passes on shows too. The
    // bytes-after-complete cases keep the connection open: whether it is
    // reused is the point of them.
    if (mode.c.kind !== 'after-complete') {
      const timer = setTimeout(() => {
        if (socket.destroyed) return;
        this.endedAt = Date.now();
        socket.end();
      }, SERVER_CLOSE_MS);
      socket.once('close', () => clearTimeout(timer));
    }
  }
}

// ---- the client ----------------------------------------------------------------------

interface Exchange {
  bytes: Buffer;
  /** When the first byte of this exchange arrived (ms since the epoch), or null. */
  firstByteAt: number | null;
  closed: boolean;
  error: string | null;
  ms: number;
}

/**
 * Sends `bytes` on `socket` (or a new connection) and reads until the
 * connection closes, `responses` complete responses have arrived (plus a
 * short settle), or the timeout.
 */
function exchange(socket: net.Socket, bytes: Buffer, alreadyRead: Buffer, responses: number, headFirst: boolean): Promise<Exchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    let buf = alreadyRead;
    let firstByteAt: number | null = null;
    let closed = socket.destroyed;
    let error: string | null = null;
    let settle: NodeJS.Timeout | null = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (settle !== null) clearTimeout(settle);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      resolve({ bytes: buf, firstByteAt, closed, error, ms: Date.now() - started });
    };
    const onData = (chunk: Buffer) => {
      firstByteAt ??= Date.now();
      buf = Buffer.concat([buf, chunk]);
      const rs = readResponses(buf, false, headFirst);
      if (settle === null && rs.filter((r) => r.complete).length >= responses) settle = setTimeout(finish, SETTLE_MS);
    };
    const onClose = () => {
      closed = true;
      finish();
    };
    const onError = (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    };
    const timer = setTimeout(finish, EXCHANGE_TIMEOUT_MS);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (closed) return finish();
    socket.write(bytes, () => {});
  });
}

function connect(port: number): Promise<net.Socket | string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('connect timeout');
    }, EXCHANGE_TIMEOUT_MS);
    // Errors after the connect are the exchange's to record; none may go unhandled.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

function statusOf(x: Exchange, headFirst = false): RequestOutcome['status'] {
  const first = readResponses(x.bytes, x.closed, headFirst)[0];
  if (first !== undefined) return first.status;
  if (x.bytes.length > 0) return 'no status line';
  if (x.error !== null) return x.error === 'ECONNRESET' ? 'reset' : 'error';
  return x.closed ? 'closed' : 'timeout';
}

async function sentinelOk(port: number): Promise<boolean> {
  const socket = await connect(port);
  if (typeof socket === 'string') return false;
  try {
    const x = await exchange(
      socket,
      bytesOf(`GET ${SENTINEL_PATH} HTTP/1.1\r\nHost: sentinel.test\r\nConnection: close\r\n\r\n`),
      Buffer.alloc(0),
      1,
      false,
    );
    return statusOf(x) === 200;
  } finally {
    socket.destroy();
  }
}

// ---- one vector, one case --------------------------------------------------------------

async function runRequestVector(port: number, backend: RecordingBackend, v: CorpusRequest): Promise<RequestOutcome> {
  backend.mode = { kind: 'answer' };
  backend.reset();
  const socket = await connect(port);
  let x: Exchange;
  if (typeof socket === 'string') x = { bytes: Buffer.alloc(0), firstByteAt: null, closed: true, error: socket, ms: 0 };
  else {
    x = await exchange(socket, bytesOf(v.request), Buffer.alloc(0), 1, false);
    socket.destroy();
  }
  // Whatever the vector made the proxy send has arrived by now; then a normal request on fresh connections.
  await sleep(100);
  backend.dropAll();
  await sleep(100);
  const ok = await sentinelOk(port);
  const received = backend.received();
  return {
    status: statusOf(x),
    responses: readResponses(x.bytes, x.closed).length,
    forwarded: received.length > 0,
    backendRequests: backend.requests,
    backendBytes: received.length > 4096 ? received.slice(0, 4096) + `… (${received.length} bytes)` : received,
    sentinelOk: ok,
    ms: x.ms,
  };
}

async function runResponseCase(port: number, backend: RecordingBackend, c: CorpusResponse): Promise<ResponseOutcome> {
  backend.mode = { kind: 'respond', c };
  backend.reset();
  const headFirst = c.request.startsWith('HEAD ');
  const socket = await connect(port);
  try {
    if (typeof socket === 'string')
      return {
        status: 'error',
        complete: false,
        leaked: false,
        marker: c.tcpvs.absent,
        atServerClose: false,
        next: null,
        clientBytes: socket,
        ms: 0,
      };
    const first = await exchange(socket, bytesOf(`${c.request} HTTP/1.1\r\nHost: compare.test\r\n\r\n`), Buffer.alloc(0), 1, headFirst);
    let all = first;
    let next: string | null = null;
    if (c.extra !== undefined) {
      if (first.closed || socket.destroyed) next = 'closed';
      else {
        all = await exchange(socket, bytesOf('GET /next HTTP/1.1\r\nHost: compare.test\r\n\r\n'), first.bytes, 2, headFirst);
        const second = readResponses(all.bytes, all.closed, headFirst)[1];
        next = second !== undefined ? `${second.status} ${second.body.toString('latin1').slice(0, 20)}` : all.closed ? 'closed' : 'timeout';
      }
    }
    const firstResponse = readResponses(first.bytes, first.closed, headFirst)[0];
    const text = all.bytes.toString('latin1');
    return {
      status: statusOf(first, headFirst),
      complete: firstResponse?.complete ?? false,
      leaked: c.tcpvs.absent !== null && text.includes(c.tcpvs.absent),
      marker: c.tcpvs.absent,
      atServerClose: first.firstByteAt !== null && backend.endedAt !== null && first.firstByteAt >= backend.endedAt,
      next,
      clientBytes: text.slice(0, 300),
      ms: all.ms + (all === first ? 0 : first.ms),
    };
  } finally {
    if (typeof socket !== 'string') socket.destroy();
    await sleep(50);
    backend.dropAll();
    backend.mode = { kind: 'answer' };
    await sleep(100);
  }
}

// ---- the proxies ------------------------------------------------------------------------

interface ProxyBinary {
  command: string;
  version: string;
  /** Arguments for a config file in `dir`. */
  args(configFile: string, dir: string): string[];
  configName: string;
}

async function findProxy(name: ProxyName, allowInstall: boolean): Promise<ProxyBinary | string> {
  if (name === 'tcpvs') {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string };
    const head = await runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], 5000);
    const dirty = await runCommand('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], 5000);
    const commit = head.code === 0 ? head.stdout.trim() : 'no-git';
    return {
      command: process.execPath,
      version: `${pkg.version ?? '?'} (${commit}${dirty.stdout.trim() !== '' ? ', modified' : ''}), node ${process.versions.node}, 1 worker`,
      args: (configFile) => [path.join(repoRoot, 'index.ts'), 'start', '--workers', '1', '-c', configFile],
      configName: 'tcpvs.conf',
    };
  }
  if (name === 'nginx') {
    const lookup = await ensureSystemProxy('nginx', ['nginx-light', 'nginx'], allowInstall, say);
    if (!('binary' in lookup)) return lookup.reason;
    return {
      command: lookup.binary,
      version: `nginx ${await nginxVersion(lookup.binary)}`,
      // -e: nginx opens its default error log before reading the config; point it here too.
      args: (configFile, dir) => ['-p', dir + '/', '-c', configFile, '-e', path.join(dir, 'nginx-error.log')],
      configName: 'nginx.conf',
    };
  }
  const lookup = await ensureSystemProxy('haproxy', ['haproxy'], allowInstall, say);
  if (!('binary' in lookup)) return lookup.reason;
  return {
    command: lookup.binary,
    version: `HAProxy ${await haproxyVersion(lookup.binary)}`,
    args: (configFile) => ['-f', configFile, '-db'],
    configName: 'haproxy.cfg',
  };
}

async function startProxy(
  name: ProxyName,
  profile: Profile,
  bin: ProxyBinary,
  backendPort: number,
): Promise<{ child: ManagedChild; port: number; config: string } | string> {
  const dir = path.join(guard.workDir, `${name}-${profile}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = configFor(name, profile, { listenPort: port, backendPort, workDir: dir });
  const configFile = path.join(dir, bin.configName);
  writeFileSync(configFile, config);
  const child = startChild(`${name}-${profile}`, bin.command, bin.args(configFile, dir), repoRoot);
  const problem = await waitUntilAnswering(port, READY_PATH, Buffer.from('ok'), child, 15_000);
  if (problem === null) return { child, port, config };
  await stopChild(child);
  return problem;
}

// ---- main ---------------------------------------------------------------------------------

interface Options {
  allowInstall: boolean;
  targets: ProxyName[];
  filter: string;
  json: string;
  deadlineSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'no-install': { type: 'boolean' },
      targets: { type: 'string' },
      filter: { type: 'string' },
      json: { type: 'string' },
      deadline: { type: 'string' },
    },
  });
  const targets = (values.targets ?? PROXIES.join(',')).split(',').map((s) => s.trim());
  for (const t of targets)
    if (!(PROXIES as readonly string[]).includes(t)) throw new Error(`unknown target "${t}" (expected ${PROXIES.join(', ')})`);
  const deadlineSeconds = Number(values.deadline ?? 1500);
  if (!Number.isFinite(deadlineSeconds) || deadlineSeconds <= 0) throw new Error('--deadline takes seconds');
  return {
    allowInstall: values['no-install'] !== true,
    targets: targets as ProxyName[],
    filter: values.filter ?? '',
    json: values.json ?? path.join(repoRoot, 'bench', 'results-local', 'compare-proxies.json'),
    deadlineSeconds,
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`compare-proxies: ${(err as Error).message}\n`);
    return 2;
  }
  guard.armDeadline(options.deadlineSeconds);
  guard.workDir = mkdtempSync(path.join(os.tmpdir(), 'tcpvs-compare-'));
  const startedAt = new Date();
  const corpus = loadCompareCorpus(options.filter);
  say(
    `compare-proxies: ${corpus.requests.length} request vectors, ${corpus.responses.length} malicious-server cases; ${options.targets.join(', ')}`,
  );

  const backend = new RecordingBackend();
  await backend.start();
  const requestOutcomes = new Map<string, Partial<Record<ProxyName, RequestOutcome>>>();
  const responseOutcomes = new Map<string, Partial<Record<ProxyName, ResponseOutcome>>>();
  const versions: Partial<Record<ProxyName, string>> = {};
  const problems: string[] = [];
  const configs: Record<string, string> = {};

  try {
    for (const name of options.targets) {
      const bin = await findProxy(name, options.allowInstall);
      if (typeof bin === 'string') {
        problems.push(`${name}: ${bin}`);
        say(`  ${name}: not run: ${bin}`);
        continue;
      }
      versions[name] = bin.version;
      for (const profile of PROFILES) {
        const vectors = corpus.requests.filter((v) => v.profile === profile);
        const cases = profile === 'default' ? corpus.responses : [];
        if (vectors.length === 0 && cases.length === 0) continue;
        if (guard.abortCode !== null) return guard.abortCode;
        const started = await startProxy(name, profile, bin, backend.port);
        if (typeof started === 'string') {
          problems.push(`${name} (${profile}): did not start: ${started}`);
          say(`  ${name} (${profile}): did not start: ${started}`);
          continue;
        }
        configs[`${name}-${profile}`] = started.config;
        const t0 = Date.now();
        try {
          for (const v of vectors) {
            const o = await runRequestVector(started.port, backend, v);
            requestOutcomes.set(v.id, { ...requestOutcomes.get(v.id), [name]: o });
          }
          for (const c of cases) {
            const o = await runResponseCase(started.port, backend, c);
            responseOutcomes.set(c.id, { ...responseOutcomes.get(c.id), [name]: o });
          }
        } finally {
          await stopChild(started.child);
        }
        say(
          `  ${name} (${profile}): ${vectors.length} vectors, ${cases.length} server cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
    }
  } finally {
    await backend.close();
  }

  // ---- report
  const reqRows = corpus.requests.map((v) => {
    const outcomes = requestOutcomes.get(v.id) ?? {};
    const keys = Object.fromEntries(PROXIES.flatMap((p) => (outcomes[p] === undefined ? [] : [[p, requestKey(outcomes[p]!)]])));
    const cells = Object.fromEntries(
      PROXIES.flatMap((p) => {
        const o = outcomes[p];
        if (o === undefined) return [];
        let cell = String(o.status);
        if (o.backendRequests > 1) cell += ` (backend read ${o.backendRequests})`;
        if (!o.sentinelOk) cell += ' (then down!)';
        return [[p, cell]];
      }),
    );
    const forwarded = Object.fromEntries(PROXIES.flatMap((p) => (outcomes[p] === undefined ? [] : [[p, outcomes[p]!.forwarded]])));
    return { v, outcomes, keys, cells, forwarded, agreement: agreement(keys) };
  });
  const resRows = corpus.responses.map((c) => {
    const outcomes = responseOutcomes.get(c.id) ?? {};
    const keys = Object.fromEntries(PROXIES.flatMap((p) => (outcomes[p] === undefined ? [] : [[p, responseKey(outcomes[p]!)]])));
    return { c, outcomes, keys, cells: keys, agreement: agreement(keys) };
  });

  say('\nRequest vectors (status, or closed / timeout; forwarded?: did any byte reach the backend, tcpvs/nginx/haproxy)\n');
  say(
    formatTable(
      reqRows.map((r) => ({ id: r.v.id, cells: r.cells, forwarded: r.forwarded, agreement: r.agreement })),
      true,
    ),
  );
  say(
    '\nMalicious servers (the client\'s status; "cut": the response never completed; "at close": its first byte came only when the server ' +
      'closed, 1 s after the bad response; "+hello" / "+EVIL": the server\'s body or unasked bytes reached the client)\n',
  );
  say(
    formatTable(
      resRows.map((r) => ({ id: r.c.id, cells: r.cells, agreement: r.agreement })),
      false,
    ),
  );

  const count = (rows: Array<{ agreement: Agreement }>, a: Agreement) => rows.filter((r) => r.agreement === a).length;
  const threeWay = (keys: Record<string, string>) => new Set(Object.values(keys)).size === 3;
  const summarise = (rows: Array<{ agreement: Agreement; keys: Record<string, string> }>) => ({
    total: rows.length,
    allAgree: count(rows, 'all agree'),
    tcpvsDiffersFromBoth: count(rows, 'tcpvs differs from both'),
    tcpvsDiffersFromNginxOnly: count(rows, 'tcpvs differs from nginx'),
    tcpvsDiffersFromHaproxyOnly: count(rows, 'tcpvs differs from haproxy'),
    allThreeDiffer: rows.filter((r) => threeWay(r.keys)).length,
    incomplete: count(rows, 'incomplete'),
  });
  const summary = {
    requests: {
      ...summarise(reqRows),
      forwardingDiffers: reqRows.filter((r) => forwardingDiffers(r.outcomes)).length,
      tcpvsUnexpected: reqRows.filter((r) => r.outcomes.tcpvs !== undefined && !tcpvsAsExpected(r.v, r.outcomes.tcpvs)).map((r) => r.v.id),
      proxyDownAfter: reqRows.flatMap((r) => PROXIES.filter((p) => r.outcomes[p]?.sentinelOk === false).map((p) => `${p}: ${r.v.id}`)),
    },
    responses: {
      ...summarise(resRows),
      tcpvsUnexpected: resRows
        .filter((r) => r.outcomes.tcpvs !== undefined && !tcpvsResponseAsExpected(r.c, r.outcomes.tcpvs))
        .map((r) => r.c.id),
    },
  };
  say('\nSummary');
  for (const [kind, s] of Object.entries(summary)) {
    say(
      `  ${kind}: ${s.total}; all agree ${s.allAgree}; tcpvs differs from both ${s.tcpvsDiffersFromBoth}, ` +
        `from nginx only ${s.tcpvsDiffersFromNginxOnly}, from HAProxy only ${s.tcpvsDiffersFromHaproxyOnly}; all three differ ${s.allThreeDiffer}` +
        (s.incomplete > 0 ? `; not compared ${s.incomplete}` : ''),
    );
    if (s.tcpvsUnexpected.length > 0) say(`    tcpvs not as the corpus says: ${s.tcpvsUnexpected.join('; ')}`);
  }
  if (summary.requests.proxyDownAfter.length > 0) say(`  no answer to the sentinel after: ${summary.requests.proxyDownAfter.join('; ')}`);
  for (const p of problems) say(`  problem: ${p}`);
  for (const [name, version] of Object.entries(versions)) say(`  ${name}: ${version}`);

  const result = {
    kind: 'compare-proxies',
    date: startedAt.toISOString(),
    command: `node bench/compare-proxies.ts${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    machine: { platform: `${os.type()} ${os.release()}`, node: process.versions.node },
    versions,
    problems,
    summary,
    configs,
    requests: reqRows.map((r) => ({
      id: r.v.id,
      source: r.v.source,
      name: r.v.name,
      rule: r.v.rule,
      profile: r.v.profile,
      request: r.v.request.length > 1024 ? r.v.request.slice(0, 1024) + `… (${r.v.request.length} bytes)` : r.v.request,
      expectedTcpvs: r.v.tcpvs,
      outcomes: r.outcomes,
      keys: r.keys,
      agreement: r.agreement,
      allThreeDiffer: threeWay(r.keys),
    })),
    responses: resRows.map((r) => ({
      id: r.c.id,
      kind: r.c.kind,
      name: r.c.name,
      rule: r.c.rule,
      request: r.c.request,
      response: r.c.response.length > 1024 ? r.c.response.slice(0, 1024) + `… (${r.c.response.length} bytes)` : r.c.response,
      extra: r.c.extra,
      expectedTcpvs: r.c.tcpvs,
      outcomes: r.outcomes,
      keys: r.keys,
      agreement: r.agreement,
      allThreeDiffer: threeWay(r.keys),
    })),
  };
  mkdirSync(path.dirname(options.json), { recursive: true });
  writeFileSync(options.json, JSON.stringify(result, null, 2) + '\n');
  say(`\nwrote ${path.relative(process.cwd(), options.json)}`);
  return problems.length === 0 ? 0 : 1;
}

await guard.run(main);

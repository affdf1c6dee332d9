// Helpers for the refuse / failure / timeout tests: tcpvs started in-process
// from config text, raw-socket backends that record every byte they receive,
// a raw-socket client, a strict little HTTP/1.1 response reader and a poller
// for the JSON log file. Every wait here is bounded in time.
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch, type RunningSwitch } from '../../lib/control/switch.ts';
import { pollUntil, quietFor, sleep } from './wait.ts';
import { freePort } from './ports.ts';
import { fieldValue, parseChunkedAt, parseHeadAt } from './http-bytes.ts';

/** A port on 127.0.0.1 with nothing listening (test/helpers/ports.ts). */
export const deadPort = freePort;

// ---- backends ---------------------------------------------------------------

export interface RecordingBackend {
  readonly port: number;
  /** Every byte received on every connection, in arrival order. */
  received(): Buffer;
  /** Connections accepted since start or the last reset(). */
  readonly connections: number;
  /** Connections open right now. */
  readonly open: number;
  /** Forgets what was received so far (not the connections that are open). */
  reset(): void;
  close(): Promise<void>;
}

/** What a backend does with one accepted connection; `data` events are recorded before this sees them. */
export type BackendBehaviour = (socket: net.Socket) => void;

/**
 * A backend on 127.0.0.1 that records every byte it receives. Without a
 * behaviour it answers each request head with `200` and the request path as
 * body (request bodies framed by Content-Length are skipped).
 */
export async function startRecordingBackend(behaviour: BackendBehaviour = answerEachRequest): Promise<RecordingBackend> {
  let pieces: Buffer[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // resets are part of several tests
    socket.on('data', (chunk: Buffer) => pieces.push(chunk));
    behaviour(socket);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received: () => Buffer.concat(pieces),
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    reset() {
      pieces = [];
      connections = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The default behaviour: a 200 per request head, body = the request target. */
export function answerEachRequest(socket: net.Socket): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = pending.subarray(0, headEnd).toString('latin1');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const bodyLength = length === null ? 0 : Number(length[1]);
      if (pending.length < headEnd + 4 + bodyLength) return;
      pending = pending.subarray(headEnd + 4 + bodyLength);
      const target = head.split(' ')[1] ?? '';
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(target)}\r\n\r\n${target}`);
    }
  });
}

/** Answers each request, its body framed by Content-Length or chunked, with 200 "ok"; a bad chunked body closes the connection. */
export function answerFramed(socket: net.Socket): void {
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const parsed = parseHeadAt(buf, 0);
      if (parsed === null) return;
      let end = parsed.end;
      if (fieldValue(parsed.head.headers, 'transfer-encoding') !== undefined) {
        let body: ReturnType<typeof parseChunkedAt>;
        try {
          body = parseChunkedAt(buf, end);
        } catch {
          socket.destroy();
          return;
        }
        if (body === null) return;
        end = body.end;
      } else {
        const cl = Number(fieldValue(parsed.head.headers, 'content-length') ?? 0);
        if (buf.length < end + cl) return;
        end += cl;
      }
      buf = buf.subarray(end);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }
  });
}

/** Resolves after the first request head (\r\n\r\n) has arrived on `socket`. */
export function onRequestHead(socket: net.Socket, then: (socket: net.Socket) => void): void {
  let seen = Buffer.alloc(0);
  let fired = false;
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    if (!fired && seen.indexOf('\r\n\r\n') !== -1) {
      fired = true;
      socket.off('data', onData);
      then(socket);
    }
  };
  socket.on('data', onData);
}

// ---- tcpvs ------------------------------------------------------------------

export interface ServerLine {
  port: number;
  weight?: number;
}

export interface TcpvsOptions {
  servers: ServerLine[];
  /** Extra service lines: `timeout ...`, `limit ...`. */
  settings?: string[];
  /** Write the log (level info) to a fresh file; otherwise the log is silent. */
  logToFile?: boolean;
}

export interface Tcpvs {
  readonly running: RunningSwitch;
  readonly port: number;
  /** The log file, or '' when the log is silent. */
  readonly logFile: string;
  close(): Promise<void>;
}

export function tcpvsConfigText(options: TcpvsOptions, logFile: string): string {
  const lines: string[] = [];
  if (logFile === '') lines.push('log level silent');
  else lines.push('log level info', `log destination ${logFile}`);
  lines.push('service edge', '  listen 127.0.0.1:0');
  for (const s of options.settings ?? []) lines.push('  ' + s);
  lines.push('  group backends');
  for (const s of options.servers) lines.push(`    server 127.0.0.1:${s.port}` + (s.weight === undefined ? '' : ` weight ${s.weight}`));
  lines.push('  default backends');
  return lines.join('\n') + '\n';
}

export async function startTcpvs(options: TcpvsOptions): Promise<Tcpvs> {
  let dir = '';
  let logFile = '';
  if (options.logToFile === true) {
    dir = mkdtempSync(join(tmpdir(), 'tcpvs-refuse-'));
    logFile = join(dir, 'tcpvs.log');
  }
  const running = await startSwitch(parseConfigText(tcpvsConfigText(options, logFile), 'test.tcpvs'));
  const address = running.services[0].address;
  if (address === null) throw new Error('tcpvs is not listening');
  return {
    running,
    port: address.port,
    logFile,
    async close() {
      await running.close();
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildTcpvs {
  readonly child: ChildProcess;
  readonly port: number;
  /** True while the child runs. */
  alive(): boolean;
  /** Kills the child (by its PID) and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * tcpvs in a child process, for inputs that might wedge the event loop: a
 * test can then observe the hang instead of becoming it. The child prints
 * its port on stdout once listening.
 */
export async function startChildTcpvs(options: TcpvsOptions): Promise<ChildTcpvs> {
  const lib = new URL('../../lib/', import.meta.url).href;
  const code =
    `const { parseConfigText } = await import(${JSON.stringify(lib + 'config/load.ts')});\n` +
    `const { startSwitch } = await import(${JSON.stringify(lib + 'control/switch.ts')});\n` +
    `const running = await startSwitch(parseConfigText(process.env.TCPVS_CONFIG, 'test.tcpvs'));\n` +
    `process.stdout.write(running.services[0].address.port + '\\n');\n`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, TCPVS_CONFIG: tcpvsConfigText(options, '') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exit.then(() => (exited = true));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('child tcpvs did not start in 10 s')), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        resolve(Number(out.slice(0, nl)));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child tcpvs exited with ${code}`));
    });
  });
  return {
    child,
    port,
    alive: () => !exited,
    async close() {
      if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      await exit;
    },
  };
}

// ---- log file ---------------------------------------------------------------

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Parsed lines of a pino log file; a missing file or a half-written last line is skipped. */
export function readLog(file: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // the writer is mid-line
    }
  }
  return out;
}

/**
 * Polls the log until at least `count` lines satisfy `match`, then stays
 * `settleMs` more so that lines which must not be there would have shown;
 * returns all matches.
 */
export async function waitForLogLines(
  file: string,
  match: (l: LogLine) => boolean,
  count: number,
  timeoutMs = 2000,
  settleMs = 100,
): Promise<LogLine[]> {
  await pollUntil(() => readLog(file).filter(match).length >= count, timeoutMs);
  if (settleMs > 0) await quietFor(settleMs, 'more matching log lines than expected');
  return readLog(file).filter(match);
}

// ---- raw client -------------------------------------------------------------

export interface RawResult {
  /** Everything the client received. */
  bytes: Buffer;
  /** The peer ended or closed the connection within the time allowed. */
  closed: boolean;
  /** The connection ended in an error (e.g. ECONNRESET). */
  error: string | null;
  /** Milliseconds from the first write to the close (or to the give-up). */
  ms: number;
}

export interface RawOptions {
  /** Give up after this long and report `closed: false`. */
  timeoutMs?: number;
  /** Half-close (FIN) right after the last piece. */
  halfClose?: boolean;
  /** Pause between pieces. */
  gapMs?: number;
  /** Stop reading after this many bytes (a flood is a failure, not a memory test). */
  capBytes?: number;
}

/** Connects to 127.0.0.1:port, or fails within 2 s. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timed out'));
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Collects what `socket` receives until it closes, `timeoutMs` passes, or
 * more than `capBytes` arrive (then the socket is destroyed and `closed` is false).
 */
export function collect(socket: net.Socket, timeoutMs: number, capBytes = 1 << 24): Promise<RawResult> {
  const started = Date.now();
  const pieces: Buffer[] = [];
  let total = 0;
  let error: string | null = null;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(pieces), closed, error, ms: Date.now() - started });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(false);
    }, timeoutMs);
    socket.on('data', (c: Buffer) => {
      pieces.push(c);
      total += c.length;
      if (total > capBytes) {
        error = 'over capBytes';
        socket.destroy();
        finish(false);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.once('close', () => finish(true));
  });
}

/** Sends `pieces` on a new connection and collects the reply until close. */
export async function exchange(
  port: number,
  pieces: Array<string | Buffer> | string | Buffer,
  options: RawOptions = {},
): Promise<RawResult> {
  const list = Array.isArray(pieces) ? pieces : [pieces];
  const socket = await connect(port);
  const result = collect(socket, options.timeoutMs ?? 3000, options.capBytes);
  for (let i = 0; i < list.length; i++) {
    if (i > 0 && options.gapMs !== undefined) await sleep(options.gapMs);
    if (socket.destroyed) break;
    const p = list[i];
    socket.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  }
  if (options.halfClose === true && !socket.destroyed) socket.end();
  return result;
}

/** Resolves once `socket` has received a complete response (or rejects after `timeoutMs`). */
export function readOneResponse(socket: net.Socket, timeoutMs = 3000): Promise<ParsedResponse> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const done = (err: Error | null, r?: ParsedResponse) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err !== null) reject(err);
      else resolve(r!);
    };
    const onData = (c: Buffer) => {
      got = Buffer.concat([got, c]);
      const r = parseResponse(got);
      if (r?.complete) done(null, r);
    };
    const onClose = () => done(new Error(`closed before a complete response (${got.length} bytes)`));
    const timer = setTimeout(() => done(new Error(`no complete response in ${timeoutMs} ms (${got.length} bytes)`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

// ---- responses --------------------------------------------------------------

export interface ParsedResponse {
  status: number;
  /** Lower-case name to value; repeated fields joined with ', '. */
  headers: Record<string, string>;
  body: Buffer;
  /** The body is complete by its own framing (Content-Length or chunked). */
  complete: boolean;
  /** Offset just past this response in the buffer. */
  end: number;
}

/**
 * Reads one response starting at `offset`: null when the head is not all
 * there. Close-delimited bodies take the rest of the buffer and are never
 * `complete`.
 */
export function parseResponse(buf: Buffer, offset = 0): ParsedResponse | null {
  const headEnd = buf.indexOf('\r\n\r\n', offset);
  if (headEnd === -1) return null;
  const lines = buf.subarray(offset, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0] + ' ');
  if (m === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? headers[name] + ', ' + value : value;
  }
  const bodyStart = headEnd + 4;
  const status = Number(m[1]);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { status, headers, body: Buffer.alloc(0), complete: true, end: bodyStart };
  }
  if (headers['transfer-encoding'] !== undefined) return parseChunked(buf, bodyStart, status, headers);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    const available = Math.min(length, buf.length - bodyStart);
    return {
      status,
      headers,
      body: buf.subarray(bodyStart, bodyStart + available),
      complete: available === length,
      end: bodyStart + available,
    };
  }
  return { status, headers, body: buf.subarray(bodyStart), complete: false, end: buf.length };
}

function parseChunked(buf: Buffer, start: number, status: number, headers: Record<string, string>): ParsedResponse {
  const body: Buffer[] = [];
  let i = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', i);
    if (lineEnd === -1) break;
    const size = parseInt(buf.subarray(i, lineEnd).toString('latin1').split(';')[0], 16);
    if (Number.isNaN(size)) break;
    if (size === 0) {
      const trailersEnd = buf.indexOf('\r\n\r\n', lineEnd);
      const end =
        buf.subarray(lineEnd, lineEnd + 4).toString('latin1') === '\r\n\r\n' ? lineEnd + 4 : trailersEnd === -1 ? -1 : trailersEnd + 4;
      if (end === -1) break;
      return { status, headers, body: Buffer.concat(body), complete: true, end };
    }
    if (lineEnd + 2 + size + 2 > buf.length) {
      body.push(buf.subarray(lineEnd + 2, Math.min(buf.length, lineEnd + 2 + size)));
      i = buf.length;
      break;
    }
    body.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
  return { status, headers, body: Buffer.concat(body), complete: false, end: i };
}

/** Every response in `buf`, in order; stops at the first incomplete one. */
export function parseResponses(buf: Buffer): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const r = parseResponse(buf, offset);
    if (r === null) break;
    out.push(r);
    if (!r.complete) break;
    offset = r.end;
  }
  return out;
}

// ---- misc -------------------------------------------------------------------

export { sleep };

/** Polls `check` until it holds or `timeoutMs` passes; returns whether it held. */
export function waitFor(check: () => boolean, timeoutMs = 2000): Promise<boolean> {
  return pollUntil(check, timeoutMs);
}

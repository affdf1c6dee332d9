// A CGI/1.1 server (RFC 3875) used as a demo real server behind tcpvs. It runs
// real scripts for /cgi-bin/NAME[/extra/path][?query], streams the request
// body to the script's stdin and the script's output back to the client.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { access, mkdtemp, open, realpath, rm } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import type { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { listen, sendText, splitTarget, type RunningServer } from './http-util.ts';

export interface CgiServerOptions {
  scriptDir: string; // folder holding the scripts; /cgi-bin/NAME runs scriptDir/NAME
  host: string;
  port: number; // 0: ephemeral
  name: string; // sent as X-Backend
  timeoutMs?: number; // a script still running after this is killed (default 30 s)
  maxConcurrent?: number; // scripts running at once; beyond this 503 (default 64)
  // A chunked request body has no length up front, but CGI needs CONTENT_LENGTH:
  // such bodies are spooled to an unlinked temp file, up to this size (else 413).
  maxSpooledBodyBytes?: number; // default 64 MiB
  onScriptStderr?: (script: string, chunk: Buffer) => void; // default: our stderr
}

export const SCRIPT_PREFIX = '/cgi-bin/';
const SERVER_SOFTWARE = 'tcpvs-demo-cgi/0.1';
const MAX_HEADER_SECTION = 64 * 1024;
const MAX_LOCAL_REDIRECTS = 5;
const SHEBANG_PEEK = 256;
// Script output fields that describe our connection to the client, not the content.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);
// Request headers never exported as HTTP_*: credentials (RFC 3875 §4.1.18),
// fields already mapped to CONTENT_*, and Proxy, which would become HTTP_PROXY
// and redirect the outbound requests of many tools ("httpoxy").
const NOT_EXPORTED = new Set(['authorization', 'proxy-authorization', 'content-length', 'content-type', 'proxy']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

interface Settings {
  scriptDir: string; // real path
  timeoutMs: number;
  maxConcurrent: number;
  maxSpooledBodyBytes: number;
  onScriptStderr: (script: string, chunk: Buffer) => void;
  running: number;
}

export async function startCgiServer(opts: CgiServerOptions): Promise<RunningServer> {
  const settings: Settings = {
    scriptDir: await realpath(opts.scriptDir),
    timeoutMs: opts.timeoutMs ?? 30_000,
    maxConcurrent: opts.maxConcurrent ?? 64,
    maxSpooledBodyBytes: opts.maxSpooledBodyBytes ?? 64 * 1024 * 1024,
    onScriptStderr: opts.onScriptStderr ?? ((_script, chunk) => process.stderr.write(chunk)),
    running: 0,
  };
  const server: Server = createServer((req, res) => {
    res.setHeader('X-Backend', opts.name);
    dispatch(settings, req, res, req.method ?? 'GET', req.url ?? '/', true, 0).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  return listen(server, opts.host, opts.port);
}

interface ScriptTarget {
  name: string; // decoded script name
  pathInfo: string; // decoded, '' when absent
  query: string; // raw, without '?'
}

/** Splits /cgi-bin/NAME/extra?query, or says which error status to answer. */
function parseTarget(target: string): ScriptTarget | { status: number; message: string } {
  const split = splitTarget(target);
  if (split === null) return { status: 400, message: 'bad request target' };
  const { path, query } = split;
  if (!path.startsWith(SCRIPT_PREFIX)) return { status: 404, message: 'not found' };
  const rest = path.slice(SCRIPT_PREFIX.length);
  const slash = rest.indexOf('/');
  let name: string;
  let pathInfo: string;
  try {
    name = decodeURIComponent(slash === -1 ? rest : rest.slice(0, slash));
    pathInfo = slash === -1 ? '' : decodeURIComponent(rest.slice(slash));
  } catch {
    return { status: 400, message: 'bad percent-encoding' };
  }
  if (pathInfo.includes('\0')) return { status: 400, message: 'bad path' };
  // Only plain names inside scriptDir: no dot-files, no separators, no '..'.
  if (name === '' || name.startsWith('.') || name.includes('/') || name.includes('\\') || name.includes('\0')) {
    return { status: 404, message: 'not found' };
  }
  return { name, pathInfo, query };
}

async function dispatch(
  settings: Settings,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  target: string,
  withBody: boolean,
  redirects: number,
): Promise<void> {
  const parsed = parseTarget(target);
  if ('status' in parsed) {
    sendText(res, parsed.status, parsed.message + '\n');
    return;
  }
  const file = await findScript(settings.scriptDir, parsed.name);
  if (file === null) {
    sendText(res, 404, 'no such script\n');
    return;
  }
  const command = await commandFor(file);
  if (command === null) {
    sendText(res, 500, 'script is not executable\n');
    return;
  }
  // Checked before spooling so a busy server spools nothing; a soft limit, as
  // requests between here and the spawn are not counted.
  if (settings.running >= settings.maxConcurrent) {
    res.setHeader('Retry-After', '1');
    sendText(res, 503, 'too many scripts running\n');
    return;
  }

  const hasBody = withBody && (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined);
  let stdinSource: Readable | null = null;
  let contentLength: string | undefined;
  if (hasBody && req.headers['transfer-encoding'] !== undefined) {
    const spooled = await spoolBody(req, settings.maxSpooledBodyBytes);
    if (spooled.kind === 'aborted') return;
    if (spooled.kind === 'too-large') {
      res.setHeader('Connection', 'close'); // the rest of the body is still on the wire
      sendText(res, 413, 'request body too large\n');
      return;
    }
    stdinSource = spooled.stream;
    contentLength = String(spooled.size);
  } else if (hasBody) {
    stdinSource = req;
    contentLength = req.headers['content-length'];
  }

  runScript(settings, req, res, {
    method,
    scriptName: parsed.name,
    file: command.file,
    args: command.args.concat(searchArgs(parsed.query)),
    cwd: dirname(file),
    env: buildEnv(req, method, parsed, contentLength),
    stdinSource,
    redirects,
  });
}

/** The script's real path if it is a regular file inside scriptDir, else null. */
async function findScript(scriptDir: string, name: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(join(scriptDir, name));
  } catch {
    return null;
  }
  if (!real.startsWith(scriptDir + sep)) return null;
  try {
    const fh = await open(real, 'r');
    try {
      return (await fh.stat()).isFile() ? real : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/**
 * How to run the script: directly when executable; when the exec bit was lost
 * (a copy, an archive) but it starts with '#!', through the interpreter named
 * there, as the kernel would have. Null when neither works.
 */
async function commandFor(file: string): Promise<{ file: string; args: string[] } | null> {
  try {
    await access(file, fsConstants.X_OK);
    return { file, args: [] };
  } catch {
    // fall through to the shebang line
  }
  const fh = await open(file, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(SHEBANG_PEEK);
    const { bytesRead } = await fh.read(buf, 0, SHEBANG_PEEK, 0);
    head = buf.toString('latin1', 0, bytesRead);
  } finally {
    await fh.close();
  }
  if (!head.startsWith('#!')) return null;
  const eol = head.indexOf('\n');
  if (eol === -1) return null;
  const line = head.slice(2, eol).trim();
  // Like Linux: the first word is the interpreter, the rest is one argument.
  const space = line.search(/[ \t]/);
  const interpreter = space === -1 ? line : line.slice(0, space);
  const optional = space === -1 ? '' : line.slice(space).trim();
  if (!interpreter.startsWith('/')) return null;
  return { file: interpreter, args: optional === '' ? [file] : [optional, file] };
}

/** RFC 3875 §4.4: a query without '=' is a search string, its '+'-separated words are argv. */
function searchArgs(query: string): string[] {
  if (query === '' || query.includes('=')) return [];
  const words = query.split('+');
  if (words.length > 64) return [];
  const out: string[] = [];
  for (const w of words) {
    try {
      const d = decodeURIComponent(w);
      if (d.includes('\0')) return [];
      out.push(d);
    } catch {
      return [];
    }
  }
  return out;
}

function buildEnv(req: IncomingMessage, method: string, target: ScriptTarget, contentLength: string | undefined): Record<string, string> {
  const socket = req.socket;
  const hostHeader = req.headers.host;
  const env: Record<string, string> = {
    // Only what a script needs to find its tools; the server's own environment stays private.
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: hostHeader !== undefined && hostHeader !== '' ? hostWithoutPort(hostHeader) : (socket.localAddress ?? ''),
    SERVER_PORT: String(socket.localPort ?? ''),
    REQUEST_METHOD: method,
    SCRIPT_NAME: SCRIPT_PREFIX + target.name,
    QUERY_STRING: target.query,
    REMOTE_ADDR: socket.remoteAddress ?? '',
    REMOTE_HOST: socket.remoteAddress ?? '', // §4.1.9: the address stands in when no name is looked up
    REMOTE_PORT: String(socket.remotePort ?? ''),
  };
  if (target.pathInfo !== '') env.PATH_INFO = target.pathInfo;
  if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
  const contentType = req.headers['content-type'];
  if (contentType !== undefined && contentType !== '') env.CONTENT_TYPE = contentType;

  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (NOT_EXPORTED.has(lower)) continue;
    const key = 'HTTP_' + lower.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    const prev = env[key];
    // §4.1.18: repeated fields are joined into one value with the same meaning.
    env[key] = prev === undefined ? raw[i + 1] : prev + (lower === 'cookie' ? '; ' : ', ') + raw[i + 1];
  }
  return env;
}

function hostWithoutPort(host: string): string {
  const h = host.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(1, end);
  }
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

type Spooled = { kind: 'ok'; stream: Readable; size: number } | { kind: 'too-large' } | { kind: 'aborted' };

/**
 * Copies a chunked body to an unlinked temp file, with back-pressure. Over the
 * limit the caller answers 413 and closes the connection.
 */
async function spoolBody(req: IncomingMessage, limit: number): Promise<Spooled> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpvs-cgi-'));
  const fh = await open(join(dir, 'body'), 'w+');
  // Unlinked at once: nothing is left behind whatever happens next.
  await rm(dir, { recursive: true, force: true });
  const sink = fh.createWriteStream({ autoClose: false, start: 0 });
  let size = 0;
  const outcome = await new Promise<'ok' | 'too-large' | 'aborted'>((resolve) => {
    const settle = (result: 'ok' | 'too-large' | 'aborted'): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        settle('too-large');
        // Discard the rest rather than leave it unread: closing a socket with
        // unread input sends a reset that can destroy the 413 on its way.
        req.resume();
        return;
      }
      if (!sink.write(chunk)) {
        req.pause();
        sink.once('drain', () => req.resume());
      }
    };
    const onEnd = (): void => {
      req.off('close', onClose);
      sink.end(() => settle('ok'));
    };
    const onClose = (): void => settle('aborted'); // 'end' would have come first
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    sink.on('error', () => settle('aborted'));
  });
  if (outcome !== 'ok') {
    sink.destroy();
    await fh.close();
    return { kind: outcome };
  }
  return { kind: 'ok', stream: fh.createReadStream({ start: 0, autoClose: true }), size };
}

/** One script execution, ready to start. */
interface ScriptJob {
  method: string;
  scriptName: string; // for the stderr hook
  file: string; // what to exec: the script, or the interpreter from its #! line
  args: string[];
  cwd: string; // the script's folder (RFC 3875 §7.2)
  env: Record<string, string>;
  stdinSource: Readable | null; // the request body, or null for none
  redirects: number; // local redirects followed so far
}

function runScript(settings: Settings, req: IncomingMessage, res: ServerResponse, job: ScriptJob): void {
  const { method, stdinSource } = job;
  // Own process group, so a timeout or a disconnect also stops what the script started.
  const child = spawn(job.file, job.args, { cwd: job.cwd, env: job.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  settings.running++;
  let finished = false; // the response is complete, or abandoned
  let timedOut = false;

  const killGroup = (): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, settings.timeoutMs);
  timer.unref();

  child.once('close', () => {
    settings.running--;
    clearTimeout(timer);
  });
  res.once('close', () => {
    // The client went away (or we are done): nothing will read the script's output any more.
    if (!res.writableFinished) killGroup();
    finished = true;
  });
  child.stderr!.on('data', (chunk: Buffer) => settings.onScriptStderr(job.scriptName, chunk));

  const stdin = child.stdin!;
  stdin.on('error', () => {}); // EPIPE when the script exits without reading its input
  if (stdinSource === null) {
    stdin.end();
  } else {
    stdinSource.pipe(stdin);
    stdin.once('close', () => {
      // The script stopped reading: drain what is left so the connection stays usable.
      stdinSource.unpipe(stdin);
      stdinSource.resume();
    });
  }

  const fail = (status: number, message: string): void => {
    if (finished) return;
    finished = true;
    killGroup();
    if (!res.headersSent) sendText(res, status, message + '\n');
    else res.destroy();
  };

  child.once('error', () => fail(500, 'script could not be started'));

  const output = new OutputReader(child, res, method);
  output.onHead = (fields) => {
    if (finished) return;
    const decision = applyFields(res, fields);
    if (typeof decision === 'string') {
      fail(500, decision);
      return;
    }
    if (decision.localRedirect !== null) {
      // §6.2.2: answer as if the client had asked for that local URI.
      finished = true;
      killGroup();
      if (job.redirects >= MAX_LOCAL_REDIRECTS) {
        sendText(res, 500, 'too many local redirects\n');
        return;
      }
      for (const name of res.getHeaderNames()) if (name !== 'x-backend') res.removeHeader(name);
      dispatch(settings, req, res, 'GET', decision.localRedirect, false, job.redirects + 1).catch(() => {
        if (!res.headersSent) sendText(res, 500, 'internal error\n');
        else res.destroy();
      });
      return;
    }
    output.startBody(decision.contentLength);
  };
  output.onEnd = (complete) => {
    if (finished) return;
    if (timedOut) {
      fail(504, 'script timed out');
      return;
    }
    if (!output.headDone) {
      fail(500, 'script ended without a valid header section');
      return;
    }
    if (!complete) {
      // Shorter than its own Content-Length: let the client see the truncation.
      fail(500, 'script output truncated');
      return;
    }
    finished = true;
    res.end();
  };
  output.onMalformed = (why) => fail(500, why);
}

type Fields = Array<[string, string]>;

/**
 * Turns the script's header fields into the response head. Returns an error
 * text for a malformed section, or what to do next.
 */
function applyFields(res: ServerResponse, fields: Fields): string | { localRedirect: string | null; contentLength: number | null } {
  let status: number | null = null;
  let reason: string | undefined;
  let location: string | null = null;
  let hasContentType = false;
  let contentLength: number | null = null;
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const m = /^(\d{3})(?:[ \t]+(.*))?$/.exec(value);
      if (m === null) return 'bad Status field from script';
      status = Number(m[1]);
      reason = m[2];
      if (status < 200 || status > 599 || (reason !== undefined && !REASON.test(reason))) return 'bad Status field from script';
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'location') location = value;
    if (lower === 'content-type') hasContentType = true;
    if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return 'bad Content-Length from script';
      contentLength = Number(value);
    }
  }
  if (status === null && location === null && !hasContentType) return 'script header section has no Content-Type, Location or Status';
  if (location?.startsWith('/') && !location.startsWith('//') && status === null) {
    return { localRedirect: location, contentLength: null };
  }
  res.statusCode = status ?? (location !== null ? 302 : 200);
  if (reason !== undefined && reason !== '') res.statusMessage = reason;
  try {
    for (const [name, value] of fields) {
      const lower = name.toLowerCase();
      if (lower === 'status' || HOP_BY_HOP.has(lower)) continue;
      res.appendHeader(name, value);
    }
  } catch {
    return 'invalid header field from script';
  }
  return { localRedirect: null, contentLength };
}

/**
 * Reads the script's stdout: first the header section (lines ended by LF or
 * CRLF, up to a blank line), then streams the rest to the response with
 * back-pressure, holding to the script's Content-Length when it gave one.
 */
class OutputReader {
  onHead: (fields: Fields) => void = () => {};
  onEnd: (complete: boolean) => void = () => {};
  onMalformed: (why: string) => void = () => {};
  headDone = false;

  private head: Buffer = Buffer.alloc(0);
  private lineStart = 0;
  private bodyStarted = false;
  private pending: Buffer | null = null; // body bytes read with the head
  private remaining: number | null = null; // bytes still owed under Content-Length
  private readonly stdout: Readable;
  private readonly res: ServerResponse;
  private readonly isHead: boolean;

  constructor(child: ChildProcess, res: ServerResponse, method: string) {
    this.stdout = child.stdout!;
    this.res = res;
    this.isHead = method === 'HEAD';
    this.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stdout.once('end', () => this.onEnd(this.remaining === null || this.remaining === 0 || this.isHead));
    this.stdout.once('error', () => this.onEnd(false));
  }

  startBody(contentLength: number | null): void {
    this.bodyStarted = true;
    this.remaining = contentLength;
    if (this.pending !== null && this.pending.length > 0) this.writeBody(this.pending);
    this.pending = null;
  }

  private onData(chunk: Buffer): void {
    if (this.bodyStarted) {
      this.writeBody(chunk);
      return;
    }
    if (this.headDone) {
      // Head parsed but the body not yet started (a redirect or an error): drop.
      return;
    }
    this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    let nl: number;
    while ((nl = this.head.indexOf(10, this.lineStart)) !== -1) {
      const lineEnd = nl > this.lineStart && this.head[nl - 1] === 13 ? nl - 1 : nl;
      if (lineEnd === this.lineStart) {
        this.headDone = true;
        // lineStart - 1 drops the LF that ended the last field line.
        const fields = this.lineStart === 0 ? null : parseFields(this.head.toString('latin1', 0, this.lineStart - 1));
        this.pending = this.head.subarray(nl + 1);
        this.head = Buffer.alloc(0);
        if (fields === null) this.onMalformed('malformed header section from script');
        else this.onHead(fields);
        return;
      }
      this.lineStart = nl + 1;
    }
    if (this.head.length > MAX_HEADER_SECTION) {
      this.headDone = true;
      this.onMalformed('script header section too large');
    }
  }

  private writeBody(chunk: Buffer): void {
    let data = chunk;
    if (this.remaining !== null) {
      if (this.remaining === 0) return; // extra bytes past Content-Length are dropped
      if (data.length > this.remaining) data = data.subarray(0, this.remaining);
      this.remaining -= data.length;
    }
    const more = this.res.write(data);
    // Content-Length reached: the response is whole even if the script lingers.
    if (this.remaining === 0) this.onEnd(true);
    else if (!more) {
      this.stdout.pause();
      this.res.once('drain', () => this.stdout.resume());
    }
  }
}

function parseFields(section: string): Fields | null {
  const fields: Fields = [];
  for (const line of section.split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    const colon = l.indexOf(':');
    if (colon <= 0) return null;
    const name = l.slice(0, colon);
    if (!TOKEN.test(name)) return null;
    fields.push([name, l.slice(colon + 1).trim()]);
  }
  return fields;
}

// Child processes of the bench: started here, remembered here, and killed by
// PID here — on the normal path, on SIGINT, on an exception, on the deadline and,
// as a last resort, synchronously in process 'exit'.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { TLSSocket } from 'node:tls';
import net from 'node:net';

const OUTPUT_TAIL_CHARS = 4000;

export interface ManagedChild {
  name: string;
  pid: number;
  process: ChildProcess;
  exited: boolean;
  exitDescription: string; // 'code 1' | 'signal SIGKILL' once exited
  outputTail: string; // last few KB of stdout+stderr, for "why did it not start"
  exitPromise: Promise<void>;
}

const running = new Set<ManagedChild>();

export function startChild(name: string, command: string, args: string[], cwd: string): ManagedChild {
  // stdin stays a pipe: our node children exit when it closes (see child-guard.ts).
  const proc = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  let resolveExit: () => void = () => {};
  const managed: ManagedChild = {
    name,
    pid: proc.pid ?? -1,
    process: proc,
    exited: false,
    exitDescription: '',
    outputTail: '',
    exitPromise: new Promise<void>((resolve) => {
      resolveExit = resolve;
    }),
  };
  const keepTail = (chunk: Buffer): void => {
    managed.outputTail = (managed.outputTail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  proc.stdout?.on('data', keepTail);
  proc.stderr?.on('data', keepTail);
  proc.stdin?.on('error', () => {}); // EPIPE when the child exits first
  const onGone = (description: string): void => {
    if (managed.exited) return;
    managed.exited = true;
    managed.exitDescription = description;
    running.delete(managed);
    resolveExit();
  };
  proc.on('error', (err) => onGone(`spawn error: ${err.message}`));
  proc.on('exit', (code, signal) => onGone(signal !== null ? `signal ${signal}` : `code ${code}`));
  if (managed.pid > 0) running.add(managed);
  return managed;
}

// SIGTERM, then SIGKILL if it has not gone after graceMs.
export async function stopChild(child: ManagedChild, graceMs = 2000): Promise<void> {
  if (child.exited) return;
  signalChild(child, 'SIGTERM');
  child.process.stdin?.end();
  const killTimer = setTimeout(() => signalChild(child, 'SIGKILL'), graceMs);
  const hardLimit = new Promise<void>((resolve) => setTimeout(resolve, graceMs + 2000).unref());
  await Promise.race([child.exitPromise, hardLimit]);
  clearTimeout(killTimer);
}

export async function stopAllChildren(graceMs = 2000): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child, graceMs)));
}

// For process 'exit', where nothing asynchronous runs any more.
export function killAllChildrenNow(): void {
  for (const child of running) signalChild(child, 'SIGKILL');
}

function signalChild(child: ManagedChild, signal: NodeJS.Signals): void {
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A port that was free a moment ago on 127.0.0.1.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface FetchedResponse {
  status: number;
  body: Buffer;
  /** Over TLS: the protocol and cipher the handshake settled on, e.g. 'TLSv1.3 TLS_AES_256_GCM_SHA384'. */
  negotiated?: string;
}

// One GET on a fresh connection, bounded by timeoutMs. With tls, over https to
// the bench's self-signed certificate, which is not verified: this checks the
// response, not the certificate.
export function fetchOnce(port: number, path: string, timeoutMs: number, tls = false): Promise<FetchedResponse> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, method: 'GET', agent: false } as const;
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      const socket = res.socket;
      const negotiated = socket instanceof TLSSocket ? `${socket.getProtocol() ?? '?'} ${socket.getCipher().standardName}` : undefined;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const response: FetchedResponse = { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
        if (negotiated !== undefined) response.negotiated = negotiated;
        resolve(response);
      });
      res.on('error', reject);
    };
    const req = tls
      ? https.request({ ...options, rejectUnauthorized: false, servername: 'localhost' }, onResponse)
      : http.request(options, onResponse);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// Polls until GET path answers 200 with the expected body, the child exits, or
// timeoutMs passes. Returns null when ready, else why not.
export async function waitUntilAnswering(
  port: number,
  path: string,
  expectedBody: Buffer,
  child: ManagedChild | null,
  timeoutMs: number,
  tls = false,
): Promise<string | null> {
  const giveUpAt = Date.now() + timeoutMs;
  let lastProblem = 'never answered';
  while (Date.now() < giveUpAt) {
    if (child?.exited) {
      return `exited (${child.exitDescription}) before answering${describeOutput(child)}`;
    }
    try {
      const response = await fetchOnce(port, path, 1000, tls);
      lastProblem = describeMismatch(response, expectedBody);
      if (lastProblem === '') return null;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    await sleep(100);
  }
  return (
    `not answering GET ${path} on ${tls ? 'https' : 'http'}://127.0.0.1:${port} after ${timeoutMs} ms: ${lastProblem}` +
    (child !== null ? describeOutput(child) : '')
  );
}

// '' when the response is a 200 carrying exactly expectedBody.
export function describeMismatch(response: FetchedResponse, expectedBody: Buffer): string {
  if (response.status !== 200) return `status ${response.status}`;
  if (response.body.length !== expectedBody.length) {
    return `body is ${response.body.length} bytes, expected ${expectedBody.length}`;
  }
  if (!response.body.equals(expectedBody)) return 'body bytes differ from what the backend sent';
  return '';
}

function describeOutput(child: ManagedChild): string {
  const tail = child.outputTail.trim();
  if (tail === '') return '';
  const lastLines = tail.split('\n').slice(-5).join(' | ');
  return `; output: ${lastLines}`;
}

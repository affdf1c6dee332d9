// One probe of one server: an HTTP request, a TCP connect, or one line read
// from an agent. Every probe is bounded by its timeout, ends early when the
// owner aborts, and resolves (never rejects) with what happened.
import net from 'node:net';
import { Client, buildConnector } from 'undici';
import type { ServerTlsSpec } from '../config/model.ts';
import { encodeProxyHeader } from '../net/proxy-protocol.ts';
import { upstreamServername } from '../tls/upstream.ts';
import { BODY_LIMIT, statusAccepted, type HttpCheckSpec } from './spec.ts';

export type ProbeResult = { ok: true; reason: string } | { ok: false; reason: string };

/** The longest agent line read; HAProxy's agent reads one small buffer too. */
export const AGENT_LINE_LIMIT = 1024;

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && typeof e.message === 'string' && !e.message.includes(e.code)) return `${e.code}: ${e.message}`;
  return typeof e.message === 'string' ? e.message : String(err);
}

/** `host:port` for a Host header or a URL authority. */
export function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * HTTP checks of one server through one undici Client. Each check asks for
 * `Connection: close`, so it opens a fresh connection as HAProxy's checks
 * do: a server that stopped accepting connections fails even while old
 * keep-alive connections to it still answer.
 */
export class HttpProber {
  private readonly client: Client;
  private readonly spec: HttpCheckSpec;
  private readonly headers: Record<string, string>;

  /**
   * `sendProxy`: the server expects a PROXY header; a check sends v1 UNKNOWN or v2 LOCAL (its own connection), as HAProxy's do.
   * `tls`: the server speaks TLS; a check does too, verifying as the data path does (a server that fails verification is down).
   */
  constructor(host: string, port: number, spec: HttpCheckSpec, sendProxy: 0 | 1 | 2 = 0, tls?: ServerTlsSpec) {
    this.spec = spec;
    this.headers = { host: authority(host, port), connection: 'close', 'user-agent': 'tcpvs-health-check' };
    let connect: buildConnector.connector | buildConnector.BuildOptions = { timeout: spec.timeoutMs };
    if (tls !== undefined) {
      connect = {
        timeout: spec.timeoutMs,
        ca: tls.verify === 'ca' ? tls.caPem : undefined,
        rejectUnauthorized: tls.verify !== 'no-verify',
        servername: upstreamServername(host, tls.sni),
      };
    }
    if (sendProxy !== 0) {
      const base = buildConnector({ timeout: spec.timeoutMs });
      const header = encodeProxyHeader(sendProxy, null);
      connect = (options, callback) =>
        base(options, (...args) => {
          if (args[0] === null) args[1].write(header);
          callback(...args);
        });
    }
    this.client = new Client(`${tls === undefined ? 'http' : 'https'}://${authority(host, port)}`, {
      connect,
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
      pipelining: 1,
    });
  }

  async probe(stop: AbortSignal): Promise<ProbeResult> {
    const { timeoutMs, expect, body: bodyRe } = this.spec;
    if (stop.aborted) return { ok: false, reason: 'stopped' };
    // One controller for both ends of the check: its timeout and the owner's stop.
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    const onStop = () => abort.abort();
    stop.addEventListener('abort', onStop);
    try {
      const res = await this.client.request({
        path: this.spec.path,
        method: this.spec.method,
        headers: this.headers,
        signal: abort.signal,
      });
      // Destroying an unread body emits an abort error; the connection closes anyway.
      res.body.on('error', () => {});
      if (!statusAccepted(expect, res.statusCode)) {
        res.body.destroy();
        return { ok: false, reason: `status ${res.statusCode}` };
      }
      if (bodyRe === null) {
        res.body.destroy();
        return { ok: true, reason: `status ${res.statusCode}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT) break; // leaving the loop destroys the body
      }
      const text = Buffer.concat(chunks, Math.min(size, BODY_LIMIT)).toString('utf8');
      if (!bodyRe.test(text)) return { ok: false, reason: `status ${res.statusCode}, body does not match ${bodyRe}` };
      return { ok: true, reason: `status ${res.statusCode}, body matches` };
    } catch (err) {
      if (timedOut) return { ok: false, reason: `no answer within ${timeoutMs}ms` };
      if (stop.aborted) return { ok: false, reason: 'stopped' };
      return { ok: false, reason: describe(err) };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  close(): void {
    this.client.destroy().catch(() => {});
  }
}

/**
 * A TCP connect. The socket is closed with a reset, as HAProxy closes its
 * TCP checks, so a check every few seconds leaves no TIME_WAIT behind.
 */
export function probeTcp(host: string, port: number, timeoutMs: number, stop: AbortSignal, sendProxy: 0 | 1 | 2 = 0): Promise<ProbeResult> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve({ ok: false, reason: 'stopped' });
    const socket = net.connect({ host, port });
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      if (result.ok && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
      resolve(result);
    };
    const onStop = () => finish({ ok: false, reason: 'stopped' });
    const timer = setTimeout(() => finish({ ok: false, reason: `no connection within ${timeoutMs}ms` }), timeoutMs);
    stop.addEventListener('abort', onStop);
    // A server that expects a PROXY header gets one (v1 UNKNOWN or v2 LOCAL) before the reset.
    socket.once('connect', () => {
      if (sendProxy === 0) finish({ ok: true, reason: 'connected' });
      else socket.write(encodeProxyHeader(sendProxy, null), () => finish({ ok: true, reason: 'connected' }));
    });
    socket.once('error', (err) => finish({ ok: false, reason: describe(err) }));
  });
}

export type AgentRead = { ok: true; line: string } | { ok: false; reason: string };

/** Connects to an agent and reads one line: up to `\n`, the agent's close, or AGENT_LINE_LIMIT bytes. */
export function readAgentLine(host: string, port: number, timeoutMs: number, stop: AbortSignal): Promise<AgentRead> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve({ ok: false, reason: 'stopped' });
    const socket = net.connect({ host, port });
    const buffer = Buffer.allocUnsafe(AGENT_LINE_LIMIT);
    let length = 0;
    let settled = false;
    const finish = (result: AgentRead) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      socket.destroy();
      resolve(result);
    };
    const line = (): AgentRead => {
      const newline = buffer.subarray(0, length).indexOf(10);
      const text = buffer.toString('latin1', 0, newline === -1 ? length : newline).replace(/\r$/, '');
      return { ok: true, line: text };
    };
    const onStop = () => finish({ ok: false, reason: 'stopped' });
    // A line cut short by the timeout or a reset may be a truncated one ("5" of "50%"): only a close ends it.
    const timer = setTimeout(() => finish({ ok: false, reason: `no complete line within ${timeoutMs}ms` }), timeoutMs);
    stop.addEventListener('abort', onStop);
    socket.on('data', (chunk: Buffer) => {
      const n = Math.min(chunk.length, AGENT_LINE_LIMIT - length);
      chunk.copy(buffer, length, 0, n);
      length += n;
      if (chunk.subarray(0, n).includes(10) || length >= AGENT_LINE_LIMIT) finish(line());
    });
    socket.once('end', () => finish(length > 0 ? line() : { ok: false, reason: 'closed without a reply' }));
    socket.once('error', (err) => finish({ ok: false, reason: describe(err) }));
  });
}

// The state of the request in progress on a connection, shared by the
// session, the exchange and the response relay: one object per session,
// reset in one place (begin) for each request, and its accounting at the end
// (statistics, passive checks, observers, the access log).
import { performance } from 'node:perf_hooks';
import type { Choice } from './choice.ts';
import type { RequestOutcome, RequestRecord } from './observer.ts';
import type { SessionContext } from './session-context.ts';

/** The request head fields a request starts from (HeadParser has them). */
export interface StartingHead {
  readonly method: string;
  readonly url: string;
  readonly versionMinor: number;
  readonly keepAlive: boolean;
}

export class RequestState {
  method = '';
  url = '';
  clientMinor = 1;
  isHeadRequest = false;
  /** The connection closes after this response. */
  closeAfter = false;
  /** An HTTP/1.0 client asked for keep-alive: the response says it keeps it. */
  http10KeepAlive = false;
  /** The Upgrade value of an upgrade request, else null. */
  upgrade: string | null = null;
  /** What the client got (0 while nothing). */
  status = 0;
  /** Any response byte sent to the client. */
  sent = false;
  bytesIn = 0;
  bytesOut = 0;
  private startedAt = 0; // performance.now()
  private open = false; // begun, and end() has not run for it
  private readonly record: RequestRecord;

  constructor(service: string) {
    this.record = { service, group: null, server: null, status: 0, bytesIn: 0, bytesOut: 0, durationMs: 0, outcome: 'ok' };
  }

  /** A request whose head of `headBytes` has just been parsed. */
  begin(head: StartingHead, headBytes: number): void {
    this.startedAt = performance.now();
    this.open = true;
    this.method = head.method;
    this.url = head.url;
    this.clientMinor = head.versionMinor;
    this.isHeadRequest = head.method === 'HEAD';
    this.closeAfter = !head.keepAlive;
    this.http10KeepAlive = head.versionMinor === 0 && head.keepAlive;
    this.upgrade = null;
    this.status = 0;
    this.sent = false;
    this.bytesIn = headBytes;
    this.bytesOut = 0;
  }

  /** A head that could not be parsed: no method to log, and no request to count. */
  malformed(): void {
    this.method = '';
    this.isHeadRequest = false;
  }

  /** Once per request, at its end: the counters, passive checks, observers and the access log line. */
  end(ctx: SessionContext, clientAddress: string, choice: Choice, outcome: RequestOutcome): void {
    if (!this.open) return;
    this.open = false;
    const durationMs = performance.now() - this.startedAt;
    const group = choice.group;
    const server = choice.chosen;
    if (group !== null && server !== null && group.passive !== null) group.passive.requestEnded(server, outcome, this.status);
    const now = Date.now();
    ctx.countRequest(group, server, this.status, this.bytesIn, this.bytesOut, durationMs, outcome, now);
    if (ctx.observers.length > 0) {
      const r = this.record;
      r.group = group;
      r.server = server;
      r.status = this.status;
      r.bytesIn = this.bytesIn;
      r.bytesOut = this.bytesOut;
      r.durationMs = durationMs;
      r.outcome = outcome;
      for (const o of ctx.observers) o.requestEnded(r);
    }
    const accessLog = ctx.accessLog;
    if (accessLog !== null) {
      const q = this.url.indexOf('?');
      accessLog.write(
        now,
        clientAddress,
        this.method,
        q === -1 ? this.url : this.url.slice(0, q),
        choice.ruleName,
        group?.name ?? '',
        server?.name ?? '',
        this.status,
        this.bytesIn,
        this.bytesOut,
        Math.round(durationMs * 1000) / 1000,
      );
    }
  }
}

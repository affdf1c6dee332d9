// What the parts of the request path need of each other: a client session
// of its service (SessionContext, which ServiceRuntime implements), and the
// exchange of its session (ExchangeSession, which ClientSession implements).
// The parts depend on these interfaces, not on service.ts or
// client-session.ts, so no two files import each other.
import type { ServiceSpec } from '../config/model.ts';
import type { HeadParser } from '../http/llhttp.ts';
import type { AccessLog } from '../log/access-log.ts';
import type { Logger } from '../log/logger.ts';
import type { RequestView } from '../route/request-view.ts';
import type { Router } from '../route/router.ts';
import type { PickContext, RealServer } from '../sched/scheduler.ts';
import type { GroupRuntime } from './group.ts';
import type { RequestOutcome, ServiceObserver } from './observer.ts';
import type { Tunnel } from './tunnel.ts';

export interface SessionContext {
  /** The spec in force now: a config change replaces it, and each new request reads it afresh. */
  readonly spec: ServiceSpec;
  readonly log: Logger;
  readonly accessLog: AccessLog | null;
  readonly router: Router;
  readonly groups: ReadonlyMap<string, GroupRuntime>;
  // Scratch objects shared by the service's sessions: routing and picking
  // run to completion synchronously, so one of each is enough.
  readonly requestView: RequestView;
  readonly pickContext: PickContext;
  readonly observers: readonly ServiceObserver[];
  /** Counts a request that ended (service.ts says where). */
  countRequest(
    group: GroupRuntime | null,
    server: RealServer | null,
    status: number,
    bytesIn: number,
    bytesOut: number,
    durationMs: number,
    outcome: RequestOutcome,
    nowMs: number,
  ): void;
  /** A request parser for a new connection, from the service's free list. */
  takeRequestParser(): HeadParser;
  /** The session has closed: the service forgets it and takes its parser back. */
  forget(session: object, parser: HeadParser): void;
}

/** What the exchange asks of the client session it serves (client-session.ts). */
export interface ExchangeSession {
  readonly clientAddress: string;
  /** 'https' on a TLS connection (tls-listener.ts): X-Forwarded-Proto. */
  readonly proto: 'http' | 'https';
  /** The SNI name a `strict-sni` service holds this connection's requests to; null: no such rule. */
  readonly sniName: string | null;
  /** The SNI name of a TLS connection, for `sni` matchers; '' otherwise. */
  readonly serverName: string;
  /** The PROXY header naming this client, for a send-proxy server. */
  proxyHeader(version: 1 | 2): Buffer;
  /** The server pushes back: stop reading the client. */
  pauseForUpstream(): void;
  /** The server drained. */
  resumeFromUpstream(): void;
  /** Answers the request locally; -1 when the connection closes. */
  refuse(status: number, reason: string, bodyPending?: boolean, outcome?: RequestOutcome): number;
  /** The response is done: the next request, or the end of the connection. */
  nextRequest(): void;
  tunnelOpened(tunnel: Tunnel): void;
  /** The client half-closed and sent nothing more: this response is its last. */
  lastAnswer(): boolean;
  endClient(): void;
  destroy(): void;
  fail(err: unknown): void;
}

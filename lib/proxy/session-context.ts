// What a client session needs of the service it belongs to. ServiceRuntime
// (service.ts) implements it; the session and its parts depend on this
// interface only, so service.ts alone knows both sides.
import type { ServiceSpec } from '../config/model.ts';
import type { HeadParser } from '../http/llhttp.ts';
import type { AccessLog } from '../log/access-log.ts';
import type { Logger } from '../log/logger.ts';
import type { RequestView } from '../route/request-view.ts';
import type { Router } from '../route/router.ts';
import type { PickContext, RealServer } from '../sched/scheduler.ts';
import type { GroupRuntime } from './group.ts';
import type { RequestOutcome, ServiceObserver } from './observer.ts';

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

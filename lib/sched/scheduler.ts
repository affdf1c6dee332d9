// One small interface for every scheduler, as HAProxy's lb_*.c files share one
// set of callbacks. A scheduler picks among the real servers of one group; it
// never sees sockets or rules. Each scheduler lives in its own file.
import type { SchedulerTuning } from '../config/model.ts';

export interface RealServer {
  readonly id: number; // index within its group, stable for the group's life
  readonly host: string;
  readonly port: number;
  readonly name: string; // "host:port", "[v6]:port"
  weight: number; // 0 = quiescent
  up: boolean; // false: marked down, skipped by every scheduler
  active: number; // requests in flight on this server (the L7 "connection" count)
  total: number; // requests sent, ever
}

export interface PickContext {
  // The request's key for hashing and locality schedulers, as the group's
  // `key` setting says (path by default); undefined when the request has none.
  key: string | undefined;
  clientAddress: string;
}

export interface Scheduler {
  readonly name: string;
  /** Whether pick() reads ctx.key; the data path skips reading keys nobody uses. */
  readonly usesKey: boolean;
  /** The server for this request, or null when none is usable (503). */
  pick(ctx: PickContext): RealServer | null;
  /** Called after weights or up/down states change. */
  refresh(): void;
}

export interface SchedulerOptions extends SchedulerTuning {
  hashSubmatch?: number;
  // Milliseconds, for schedulers with timed state (lblc, lblcr); tests inject
  // one. Must be above 0 (lru-cache treats a start time of 0 as "no TTL").
  clock?: () => number;
}

export type SchedulerFactory = (servers: readonly RealServer[], options: SchedulerOptions) => Scheduler;

/** Usable for new requests: up and not quiescent. */
export function available(s: RealServer): boolean {
  return s.up && s.weight > 0;
}

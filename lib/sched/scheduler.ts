// One small interface for every scheduler, as HAProxy's lb_*.c files share one
// set of callbacks. A scheduler picks among the real servers of one group; it
// never sees sockets or rules. Each scheduler lives in its own file.
import type { SchedulerTuning } from '../config/model.ts';
import type { SharedLruTable } from '../state/lru-table.ts';
import { W_ACTIVE, W_PEAK, createServerShare, raisePeak, stripeTotalIndex, stripeWord } from '../state/server-share.ts';

let localUids = 0;

/**
 * A real server as a scheduler sees it. `up` and `weight` are this thread's
 * copy of what the control plane decided (the data path refreshes them when
 * the group's state changes); `active`, the requests in flight, is read live
 * from the server's shared record, so every worker sees every worker's load.
 */
export class RealServer {
  /** Index within its group's current server list (schedulers index their arrays by it). */
  id: number;
  /** The control plane's identity of this server: stable while it stays in its group. */
  readonly uid: number;
  readonly host: string;
  readonly port: number;
  readonly name: string; // "host:port", "[v6]:port"
  weight: number; // 0 = quiescent
  up: boolean; // false: marked down, skipped by every scheduler
  /** The shared record (lib/state/server-share.ts). */
  readonly share: Int32Array;
  private readonly stripe: number;
  private readonly sent: Float64Array; // the same buffer
  private readonly sentIndex: number;

  constructor(id: number, uid: number, host: string, port: number, weight: number, share: Int32Array, stripe: number) {
    this.id = id;
    this.uid = uid;
    this.host = host;
    this.port = port;
    this.name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.weight = weight;
    this.up = true;
    this.share = share;
    this.stripe = stripeWord(stripe);
    this.sent = new Float64Array(share.buffer);
    this.sentIndex = stripeTotalIndex(stripe);
  }

  /** Requests this thread has sent the server. */
  get total(): number {
    return this.sent[this.sentIndex];
  }

  set total(value: number) {
    this.sent[this.sentIndex] = value;
  }

  /** Requests in flight on this server, in every worker. */
  get active(): number {
    return this.share[W_ACTIVE];
  }

  /** For simulations and the L4 core's own records; the data path uses begin()/end(). */
  set active(value: number) {
    this.share[this.stripe] += value - this.share[W_ACTIVE];
    Atomics.store(this.share, W_ACTIVE, value);
  }

  /** A request was sent to this server. */
  begin(): void {
    const active = Atomics.add(this.share, W_ACTIVE, 1) + 1;
    // A plain read per request; the store only when a peak is passed (rare).
    if (active > this.share[W_PEAK]) raisePeak(this.share, active);
    this.share[this.stripe]++;
    this.sent[this.sentIndex]++;
  }

  /** A request to this server ended. */
  end(): void {
    Atomics.sub(this.share, W_ACTIVE, 1);
    this.share[this.stripe]--;
  }
}

/** A RealServer with a record of its own (one worker): for the L4 core, tests and tools. */
export function localRealServer(id: number, host: string, port: number, weight: number): RealServer {
  return new RealServer(id, --localUids, host, port, weight, new Int32Array(createServerShare(1, weight)), 0);
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
  // Milliseconds since the epoch, for schedulers with timed state (lblc,
  // lblcr); tests inject one. Date.now by default.
  clock?: () => number;
  /** lblc, lblcr: the group's key table in shared memory; a private one when absent. */
  keyTable?: SharedLruTable;
  /** chbl: the group's shared words (lib/state/group-share.ts); private ones when absent. */
  groupWords?: Int32Array;
  /** This thread's lock owner id for shared tables (its worker number + 1). */
  lockOwner?: number;
}

export type SchedulerFactory = (servers: readonly RealServer[], options: SchedulerOptions) => Scheduler;

/** Usable for new requests: up and not quiescent. */
export function available(s: RealServer): boolean {
  return s.up && s.weight > 0;
}

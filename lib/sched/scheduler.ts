// One small interface for every scheduler, as HAProxy's lb_*.c files share one
// set of callbacks. A scheduler picks among the real servers of one group; it
// never sees sockets or rules. Each scheduler lives in its own file.
import type { GroupSpec, SchedulerTuning } from '../config/model.ts';
import type { Parsed } from '../config/tokenize.ts';
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

/**
 * One scheduler instance over one group's servers. Besides pick(), it hears
 * of every change to a server it schedules, as HAProxy's lbprm callbacks, and
 * updates its own structures by the change alone: round robin and the
 * least-load family read `up` and `weight` live and do nothing; wrr rescales
 * credits in O(n); the hashing schedulers rebuild a table or ring only when
 * the change alters what it holds. Whoever writes `up` or `weight` calls the
 * matching callback after the write (setServerState() does both).
 *
 * There is no taken/dropped pair: no scheduler keeps its own load counts,
 * because `active` lives in the server's shared record, written by every
 * worker, so a per-worker sorted structure (HAProxy's fwlc tree) could not
 * follow the other workers' requests.
 */
export interface Scheduler {
  readonly name: string;
  /** Whether pick() reads ctx.key; the data path skips reading keys nobody uses. */
  readonly usesKey: boolean;
  /** The server for this request, or null when none is usable (503). */
  pick(ctx: PickContext): RealServer | null;
  /** `server.up` became true. */
  serverUp(server: RealServer): void;
  /** `server.up` became false. */
  serverDown(server: RealServer): void;
  /** `server.weight` changed from `previous`. */
  weightChanged(server: RealServer, previous: number): void;
}

/**
 * Writes a server's status and weight and tells the scheduler, in the order
 * that spares the hashing schedulers a rebuild: a server going down does so
 * before its weight changes, one coming up after, so a weight change is seen
 * while it is out of the table. True when anything changed.
 */
export function setServerState(scheduler: Scheduler, server: RealServer, up: boolean, weight: number): boolean {
  const wasUp = server.up;
  const previous = server.weight;
  if (wasUp === up && previous === weight) return false;
  if (wasUp && !up) {
    server.up = false;
    scheduler.serverDown(server);
  }
  if (previous !== weight) {
    server.weight = weight;
    scheduler.weightChanged(server, previous);
  }
  if (!wasUp && up) {
    server.up = true;
    scheduler.serverUp(server);
  }
  return true;
}

export interface SchedulerOptions extends SchedulerTuning {
  // Milliseconds since the epoch, for schedulers with timed state (lblc,
  // lblcr); tests inject one. Date.now by default.
  clock?: () => number;
  /** lblc, lblcr: the group's key table in shared memory; a private one when absent. */
  keyTable?: SharedLruTable;
  /** chbl, mh with bounded load: the group's shared words (lib/state/group-share.ts); private ones when absent. */
  groupWords?: Int32Array;
  /** This thread's lock owner id for shared tables (its worker number + 1). */
  lockOwner?: number;
}

export type SchedulerFactory = (servers: readonly RealServer[], options: SchedulerOptions) => Scheduler;

/**
 * A group statement that tunes one scheduler (`table-size 65537`): its
 * syntax, its SchedulerTuning field, and how it is read and printed. A knob
 * two schedulers share (lblc and lblcr's `expire`) is one object both list.
 */
export interface SchedulerKnob {
  readonly statement: string;
  readonly field: keyof SchedulerTuning;
  readonly usage: string;
  parse(text: string): Parsed<number | string>;
  print(value: number | string): string;
  /**
   * What is wrong with this knob's value (undefined: not set, the default)
   * in this group, or null. Checked by the validator once the group is
   * complete, e.g. mh's table size against its server count.
   */
  check?(value: number | string | undefined, group: GroupSpec): string | null;
}

/**
 * Everything about one scheduler that the rest of tcpvs needs: the parser,
 * the printer, the validator, tcpvsadm and the data path all read these
 * (lib/sched/index.ts lists them), so adding a scheduler is one file and one
 * line in that list.
 */
export interface SchedulerDescriptor {
  readonly name: string;
  /** Whether pick() reads the request key, so `key` applies to its groups. */
  readonly usesKey: boolean;
  readonly knobs: readonly SchedulerKnob[];
  readonly create: SchedulerFactory;
}

/** For schedulers that precompute nothing from `up` and `weight`: the callbacks have nothing to do. */
export abstract class LiveScheduler implements Scheduler {
  abstract readonly name: string;
  abstract readonly usesKey: boolean;
  abstract pick(ctx: PickContext): RealServer | null;
  serverUp(): void {}
  serverDown(): void {}
  weightChanged(): void {}
}

/** Usable for new requests: up and not quiescent. */
export function available(s: RealServer): boolean {
  return s.up && s.weight > 0;
}

// Passive ejection, the data path's half. Consecutive failed requests are
// counted per server in its shared record, so every worker's requests add to
// one count; the request that brings it to the group's `eject after N
// failures` marks the server ejected in that record (every data path skips
// it from its next request on) and tells the control plane, which owns the
// backoff, the readmission and the log (lib/health/group-health.ts).
import type { RealServer } from '../sched/scheduler.ts';
import { G_VERSION } from '../state/group-share.ts';
import { STATUS_EJECTED, W_FAILURES, W_STATUS } from '../state/server-share.ts';
import type { RequestOutcome } from './outcome.ts';

/** What the data path tells the control plane of its own accord. */
export interface DataPathEvents {
  /** The data path ejected this server after its failures (uid, why). */
  serverEjected(uid: number, reason: string): void;
}

/** Whether a request's end says the server is unwell. */
export function requestFailed(outcome: RequestOutcome, status: number): boolean {
  // 501 and 505 say the server does not support the request, not that it is unwell.
  return (
    outcome === 'connect-failed' || outcome === 'upstream-failed' || (outcome === 'ok' && status >= 500 && status !== 501 && status !== 505)
  );
}

export class PassiveEjection {
  private readonly failures: number;
  private readonly connectOnly: boolean;
  private readonly groupWords: Int32Array;
  private readonly events: DataPathEvents;

  /** connectOnly: only connect failures count (a group's default ejection, without `eject`). */
  constructor(failures: number, connectOnly: boolean, groupWords: Int32Array, events: DataPathEvents) {
    this.failures = failures;
    this.connectOnly = connectOnly;
    this.groupWords = groupWords;
    this.events = events;
  }

  requestEnded(server: RealServer, outcome: RequestOutcome, status: number): void {
    const words = server.share;
    if (!requestFailed(outcome, status) || (this.connectOnly && outcome !== 'connect-failed')) {
      // tcpvs's own refusals and client aborts say nothing about the server.
      if (outcome === 'ok' && words[W_FAILURES] !== 0) Atomics.store(words, W_FAILURES, 0);
      return;
    }
    if ((Atomics.load(words, W_STATUS) & STATUS_EJECTED) !== 0) return;
    if (outcome === 'connect-failed') return this.eject(server, `connect failed (status ${status})`);
    // Exactly one request reaches the count, in whichever worker: it ejects.
    if (Atomics.add(words, W_FAILURES, 1) + 1 !== this.failures) return;
    this.eject(server, `${this.failures} consecutive failed requests (last: ${outcome}, status ${status})`);
  }

  /**
   * A connect to the server failed (refused, reset or timed out before it
   * was established): it is out at once, whatever the count, as the request
   * goes to another server (request-sender.ts, redispatch).
   */
  connectFailed(server: RealServer, reason: string): void {
    if ((Atomics.load(server.share, W_STATUS) & STATUS_EJECTED) !== 0) return;
    this.eject(server, `connect failed: ${reason}`);
  }

  private eject(server: RealServer, reason: string): void {
    // Exactly one caller sets the bit, in whichever worker: it tells the control plane.
    if ((Atomics.or(server.share, W_STATUS, STATUS_EJECTED) & STATUS_EJECTED) !== 0) return;
    Atomics.add(this.groupWords, G_VERSION, 1);
    this.events.serverEjected(server.uid, reason);
  }
}

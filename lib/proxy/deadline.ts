// A session's one deadline and what it is for. The service's timer sweep
// checks every session's (service.ts) instead of a timer per request, so the
// hot path only stores a number.
export const D_NONE = 0;
export const D_IDLE = 1; // keep-alive idle: close quietly
export const D_HEAD = 2; // slowloris: 408
export const D_CONNECT = 3; // upstream connect: 504
export const D_RESPONSE = 4; // upstream response (or transfer stalled): 504 or close
export const D_BODY = 5; // the request body, all of it (timeout client-body): 408 or close

export class Deadline {
  /** What passes at `at`: D_NONE, or one of the kinds above. */
  kind = D_NONE;
  /** Epoch ms. */
  at = 0;

  /** `kind` in `ms` from now. */
  set(kind: number, ms: number): void {
    this.kind = kind;
    this.at = Date.now() + ms;
  }

  /** `kind` at `at` (epoch ms). */
  setAt(kind: number, at: number): void {
    this.kind = kind;
    this.at = at;
  }

  clear(): void {
    this.kind = D_NONE;
  }

  due(now: number): boolean {
    return this.kind !== D_NONE && now >= this.at;
  }
}

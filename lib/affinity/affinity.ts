// The one interface the data path calls per request of a group that has
// affinity (groups without it keep `affinity === null` and do no work at all).
//
// Per request, in the client session:
//
//   const pinned = affinity.lookup(view);                 // before scheduling
//   let server = pinned ?? scheduler.pick(ctx);
//   if (pinned === null && server !== null) server = affinity.pin(view, server);
//   const upHeaders = affinity.rewritesRequest ? affinity.rewriteRequestHeaders(p.headers) : p.headers;
//   ... the final (non-1xx) response head from `server`:
//   const downHeaders = affinity.rewritesResponse
//     ? affinity.rewriteResponseHeaders(res.headers, server, pinned) : res.headers;
//
// `pinned` is per exchange state the session keeps: an Affinity object is
// shared by every session of its group and remembers nothing per request.
// Header lists are flat [name, value, ...] as llhttp delivers them; the
// rewrite methods never modify their argument and return it unchanged (the
// same array) when there is nothing to do.
import type { RequestView } from '../route/request-view.ts';
import type { RealServer } from '../sched/scheduler.ts';
import type { SharedLruTable } from '../state/lru-table.ts';

export interface Affinity {
  readonly kind: 'source' | 'cookie' | 'header';
  /** Whether rewriteRequestHeaders can change anything (cookie insert and prefix modes). */
  readonly rewritesRequest: boolean;
  /** Whether rewriteResponseHeaders can change anything (every cookie mode). */
  readonly rewritesResponse: boolean;

  /**
   * The server this request is pinned to, when that server is still up;
   * null otherwise (no pin, an unknown or forged cookie id, a pin to a server
   * that is down or no longer in the group), and the scheduler chooses.
   * A server of weight 0 (quiescent) is still returned: it keeps serving the
   * sessions pinned to it, only new sessions avoid it (as IPVS and HAProxy).
   * A hit counts as a use: the pin's timeout starts again.
   */
  lookup(req: RequestView): RealServer | null;

  /**
   * Records that this request's client/session now belongs to `server`
   * (source and header tables), and returns the server it belongs to: when
   * another worker pinned the same client in the meantime, that pin wins and
   * its server is returned. Call it when lookup() returned null and the
   * scheduler chose; calling it after a hit is harmless. Cookies: `server`
   * (the client carries the pin).
   */
  pin(req: RequestView, server: RealServer): RealServer;

  /** The request's header list as sent upstream: tcpvs's own cookie removed (insert) or its prefix stripped (prefix). */
  rewriteRequestHeaders(headers: string[]): string[];

  /**
   * The response's header list as sent to the client: Set-Cookie added
   * (insert, when the request did not already carry `server`'s id) or the
   * application's cookie rewritten (rewrite, prefix). `pinned` is what
   * lookup() returned for this request.
   */
  rewriteResponseHeaders(headers: string[], server: RealServer, pinned: RealServer | null): string[];

  /**
   * Takes a new server list (a reload). Pins are kept by server uid: a pin
   * to a server still in the list holds, one to a removed server is ignored.
   */
  updateServers(servers: readonly RealServer[]): void;

  /** Pins in the table (source, header; expired ones may count until touched); 0 for cookies. */
  size(): number;
}

export interface AffinityOptions {
  /** The group's name: the default cookie secret derives from it. */
  groupName: string;
  /** Milliseconds since the epoch, for tests; Date.now by default. */
  clock?: () => number;
  /** The group's pin table in shared memory (source, header); a private one when absent. */
  table?: SharedLruTable;
  /** This thread's lock owner id for the table (its worker number + 1). */
  lockOwner?: number;
}

// The choice of a server for a request: the rule table names a group, the
// group's affinity may name a server, else its scheduler picks one by the
// request's key (and affinity pins the client to it). One object per session,
// reused request after request; the service's request view must hold the
// request while a choice is made.
import type { RequestView } from '../route/request-view.ts';
import type { RealServer } from '../sched/scheduler.ts';
import type { ServerPool } from '../upstream/pool.ts';
import type { GroupRuntime } from './group.ts';
import type { SessionContext } from './session-context.ts';

export class Choice {
  /** The rule that matched ('default' for the default group); for the access log. */
  ruleName = '';
  group: GroupRuntime | null = null;
  /** The server in use: begun, and ended by release(). */
  server: RealServer | null = null;
  /** The server the request went to last, kept after release() for the record. */
  chosen: RealServer | null = null;
  /** What affinity returned for this request (the response may be rewritten by it). */
  pinned: RealServer | null = null;
  /** The chosen server's pool. */
  pool: ServerPool | null = null;
  private submatch: string | undefined = undefined; // the rule's keyed submatch, for the scheduler's key

  reset(): void {
    this.ruleName = '';
    this.group = null;
    this.server = null;
    this.chosen = null;
    this.pinned = null;
    this.pool = null;
    this.submatch = undefined;
  }

  /** Routes the request in `ctx.requestView` and picks a server: 0, or 404 (no rule) or 503 (no usable server). */
  choose(ctx: SessionContext, clientAddress: string): number {
    const view = ctx.requestView;
    const route = ctx.router.route(view);
    if (route === null) return 404;
    this.ruleName = route.rule === null ? 'default' : route.rule.name;
    this.submatch = route.key;
    const group = ctx.groups.get(route.group)!;
    this.group = group;
    group.sync();
    return this.pick(ctx, view, clientAddress, null) ? 0 : 503;
  }

  /**
   * After a failed connect (the server is released and ejected by then):
   * another server of the same group, never `failed` again. False when
   * there is none.
   */
  chooseAgain(ctx: SessionContext, clientAddress: string, failed: RealServer): boolean {
    this.group!.sync();
    return this.pick(ctx, ctx.requestView, clientAddress, failed);
  }

  /** A pinned session goes to its server; everyone else is scheduled (and pinned). */
  private pick(ctx: SessionContext, view: RequestView, clientAddress: string, failed: RealServer | null): boolean {
    const group = this.group!;
    const affinity = group.affinity;
    const pinned = affinity === null ? null : affinity.lookup(view);
    let server = pinned;
    if (server === null) {
      const pickCtx = ctx.pickContext;
      pickCtx.key = group.scheduler.usesKey ? group.keyOf(view, this.submatch) : undefined;
      pickCtx.clientAddress = clientAddress;
      server = group.scheduler.pick(pickCtx);
      if (server === null || server === failed) return false;
      if (affinity !== null) server = affinity.pin(view, server);
    }
    this.pinned = pinned;
    this.server = server;
    this.chosen = server;
    this.pool = group.pools[server.id];
    server.begin();
    return true;
  }

  /** The request is done with its server (or failed on it). */
  release(): void {
    if (this.server !== null) {
      this.server.end();
      this.server = null;
    }
  }
}

// For scheduler tests that write `up` and `weight` directly and then want the
// scheduler to catch up: tells it that every server may have changed, as a
// control plane that lost track would. Tests of the single callbacks call
// them one by one (or setServerState) instead.
import type { RealServer, Scheduler } from '../../lib/sched/index.ts';

export function resync(scheduler: Scheduler, servers: readonly RealServer[]): void {
  for (const server of servers) {
    if (server.up) scheduler.serverUp(server);
    else scheduler.serverDown(server);
    scheduler.weightChanged(server, server.weight);
  }
}

// Fake real servers and request views for the affinity unit tests.
import { RequestView } from '../../lib/route/request-view.ts';
import { localRealServer, type RealServer } from '../../lib/sched/scheduler.ts';

export function fakeServers(...hosts: string[]): RealServer[] {
  return hosts.map((host, id) => localRealServer(id, host, 8080, 1));
}

export function request(clientAddress: string, headers: string[] = []): RequestView {
  const view = new RequestView();
  view.reset('GET', '/', ['Host', 'shop.example', ...headers], clientAddress);
  return view;
}

/** A clock for lru-cache TTLs: starts above 0 and moves only when told. */
export function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

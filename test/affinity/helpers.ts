// Fake real servers and request views for the affinity unit tests.
import { RequestView } from '../../lib/route/request-view.ts';
import type { RealServer } from '../../lib/sched/scheduler.ts';

export function fakeServers(...hosts: string[]): RealServer[] {
  return hosts.map((host, id) => ({
    id,
    host,
    port: 8080,
    name: host.includes(':') ? `[${host}]:8080` : `${host}:8080`,
    weight: 1,
    up: true,
    active: 0,
    total: 0,
  }));
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

// Locality-based least connection, as IPVS's ip_vs_lblc, with the request key
// (ctx.key, the group's `key` setting) in place of IPVS's destination address:
// each key sticks to one server, so that server's cache holds the key's data,
// and moves only when that server is down, quiescent or overloaded.
//
// The rules, as ip_vs_lblc.c has them (the weight doubles as the number of
// requests in flight a server takes before it counts as overloaded):
// - a key not in the table goes to the weighted-least-connection server (wlc)
//   and is entered in the table with it;
// - a key in the table goes to its server, unless that server is down, has
//   weight 0, or is overloaded: active > weight while some (up) server has
//   active * 2 < weight. Then wlc chooses again and the table is updated;
// - every use refreshes the entry; an entry unused for `expireMs` (default
//   24 h, IPVS's lblc_expiration) is dropped.
// IPVS bounds the table with a periodic garbage collector; here it is an LRU
// of at most `maxEntries` keys (default 16384), so a flood of new keys evicts
// the least recently used. Keyless requests go to wlc and are not entered.

import { LRUCache } from 'lru-cache';
import { available } from './scheduler.ts';
import type { PickContext, RealServer, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
import { TieBreaker, isOverloaded, leastWeightedIndex } from './least-load.ts';

export const DEFAULT_MAX_ENTRIES = 16384;
export const DEFAULT_EXPIRE_MS = 24 * 60 * 60 * 1000;

/**
 * The bounded key table of lblc and lblcr: LRU order, at most maxEntries,
 * an entry expires expireMs after its last use, on the given clock.
 */
export function createKeyTable<V extends {}>(options: SchedulerOptions): LRUCache<string, V> {
  const clock = options.clock ?? Date.now;
  const expireMs = options.expireMs ?? DEFAULT_EXPIRE_MS;
  return new LRUCache<string, V>({
    max: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    ttl: expireMs,
    updateAgeOnGet: true, // IPVS sets lastuse on every hit
    // Read the clock on every check: lru-cache would otherwise cache it for a
    // millisecond behind a timer, and an injected clock must be seen at once.
    ttlResolution: 0,
    perf: { now: clock },
  });
}

export class LocalityLeastConnectionScheduler implements Scheduler {
  readonly name = 'lblc';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  private readonly table: LRUCache<string, number>; // key -> server index
  private readonly ties = new TieBreaker(); // wlc's

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    this.servers = servers;
    this.table = createKeyTable<number>(options);
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    const servers = this.servers;
    if (key !== undefined) {
      const assigned = this.table.get(key);
      if (assigned !== undefined) {
        const server = servers[assigned];
        if (available(server) && !isOverloaded(server, servers)) return server;
      }
    }
    const best = leastWeightedIndex(servers, this.ties);
    if (best === -1) return null;
    if (key !== undefined) this.table.set(key, best);
    return servers[best];
  }

  /** The server index `key` is assigned to, without touching its age; for tests and status. */
  assigned(key: string): number | undefined {
    return this.table.peek(key);
  }

  /** Keys in the table (expired ones may count until touched). */
  get entries(): number {
    return this.table.size;
  }

  refresh(): void {
    // Nothing precomputed: entries name servers by index, and `active`,
    // weights and up/down are read live at each pick.
  }
}

export const createLocalityLeastConnection: SchedulerFactory = (servers, options) =>
  new LocalityLeastConnectionScheduler(servers, options);

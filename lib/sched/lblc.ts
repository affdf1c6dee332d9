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
//
// The table lives in shared memory (lib/state/lru-table.ts): one per group
// for every worker thread, kept across config changes while the group stays
// lblc with the same maxEntries. Entries name servers by uid, so a key whose
// server left the group is scheduled afresh.

import { LiveScheduler, available } from './scheduler.ts';
import type { PickContext, RealServer, SchedulerDescriptor, SchedulerKnob, SchedulerOptions } from './scheduler.ts';
import { LeastWeightedFallback, isOverloaded } from './least-load.ts';
import { formatDuration, parseDuration, parseInteger, type Parsed } from '../config/tokenize.ts';
import { MAX_TABLE_ENTRIES } from '../config/model.ts';
import { SharedLruTable, fingerprintString, newFingerprint, type Fingerprint } from '../state/lru-table.ts';

export const DEFAULT_MAX_ENTRIES = 16384;
export const DEFAULT_EXPIRE_MS = 24 * 60 * 60 * 1000;
/** Int32 words of an lblc entry: the server's uid. */
export const LBLC_WORDS = 1;

/** The key table for lblc or lblcr: the group's shared one, or a private one. */
export function keyTable(options: SchedulerOptions, valueWords: number, timeWords: number): SharedLruTable {
  return options.keyTable ?? SharedLruTable.create({ maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES, valueWords, timeWords });
}

/** Servers by uid, for resolving table entries. */
export function serversByUid(servers: readonly RealServer[]): Map<number, RealServer> {
  return new Map(servers.map((s) => [s.uid, s] as const));
}

// Nothing precomputed, so the change callbacks do nothing: entries name
// servers by uid, and `active`, weights and up/down are read live at each pick.
export class LocalityLeastConnectionScheduler extends LiveScheduler {
  readonly name = 'lblc';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  private readonly byUid: Map<number, RealServer>;
  readonly table: SharedLruTable;
  private readonly owner: number;
  private readonly clock: () => number;
  private readonly expireMs: number;
  private readonly fp: Fingerprint = newFingerprint();
  private readonly fallback: LeastWeightedFallback;

  constructor(servers: readonly RealServer[], options: SchedulerOptions) {
    super();
    this.servers = servers;
    this.fallback = new LeastWeightedFallback(servers);
    this.byUid = serversByUid(servers);
    this.table = keyTable(options, LBLC_WORDS, 0);
    this.owner = options.lockOwner ?? 1;
    this.clock = options.clock ?? Date.now;
    this.expireMs = options.expireMs ?? DEFAULT_EXPIRE_MS;
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    const servers = this.servers;
    const table = this.table;
    if (key !== undefined) {
      fingerprintString(key, table.seed, this.fp);
      let assigned = -1;
      let found = false;
      table.lock(this.owner);
      try {
        const e = table.find(this.fp.hi, this.fp.lo, this.clock(), this.expireMs);
        if (e !== -1) {
          found = true;
          assigned = table.ints[table.valueBase(e)];
        }
      } finally {
        table.unlock();
      }
      if (found) {
        const server = this.byUid.get(assigned);
        if (server !== undefined && available(server) && !isOverloaded(server, servers)) return server;
      }
    }
    const best = this.fallback.index();
    if (best === -1) return null;
    if (key !== undefined) {
      table.lock(this.owner);
      try {
        const now = this.clock();
        let e = table.find(this.fp.hi, this.fp.lo, now, this.expireMs);
        if (e === -1) e = table.insert(this.fp.hi, this.fp.lo, now);
        table.ints[table.valueBase(e)] = servers[best].uid;
      } finally {
        table.unlock();
      }
    }
    return servers[best];
  }

  /** The server index `key` is assigned to, without touching its age; for tests and status. */
  assigned(key: string): number | undefined {
    const table = this.table;
    fingerprintString(key, table.seed, this.fp);
    table.lock(this.owner);
    try {
      const e = table.peek(this.fp.hi, this.fp.lo, this.clock(), this.expireMs);
      return e === -1 ? undefined : this.byUid.get(table.ints[table.valueBase(e)])?.id;
    } finally {
      table.unlock();
    }
  }

  /** Keys in the table (expired ones may count until touched). */
  get entries(): number {
    return this.table.sizeNow();
  }
}

/** `table-max COUNT`: lblc and lblcr's key table bound. */
export const tableMaxKnob: SchedulerKnob = {
  statement: 'table-max',
  field: 'maxEntries',
  usage: 'table-max COUNT',
  parse(text: string): Parsed<number> {
    const n = parseInteger(text, 1, MAX_TABLE_ENTRIES);
    if (n === null) return { ok: false, message: `bad table bound '${text}': must be an integer 1..${MAX_TABLE_ENTRIES}` };
    return { ok: true, value: n };
  },
  print: String,
};

/** A knob whose value is a duration (`expire 24h`), in milliseconds. */
export function durationKnob(statement: string, field: 'expireMs' | 'setExpireMs'): SchedulerKnob {
  return { statement, field, usage: `${statement} DURATION`, parse: parseDuration, print: (value) => formatDuration(value as number) };
}

/** `expire DURATION`: an lblc or lblcr entry unused this long is dropped. */
export const expireKnob = durationKnob('expire', 'expireMs');

export const lblc: SchedulerDescriptor = {
  name: 'lblc',
  usesKey: true,
  knobs: [tableMaxKnob, expireKnob],
  create: (servers, options) => new LocalityLeastConnectionScheduler(servers, options),
};

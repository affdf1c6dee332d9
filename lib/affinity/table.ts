// Affinity by a table that remembers key -> server: source persistence (the
// key is the masked client address) and header affinity (the key is a request
// header's value). As an IPVS persistence template, an entry lives while it
// is used plus the timeout: every hit starts the timeout again. The table is
// bounded: past maxEntries the least recently used pin is dropped, so a flood
// of new clients costs memory once, not without end.
//
// The table lives in shared memory (lib/state/lru-table.ts), one per group
// for every worker thread, and it is kept across config changes while the
// group's affinity keeps its kind, key and size: a client pinned by any
// worker is pinned for all of them, and a reload forgets nobody. Pins name
// servers by uid, so a pin to a server that stays in the group holds, and
// one to a server that left reads as no pin. Keys are stored as 64-bit
// fingerprints (a long header value costs no more memory than a short one).
import type { RequestView } from '../route/request-view.ts';
import type { RealServer } from '../sched/scheduler.ts';
import type { Affinity, AffinityOptions } from './affinity.ts';
import { AddressMasker } from './address.ts';
import type { HeaderAffinitySpec, SourceAffinitySpec } from './spec.ts';
import { SharedLruTable, fingerprintNumber, fingerprintString, newFingerprint } from '../state/lru-table.ts';

/** Int32 words of a pin: the server's uid. */
export const PIN_WORDS = 1;

// Fingerprints are computed one at a time, synchronously.
const fp = newFingerprint();

abstract class TableAffinity implements Affinity {
  abstract readonly kind: 'source' | 'header';
  readonly rewritesRequest = false;
  readonly rewritesResponse = false;
  readonly table: SharedLruTable;
  private readonly owner: number;
  private readonly clock: () => number;
  private readonly timeoutMs: number;
  private byUid = new Map<number, RealServer>();

  constructor(servers: readonly RealServer[], timeoutMs: number, maxEntries: number, options: AffinityOptions) {
    this.table = options.table ?? SharedLruTable.create({ maxEntries, valueWords: PIN_WORDS });
    this.owner = options.lockOwner ?? 1;
    this.clock = options.clock ?? Date.now;
    this.timeoutMs = timeoutMs;
    this.updateServers(servers);
  }

  /** Sets `fp` to the request's table key; false when it has none. */
  protected abstract keyOf(req: RequestView): boolean;

  /** The uid pinned for the key in `fp` (a hit counts as a use), or null. */
  private pinnedUid(): number | null {
    const table = this.table;
    table.lock(this.owner);
    try {
      const e = table.find(fp.hi, fp.lo, this.clock(), this.timeoutMs);
      return e === -1 ? null : table.ints[table.valueBase(e)];
    } finally {
      table.unlock();
    }
  }

  lookup(req: RequestView): RealServer | null {
    if (!this.keyOf(req)) return null;
    const uid = this.pinnedUid();
    if (uid === null) return null;
    const server = this.byUid.get(uid);
    // Down or removed: the caller schedules again and pin() overwrites this entry.
    return server?.up ? server : null;
  }

  pin(req: RequestView, server: RealServer): RealServer {
    if (!this.keyOf(req)) return server;
    const table = this.table;
    table.lock(this.owner);
    try {
      const now = this.clock();
      let e = table.find(fp.hi, fp.lo, now, this.timeoutMs);
      if (e !== -1) {
        // Another worker pinned this client since our lookup: its pin wins,
        // so the client's requests all go to one server.
        const other = this.byUid.get(table.ints[table.valueBase(e)]);
        if (other?.up) return other;
      } else e = table.insert(fp.hi, fp.lo, now);
      table.ints[table.valueBase(e)] = server.uid;
      return server;
    } finally {
      table.unlock();
    }
  }

  rewriteRequestHeaders(headers: string[]): string[] {
    return headers;
  }

  rewriteResponseHeaders(headers: string[]): string[] {
    return headers;
  }

  updateServers(servers: readonly RealServer[]): void {
    this.byUid = new Map(servers.map((s) => [s.uid, s] as const));
  }

  size(): number {
    return this.table.sizeNow();
  }

  /** The server name a request's key is pinned to, without counting as a use; for tests and status. */
  peekRequest(req: RequestView): string | undefined {
    if (!this.keyOf(req)) return undefined;
    const table = this.table;
    table.lock(this.owner);
    try {
      const e = table.peek(fp.hi, fp.lo, this.clock(), this.timeoutMs);
      return e === -1 ? undefined : this.byUid.get(table.ints[table.valueBase(e)])?.name;
    } finally {
      table.unlock();
    }
  }
}

export class SourceAffinity extends TableAffinity {
  readonly kind = 'source';
  private readonly masker: AddressMasker;

  constructor(spec: SourceAffinitySpec, servers: readonly RealServer[], options: AffinityOptions) {
    super(servers, spec.timeoutMs, spec.maxEntries, options);
    this.masker = new AddressMasker(spec.netmaskV4, spec.netmaskV6);
  }

  protected keyOf(req: RequestView): boolean {
    const key = this.masker.key(req.clientAddress);
    if (key === null) return false;
    if (typeof key === 'number') fingerprintNumber(key, fp);
    else fingerprintString(key, this.table.seed, fp);
    return true;
  }
}

export class HeaderAffinity extends TableAffinity {
  readonly kind = 'header';
  private readonly headerName: string;

  constructor(spec: HeaderAffinitySpec, servers: readonly RealServer[], options: AffinityOptions) {
    super(servers, spec.timeoutMs, spec.maxEntries, options);
    this.headerName = spec.name.toLowerCase();
  }

  protected keyOf(req: RequestView): boolean {
    const value = req.header(this.headerName);
    if (value === undefined || value === '') return false;
    fingerprintString(value, this.table.seed, fp);
    return true;
  }
}

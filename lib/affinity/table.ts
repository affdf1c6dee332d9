// Affinity by a table that remembers key -> server: source persistence (the
// key is the masked client address) and header affinity (the key is a request
// header's value). As an IPVS persistence template, an entry lives while it
// is used plus the timeout: every hit starts the timeout again. The table is
// bounded: past maxEntries the least recently used pin is dropped, so a flood
// of new clients costs memory once, not without end.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { RequestView } from '../route/request-view.ts';
import type { RealServer } from '../sched/scheduler.ts';
import { serversByName, type Affinity, type AffinityOptions } from './affinity.ts';
import { AddressMasker } from './address.ts';
import type { HeaderAffinitySpec, SourceAffinitySpec } from './spec.ts';

// Header values longer than this are stored as their SHA-256: a client may
// send kilobytes, and maxEntries of those would be a lot of memory.
const MAX_KEY_CHARS = 64;
const LONG_KEY_PREFIX = 'sha256 of a long value: '; // 24 chars + 43 of digest > 64

abstract class TableAffinity implements Affinity {
  abstract readonly kind: 'source' | 'header';
  readonly rewritesRequest = false;
  readonly rewritesResponse = false;
  // Values are server names, not objects: a reload hands in new RealServer
  // records, and a pin should outlive that when its server stays.
  private readonly table: LRUCache<number | string, string>;
  private byName: Map<string, RealServer>;

  constructor(servers: readonly RealServer[], timeoutMs: number, maxEntries: number, options: AffinityOptions) {
    this.byName = serversByName(servers);
    this.table = new LRUCache<number | string, string>({
      max: maxEntries,
      ttl: timeoutMs,
      updateAgeOnGet: true, // a hit is a use: the timeout starts again
      // Read the clock on every check; an injected clock must be seen at once.
      ttlResolution: 0,
      perf: { now: options.clock ?? Date.now },
    });
  }

  /** The table key for this request, or null when it has none. */
  protected abstract keyOf(req: RequestView): number | string | null;

  lookup(req: RequestView): RealServer | null {
    const key = this.keyOf(req);
    if (key === null) return null;
    const name = this.table.get(key);
    if (name === undefined) return null;
    const server = this.byName.get(name);
    // Down or removed: the caller schedules again and pin() overwrites this entry.
    return server !== undefined && server.up ? server : null;
  }

  pin(req: RequestView, server: RealServer): void {
    const key = this.keyOf(req);
    if (key !== null) this.table.set(key, server.name);
  }

  rewriteRequestHeaders(headers: string[]): string[] {
    return headers;
  }

  rewriteResponseHeaders(headers: string[]): string[] {
    return headers;
  }

  updateServers(servers: readonly RealServer[]): void {
    this.byName = serversByName(servers);
  }

  size(): number {
    return this.table.size;
  }

  /** The server name a key is pinned to, without counting as a use; for tests and status. */
  peek(key: number | string): string | undefined {
    return this.table.peek(key);
  }
}

export class SourceAffinity extends TableAffinity {
  readonly kind = 'source';
  private readonly masker: AddressMasker;

  constructor(spec: SourceAffinitySpec, servers: readonly RealServer[], options: AffinityOptions) {
    super(servers, spec.timeoutMs, spec.maxEntries, options);
    this.masker = new AddressMasker(spec.netmaskV4, spec.netmaskV6);
  }

  protected keyOf(req: RequestView): number | string | null {
    return this.masker.key(req.clientAddress);
  }
}

export class HeaderAffinity extends TableAffinity {
  readonly kind = 'header';
  private readonly headerName: string;

  constructor(spec: HeaderAffinitySpec, servers: readonly RealServer[], options: AffinityOptions) {
    super(servers, spec.timeoutMs, spec.maxEntries, options);
    this.headerName = spec.name.toLowerCase();
  }

  protected keyOf(req: RequestView): string | null {
    const value = req.header(this.headerName);
    if (value === undefined || value === '') return null;
    // A short value is its own key; a long one its digest under a prefix
    // that makes the key longer than MAX_KEY_CHARS, so the two never meet.
    if (value.length <= MAX_KEY_CHARS) return value;
    return LONG_KEY_PREFIX + createHash('sha256').update(value).digest('base64url');
  }
}

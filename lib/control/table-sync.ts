// The L7 side of state sync between two directors (director-sync.ts carries
// it): the groups' learned tables, source and header persistence pins and
// lblc/lblcr locality entries, go to the peer so that after a failover a
// client pinned on one director is pinned to the same server on the other.
//
// Both directors' synced tables hash keys with a seed taken from the shared
// secret (registry.ts), so an entry travels as its 64-bit key fingerprint;
// the key itself (a client address, a header value, a URL) is never stored
// and never sent. Servers travel as their address (and listing number, for a
// group that lists one address twice), never as uids, which are this
// process's own. An entry goes out when its last use differs from the last
// use its peer knows (the table's sync word); an adopted entry carries the
// peer's use, so nothing echoes back. Tables are read by record index in
// slices, so a scan holds a table's lock for a short while at a time and the
// workers barely notice it.
import type { Registry, GroupState, TableSlot } from './registry.ts';
import { listingCounter } from './registry.ts';
import { SharedLruTable } from '../state/lru-table.ts';
import { LBLCR_MEMBER_WORDS, MAX_SET_MEMBERS } from '../sched/lblcr.ts';

/** One table's entries in a sync message. */
export interface TableBatch {
  table: string; // SERVICE/GROUP/affinity | SERVICE/GROUP/key
  shape: string; // the registry's shape: the receiver adopts only into a table of the same shape
  servers: string[]; // ADDRESS:PORT#N, indexed by the entries' server words
  // Per entry: key hi, key lo, age of the last use (ms), the value words
  // (server words as indexes into `servers`), then the ages of the table's
  // own time words.
  entries: number[];
}

const SLICE = 1024; // records per lock hold
const MAX_BATCH = 2000; // entries per message

interface Synced {
  id: string;
  group: GroupState;
  slot: TableSlot;
  table: SharedLruTable;
}

export class TableSync {
  private readonly registry: Registry;
  private readonly owner: number;
  private readonly attached = new WeakMap<SharedArrayBuffer, SharedLruTable>();
  /** Entries adopted from the peer / sent to it so far (status, tests). */
  adopted = 0;
  sent = 0;

  constructor(registry: Registry) {
    this.registry = registry;
    this.owner = registry.workers + 1; // the control plane's lock owner
  }

  /** Batches of the entries used since they were last sent (all live entries when `everything`). */
  changes(everything: boolean, now = Date.now()): TableBatch[] {
    const batches: TableBatch[] = [];
    for (const t of this.tables()) {
      const { table } = t;
      const servers = serverNames(t.group);
      const index = new Map(t.group.servers.map((s, i) => [s.uid, i] as const));
      const baseTimes = table.timeWords - 1; // the last one is the sync word
      const sync = baseTimes;
      const stride = 3 + table.valueWords + baseTimes;
      const members = memberWords(t.slot);
      let entries: number[] = [];
      const flushBatch = (): void => {
        if (entries.length === 0) return;
        batches.push({ table: t.id, shape: t.slot.shape, servers, entries });
        this.sent += entries.length / stride;
        entries = [];
      };
      const hwm = table.highWater();
      for (let start = 0; start < hwm; start += SLICE) {
        table.lock(this.owner);
        try {
          const end = Math.min(start + SLICE, table.highWater());
          for (let e = start; e < end; e++) {
            if (!table.isLive(e)) continue;
            const lastUse = table.lastUse(e);
            const tb = table.timeBase(e);
            if (!everything && table.times[tb + sync] === lastUse) continue;
            table.times[tb + sync] = lastUse;
            const v = table.valueBase(e);
            entries.push(table.keyHi(e), table.keyLo(e), Math.max(0, now - lastUse));
            const [from, to] = members(table.ints, v);
            for (let k = 0; k < table.valueWords; k++) {
              const word = table.ints[v + k];
              entries.push(k >= from && k < to ? (index.get(word) ?? -1) : word);
            }
            for (let k = 0; k < baseTimes; k++) entries.push(Math.max(0, now - table.times[tb + k]));
          }
        } finally {
          table.unlock();
        }
        if (entries.length >= MAX_BATCH * stride) flushBatch();
      }
      flushBatch();
    }
    return batches;
  }

  /** Takes in a peer's batches; entries for a table this director lacks, or of another shape, or naming a server it lacks, are skipped. */
  adopt(batches: TableBatch[], now = Date.now()): number {
    const byId = new Map(this.tables().map((t) => [t.id, t] as const));
    let adopted = 0;
    for (const batch of batches) {
      const t = byId.get(batch.table);
      if (t === undefined || t.slot.shape !== batch.shape) continue;
      const { table } = t;
      const baseTimes = table.timeWords - 1;
      const stride = 3 + table.valueWords + baseTimes;
      if (batch.entries.length % stride !== 0)
        throw new Error(`table ${batch.table}: ${batch.entries.length} numbers are not whole entries of ${stride}`);
      const local = localUids(t.group, batch.servers);
      const members = memberWords(t.slot);
      const words = new Int32Array(table.valueWords);
      table.lock(this.owner);
      try {
        for (let i = 0; i < batch.entries.length; i += stride) {
          const n = batch.entries;
          const [from, to] = members(n, i + 3);
          let known = true;
          for (let k = 0; k < table.valueWords; k++) {
            const word = n[i + 3 + k];
            if (k >= from && k < to) {
              const uid = local[word];
              if (uid === undefined) known = false;
              words[k] = uid ?? 0;
            } else words[k] = word;
          }
          if (!known) continue;
          const lastUse = now - n[i + 2];
          const e = table.adopt(n[i], n[i + 1], lastUse);
          if (e === -1) continue; // used here since: ours is newer
          table.ints.set(words, table.valueBase(e));
          const tb = table.timeBase(e);
          for (let k = 0; k < baseTimes; k++) table.times[tb + k] = now - n[i + 3 + table.valueWords + k];
          table.times[tb + baseTimes] = lastUse; // the peer knows this use
          adopted++;
        }
      } finally {
        table.unlock();
      }
    }
    this.adopted += adopted;
    return adopted;
  }

  /** The synced tables that run now. */
  private tables(): Synced[] {
    const out: Synced[] = [];
    for (const service of this.registry.services()) {
      for (const group of service.groups) {
        for (const [kind, slot] of [
          ['affinity', group.affinityTable],
          ['key', group.keyTable],
        ] as const) {
          if (slot === null || !slot.shape.includes(' synced ')) continue;
          let table = this.attached.get(slot.buffer);
          if (table === undefined) {
            table = SharedLruTable.attach(slot.buffer);
            this.attached.set(slot.buffer, table);
          }
          out.push({ id: `${service.name}/${group.name}/${kind}`, group, slot, table });
        }
      }
    }
    return out;
  }
}

/** Which value words of an entry are server uids: [from, to). */
function memberWords(slot: TableSlot): (words: ArrayLike<number>, v: number) => [number, number] {
  if (!slot.shape.startsWith('lblcr ')) return () => [0, 1];
  const { count, first } = LBLCR_MEMBER_WORDS;
  return (words, v) => [first, first + Math.max(0, Math.min(words[v + count] | 0, MAX_SET_MEMBERS))];
}

function serverNames(group: GroupState): string[] {
  const nth = listingCounter();
  return group.servers.map((s) => `${s.host}:${s.port}#${nth(s.host, s.port)}`);
}

/** The peer's server indexes as this director's uids (undefined where it has no such server). */
function localUids(group: GroupState, names: readonly string[]): Array<number | undefined> {
  const mine = new Map(serverNames(group).map((name, i) => [name, group.servers[i].uid] as const));
  return names.map((name) => mine.get(name));
}

/** A peer's table batches, checked before anything is adopted. */
export function checkTableBatches(list: unknown): TableBatch[] {
  if (!Array.isArray(list)) throw new Error('tables is not an array');
  return list.map((b: unknown, i: number) => {
    const o = b as Record<string, unknown>;
    const ok =
      typeof o.table === 'string' &&
      typeof o.shape === 'string' &&
      Array.isArray(o.servers) &&
      o.servers.every((s) => typeof s === 'string') &&
      Array.isArray(o.entries) &&
      o.entries.every((n) => Number.isSafeInteger(n) || (typeof n === 'number' && Number.isFinite(n) && n >= 0));
    if (!ok) throw new Error(`table batch ${i} is malformed`);
    return o as unknown as TableBatch;
  });
}

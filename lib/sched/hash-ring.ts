// Pieces shared by the table and ring hashing schedulers (mh, chbl): the key
// hash, a server order that depends on names only, and a sorted hash ring.
// Everything here is a pure function of server names and weights, so every
// process (and a reordered config) builds the same structures.

import { fnv1a32, mix32 } from './hash.ts';
import type { RealServer } from './scheduler.ts';

/** A request key's position in the 32-bit hash space. */
export function keyHash(key: string): number {
  return mix32(fnv1a32(key));
}

/**
 * Server indexes sorted by name (ties, i.e. the same host:port listed twice,
 * by id). Building tables and rings in this order instead of config order is
 * what makes them independent of how the servers are listed.
 */
export function nameOrder(servers: readonly RealServer[]): Int32Array {
  const order = Array.from(servers, (_, i) => i);
  order.sort((a, b) => {
    const nameA = servers[a].name;
    const nameB = servers[b].name;
    if (nameA !== nameB) return nameA < nameB ? -1 : 1;
    return a - b;
  });
  return Int32Array.from(order);
}

/**
 * The hash of one of a server's virtual nodes: FNV-1a of the name continued
 * over a NUL and the four bytes of the replica number, then mixed. The same
 * as hashing the string `name + "\0" + bytes(replica)`, without building it.
 */
export function replicaHash(nameFnv: number, replica: number): number {
  let hash = nameFnv;
  hash = Math.imul(hash, 0x01000193); // the NUL separator: xor 0 is a no-op
  for (let shift = 0; shift < 32; shift += 8) {
    hash ^= (replica >>> shift) & 0xff;
    hash = Math.imul(hash, 0x01000193);
  }
  return mix32(hash >>> 0);
}

// A point and its owner's name rank packed into one float64, so the ring
// sorts with the native typed-array sort: point * 2^20 + rank < 2^52, exact.
const RANK_SPACE = 1 << 20;

/**
 * A consistent-hash ring: `points` sorted ascending with `owners[i]` the
 * server index owning points[i]. A server's points depend only on its name
 * and its own point count, so changing one server moves only its keys.
 */
export class HashRing {
  points = new Uint32Array(0);
  owners = new Int32Array(0);

  /**
   * Rebuild with pointCounts[i] virtual nodes for server i (0: not on the
   * ring). Equal points are ordered by server name, so even a collision
   * resolves the same way everywhere.
   */
  build(servers: readonly RealServer[], order: Int32Array, pointCounts: Int32Array): void {
    if (servers.length >= RANK_SPACE) throw new Error(`a hash ring holds at most ${RANK_SPACE - 1} servers`);
    let total = 0;
    for (let i = 0; i < pointCounts.length; i++) total += pointCounts[i];
    const packed = new Float64Array(total);
    let fill = 0;
    for (let rank = 0; rank < order.length; rank++) {
      const index = order[rank];
      const count = pointCounts[index];
      if (count === 0) continue;
      const nameFnv = fnv1a32(servers[index].name);
      for (let replica = 0; replica < count; replica++) {
        packed[fill++] = replicaHash(nameFnv, replica) * RANK_SPACE + rank;
      }
    }
    packed.sort();
    const points = new Uint32Array(total);
    const owners = new Int32Array(total);
    for (let i = 0; i < total; i++) {
      const value = packed[i];
      const point = Math.floor(value / RANK_SPACE);
      points[i] = point;
      owners[i] = order[value - point * RANK_SPACE];
    }
    this.points = points;
    this.owners = owners;
  }

  /** Index of the first point at or clockwise after `hash` (wrapping to 0); -1 on an empty ring. */
  firstAtOrAfter(hash: number): number {
    const points = this.points;
    const length = points.length;
    if (length === 0) return -1;
    let low = 0;
    let high = length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (points[middle] < hash) low = middle + 1;
      else high = middle;
    }
    return low === length ? 0 : low;
  }
}

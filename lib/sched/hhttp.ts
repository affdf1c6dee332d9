// KTCPVS's hhttp: the rule's regex submatch (ctx.key) is hashed onto the
// group's servers, so one key (a user, a document, a cache shard) always lands
// on the same server while the server set stays the same.
//
// The mapping is weighted rendezvous (highest random weight) hashing: every
// usable server draws a pseudo-random number from hash(key, server name) and
// the best weighted draw wins. Weights give proportional shares, and when a
// server goes down, quiescent or comes back only the keys it owns move; a
// modulo table would reshuffle almost all keys. Nothing is seeded at random,
// and servers are identified by name, not position, so every process (and a
// reordered config) computes the same mapping. O(servers) per pick with no
// allocation; very large groups want a table-based scheduler (mh, later).
//
// Requests without a key (the submatch did not participate) fall back to wlc.

import { LiveScheduler, available } from './scheduler.ts';
import type { PickContext, RealServer, SchedulerDescriptor } from './scheduler.ts';
import { LeastWeightedFallback } from './least-load.ts';
import { fnv1a32, mix32 } from './hash.ts';

export { fnv1a32, mix32 } from './hash.ts';

const TWO_POW_32 = 4294967296;

// Nothing to rebuild on a change: server salts depend only on names, and
// weights and up/down are read live, so the mapping changes exactly when they do.
export class HashHttpScheduler extends LiveScheduler {
  readonly name = 'hhttp';
  readonly usesKey = true;
  private readonly servers: readonly RealServer[];
  // Per-server salt from the server's name, so the mapping follows names, not config order.
  private readonly nameHashes: Uint32Array;
  private readonly fallback: LeastWeightedFallback;

  constructor(servers: readonly RealServer[]) {
    super();
    this.servers = servers;
    this.fallback = new LeastWeightedFallback(servers);
    this.nameHashes = new Uint32Array(servers.length);
    for (let i = 0; i < servers.length; i++) this.nameHashes[i] = mix32(fnv1a32(servers[i].name));
  }

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    if (key === undefined) return this.fallback.pick();
    const servers = this.servers;
    const nameHashes = this.nameHashes;
    const keyHash = fnv1a32(key);
    let best = -1;
    let bestCost = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!available(server)) continue;
      // A uniform draw in (0,1) per (key, server); -ln(u) is exponential with
      // rate 1, so -ln(u)/weight is exponential with rate `weight`, and the
      // smallest of such draws belongs to server i with probability
      // weight_i / sum(weights).
      const draw = (mix32(keyHash ^ nameHashes[i]) + 0.5) / TWO_POW_32;
      const cost = -Math.log(draw) / server.weight;
      if (best === -1 || cost < bestCost) {
        best = i;
        bestCost = cost;
      }
    }
    return best === -1 ? null : servers[best];
  }
}

export const hhttp: SchedulerDescriptor = { name: 'hhttp', usesKey: true, knobs: [], create: (servers) => new HashHttpScheduler(servers) };

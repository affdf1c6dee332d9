// Destination hashing, as IPVS's ip_vs_dh: the request key (ctx.key, chosen
// by the group's `key` setting; IPVS hashes the destination address) is
// hashed into a fixed table of buckets, each naming a server. The same key
// always lands in the same bucket, so it reaches the same server while the
// table stays the same.
//
// The table (bucket-table.ts, shared with sh) differs from IPVS in three ways:
// - 4096 buckets rather than 256 (more for groups over 256 servers), filled in
//   proportion to weight by largest remainder, so weights are honoured to
//   within one bucket (IPVS dh ignores weights; IPVS sh repeats each server
//   `weight` times, which goes wrong once the weights add up past 256);
// - servers are walked in name order, not config order, so a reordered config
//   and every other tcpvs process build the same table;
// - a bucket whose server is down or quiescent is not a dead end: IPVS dh
//   then returns no server, tcpvs rehashes the key to other buckets, as IPVS
//   sh does with its sh-fallback flag. Only that server's keys move, each to
//   a pseudo-random other bucket, so they spread over the rest by weight, and
//   they return when it comes back.
// Down servers keep their buckets (that is what lets their keys come back),
// so up/down changes nothing; a weight change, including to 0, rebuilds the
// table (at the next pick) and, as in IPVS, remaps keys across all servers. hhttp and mh move only the keys they must.
//
// Requests without a key fall back to wlc, as hhttp does.

import type { PickContext, RealServer, SchedulerDescriptor } from './scheduler.ts';
import { BucketHashScheduler } from './bucket-table.ts';
import { fnv1a32 } from './hash.ts';

export class DestinationHashScheduler extends BucketHashScheduler {
  readonly name = 'dh';
  readonly usesKey = true;

  pick(ctx: PickContext): RealServer | null {
    const key = ctx.key;
    return key === undefined ? this.fallback.pick() : this.pickByHash(fnv1a32(key));
  }
}

export const dh: SchedulerDescriptor = { name: 'dh', usesKey: true, knobs: [], create: (servers) => new DestinationHashScheduler(servers) };

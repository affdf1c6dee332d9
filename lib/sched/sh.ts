// Source hashing, as IPVS's ip_vs_sh: the client's IP address is hashed into
// the bucket table dh uses (bucket-table.ts), so one client keeps reaching the same server (a
// poor man's session affinity that needs no cookie and survives a restart of
// tcpvs, or a move to another tcpvs node). The request key is not read.
//
// The table and its fallback are dh's (see dh.ts): weighted, built in server
// name order so every process agrees, and a down or quiescent server's
// clients are rehashed over the others, as IPVS sh's sh-fallback flag does,
// instead of being refused. Clients behind one NAT address share a server.

import type { PickContext, RealServer, SchedulerDescriptor } from './scheduler.ts';
import { BucketHashScheduler } from './bucket-table.ts';
import { fnv1a32 } from './hash.ts';

export class SourceHashScheduler extends BucketHashScheduler {
  readonly name = 'sh';
  readonly usesKey = false;

  pick(ctx: PickContext): RealServer | null {
    return this.pickByHash(fnv1a32(ctx.clientAddress));
  }
}

export const sh: SchedulerDescriptor = { name: 'sh', usesKey: false, knobs: [], create: (servers) => new SourceHashScheduler(servers) };

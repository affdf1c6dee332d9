// Source hashing, as IPVS's ip_vs_sh: the client's IP address is hashed into
// dh's bucket table, so one client keeps reaching the same server (a
// poor man's session affinity that needs no cookie and survives a restart of
// tcpvs, or a move to another tcpvs node). The request key is not read.
//
// The table and its fallback are dh's (see dh.ts): weighted, built in server
// name order so every process agrees, and a down or quiescent server's
// clients are rehashed over the others, as IPVS sh's sh-fallback flag does,
// instead of being refused. Clients behind one NAT address share a server.

import type { PickContext, RealServer, Scheduler, SchedulerFactory } from './scheduler.ts';
import { TieBreaker, leastWeightedIndex } from './least-load.ts';
import { BucketTable } from './dh.ts';
import { fnv1a32 } from './hash.ts';

export class SourceHashScheduler implements Scheduler {
  readonly name = 'sh';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly table: BucketTable;
  private readonly fallbackTies = new TieBreaker();

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    this.table = new BucketTable(servers);
  }

  pick(ctx: PickContext): RealServer | null {
    const owner = this.table.lookup(fnv1a32(ctx.clientAddress));
    if (owner !== -1) return this.servers[owner];
    // Only servers outside the table are usable (a weight raised from 0
    // before refresh()): better a least-loaded server than a 503.
    const best = leastWeightedIndex(this.servers, this.fallbackTies);
    if (best === -1) return null;
    return this.servers[best];
  }

  refresh(): void {
    this.table.rebuild();
  }
}

export const createSourceHash: SchedulerFactory = (servers) => new SourceHashScheduler(servers);

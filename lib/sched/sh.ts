// Source hashing, as IPVS's ip_vs_sh: the client's IP address is hashed into
// the bucket table dh uses (bucket-table.ts), so one client keeps reaching the same server (a
// poor man's session affinity that needs no cookie and survives a restart of
// tcpvs, or a move to another tcpvs node). The request key is not read.
//
// The table and its fallback are dh's (see dh.ts): weighted, built in server
// name order so every process agrees, and a down or quiescent server's
// clients are rehashed over the others, as IPVS sh's sh-fallback flag does,
// instead of being refused. Clients behind one NAT address share a server.

import type { PickContext, RealServer, Scheduler, SchedulerDescriptor } from './scheduler.ts';
import { LeastWeightedFallback } from './least-load.ts';
import { BucketTable } from './bucket-table.ts';
import { fnv1a32 } from './hash.ts';

export class SourceHashScheduler implements Scheduler {
  readonly name = 'sh';
  readonly usesKey = false;
  private readonly servers: readonly RealServer[];
  private readonly table: BucketTable;
  private readonly fallback: LeastWeightedFallback;

  constructor(servers: readonly RealServer[]) {
    this.servers = servers;
    this.table = new BucketTable(servers);
    this.fallback = new LeastWeightedFallback(servers);
  }

  pick(ctx: PickContext): RealServer | null {
    const owner = this.table.lookup(fnv1a32(ctx.clientAddress));
    if (owner !== -1) return this.servers[owner];
    // No server in the table is usable: better a least-loaded server than a 503.
    return this.fallback.pick();
  }

  /** How many times the table was built. */
  get builds(): number {
    return this.table.builds;
  }

  // Down servers keep their buckets (dh.ts says why): only weights rebuild.
  serverUp(): void {}

  serverDown(): void {}

  weightChanged(): void {
    this.table.invalidate();
  }
}

export const sh: SchedulerDescriptor = { name: 'sh', usesKey: false, knobs: [], create: (servers) => new SourceHashScheduler(servers) };

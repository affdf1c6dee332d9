// What the statistics may read of what runs: the registry's services, groups
// and servers (registry.ts), read-only, each with the counters of every
// worker. The registry implements it as it is; a reader can change no
// weight, state or group through it, nor reach a data path.
import type { GroupSpec, ServiceSpec } from '../config/model.ts';
import type { RequestStats } from '../stats/collector.ts';
import type { ConnectionStats } from '../stats/shared-counters.ts';

/** A counter block, read side (lib/stats/shared-counters.ts RequestCounterBlock). */
export interface RequestCounts {
  total(): number;
  read(nowMs: number, startedAtMs: number, histograms: boolean): RequestStats;
}

export interface ServerRuntimeView {
  readonly name: string; // "host:port"
  /** Usable: up by the checks and not ejected. */
  readonly up: boolean;
  /** Effective. */
  readonly weight: number;
  /** Requests in flight, every worker's. */
  readonly active: number;
  readonly peak: number;
  /** When it last went up or down (epoch ms), or joined. */
  readonly changedAt: number;
  readonly lastCheck: { ok: boolean; reason: string; at: number } | null;
  readonly requests: RequestCounts;
}

export interface GroupRuntimeView {
  readonly name: string;
  readonly spec: GroupSpec;
  readonly servers: readonly ServerRuntimeView[];
  readonly requests: RequestCounts;
  /** Requests routed here that found no usable server. */
  readonly noServer: RequestCounts;
}

export interface ServiceRuntimeView {
  readonly name: string;
  readonly spec: ServiceSpec;
  /** Where it listens (the bound port when the config says 0); null when not listening. */
  readonly bound: { address: string; port: number } | null;
  readonly groups: readonly GroupRuntimeView[];
  readonly requests: RequestCounts;
  /** Requests answered before a group was chosen. */
  readonly noGroup: RequestCounts;
  readonly connections: { read(nowMs: number, startedAtMs: number): ConnectionStats };
}

export interface RuntimeView {
  /** Epoch ms; statistics count from here. */
  readonly startedAt: number;
  services(): readonly ServiceRuntimeView[];
}

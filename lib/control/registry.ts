// The control plane's model of what runs: every service, group and real
// server, each with a stable identity and its shared records. A config change
// is turned into a plan against this model, as katran's control plane keeps
// its own model of VIPs and reals and pushes deltas into the data path:
//
// - a service is the same service when it keeps its name; a group, when it
//   keeps its name in the same service; a real server, when it keeps its
//   address in the same group (the n-th listing of one address, if a group
//   lists it twice). What stays the same keeps its uid and shared records,
//   so its health, ejection, slow start, pins, learned tables, counters and
//   requests in flight survive the change;
// - what is new gets fresh records; what left is dropped from the model
//   (requests still in flight on it keep their records alive until they end).
//
// Every data path (this thread's, or each worker thread's) receives the
// plan: the specs, plus for each group and server its uid and shared
// buffers. It keeps every object whose identity survived and builds only what
// is new (lib/proxy/data-path.ts). prepare() changes nothing; commit() makes
// the plan the model.
import { createHmac } from 'node:crypto';
import type { Config, GroupSpec, ServerTlsSpec, ServiceSpec } from '../config/model.ts';
import type { RuntimeView } from './runtime-view.ts';
import { G_VERSION, createGroupShare } from '../state/group-share.ts';
import { SharedLruTable } from '../state/lru-table.ts';
import { ConnectionCounterBlock, RequestCounterBlock } from '../stats/shared-counters.ts';
import { PIN_WORDS } from '../affinity/table.ts';
import { DEFAULT_MAX_ENTRIES, LBLC_WORDS } from '../sched/lblc.ts';
import { LBLCR_WORDS } from '../sched/lblcr.ts';
import {
  STATUS_EJECTED,
  STATUS_UP,
  W_ACTIVE,
  W_PEAK,
  W_STATUS,
  W_WEIGHT,
  createServerShare,
  statusUp,
  totalRequests,
} from '../state/server-share.ts';

/** What a data path needs of one real server. */
export interface ServerPlan {
  uid: number;
  share: SharedArrayBuffer;
  /** Request counters (lib/stats/shared-counters.ts), a stripe per worker. */
  requests: SharedArrayBuffer;
}

export interface GroupPlan {
  name: string;
  share: SharedArrayBuffer;
  servers: ServerPlan[]; // in the order of the group spec's servers
  /** Source or header persistence: the pin table (lib/state/lru-table.ts). */
  affinityTable: SharedArrayBuffer | null;
  /** lblc, lblcr: the key table. */
  keyTable: SharedArrayBuffer | null;
  requests: SharedArrayBuffer;
  noServer: SharedArrayBuffer; // requests routed here that found no usable server
}

export interface ServicePlan {
  spec: ServiceSpec;
  groups: GroupPlan[]; // in the order of the service spec's groups
  requests: SharedArrayBuffer;
  noGroup: SharedArrayBuffer; // requests answered before a group was chosen
  connections: SharedArrayBuffer; // lib/stats/shared-counters.ts ConnectionCounterBlock
}

/** A whole config as the data paths apply it; structured-clonable (buffers are shared, not copied). */
export interface Plan {
  services: ServicePlan[];
}

/** One real server in the model; its state is read from and written to its shared record. */
export class ServerState {
  readonly uid: number;
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly share: SharedArrayBuffer;
  readonly words: Int32Array;
  readonly group: GroupState;
  readonly requests: RequestCounterBlock;
  configuredWeight: number;
  sendProxy: 0 | 1 | 2 = 0; // the config's send-proxy, for health checks
  tls: ServerTlsSpec | undefined = undefined; // the config's tls, for http health checks
  /** The last active check's result, for the stats page; null before the first (or without checks). */
  lastCheck: { ok: boolean; reason: string; at: number } | null = null;
  /** When it last went up or down (epoch ms); when it joined, until then. */
  changedAt = Date.now();

  constructor(uid: number, group: GroupState, host: string, port: number, weight: number, workers: number) {
    this.requests = RequestCounterBlock.create(workers);
    this.uid = uid;
    this.group = group;
    this.host = host;
    this.port = port;
    this.name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.configuredWeight = weight;
    this.share = createServerShare(workers, weight);
    this.words = new Int32Array(this.share);
  }

  /** Usable as far as every mechanism knows: up and not ejected. */
  get up(): boolean {
    return statusUp(Atomics.load(this.words, W_STATUS));
  }

  /** The control plane's verdict (checks, agent); ejection is apart. */
  get upByChecks(): boolean {
    return (Atomics.load(this.words, W_STATUS) & STATUS_UP) !== 0;
  }

  set upByChecks(up: boolean) {
    if (up) Atomics.or(this.words, W_STATUS, STATUS_UP);
    else Atomics.and(this.words, W_STATUS, ~STATUS_UP);
  }

  get ejected(): boolean {
    return (Atomics.load(this.words, W_STATUS) & STATUS_EJECTED) !== 0;
  }

  set ejected(ejected: boolean) {
    if (ejected) Atomics.or(this.words, W_STATUS, STATUS_EJECTED);
    else Atomics.and(this.words, W_STATUS, ~STATUS_EJECTED);
  }

  /** The effective weight schedulers use. */
  get weight(): number {
    return Atomics.load(this.words, W_WEIGHT);
  }

  set weight(weight: number) {
    Atomics.store(this.words, W_WEIGHT, weight);
  }

  /** Requests in flight, every worker's. */
  get active(): number {
    return Atomics.load(this.words, W_ACTIVE);
  }

  /** The most requests in flight at once since it joined. */
  get peak(): number {
    return Atomics.load(this.words, W_PEAK);
  }

  /** Requests ever sent, every worker's. */
  get total(): number {
    return totalRequests(this.words);
  }
}

/** A shared table and what it was made for: a change that keeps the shape keeps the table. */
export interface TableSlot {
  shape: string;
  buffer: SharedArrayBuffer;
}

/**
 * The shape of a group's pin table: what its keys mean and how many it
 * holds. A change of timeout keeps the table (timeouts apply at each lookup);
 * a new netmask, header or size starts a new one. null: no table.
 */
function affinityShape(spec: GroupSpec): string | null {
  const a = spec.affinity;
  if (a === undefined || a.kind === 'cookie') return null;
  return a.kind === 'source' ? `source ${a.maxEntries} ${a.netmaskV4} ${a.netmaskV6}` : `header ${a.maxEntries} ${a.name}`;
}

/** The shape of an lblc or lblcr key table: the scheduler, its size and the key it is keyed by. */
function keyTableShape(spec: GroupSpec): string | null {
  if (spec.scheduler !== 'lblc' && spec.scheduler !== 'lblcr') return null;
  return `${spec.scheduler} ${spec.tuning?.maxEntries ?? DEFAULT_MAX_ENTRIES} ${JSON.stringify(spec.key ?? null)} ${spec.hashSubmatch ?? ''}`;
}

function tableFor(slot: TableSlot | null, shape: string | null, create: () => SharedArrayBuffer): TableSlot | null {
  if (shape === null) return null;
  return slot !== null && slot.shape === shape ? slot : { shape, buffer: create() };
}

/**
 * With state sync between two directors (`sync ...`), their tables must
 * turn a key into the same 64-bit fingerprint: both take the hash seed from
 * the shared secret, which keeps it as unguessable as a random one. A synced
 * table also has one more time word, its last: the last use its peer knows
 * of (director-sync.ts sends an entry when its last use differs).
 */
export function syncedTableSeed(secret: string): number {
  return createHmac('sha256', secret).update('tcpvs table seed', 'latin1').digest().readInt32LE(0);
}

/** How a group's tables are made: their seed and extra time word when synced. */
interface TableMaking {
  seed: number | undefined;
  syncWords: number; // 1 with sync, else 0
  shapeSuffix: string; // a change of sync or of its secret starts new tables
}

function tableMaking(config: Config): TableMaking {
  const secret = config.l4?.sync?.secret;
  if (secret === undefined) return { seed: undefined, syncWords: 0, shapeSuffix: '' };
  const seed = syncedTableSeed(secret);
  return { seed, syncWords: 1, shapeSuffix: ` synced ${seed}` };
}

export class GroupState {
  readonly name: string;
  readonly service: ServiceState;
  readonly share: SharedArrayBuffer;
  private readonly words: Int32Array;
  spec: GroupSpec;
  servers: ServerState[] = [];
  affinityTable: TableSlot | null = null;
  keyTable: TableSlot | null = null;
  readonly requests: RequestCounterBlock;
  readonly noServer: RequestCounterBlock;

  constructor(name: string, service: ServiceState, spec: GroupSpec, workers: number) {
    this.requests = RequestCounterBlock.create(workers);
    this.noServer = RequestCounterBlock.create(workers);
    this.name = name;
    this.service = service;
    this.spec = spec;
    this.share = createGroupShare();
    this.words = new Int32Array(this.share);
  }

  /** Tells every data path that some server's status or weight changed. */
  changed(): void {
    Atomics.add(this.words, G_VERSION, 1);
  }
}

export class ServiceState {
  readonly name: string;
  spec: ServiceSpec;
  groups: GroupState[] = [];
  readonly requests: RequestCounterBlock;
  readonly noGroup: RequestCounterBlock;
  readonly connections: ConnectionCounterBlock;
  /** Where it listens, once it does (the bound port when the config says 0). */
  bound: { address: string; port: number; family: string } | null = null;

  constructor(spec: ServiceSpec, workers: number) {
    this.name = spec.name;
    this.spec = spec;
    this.requests = RequestCounterBlock.create(workers);
    this.noGroup = RequestCounterBlock.create(workers);
    this.connections = ConnectionCounterBlock.create(workers);
  }

  group(name: string): GroupState | undefined {
    return this.groups.find((g) => g.name === name);
  }
}

/** A plan worked out against the model; commit() makes it the model. */
export interface PendingPlan {
  readonly plan: Plan;
  commit(): void;
}

/** Identity of the n-th listing of an address in a group. */
export function serverKey(host: string, port: number, nth: number): string {
  return `${host}\u0000${port}\u0000${nth}`;
}

/** Counts listings of each address: 0 for the first, 1 for a second listing of it... */
export function listingCounter(): (host: string, port: number) => number {
  const seen = new Map<string, number>();
  return (host, port) => {
    const key = `${host}\u0000${port}`;
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return n;
  };
}

export class Registry implements RuntimeView {
  /** How many data paths (worker stripes) the shared records have room for. */
  readonly workers: number;
  /** Epoch ms; statistics count from here. */
  readonly startedAt = Date.now();
  private current: ServiceState[] = [];
  private readonly byUid = new Map<number, ServerState>();
  private nextUid = 1;

  constructor(workers = 1) {
    this.workers = workers;
  }

  services(): readonly ServiceState[] {
    return this.current;
  }

  service(name: string): ServiceState | undefined {
    return this.current.find((s) => s.name === name);
  }

  server(uid: number): ServerState | undefined {
    return this.byUid.get(uid);
  }

  prepare(config: Config): PendingPlan {
    const old = new Map(this.current.map((s) => [s.name, s] as const));
    const nextServices: Array<{
      state: ServiceState;
      spec: ServiceSpec;
      groups: Array<{
        state: GroupState;
        spec: GroupSpec;
        servers: ServerState[];
        affinityTable: TableSlot | null;
        keyTable: TableSlot | null;
      }>;
    }> = [];
    const plan: Plan = { services: [] };
    const making = tableMaking(config);
    const shaped = (shape: string | null): string | null => (shape === null ? null : shape + making.shapeSuffix);
    for (const spec of config.services) {
      const service = old.get(spec.name) ?? new ServiceState(spec, this.workers);
      const groups = [];
      const groupPlans: GroupPlan[] = [];
      for (const groupSpec of spec.groups) {
        const group = service.group(groupSpec.name) ?? new GroupState(groupSpec.name, service, groupSpec, this.workers);
        const kept = new Map<string, ServerState>();
        const nth = listingCounter();
        for (const s of group.servers) kept.set(serverKey(s.host, s.port, nth(s.host, s.port)), s);
        const nthNext = listingCounter();
        const servers = groupSpec.servers.map((s) => {
          const state =
            kept.get(serverKey(s.host, s.port, nthNext(s.host, s.port))) ??
            new ServerState(this.nextUid++, group, s.host, s.port, s.weight, this.workers);
          state.sendProxy = s.sendProxy ?? 0;
          state.tls = s.tls;
          return state;
        });
        const affinityTable = tableFor(group.affinityTable, shaped(affinityShape(groupSpec)), () => {
          const a = groupSpec.affinity!;
          const maxEntries = a.kind === 'cookie' ? 1 : a.maxEntries;
          return SharedLruTable.create({ maxEntries, valueWords: PIN_WORDS, timeWords: making.syncWords, seed: making.seed }).buffer;
        });
        const keyTable = tableFor(group.keyTable, shaped(keyTableShape(groupSpec)), () => {
          const lblcr = groupSpec.scheduler === 'lblcr';
          const maxEntries = groupSpec.tuning?.maxEntries ?? DEFAULT_MAX_ENTRIES;
          const valueWords = lblcr ? LBLCR_WORDS : LBLC_WORDS;
          return SharedLruTable.create({ maxEntries, valueWords, timeWords: (lblcr ? 1 : 0) + making.syncWords, seed: making.seed }).buffer;
        });
        groups.push({ state: group, spec: groupSpec, servers, affinityTable, keyTable });
        groupPlans.push({
          name: groupSpec.name,
          share: group.share,
          servers: servers.map((s) => ({ uid: s.uid, share: s.share, requests: s.requests.buffer })),
          affinityTable: affinityTable?.buffer ?? null,
          keyTable: keyTable?.buffer ?? null,
          requests: group.requests.buffer,
          noServer: group.noServer.buffer,
        });
      }
      nextServices.push({ state: service, spec, groups });
      plan.services.push({
        spec,
        groups: groupPlans,
        requests: service.requests.buffer,
        noGroup: service.noGroup.buffer,
        connections: service.connections.buffer,
      });
    }
    return {
      plan,
      commit: () => {
        const byUid = this.byUid;
        byUid.clear();
        for (const next of nextServices) {
          next.state.spec = next.spec;
          next.state.groups = next.groups.map((g) => {
            const group = g.state;
            group.spec = g.spec;
            group.servers = g.servers;
            group.affinityTable = g.affinityTable;
            group.keyTable = g.keyTable;
            let changed = false;
            g.servers.forEach((server, i) => {
              byUid.set(server.uid, server);
              const weight = g.spec.servers[i].weight;
              if (server.configuredWeight === weight) return;
              // A weight edit: the effective weight follows at once; where
              // health checks own the weight (agent, slow start) they work
              // it out again from the new configured weight right after.
              server.configuredWeight = weight;
              server.weight = weight;
              changed = true;
            });
            if (changed) group.changed();
            return group;
          });
        }
        this.current = nextServices.map((s) => s.state);
      },
    };
  }
}

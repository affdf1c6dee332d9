// The 'ipvs' L4 driver: kernel IPVS programmed through Debian's ipvsadm.
// State is read with `ipvsadm -S -n` (plus -L --thresholds, which -S leaves
// out), diffed against the desired state for the services this owner owns,
// and changed with ONE `ipvsadm -R` batch. See docs/l4.md#the-ipvs-l4-driver.
import { L4Error, serviceId, syncDaemonProblem } from '../model.ts';
import type {
  ConnectionEntry,
  Counters,
  L4Core,
  Rates,
  RealServerConfig,
  ServiceKey,
  SyncDaemon,
  SyncDaemonRole,
  VirtualServiceConfig,
  VirtualServiceStatus,
} from '../model.ts';
import { canonicalAddress, formatHostPort } from './address.ts';
import { adoptionError, normalizeDesired, normalizeRealServer, normalizeServiceKey, planBatch, withThresholds } from './diff.ts';
import {
  formatDeleteServer,
  formatDeleteService,
  formatServerLine,
  formatServiceLine,
  formatStartDaemon,
  parseConnections,
  parseDaemons,
  parseListTable,
  parseSave,
} from './ipvsadm-text.ts';
import type { SavedService, TableRow } from './ipvsadm-text.ts';
import { DEFAULT_STATE_FILE, readOwners, writeOwners } from './owned-state.ts';
import type { Owners } from './owned-state.ts';
import { IpvsadmRunner } from './runner.ts';

export interface IpvsCoreOptions {
  /** ipvsadm's path, default 'ipvsadm' (looked up on PATH). */
  ipvsadm?: string;
  /** Whose services these are in the ownership file, default 'tcpvs'. */
  owner?: string;
  /** The ownership file, default /run/tcpvs/ipvs-owned.json. */
  stateFile?: string;
  /** Longest a single ipvsadm run may take, default 30 s. */
  timeoutMs?: number;
  /** Present when the kernel has IPVS, default /proc/net/ip_vs. */
  procNetIpVs?: string;
}

export interface IpvsCore extends L4Core {
  readonly driver: 'ipvs';
  readonly owner: string;
  readonly stateFile: string;
  /** The `ipvsadm -R` lines apply(desired) would run now, without running them. */
  plan(desired: VirtualServiceConfig[]): Promise<string[]>;
  /** Every service in the kernel as -S and --thresholds show it (owned or not). */
  readState(): Promise<SavedService[]>;
}

export function createIpvsCore(options: IpvsCoreOptions = {}): IpvsCore {
  return new IpvsDriver(options);
}

const ZERO_COUNTERS: Counters = { conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 };
const ZERO_RATES: Rates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function counters(numbers: number[] | undefined): Counters {
  if (numbers === undefined || numbers.length < 5) return { ...ZERO_COUNTERS };
  const [conns, inPackets, outPackets, inBytes, outBytes] = numbers;
  return { conns, inPackets, outPackets, inBytes, outBytes };
}

function rates(numbers: number[] | undefined): Rates {
  if (numbers === undefined || numbers.length < 5) return { ...ZERO_RATES };
  const [cps, inPps, outPps, inBps, outBps] = numbers;
  return { cps, inPps, outPps, inBps, outBps };
}

function byService(rows: TableRow[]): Map<string, TableRow> {
  return new Map(rows.map((row) => [serviceId(row.key), row]));
}

/**
 * Promise.all that waits for every ipvsadm it started before it throws, so
 * no child is left running when one of them fails.
 */
async function settleAll<T extends readonly unknown[]>(work: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(work);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

function tokens(line: string): string[] {
  return line.split(' '); // every token was validated to contain no white space
}

class IpvsDriver implements IpvsCore {
  readonly driver = 'ipvs' as const;
  readonly owner: string;
  readonly stateFile: string;
  private readonly runner: IpvsadmRunner;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: IpvsCoreOptions) {
    this.owner = options.owner ?? 'tcpvs';
    this.stateFile = options.stateFile ?? DEFAULT_STATE_FILE;
    this.runner = new IpvsadmRunner({
      path: options.ipvsadm ?? 'ipvsadm',
      timeoutMs: options.timeoutMs ?? 30_000,
      procNetIpVs: options.procNetIpVs ?? '/proc/net/ip_vs',
    });
  }

  /** Changes run one at a time, so a read-diff-write cycle never interleaves with another. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new L4Error('unavailable', 'the ipvs L4 core is closed'));
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async readState(): Promise<SavedService[]> {
    const [save, thresholds] = await settleAll<[string, string]>([
      this.runner.check(['-S', '-n']),
      this.runner.check(['-L', '-n', '--thresholds']),
    ]);
    return withThresholds(parseSave(save), parseListTable(thresholds));
  }

  async list(): Promise<VirtualServiceStatus[]> {
    const [services, connectionRows, statsRows, rateRows] = await settleAll<[SavedService[], TableRow[], TableRow[], TableRow[]]>([
      this.readState(),
      this.runner.check(['-L', '-n', '--persistent-conn']).then(parseListTable),
      this.runner.check(['-L', '-n', '--stats', '--exact']).then(parseListTable),
      this.runner.check(['-L', '-n', '--rate', '--exact']).then(parseListTable),
    ]);
    // --thresholds has ActiveConn and InActConn too; --persistent-conn adds PersistConn
    const connectionsBy = byService(connectionRows);
    const statsBy = byService(statsRows);
    const ratesBy = byService(rateRows);
    return services.map((service) => {
      const id = serviceId(service.key);
      const connectionRow = connectionsBy.get(id);
      const statsRow = statsBy.get(id);
      const rateRow = ratesBy.get(id);
      return {
        key: service.key,
        scheduler: service.scheduler,
        persistence: service.persistence,
        stats: counters(statsRow?.numbers),
        rates: rates(rateRow?.numbers),
        realServers: service.realServers.map((server) => {
          const name = formatHostPort(server.address, server.port);
          const c = connectionRow?.servers.get(name) ?? [];
          return {
            address: server.address,
            port: server.port,
            weight: server.weight,
            method: server.method,
            upperThreshold: server.upperThreshold,
            lowerThreshold: server.lowerThreshold,
            persistentConns: c[1] ?? 0,
            activeConns: c[2] ?? 0,
            inactiveConns: c[3] ?? 0,
            stats: counters(statsRow?.servers.get(name)),
            rates: rates(rateRow?.servers.get(name)),
          };
        }),
      };
    });
  }

  async connections(): Promise<ConnectionEntry[]> {
    return parseConnections(await this.runner.check(['-L', '-n', '-c']));
  }

  private async planFor(wanted: VirtualServiceConfig[]): Promise<{ lines: string[]; owners: Owners }> {
    const [current, owners] = await settleAll<[SavedService[], Owners]>([this.readState(), readOwners(this.stateFile)]);
    const plan = planBatch({ current, desired: wanted, owner: this.owner, owners });
    if (plan.conflicts.length > 0) throw adoptionError(plan.conflicts, this.owner, this.stateFile);
    return { lines: plan.lines, owners };
  }

  async plan(desired: VirtualServiceConfig[]): Promise<string[]> {
    return (await this.planFor(normalizeDesired(desired))).lines;
  }

  /** Record `ids` as this owner's (and no one else's) in the ownership file. */
  private async recordOwned(owners: Owners, ids: Set<string>): Promise<void> {
    for (const [name, owned] of owners) if (name !== this.owner) for (const id of ids) owned.delete(id);
    owners.set(this.owner, ids);
    await writeOwners(this.stateFile, owners);
  }

  apply(desired: VirtualServiceConfig[]): Promise<void> {
    return this.exclusive(async () => {
      const wanted = normalizeDesired(desired);
      const wantedIds = new Set(wanted.map((service) => serviceId(service.key)));
      const { lines, owners } = await this.planFor(wanted);
      const mine = owners.get(this.owner) ?? new Set<string>();
      if (lines.length === 0) {
        // owned ids that no longer exist in the kernel are forgotten
        if (mine.size !== wantedIds.size || [...mine].some((id) => !wantedIds.has(id))) await this.recordOwned(owners, wantedIds);
        return;
      }
      // Claim before creating: a crash mid-batch then leaves no service of ours unrecorded
      const claimed = new Set([...mine, ...wantedIds]);
      await this.recordOwned(owners, claimed);
      try {
        await this.runner.check(['-R'], `${lines.join('\n')}\n`);
      } catch (err) {
        throw await this.afterFailedBatch(err as L4Error, wanted, owners, claimed);
      }
      await this.recordOwned(owners, wantedIds);
    });
  }

  /** ipvsadm -R carries on past a failing line: record what exists now and say what is still different. */
  private async afterFailedBatch(err: L4Error, wanted: VirtualServiceConfig[], owners: Owners, claimed: Set<string>): Promise<L4Error> {
    if (err.code === 'unavailable') return err;
    let current: SavedService[];
    try {
      current = await this.readState();
    } catch {
      return err;
    }
    const existing = new Set(current.map((service) => serviceId(service.key)));
    await this.recordOwned(owners, new Set([...claimed].filter((id) => existing.has(id))));
    const remaining = planBatch({ current, desired: wanted, owner: this.owner, owners }).lines;
    const left = remaining.length === 0 ? 'nothing' : remaining.join(' | ');
    return new L4Error(err.code, `ipvsadm -R batch failed: ${err.message}; still to do: ${left}`);
  }

  private async updateOwnership(change: (owners: Owners) => void): Promise<void> {
    const owners = await readOwners(this.stateFile);
    change(owners);
    await writeOwners(this.stateFile, owners);
  }

  addService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void> {
    return this.exclusive(async () => {
      const [service] = normalizeDesired([{ ...config, realServers: [] }]);
      await this.runner.check(tokens(formatServiceLine('-A', service)));
      // a service created through this core is this owner's, as if apply() had created it
      await this.updateOwnership((owners) => {
        const id = serviceId(service.key);
        for (const ids of owners.values()) ids.delete(id);
        owners.set(this.owner, (owners.get(this.owner) ?? new Set()).add(id));
      });
    });
  }

  editService(config: Omit<VirtualServiceConfig, 'realServers'>): Promise<void> {
    return this.exclusive(async () => {
      const [service] = normalizeDesired([{ ...config, realServers: [] }]);
      await this.runner.check(tokens(formatServiceLine('-E', service)));
    });
  }

  deleteService(key: ServiceKey): Promise<void> {
    return this.exclusive(async () => {
      const checked = normalizeServiceKey(key);
      const forget = (): Promise<void> =>
        this.updateOwnership((owners) => {
          for (const ids of owners.values()) ids.delete(serviceId(checked));
        });
      try {
        await this.runner.check(tokens(formatDeleteService(checked)));
      } catch (err) {
        if ((err as L4Error).code === 'no-service') await forget();
        throw err;
      }
      await forget();
    });
  }

  clear(): Promise<void> {
    return this.exclusive(async () => {
      await this.runner.check(['-C']);
      await writeOwners(this.stateFile, new Map()); // -C empties the whole table, every owner's services included
    });
  }

  addRealServer(key: ServiceKey, server: RealServerConfig): Promise<void> {
    return this.exclusive(async () => {
      const checked = normalizeServiceKey(key);
      await this.runner.check(tokens(formatServerLine('-a', checked, normalizeRealServer(checked, server))));
    });
  }

  editRealServer(key: ServiceKey, server: RealServerConfig): Promise<void> {
    return this.exclusive(async () => {
      const checked = normalizeServiceKey(key);
      await this.runner.check(tokens(formatServerLine('-e', checked, normalizeRealServer(checked, server))));
    });
  }

  deleteRealServer(key: ServiceKey, address: string, port: number): Promise<void> {
    return this.exclusive(async () => {
      const checked = normalizeServiceKey(key);
      const canonical = canonicalAddress(address);
      if (canonical === null || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw new L4Error('invalid', `${serviceId(checked)}: real server ${address}:${port} is not an address and port`);
      }
      // port 0 names the server by the service's port, as when it was added without one
      const serverPort = port === 0 && checked.protocol !== 'fwmark' ? checked.port : port;
      await this.runner.check(tokens(formatDeleteServer(checked, canonical.address, serverPort)));
    });
  }

  // The kernel's connection sync daemon: ipvsadm's own commands, run as given.
  // The daemons are the kernel's (per network namespace), not owned by anyone:
  // whatever started one, --stop-daemon stops it.

  startDaemon(daemon: SyncDaemon): Promise<void> {
    return this.exclusive(async () => {
      const problem = syncDaemonProblem(daemon);
      if (problem !== null) throw new L4Error('invalid', problem);
      await this.runner.check(formatStartDaemon(daemon));
    });
  }

  stopDaemon(role: SyncDaemonRole): Promise<void> {
    return this.exclusive(async () => {
      if (role !== 'master' && role !== 'backup') throw new L4Error('invalid', `--stop-daemon takes master or backup, not ${String(role)}`);
      await this.runner.check(['--stop-daemon', role]);
    });
  }

  async daemons(): Promise<SyncDaemon[]> {
    return parseDaemons(await this.runner.check(['-L', '--daemon']));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const pending = this.queue;
    this.closed = true;
    await pending;
  }
}

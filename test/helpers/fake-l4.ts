// An in-memory L4Core with IPVS's rules (a service exists once, a real server
// once per service, one sync daemon per role), so the ipvsadm CLI and the
// admin socket can be tested without either driver. Tests set counters and
// connections directly and can read every call made.
import {
  L4Error,
  serviceId,
  type ConnectionEntry,
  type Counters,
  type L4Core,
  type Rates,
  type RealServerConfig,
  type RealServerStatus,
  type ServiceKey,
  type SyncDaemon,
  type VirtualServiceConfig,
  type VirtualServiceStatus,
} from '../../lib/l4/model.ts';

const FAKE_SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf']);

const zeroCounters = (): Counters => ({ conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 });
const zeroRates = (): Rates => ({ cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });

export interface FakeL4 extends L4Core {
  /** Every call as `name` plus its arguments, in order. */
  readonly calls: Array<{ name: string; args: unknown[] }>;
  /** What `connections()` returns. */
  connectionTable: ConnectionEntry[];
  /** The running sync daemons, as the kernel would report them (tests may add the kernel's defaults). */
  syncDaemons: SyncDaemon[];
  /** The live status object of one service (mutate its counters); throws if absent. */
  status(key: ServiceKey): VirtualServiceStatus;
  closed: boolean;
}

export function createFakeL4(driver: L4Core['driver'] = 'userspace'): FakeL4 {
  const services = new Map<string, VirtualServiceStatus>();
  const calls: FakeL4['calls'] = [];
  const record = (name: string, ...args: unknown[]) => calls.push({ name, args: structuredClone(args) });

  const find = (key: ServiceKey): VirtualServiceStatus => {
    const s = services.get(serviceId(key));
    if (s === undefined) throw new L4Error('no-service', 'No such service');
    return s;
  };
  const checkScheduler = (name: string): void => {
    if (!FAKE_SCHEDULERS.has(name)) throw new L4Error('invalid', 'Scheduler or persistence engine not found');
  };
  const toStatus = (server: RealServerConfig): RealServerStatus => ({
    ...server,
    activeConns: 0,
    inactiveConns: 0,
    persistentConns: 0,
    stats: zeroCounters(),
    rates: zeroRates(),
  });

  const fake: FakeL4 = {
    driver,
    calls,
    connectionTable: [],
    syncDaemons: [],
    closed: false,
    status: (key) => find(key),
    async list() {
      record('list');
      return structuredClone([...services.values()]);
    },
    async addService(config) {
      record('addService', config);
      checkScheduler(config.scheduler);
      const id = serviceId(config.key);
      if (services.has(id)) throw new L4Error('exists', 'Service already exists');
      services.set(id, { ...structuredClone(config), realServers: [], stats: zeroCounters(), rates: zeroRates() });
    },
    async editService(config) {
      record('editService', config);
      const s = find(config.key);
      checkScheduler(config.scheduler);
      s.scheduler = config.scheduler;
      s.persistence = structuredClone(config.persistence);
    },
    async deleteService(key) {
      record('deleteService', key);
      find(key);
      services.delete(serviceId(key));
    },
    async clear() {
      record('clear');
      services.clear();
    },
    async addRealServer(key, server) {
      record('addRealServer', key, server);
      const s = find(key);
      if (s.realServers.some((r) => r.address === server.address && r.port === server.port)) {
        throw new L4Error('exists', 'Destination already exists');
      }
      s.realServers.push(toStatus(structuredClone(server)));
    },
    async editRealServer(key, server) {
      record('editRealServer', key, server);
      const s = find(key);
      const r = s.realServers.find((x) => x.address === server.address && x.port === server.port);
      if (r === undefined) throw new L4Error('no-dest', 'No such destination');
      Object.assign(r, structuredClone(server));
    },
    async deleteRealServer(key, address, port) {
      record('deleteRealServer', key, address, port);
      const s = find(key);
      const i = s.realServers.findIndex((x) => x.address === address && x.port === port);
      if (i === -1) throw new L4Error('no-dest', 'No such destination');
      s.realServers.splice(i, 1);
    },
    async connections() {
      record('connections');
      return structuredClone(fake.connectionTable);
    },
    async apply(desired: VirtualServiceConfig[]) {
      record('apply', desired);
      for (const d of desired) {
        checkScheduler(d.scheduler);
        const prev = services.get(serviceId(d.key));
        services.set(serviceId(d.key), {
          key: structuredClone(d.key),
          scheduler: d.scheduler,
          persistence: structuredClone(d.persistence),
          realServers: d.realServers.map((r) => {
            const old = prev?.realServers.find((x) => x.address === r.address && x.port === r.port);
            return old === undefined ? toStatus(structuredClone(r)) : { ...old, ...structuredClone(r) };
          }),
          stats: prev?.stats ?? zeroCounters(),
          rates: prev?.rates ?? zeroRates(),
        });
      }
    },
    async startDaemon(daemon) {
      record('startDaemon', daemon);
      if (fake.syncDaemons.some((d) => d.role === daemon.role)) throw new L4Error('exists', 'Daemon has already run');
      fake.syncDaemons.push(structuredClone(daemon));
    },
    async stopDaemon(role) {
      record('stopDaemon', role);
      const i = fake.syncDaemons.findIndex((d) => d.role === role);
      if (i === -1) throw new L4Error('failed', 'No daemon is running');
      fake.syncDaemons.splice(i, 1);
    },
    async daemons() {
      record('daemons');
      return structuredClone(fake.syncDaemons);
    },
    async close() {
      record('close');
      fake.closed = true;
    },
  };
  return fake;
}

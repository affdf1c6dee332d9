// The L4 core on the admin socket: `l4Handlers` serves an L4Core's methods as
// l4.<name>, and `remoteL4Core` is an L4Core that calls them. `close` is not
// served: a client must not be able to stop the running core.
//
//   l4.driver            {}                              -> 'userspace' | 'ipvs'
//   l4.list              {}                              -> VirtualServiceStatus[]
//   l4.addService        {service}                       -> null
//   l4.editService       {service}                       -> null
//   l4.deleteService     {key}                           -> null
//   l4.clear             {}                              -> null
//   l4.addRealServer     {key, server}                   -> null
//   l4.editRealServer    {key, server}                   -> null
//   l4.deleteRealServer  {key, address, port}            -> null
//   l4.connections       {}                              -> ConnectionEntry[]
//   l4.apply             {desired}                       -> null
//   l4.startDaemon       {daemon}                        -> null
//   l4.stopDaemon        {role}                          -> null
//   l4.daemons           {}                              -> SyncDaemon[]
// Errors carry L4Error's code (exists, no-service, no-dest, invalid, ...).
import {
  L4Error,
  type ConnectionEntry,
  type L4Core,
  type RealServerConfig,
  type ServiceKey,
  type SyncDaemon,
  type SyncDaemonRole,
  type VirtualServiceConfig,
  type VirtualServiceStatus,
} from '../l4/model.ts';
import { AdminError, type AdminHandlers } from './protocol.ts';
import type { AdminClient } from './client.ts';

type ServiceConfig = Omit<VirtualServiceConfig, 'realServers'>;

const L4_CODES: ReadonlySet<string> = new Set(['exists', 'no-service', 'no-dest', 'invalid', 'unavailable', 'failed']);

export function l4Handlers(core: L4Core): AdminHandlers {
  return {
    'l4.driver': async () => core.driver,
    'l4.list': () => core.list(),
    'l4.addService': async (p) => core.addService(serviceConfig(field(p, 'service'), 'service')),
    'l4.editService': async (p) => core.editService(serviceConfig(field(p, 'service'), 'service')),
    'l4.deleteService': async (p) => core.deleteService(serviceKey(field(p, 'key'), 'key')),
    'l4.clear': () => core.clear(),
    'l4.addRealServer': async (p) => core.addRealServer(serviceKey(field(p, 'key'), 'key'), realServer(field(p, 'server'), 'server')),
    'l4.editRealServer': async (p) => core.editRealServer(serviceKey(field(p, 'key'), 'key'), realServer(field(p, 'server'), 'server')),
    'l4.deleteRealServer': async (p) =>
      core.deleteRealServer(serviceKey(field(p, 'key'), 'key'), str(field(p, 'address'), 'address'), int(field(p, 'port'), 'port')),
    'l4.connections': () => core.connections(),
    'l4.apply': async (p) => {
      const desired = field(p, 'desired');
      if (!Array.isArray(desired)) throw invalid('desired must be an array');
      return core.apply(desired.map((d, i) => virtualService(d, `desired[${i}]`)));
    },
    'l4.startDaemon': async (p) => core.startDaemon(syncDaemon(field(p, 'daemon'), 'daemon')),
    'l4.stopDaemon': async (p) => core.stopDaemon(daemonRole(field(p, 'role'), 'role')),
    'l4.daemons': () => core.daemons(),
  };
}

/** An L4Core that forwards every call through an admin connection; `close` closes only the connection. */
export async function remoteL4Core(client: AdminClient, timeoutMs = 10_000): Promise<L4Core> {
  const call = async (method: string, params: unknown = {}): Promise<unknown> => {
    try {
      return await client.call(method, params, timeoutMs);
    } catch (err) {
      if (err instanceof AdminError && L4_CODES.has(err.code)) throw new L4Error(err.code as L4Error['code'], err.message);
      // a tcpvs started from an older version lacks the newer methods (the sync daemon's)
      if (err instanceof AdminError && err.code === 'no-method' && method !== 'l4.driver') {
        throw new L4Error('unavailable', `the running tcpvs cannot do this (${err.message}): it is older than this client; restart it`);
      }
      throw err;
    }
  };
  const driver = (await call('l4.driver')) as L4Core['driver'];
  return {
    driver,
    list: async () => (await call('l4.list')) as VirtualServiceStatus[],
    addService: async (service) => void (await call('l4.addService', { service })),
    editService: async (service) => void (await call('l4.editService', { service })),
    deleteService: async (key) => void (await call('l4.deleteService', { key })),
    clear: async () => void (await call('l4.clear')),
    addRealServer: async (key, server) => void (await call('l4.addRealServer', { key, server })),
    editRealServer: async (key, server) => void (await call('l4.editRealServer', { key, server })),
    deleteRealServer: async (key, address, port) => void (await call('l4.deleteRealServer', { key, address, port })),
    connections: async () => (await call('l4.connections')) as ConnectionEntry[],
    apply: async (desired) => void (await call('l4.apply', { desired })),
    startDaemon: async (daemon) => void (await call('l4.startDaemon', { daemon })),
    stopDaemon: async (role) => void (await call('l4.stopDaemon', { role })),
    daemons: async () => (await call('l4.daemons')) as SyncDaemon[],
    close: async () => client.close(),
  };
}

/**
 * The L4 core of another tcpvs through its admin socket, reconnecting: a call
 * after the connection was lost (the director restarted) opens a new one. An
 * L4 error (no such service...) is an answer and keeps the connection; any
 * other failure drops it, and the call fails.
 */
export async function reconnectingRemoteL4Core(path: string, open: (path: string) => Promise<AdminClient>): Promise<L4Core> {
  let current: Promise<L4Core> | null = null;
  const connect = (): Promise<L4Core> => {
    current ??= open(path).then((client) =>
      remoteL4Core(client).catch((err: unknown) => {
        client.close();
        throw err;
      }),
    );
    return current;
  };
  const run = async <T>(fn: (core: L4Core) => Promise<T>): Promise<T> => {
    const attempt = connect();
    let core: L4Core;
    try {
      core = await attempt;
    } catch (err) {
      if (current === attempt) current = null;
      throw err;
    }
    try {
      return await fn(core);
    } catch (err) {
      if (!(err instanceof L4Error) && current === attempt) {
        current = null;
        await core.close();
      }
      throw err;
    }
  };
  const first = await connect();
  return {
    driver: first.driver,
    list: () => run((c) => c.list()),
    addService: (service) => run((c) => c.addService(service)),
    editService: (service) => run((c) => c.editService(service)),
    deleteService: (key) => run((c) => c.deleteService(key)),
    clear: () => run((c) => c.clear()),
    addRealServer: (key, server) => run((c) => c.addRealServer(key, server)),
    editRealServer: (key, server) => run((c) => c.editRealServer(key, server)),
    deleteRealServer: (key, address, port) => run((c) => c.deleteRealServer(key, address, port)),
    connections: () => run((c) => c.connections()),
    apply: (desired) => run((c) => c.apply(desired)),
    startDaemon: (daemon) => run((c) => c.startDaemon(daemon)),
    stopDaemon: (role) => run((c) => c.stopDaemon(role)),
    daemons: () => run((c) => c.daemons()),
    close: async () => {
      const c = current;
      current = null;
      if (c !== null) await (await c.catch(() => null))?.close();
    },
  };
}

// ---- params checks: the socket is private, but a malformed call should say what is wrong ----

function invalid(message: string): L4Error {
  return new L4Error('invalid', `bad params: ${message}`);
}

function field(params: unknown, name: string): unknown {
  if (params === null || typeof params !== 'object') throw invalid('params must be an object');
  return (params as Record<string, unknown>)[name];
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} must be a string`);
  return v;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`${what} must be a non-negative integer`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function serviceKey(v: unknown, what: string): ServiceKey {
  const o = obj(v, what);
  const protocol = o.protocol;
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'fwmark') throw invalid(`${what}.protocol must be tcp, udp or fwmark`);
  const family = o.family;
  if (family !== 4 && family !== 6) throw invalid(`${what}.family must be 4 or 6`);
  return {
    protocol,
    address: str(o.address, `${what}.address`),
    port: int(o.port, `${what}.port`),
    fwmark: int(o.fwmark, `${what}.fwmark`),
    family,
  };
}

function serviceConfig(v: unknown, what: string): ServiceConfig {
  const o = obj(v, what);
  let persistence: ServiceConfig['persistence'] = null;
  if (o.persistence !== null && o.persistence !== undefined) {
    const p = obj(o.persistence, `${what}.persistence`);
    persistence = {
      timeoutSec: int(p.timeoutSec, `${what}.persistence.timeoutSec`),
      netmask: str(p.netmask, `${what}.persistence.netmask`),
    };
  }
  return { key: serviceKey(o.key, `${what}.key`), scheduler: str(o.scheduler, `${what}.scheduler`), persistence };
}

function realServer(v: unknown, what: string): RealServerConfig {
  const o = obj(v, what);
  const method = o.method;
  if (method !== 'masq' && method !== 'route' && method !== 'tunnel') throw invalid(`${what}.method must be masq, route or tunnel`);
  return {
    address: str(o.address, `${what}.address`),
    port: int(o.port, `${what}.port`),
    weight: int(o.weight, `${what}.weight`),
    method,
    upperThreshold: int(o.upperThreshold, `${what}.upperThreshold`),
    lowerThreshold: int(o.lowerThreshold, `${what}.lowerThreshold`),
    ...proxyProtocol(o.proxyProtocol, `${what}.proxyProtocol`),
  };
}

function proxyProtocol(v: unknown, what: string): { proxyProtocol?: 1 | 2 } {
  if (v === undefined) return {};
  if (v !== 1 && v !== 2) throw invalid(`${what} must be 1 or 2`);
  return { proxyProtocol: v };
}

function virtualService(v: unknown, what: string): VirtualServiceConfig {
  const config = serviceConfig(v, what);
  const servers = obj(v, what).realServers;
  if (!Array.isArray(servers)) throw invalid(`${what}.realServers must be an array`);
  return { ...config, realServers: servers.map((s, i) => realServer(s, `${what}.realServers[${i}]`)) };
}

function daemonRole(v: unknown, what: string): SyncDaemonRole {
  if (v !== 'master' && v !== 'backup') throw invalid(`${what} must be master or backup`);
  return v;
}

function nullableInt(v: unknown, what: string): number | null {
  return v === null || v === undefined ? null : int(v, what);
}

function syncDaemon(v: unknown, what: string): SyncDaemon {
  const o = obj(v, what);
  const group = o.mcastGroup;
  return {
    role: daemonRole(o.role, `${what}.role`),
    mcastInterface: str(o.mcastInterface, `${what}.mcastInterface`),
    syncId: int(o.syncId, `${what}.syncId`),
    syncMaxLen: nullableInt(o.syncMaxLen, `${what}.syncMaxLen`),
    mcastGroup: group === null || group === undefined ? null : str(group, `${what}.mcastGroup`),
    mcastPort: nullableInt(o.mcastPort, `${what}.mcastPort`),
    mcastTtl: nullableInt(o.mcastTtl, `${what}.mcastTtl`),
  };
}

// From (kernel state, desired state, ownership) to the lines of one
// `ipvsadm -R` batch. Pure: no ipvsadm, no files; the driver feeds it.
import { L4Error, serviceId } from '../model.ts';
import type { RealServerConfig, ServiceKey, VirtualServiceConfig } from '../model.ts';
import { canonicalAddress, formatHostPort } from './address.ts';
import {
  DEFAULT_TUNNEL_OPTIONS,
  defaultNetmask,
  formatDeleteServer,
  formatDeleteService,
  formatServerLine,
  formatServiceLine,
} from './ipvsadm-text.ts';
import type { SavedRealServer, SavedService, TableRow } from './ipvsadm-text.ts';

const MAX_PERSISTENCE_SEC = 86400 * 31; // ipvsadm's MAX_TIMEOUT
const MAX_THRESHOLD = 0x7fffffff;
const SCHEDULER_NAME = /^[A-Za-z0-9_-]{1,15}$/; // IP_VS_SCHEDNAME_MAXLEN is 16 with the NUL

function isWhole(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function normalizeKey(key: ServiceKey, problems: string[], label: string): ServiceKey | null {
  if (key.protocol === 'fwmark') {
    if (!isWhole(key.fwmark, 1, 0xffffffff)) problems.push(`${label}: fwmark must be 1..4294967295, got ${key.fwmark}`);
    else if (key.family !== 4 && key.family !== 6) problems.push(`${label}: family must be 4 or 6`);
    else if (key.address !== '' || key.port !== 0) problems.push(`${label}: a fwmark service has address '' and port 0`);
    else return { protocol: 'fwmark', address: '', port: 0, fwmark: key.fwmark, family: key.family };
    return null;
  }
  if (key.protocol !== 'tcp' && key.protocol !== 'udp') {
    problems.push(`${label}: protocol must be tcp, udp or fwmark, got ${String(key.protocol)}`);
    return null;
  }
  const canonical = canonicalAddress(key.address);
  if (canonical === null) problems.push(`${label}: ${JSON.stringify(key.address)} is not an IPv4 or IPv6 address`);
  else if (!isWhole(key.port, 0, 65535)) problems.push(`${label}: port must be 0..65535, got ${key.port}`);
  else if (key.family !== canonical.family) problems.push(`${label}: family ${key.family} does not match address ${key.address}`);
  else return { protocol: key.protocol, address: canonical.address, port: key.port, fwmark: 0, family: canonical.family };
  return null;
}

function normalizeNetmask(netmask: string, family: 4 | 6): string | null {
  if (netmask === '') return defaultNetmask(family);
  if (family === 6) return /^\d{1,3}$/.test(netmask) && isWhole(Number(netmask), 1, 128) ? String(Number(netmask)) : null;
  const canonical = canonicalAddress(netmask);
  return canonical !== null && canonical.family === 4 ? canonical.address : null;
}

function normalizeServer(server: RealServerConfig, key: ServiceKey, problems: string[], label: string): RealServerConfig | null {
  const canonical = canonicalAddress(server.address);
  const where = `${label}: real server ${server.address}:${server.port}`;
  const before = problems.length;
  if (canonical === null) problems.push(`${where}: not an IPv4 or IPv6 address`);
  else if (canonical.family !== key.family) problems.push(`${where}: IPv${canonical.family} server in an IPv${key.family} service`);
  if (!isWhole(server.port, 0, 65535)) problems.push(`${where}: port must be 0..65535`);
  if (server.method !== 'masq' && server.method !== 'route' && server.method !== 'tunnel') {
    problems.push(`${where}: method must be masq, route or tunnel`);
  }
  if (!isWhole(server.weight, 0, 65535)) problems.push(`${where}: weight must be 0..65535, got ${server.weight}`);
  if (!isWhole(server.upperThreshold, 0, MAX_THRESHOLD)) problems.push(`${where}: upper threshold must be 0..${MAX_THRESHOLD}`);
  if (!isWhole(server.lowerThreshold, 0, MAX_THRESHOLD)) problems.push(`${where}: lower threshold must be 0..${MAX_THRESHOLD}`);
  if (server.proxyProtocol !== undefined)
    problems.push(`${where}: the kernel's IPVS cannot send the PROXY protocol (the user-space core can)`);
  if (problems.length !== before || canonical === null) return null;
  let port = server.port;
  // ipvsadm forces a routed or tunnelled server's port to the service's (not for fwmark services)
  if (key.protocol !== 'fwmark' && server.method !== 'masq') {
    if (port === 0) port = key.port;
    if (port !== key.port) {
      problems.push(`${where}: with method ${server.method} the port must be the service's (${key.port}) or 0; only masq can change ports`);
      return null;
    }
  }
  return {
    address: canonical.address,
    port,
    weight: server.weight,
    method: server.method,
    upperThreshold: server.upperThreshold,
    lowerThreshold: server.lowerThreshold,
  };
}

function invalidUnless<T>(value: T | null, problems: string[]): T {
  if (value === null || problems.length > 0) throw new L4Error('invalid', problems.join('; '));
  return value;
}

/** One service key, checked and in ipvsadm's spelling (L4Error 'invalid' otherwise). */
export function normalizeServiceKey(key: ServiceKey): ServiceKey {
  const problems: string[] = [];
  return invalidUnless(normalizeKey(key, problems, 'service'), problems);
}

/** One real server of the (normalised) service `key`, checked and in ipvsadm's spelling. */
export function normalizeRealServer(key: ServiceKey, server: RealServerConfig): RealServerConfig {
  const problems: string[] = [];
  return invalidUnless(normalizeServer(server, key, problems, serviceId(key)), problems);
}

/**
 * Check desired services and write their addresses and masks the way ipvsadm
 * prints them, so that they compare equal with what is read back. Throws one
 * L4Error('invalid') naming every problem.
 */
export function normalizeDesired(desired: readonly VirtualServiceConfig[]): VirtualServiceConfig[] {
  const problems: string[] = [];
  const normalized: VirtualServiceConfig[] = [];
  const seen = new Set<string>();
  desired.forEach((service, index) => {
    const key = normalizeKey(service.key, problems, `service #${index + 1}`);
    if (key === null) return;
    const label = serviceId(key);
    if (seen.has(label)) problems.push(`${label}: listed twice`);
    seen.add(label);
    if (!SCHEDULER_NAME.test(service.scheduler)) problems.push(`${label}: bad scheduler name ${JSON.stringify(service.scheduler)}`);
    let persistence = null;
    if (service.persistence !== null) {
      const { timeoutSec } = service.persistence;
      const netmask = normalizeNetmask(service.persistence.netmask, key.family);
      if (!isWhole(timeoutSec, 1, MAX_PERSISTENCE_SEC)) {
        problems.push(`${label}: persistence timeout must be 1..${MAX_PERSISTENCE_SEC} s, got ${timeoutSec}`);
      }
      if (netmask === null) {
        const form = key.family === 6 ? 'a prefix length 1..128' : 'a dotted IPv4 mask like 255.255.255.0';
        problems.push(`${label}: persistence netmask must be ${form}, got ${JSON.stringify(service.persistence.netmask)}`);
      }
      persistence = { timeoutSec, netmask: netmask ?? '' };
    } else if (key.protocol !== 'fwmark' && key.port === 0) {
      problems.push(`${label}: port 0 (all ports) needs persistence, as ipvsadm requires`);
    }
    const servers: RealServerConfig[] = [];
    const serverIds = new Set<string>();
    for (const server of service.realServers) {
      const checked = normalizeServer(server, key, problems, label);
      if (checked === null) continue;
      const id = formatHostPort(checked.address, checked.port);
      if (serverIds.has(id)) problems.push(`${label}: real server ${id} listed twice`);
      serverIds.add(id);
      servers.push(checked);
    }
    normalized.push({ key, scheduler: service.scheduler, persistence, realServers: servers });
  });
  if (problems.length > 0) throw new L4Error('invalid', problems.join('; '));
  return normalized;
}

/** Fill in the thresholds, which `ipvsadm -S` leaves out, from `ipvsadm -L -n --thresholds`. */
export function withThresholds(services: SavedService[], thresholds: readonly TableRow[]): SavedService[] {
  const rows = new Map(thresholds.map((row) => [serviceId(row.key), row]));
  for (const service of services) {
    const row = rows.get(serviceId(service.key));
    if (row === undefined) continue;
    for (const server of service.realServers) {
      const numbers = row.servers.get(formatHostPort(server.address, server.port));
      if (numbers === undefined || numbers.length < 2) continue;
      server.upperThreshold = numbers[0];
      server.lowerThreshold = numbers[1];
    }
  }
  return services;
}

export interface OwnershipConflict {
  key: ServiceKey;
  /** The other owner recorded for it, or null when no owner created it. */
  owner: string | null;
}

export interface BatchPlan {
  /** The `ipvsadm -R` lines, deletions first; empty when the kernel already matches. */
  lines: string[];
  /** Desired services that exist in the kernel but are not ours: nothing may be applied while there are any. */
  conflicts: OwnershipConflict[];
}

export interface PlanInput {
  current: readonly SavedService[];
  /** Normalised (normalizeDesired). */
  desired: readonly VirtualServiceConfig[];
  owner: string;
  /** Every owner's recorded service ids. */
  owners: ReadonlyMap<string, ReadonlySet<string>>;
}

function sameServiceOptions(current: SavedService, desired: VirtualServiceConfig): boolean {
  const a = current.persistence;
  const b = desired.persistence;
  const samePersistence = a === null || b === null ? a === b : a.timeoutSec === b.timeoutSec && a.netmask === b.netmask;
  return current.scheduler === desired.scheduler && samePersistence && current.extra.length === 0;
}

function sameServer(current: SavedRealServer, desired: RealServerConfig): boolean {
  const defaultExtra =
    current.extra.length === 0 || (desired.method === 'tunnel' && current.extra.join(' ') === DEFAULT_TUNNEL_OPTIONS.join(' '));
  return (
    current.method === desired.method &&
    current.weight === desired.weight &&
    current.upperThreshold === desired.upperThreshold &&
    current.lowerThreshold === desired.lowerThreshold &&
    defaultExtra
  );
}

/**
 * The batch that makes this owner's services match `desired`: -D for owned
 * services no longer desired, -A/-a for new ones, -E/-e/-d/-a where an owned
 * service differs. Services the owner does not own are never named; a desired
 * service that exists unowned is reported as a conflict instead.
 */
export function planBatch(input: PlanInput): BatchPlan {
  const mine = input.owners.get(input.owner) ?? new Set<string>();
  const currentById = new Map(input.current.map((service) => [serviceId(service.key), service]));
  const desiredIds = new Set(input.desired.map((service) => serviceId(service.key)));

  const conflicts: OwnershipConflict[] = [];
  for (const service of input.desired) {
    const id = serviceId(service.key);
    if (!currentById.has(id) || mine.has(id)) continue;
    let owner: string | null = null;
    for (const [name, ids] of input.owners) if (name !== input.owner && ids.has(id)) owner = name;
    conflicts.push({ key: service.key, owner });
  }
  if (conflicts.length > 0) return { lines: [], conflicts };

  const lines: string[] = [];
  for (const service of input.current) {
    const id = serviceId(service.key);
    if (mine.has(id) && !desiredIds.has(id)) lines.push(formatDeleteService(service.key));
  }
  for (const service of input.desired) {
    const current = currentById.get(serviceId(service.key));
    if (current === undefined) {
      lines.push(formatServiceLine('-A', service));
      for (const server of service.realServers) lines.push(formatServerLine('-a', service.key, server));
      continue;
    }
    if (!sameServiceOptions(current, service)) lines.push(formatServiceLine('-E', service));
    const wanted = new Set(service.realServers.map((server) => formatHostPort(server.address, server.port)));
    const present = new Map(current.realServers.map((server) => [formatHostPort(server.address, server.port), server]));
    for (const server of current.realServers) {
      if (!wanted.has(formatHostPort(server.address, server.port))) {
        lines.push(formatDeleteServer(service.key, server.address, server.port));
      }
    }
    for (const server of service.realServers) {
      const existing = present.get(formatHostPort(server.address, server.port));
      if (existing === undefined) lines.push(formatServerLine('-a', service.key, server));
      else if (!sameServer(existing, server)) lines.push(formatServerLine('-e', service.key, server));
    }
  }
  return { lines, conflicts };
}

/** The error for a plan with conflicts: names each service and how to resolve it. */
export function adoptionError(conflicts: readonly OwnershipConflict[], owner: string, stateFile: string): L4Error {
  const named = conflicts.map(({ key, owner: other }) =>
    other === null
      ? `${serviceId(key)} (not recorded in ${stateFile}; delete it with "ipvsadm ${formatDeleteService(key)}" if ${owner} should manage it)`
      : `${serviceId(key)} (owned by "${other}")`,
  );
  return new L4Error('exists', `refusing to adopt IPVS services that already exist but are not owned by "${owner}": ${named.join(', ')}`);
}

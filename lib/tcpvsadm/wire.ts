// What tcpvsadm and the running tcpvs say to each other on the admin socket:
// the method names, their params and their answers. The client (main.ts,
// parse.ts, format.ts) and the server (handlers.ts, edit.ts) both import it;
// it imports nothing, so the client never loads the server's half.
//
// An edit travels in JSON (addresses as "HOST:PORT" strings, parsed and
// checked by the edit itself, never trusted from the client). KTCPVS
// commands name a virtual service by its IDENT (a tcpvs service name); the
// native ones name the service, group and route directly.

import type { Endpoint } from '../config/model.ts';

/** KTCPVS's listen address when -A gives neither -l nor -P. */
export const DEFAULT_LISTEN: Endpoint = { host: '0.0.0.0', port: 8080 };
/** The highest submatch a KTCPVS hhttp rule may key on (-m). */
export const MAX_SUBMATCH = 99;

export type EditCommand =
  // KTCPVS tcpvsadm(8)
  | { op: 'add-service'; ident: string; scheduler?: string; listen?: string }
  | { op: 'edit-service'; ident: string; scheduler?: string; listen?: string }
  | { op: 'delete-service'; ident: string }
  | { op: 'flush' }
  | { op: 'add-server'; ident: string; server: string; weight?: number }
  | { op: 'edit-server'; ident: string; server: string; weight?: number }
  | { op: 'delete-server'; ident: string; server: string }
  | { op: 'add-rule'; ident: string; pattern: string; server: string; match?: number }
  | { op: 'del-rule'; ident: string; pattern: string; server: string }
  // tcpvs-native
  | { op: 'group-add'; service: string; group: string; scheduler?: string }
  | { op: 'group-del'; service: string; group: string }
  | { op: 'server-add'; service: string; group: string; server: string; weight?: number }
  | { op: 'server-del'; service: string; group: string; server: string }
  | { op: 'server-weight'; service: string; group: string; server: string; weight: number }
  | { op: 'route-add'; service: string; name: string; matchers: string[]; group: string; before?: string }
  | { op: 'route-del'; service: string; name: string }
  | { op: 'default'; service: string; group: string | null };

export type EditOp = EditCommand['op'];

/** The admin method of each edit: tcpvs.<camelCase op>. */
export const EDIT_METHODS: Readonly<Record<EditOp, string>> = {
  'add-service': 'tcpvs.addService',
  'edit-service': 'tcpvs.editService',
  'delete-service': 'tcpvs.deleteService',
  flush: 'tcpvs.flush',
  'add-server': 'tcpvs.addServer',
  'edit-server': 'tcpvs.editServer',
  'delete-server': 'tcpvs.deleteServer',
  'add-rule': 'tcpvs.addRule',
  'del-rule': 'tcpvs.delRule',
  'group-add': 'tcpvs.groupAdd',
  'group-del': 'tcpvs.groupDel',
  'server-add': 'tcpvs.serverAdd',
  'server-del': 'tcpvs.serverDel',
  'server-weight': 'tcpvs.serverWeight',
  'route-add': 'tcpvs.routeAdd',
  'route-del': 'tcpvs.routeDel',
  default: 'tcpvs.default',
};

/** The other methods: reading, loading a file, starting and stopping services. */
export const METHODS = {
  list: 'tcpvs.list', // IdentParams -> ListResult
  show: 'tcpvs.show', // ShowParams -> string (the rule table, as `tcpvs check` prints it)
  stats: 'tcpvs.stats', // StatsParams -> StatsResult
  load: 'tcpvs.load', // LoadParams -> EditAnswer
  start: 'tcpvs.start', // IdentParams -> EditAnswer
  stop: 'tcpvs.stop', // IdentParams -> EditAnswer
} as const;

// The params of the other methods, as the client sends them; the server
// checks every field (handlers.ts), trusting none.

/** tcpvs.list, tcpvs.start, tcpvs.stop: one service (KTCPVS's -i IDENT), or all. */
export interface IdentParams {
  ident?: string;
}

/** tcpvs.show: one service's rule table, or all. */
export interface ShowParams {
  service?: string;
}

/** tcpvs.stats: without a stats collector, measure rates over intervalMs (1..MAX_RATE_INTERVAL_MS). */
export interface StatsParams {
  intervalMs?: number;
}

export const MAX_RATE_INTERVAL_MS = 10_000;

/** tcpvs.load: the file's text, read by the client with its own rights, and its absolute path. */
export interface LoadParams {
  path: string;
  text: string;
}

/** What every changing method answers: what the change did not refuse but you should know. */
export interface EditAnswer {
  warnings: string[];
}

// ---- what tcpvs.list answers ----

/** The content schedulers as a service shows them: phttp makes what http makes, and reads as http. */
export type ContentScheduler = 'http' | 'hhttp' | 'chttp';

/** The KTCPVS view of a service: how its scheduler reads, or why it is no KTCPVS virtual. */
export type KtcpvsShape =
  | { kind: 'balanced'; scheduler: string } // group servers takes every request
  | { kind: 'content'; scheduler: ContentScheduler } // url-regex routes to per-pattern groups
  | { kind: 'native'; reason: string };

export interface ListedServer {
  address: string;
  weight: number;
}

export interface ListedService {
  name: string;
  stopped: boolean;
  listen: string;
  /** The address its listener is bound to (port 0 picks one); null when not listening. */
  bound: string | null;
  /** How KTCPVS would see it (JSON of KtcpvsShape). */
  shape: KtcpvsShape;
  /** The virtual's real servers (group `servers`, else every group's). */
  servers: ListedServer[];
  /** Content virtuals' rules: pattern, match (hhttp), server. */
  rules: { pattern: string; match: number | null; server: string; route: string }[];
  groups: { name: string; scheduler: string; servers: ListedServer[] }[];
  routes: { name: string; matchers: string; group: string }[];
  defaultGroup: string | null;
  /** KTCPVS's `timeout` (client idle) in seconds. */
  idleTimeoutSec: number;
  /** What the service has that its KTCPVS block does not say (native settings): -L notes them. */
  dropped?: string[];
}

export interface ListResult {
  version: string;
  services: ListedService[];
}

// ---- what tcpvs.stats answers ----

/** The live numbers of one real server, shaped like lib/stats's ServerSnapshot where they overlap. */
export interface RuntimeServerStats {
  name: string;
  up: boolean;
  weight: number;
  activeRequests: number;
  requests: { total: number; perSecond?: number | null };
}

export interface RuntimeStats {
  generatedAt: number;
  /** Over which the per-second rates were measured; absent: no rates. */
  intervalMs?: number;
  services: {
    name: string;
    listen: string;
    activeRequests: number;
    requests: { total: number; perSecond?: number | null };
    groups: {
      name: string;
      scheduler: string;
      activeRequests: number;
      requests: { total: number; perSecond?: number | null };
      servers: RuntimeServerStats[];
    }[];
  }[];
}

export type StatsResult = { source: 'stats'; snapshot: unknown } | { source: 'runtime'; snapshot: RuntimeStats };

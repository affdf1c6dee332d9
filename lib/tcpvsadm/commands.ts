// What tcpvsadm asks the running tcpvs to change: one edit per command, in
// the JSON form the admin socket carries (addresses as "HOST:PORT" strings,
// parsed and checked by the edit itself, never trusted from the client).
//
// KTCPVS commands name a virtual service by its IDENT (a tcpvs service name);
// the native ones name the service, group and route directly.

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
  list: 'tcpvs.list', // {ident?} -> ListResult
  show: 'tcpvs.show', // {service?} -> string (the rule table, as `tcpvs check` prints it)
  stats: 'tcpvs.stats', // {intervalMs?} -> StatsResult
  load: 'tcpvs.load', // {path} -> EditAnswer
  start: 'tcpvs.start', // {ident?} -> EditAnswer
  stop: 'tcpvs.stop', // {ident?} -> EditAnswer
} as const;

/** What every changing method answers: what the change did not refuse but you should know. */
export interface EditAnswer {
  warnings: string[];
}

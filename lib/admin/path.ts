// Where the admin socket lives. Precedence: an explicit --admin PATH, then
// the TCPVS_ADMIN environment variable, then a default that depends on who
// runs tcpvs: root uses /run/tcpvs/admin.sock; anyone else uses
// $XDG_RUNTIME_DIR/tcpvs.sock (a per-user 0700 directory), or, without
// XDG_RUNTIME_DIR, <tmpdir>/tcpvs-<uid>/admin.sock (the server makes that
// directory 0700 and refuses one owned by someone else).
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT_ADMIN_PATH = '/run/tcpvs/admin.sock';

export interface AdminPathSource {
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** The effective uid; process.getuid() by default (undefined on Windows). */
  uid?: number;
}

export function defaultAdminPath(env: NodeJS.ProcessEnv, uid: number | undefined): string {
  if (uid === 0) return ROOT_ADMIN_PATH;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '') return join(runtime, 'tcpvs.sock');
  return join(tmpdir(), `tcpvs-${uid ?? 'user'}`, 'admin.sock');
}

export function resolveAdminPath(source: AdminPathSource): string {
  if (source.flag !== undefined && source.flag !== '') return source.flag;
  const fromEnv = source.env.TCPVS_ADMIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return defaultAdminPath(source.env, 'uid' in source ? source.uid : process.getuid?.());
}

// The ownership file. IPVS has no place to tag a service with its creator,
// so the ids (serviceId) of the services each owner created are kept here:
//   {"version":1,"owners":{"tcpvs":["TCP:10.0.0.1:80","FWM:7"]}}
// It belongs in /run (tmpfs): it is lost on reboot exactly when the kernel's
// IPVS table is.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { L4Error } from '../model.ts';

export const DEFAULT_STATE_FILE = '/run/tcpvs/ipvs-owned.json';

/** Owner name to the ids of the services it owns. */
export type Owners = Map<string, Set<string>>;

export async function readOwners(file: string): Promise<Owners> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new L4Error('failed', `cannot read the IPVS ownership file ${file}: ${(err as Error).message}`);
  }
  const broken = (why: string): L4Error =>
    new L4Error(
      'failed',
      `${file} is not a tcpvs IPVS ownership file (${why}); repair it, or delete it and remove the services it listed with ipvsadm -D`,
    );
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw broken((err as Error).message);
  }
  const parsed = typeof data === 'object' && data !== null ? (data as { version?: unknown; owners?: unknown }) : {};
  const owners = parsed.owners;
  if (parsed.version !== 1 || typeof owners !== 'object' || owners === null || Array.isArray(owners)) {
    throw broken('expected {"version":1,"owners":{...}}');
  }
  const result: Owners = new Map();
  for (const [owner, ids] of Object.entries(owners)) {
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw broken(`owner ${owner} has no list of ids`);
    result.set(owner, new Set(ids as string[]));
  }
  return result;
}

/** Replace the file atomically (write a sibling, then rename over it). */
export async function writeOwners(file: string, owners: Owners): Promise<void> {
  const sorted: Record<string, string[]> = {};
  for (const owner of [...owners.keys()].sort()) {
    const ids = owners.get(owner)!;
    if (ids.size > 0) sorted[owner] = [...ids].sort();
  }
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(temporary, `${JSON.stringify({ version: 1, owners: sorted })}\n`, { mode: 0o644 });
    await rename(temporary, file);
  } catch (err) {
    throw new L4Error('failed', `cannot write the IPVS ownership file ${file}: ${(err as Error).message}`);
  }
}

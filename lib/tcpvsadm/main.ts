// `tcpvsadm ARGS...`: KTCPVS's tcpvsadm(8), and tcpvs's own service, group
// and route commands, against a running tcpvs through its admin socket
// (--admin PATH, else $TCPVS_ADMIN, else the default of lib/admin/path.ts).
// Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 a usage
// error or no tcpvs to talk to.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { openAdminClient, type AdminClient } from '../admin/client.ts';
import { resolveAdminPath } from '../admin/path.ts';
import { AdminError } from '../admin/protocol.ts';
import {
  EDIT_METHODS,
  METHODS,
  type EditAnswer,
  type IdentParams,
  type ListResult,
  type LoadParams,
  type ShowParams,
  type StatsParams,
  type StatsResult,
} from './wire.ts';
import { formatList, formatStats } from './format.ts';
import { tcpvsVersion } from '../version.ts';
import { parseTcpvsadmArgs, usage, type Invocation } from './parse.ts';
import { adminConnectFailure, takeAdminFlag } from '../admin/cli.ts';

const PROGRAM = 'tcpvsadm';
const CALL_TIMEOUT_MS = 15_000;
/** How long -L --rate watches the runtimes' counters when tcpvs runs no stats collector. */
export const DEFAULT_RATE_INTERVAL_MS = 1000;

export interface TcpvsadmIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Where a relative -f path is resolved; process.cwd() by default. */
  cwd?: string;
  rateIntervalMs?: number;
}

/** Runs one tcpvsadm invocation; resolves with the exit code. */
export async function runTcpvsadm(argv: readonly string[], io: TcpvsadmIo): Promise<number> {
  const split = takeAdminFlag(argv);
  if ('error' in split) {
    io.stderr.write(`${PROGRAM}: ${split.error}\n`);
    return 2;
  }
  const parsed = parseTcpvsadmArgs(split.args);
  if (parsed.kind === 'help') {
    io.stdout.write(usage(tcpvsVersion()));
    return 0;
  }
  if (parsed.kind === 'error') {
    if (parsed.message !== '') io.stderr.write(`${PROGRAM}: ${parsed.message}\n`);
    if (parsed.tryHelp) io.stderr.write(`Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.\n`);
    return 2;
  }

  const path = resolveAdminPath({ flag: split.admin, env: io.env });
  let client: AdminClient;
  try {
    client = await openAdminClient(path);
  } catch (err) {
    io.stderr.write(connectFailure(path, err) + '\n');
    return 2;
  }
  try {
    io.stdout.write(await execute(parsed.invocation, client, io));
    return 0;
  } catch (err) {
    if (err instanceof AdminError && err.code === 'no-method') {
      io.stderr.write(`${PROGRAM}: the process at ${path} does not serve tcpvsadm (no tcpvs.* methods: ${err.message})\n`);
      return 2;
    }
    for (const line of (err as Error).message.split('\n')) io.stderr.write(`${PROGRAM}: ${line}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** Makes the calls; returns what goes to stdout (warnings go to stderr as they come). */
async function execute(invocation: Invocation, client: AdminClient, io: TcpvsadmIo): Promise<string> {
  const changed = (answer: unknown): string => {
    for (const w of (answer as EditAnswer | null)?.warnings ?? []) io.stderr.write(`${PROGRAM}: warning: ${w}\n`);
    return '';
  };
  switch (invocation.kind) {
    case 'edit': {
      const { op, ...params } = invocation.command;
      return changed(await client.call(EDIT_METHODS[op], params, CALL_TIMEOUT_MS));
    }
    case 'load': {
      // The file is read here, with the user's rights, and its text sent;
      // the path, made absolute where the user meant it, names it.
      const path = resolve(io.cwd ?? process.cwd(), invocation.path);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new Error(
          `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message}`,
        );
      }
      return changed(await client.call(METHODS.load, { path, text } satisfies LoadParams, CALL_TIMEOUT_MS));
    }
    case 'start':
    case 'stop':
      return changed(await client.call(METHODS[invocation.kind], { ident: invocation.ident } satisfies IdentParams, CALL_TIMEOUT_MS));
    case 'show':
      return (await client.call(METHODS.show, { service: invocation.service } satisfies ShowParams, CALL_TIMEOUT_MS)) as string;
    case 'list': {
      // Listing first also refuses an unknown -i before any statistics are gathered.
      const listed = (await client.call(METHODS.list, { ident: invocation.ident } satisfies IdentParams, CALL_TIMEOUT_MS)) as ListResult;
      if (invocation.stats === null) return formatList(listed);
      const intervalMs = invocation.stats === 'rate' ? (io.rateIntervalMs ?? DEFAULT_RATE_INTERVAL_MS) : undefined;
      const stats = (await client.call(
        METHODS.stats,
        { intervalMs } satisfies StatsParams,
        CALL_TIMEOUT_MS + (intervalMs ?? 0),
      )) as StatsResult;
      return formatStats(stats, invocation.stats, invocation.ident);
    }
  }
}

function connectFailure(path: string, err: unknown): string {
  return `${PROGRAM}: ${adminConnectFailure(path, err).message}`;
}

/** The bin: `tcpvsadm ARGS...` with this process's streams and environment. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  process.exitCode = await runTcpvsadm(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
}

// `tcpvs ipvsadm ARGS...`: ipvsadm(8) for tcpvs's L4 core. The command line
// is ipvsadm's; the commands go to the running tcpvs through its admin socket
// (--admin PATH, else $TCPVS_ADMIN, else the default in lib/admin/path.ts).
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { openAdminClient, type AdminClient } from '../../admin/client.ts';
import { remoteL4Core } from '../../admin/l4.ts';
import { resolveAdminPath } from '../../admin/path.ts';
import { AdminError } from '../../admin/protocol.ts';
import type { L4Core } from '../model.ts';
import { executeCommand, type CommandOutput } from './execute.ts';
import { IPVS_VERSION } from './format.ts';
import { systemResolver, type NameResolver } from './names.ts';
import { parseIpvsadmArgs, type ParseResult } from './parse.ts';
import { adminConnectFailure, takeAdminFlag } from '../../admin/cli.ts';
import { tcpvsVersion } from '../../version.ts';

const PROGRAM = 'tcpvs ipvsadm';

export interface IpvsadmIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Where -R reads commands; process.stdin by default. */
  stdin?: Readable;
  /** Host and service name lookups; the system's by default. */
  names?: NameResolver;
}

/** Runs one `tcpvs ipvsadm` invocation; resolves with the exit code. */
export async function runIpvsadm(argv: string[], io: IpvsadmIo): Promise<number> {
  const out: CommandOutput = { stdout: io.stdout, stderr: io.stderr };
  const names = io.names ?? systemResolver;
  const split = takeAdminFlag(argv);
  if ('error' in split) {
    io.stderr.write(`${split.error}\n`);
    return 2;
  }
  // Without arguments ipvsadm lists the table.
  const args = split.args.length === 0 ? ['-L'] : split.args;
  const parsed = await parseIpvsadmArgs(args, names);
  if (parsed.kind !== 'run') return finishWithoutCore(parsed, out);

  const path = resolveAdminPath({ flag: split.admin, env: io.env });
  let client: AdminClient;
  try {
    client = await openAdminClient(path);
  } catch (err) {
    io.stderr.write(connectFailure(path, err) + '\n');
    return 2;
  }
  try {
    let core: L4Core;
    try {
      core = await remoteL4Core(client);
    } catch (err) {
      if (err instanceof AdminError && err.code === 'no-method') {
        io.stderr.write(`${PROGRAM}: the tcpvs at ${path} runs no L4 core\n`);
        return 2;
      }
      throw err;
    }
    if (parsed.invocation.command === 'restore') return await restore(io.stdin ?? process.stdin, core, out, names);
    return await executeCommand(parsed.invocation, core, out);
  } catch (err) {
    io.stderr.write(`${PROGRAM}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** Prints help, the version, or a usage error; none needs tcpvs. */
function finishWithoutCore(parsed: Exclude<ParseResult, { kind: 'run' }>, out: CommandOutput): number {
  switch (parsed.kind) {
    case 'help':
      out.stdout.write(version() + usage());
      return 0;
    case 'version':
      out.stdout.write(version());
      return 0;
    case 'error':
      if (parsed.message !== '') out.stderr.write(parsed.message + '\n');
      if (parsed.tryHelp) out.stderr.write(`Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.\n`);
      return parsed.exitCode;
  }
}

/**
 * `ipvsadm -R`: one command per line from stdin, as `ipvsadm -S` writes them.
 * A line that does not parse stops the restore (exit 2), as in ipvsadm; a
 * refused command is reported and the restore goes on; the exit code is 1 if
 * any was refused.
 */
async function restore(stdin: Readable, core: L4Core, out: CommandOutput, names: NameResolver): Promise<number> {
  let status = 0;
  const lines = createInterface({ input: stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
    if (words.length === 0 || words[0].startsWith('#')) continue;
    const parsed = await parseIpvsadmArgs(words, names);
    if (parsed.kind !== 'run') {
      lines.close();
      return finishWithoutCore(parsed, out);
    }
    if (parsed.invocation.command === 'restore') {
      // ipvsadm refuses -R inside -R rather than loop
      lines.close();
      return finishWithoutCore({ kind: 'error', message: '', exitCode: 2, tryHelp: true }, out);
    }
    if ((await executeCommand(parsed.invocation, core, out)) !== 0) status = 1;
  }
  return status;
}

function connectFailure(path: string, err: unknown): string {
  const failure = adminConnectFailure(path, err);
  return failure.notRunning ? failure.message : `${PROGRAM}: ${failure.message}`;
}

function version(): string {
  return `ipvsadm v1.31 2019/12/24 (compiled with tcpvs ${tcpvsVersion()} and IPVS v${IPVS_VERSION})\n`;
}

function usage(): string {
  const p = PROGRAM;
  return `Usage:
  ${p} -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask]
  ${p} -D -t|u|f service-address
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e -t|u|f service-address -r server-address [options]
  ${p} -d -t|u|f service-address -r server-address
  ${p} -L|l [options]
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters (not supported by tcpvs)
  --start-daemon              start connection sync daemon (l4 driver ipvs)
  --stop-daemon               stop connection sync daemon (l4 driver ipvs)
  --help            -h        display this help message
  --version         -v        display the version

Options:
  --tcp-service  -t service-address   service-address is host[:port]
  --udp-service  -u service-address   service-address is host[:port]
  --fwmark-service  -f fwmark         fwmark is an integer greater than zero
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         the default scheduler is wlc.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                ipip (the only tunnel type tcpvs has)
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --proxy-protocol 1|2                a PROXY header (v1 or v2) first to this real server (tcpvs's user-space core)
  --connection   -c                   output of current IPVS connections
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --numeric      -n                   numeric output of addresses and ports
                                      (tcpvs always prints numbers)
  --admin PATH                        the running tcpvs's admin socket
                                      (default: $TCPVS_ADMIN, else /run/tcpvs/admin.sock
                                      as root, $XDG_RUNTIME_DIR/tcpvs.sock otherwise)
Daemon Options (the kernel's sync daemon, l4 driver ipvs; the user-space core
syncs by the config file's 'sync listen|peer|secret' statements instead):
  --syncid sid                        syncid for connection sync (0..255, default=0)
  --sync-maxlen length                Max sync message length (default: from the MTU)
  --mcast-interface interface         multicast interface for connection sync (default=eth0)
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`;
}

#!/usr/bin/env node
// tcpvs: the command line. `start` runs a config (or the demo), `check`
// validates one and prints the compiled rule table.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfigText } from './lib/config/load.ts';
import { ConfigError } from './lib/config/errors.ts';
import { formatRuleTable } from './lib/config/print.ts';
import type { Config, LogSpec } from './lib/config/model.ts';
import { availableParallelism } from 'node:os';
import { startSwitch, type RunningSwitch } from './lib/control/switch.ts';
import { startL4Control, type L4Control } from './lib/control/l4-control.ts';
import { startAdminHttp, type AdminHttp } from './lib/admin/http.ts';
import { resolveAdminPath } from './lib/admin/path.ts';
import { startAdminServer, startAdminTcpServer } from './lib/admin/server.ts';
import { l4Handlers } from './lib/admin/l4.ts';
import { tcpvsadmHandlers } from './lib/tcpvsadm/handlers.ts';
import { tcpvsVersion } from './lib/version.ts';
import { METHODS } from './lib/tcpvsadm/wire.ts';
import { AdminError } from './lib/admin/protocol.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './lib/config/model.ts';

const USAGE = `usage:
  tcpvs start [-c FILE | --empty] [--workers N] [--log-level LEVEL] [--admin PATH]
                                              run the switch (N worker threads, default one per core);
                                              without -c, run the demo (--port N for its front);
                                              --empty: no service, built up with tcpvsadm / tcpvs ipvsadm
  tcpvs check -c FILE [--strict]              validate FILE and print its rule table (--strict: warnings fail)
  tcpvs keepalived -c FILE                    print keepalived's VRRP config for FILE's vips (a backup director)
  tcpvs director-state --admin PATH INSTANCE NAME STATE [PRIORITY]
                                              keepalived's notify: tell the running tcpvs its director state
  tcpvs agent --listen HOST:PORT              a load agent for agent checks (weight from the load average)
  tcpvs loadtest URL [-c N] [-d S] ...        load-test a URL (a running tcpvs, or anything) with autocannon
  tcpvs tcpvsadm ARGS...                      tcpvsadm (KTCPVS's tcpvsadm(8) and more) against the running tcpvs
  tcpvs ipvsadm ARGS...                       ipvsadm(8) against the running tcpvs's L4 core
                                              (admin socket: --admin PATH or TCPVS_ADMIN)
  tcpvs --version (-v) | --help | COMMAND --help

FILE is a native rule set (see rules/*.tcpvs) or a KTCPVS config (rules/ktcpvs.conf).`;

// `tcpvs COMMAND --help`: the lines of USAGE about that command.
const COMMAND_HELP: Record<string, string> = {
  start: `usage: tcpvs start [-c FILE | --empty] [--workers N] [--log-level LEVEL] [--admin PATH] [--port N]
  Runs the switch with the config in FILE (native or KTCPVS format), with N
  worker threads (default: one per core). Without -c it runs the demo: its
  backends on free ports, its front on 127.0.0.1:8080 (--port N: on N; 0:
  any free port). --log-level overrides the file's 'log level' (${'trace, debug, info, warn, error, fatal, silent'}).
  --admin PATH: the admin socket (also TCPVS_ADMIN, or 'l4 admin' in FILE).
  --empty: start with no service at all, as KTCPVS and IPVS do, and build
  it up with tcpvsadm and tcpvs ipvsadm.
  SIGHUP re-reads FILE; SIGTERM and SIGINT drain, then stop.`,
  check: `usage: tcpvs check -c FILE [--strict]
  Loads FILE as tcpvs would and prints its rule table; exits 1 on any error
  (each as FILE:LINE: FIELD: MESSAGE). Warnings are printed and let it pass,
  unless --strict, which makes them errors.`,
  keepalived: `usage: tcpvs keepalived -c FILE
  Prints keepalived's configuration for FILE's 'vrrp' statements and vips
  (a backup director; see docs/cluster.md).`,
};

// `tcpvs start --empty`: no file; everything comes from tcpvsadm and tcpvs ipvsadm.
const EMPTY = '\0empty';

const LEVELS: LogSpec['level'][] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

async function main(argv: string[]): Promise<number> {
  // ipvsadm has its own option syntax (-A -t ADDR -s rr ...): hand it everything.
  if (argv[0] === 'agent') {
    const { agentMain } = await import('./lib/health/agent-server.ts');
    return agentMain(argv.slice(1));
  }
  if (argv[0] === 'loadtest') {
    const { runLoadtest } = await import('./lib/loadtest/main.ts');
    return runLoadtest(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  }
  if (argv[0] === 'tcpvsadm') {
    const { runTcpvsadm } = await import('./lib/tcpvsadm/main.ts');
    return runTcpvsadm(argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
  if (argv[0] === 'director-state') {
    // keepalived's notify: `... INSTANCE NAME MASTER|BACKUP|FAULT|STOP PRIORITY` appended.
    const rest = argv.slice(1);
    const at = rest.indexOf('--admin');
    const admin = at === -1 ? process.env.TCPVS_ADMIN : rest[at + 1];
    const words = at === -1 ? rest : [...rest.slice(0, at), ...rest.slice(at + 2)];
    const state = words[2];
    if (admin === undefined || state === undefined) {
      process.stderr.write('usage: tcpvs director-state --admin PATH INSTANCE NAME STATE [PRIORITY]\n');
      return 2;
    }
    const { adminCall } = await import('./lib/admin/client.ts');
    try {
      await adminCall(admin, 'l4.directorState', { state, ...(words[3] === undefined ? {} : { priority: Number(words[3]) }) });
      return 0;
    } catch (err) {
      process.stderr.write(`tcpvs director-state: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (argv[0] === 'ipvsadm') {
    const { runIpvsadm } = await import('./lib/l4/ipvsadm-cli/main.ts');
    return runIpvsadm(argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
  let parsed;
  try {
    parsed = parseArgs({
      // -v is --version, as most tools have it (and -V, as before).
      args: argv.map((a) => (a === '-v' ? '--version' : a)),
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        admin: { type: 'string' },
        workers: { type: 'string', short: 'w' },
        port: { type: 'string' },
        empty: { type: 'boolean' },
        strict: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    process.stderr.write(`tcpvs: ${argumentError(err as Error)}\n(tcpvs --help lists the commands and options)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`tcpvs ${pkg.version}\n`);
    return 0;
  }
  const command = positionals[0] ?? (values.help ? 'help' : 'start');
  if (values.help || command === 'help') {
    const about = command === 'help' ? positionals[1] : command;
    process.stdout.write((about !== undefined && Object.hasOwn(COMMAND_HELP, about) ? COMMAND_HELP[about] : USAGE) + '\n');
    return 0;
  }
  if (values.strict && command !== 'check') {
    process.stderr.write('tcpvs: --strict is an option of tcpvs check\n');
    return 2;
  }
  if (values.port !== undefined && (command !== 'start' || values.config !== undefined)) {
    process.stderr.write('tcpvs: --port is for the demo (tcpvs start without -c); a config file says where its services listen\n');
    return 2;
  }
  const level = values['log-level'];
  if (level !== undefined && !LEVELS.includes(level as LogSpec['level'])) {
    process.stderr.write(`tcpvs: --log-level: "${level}" is not one of ${LEVELS.join(', ')}\n`);
    return 2;
  }
  switch (command) {
    case 'check':
      return check(values.config, values.strict === true);
    case 'keepalived':
      return keepalived(values.config);
    case 'start': {
      const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
        process.stderr.write(`tcpvs: --workers: "${values.workers}" is not a number of worker threads (1..256)\n`);
        return 2;
      }
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        process.stderr.write(`tcpvs: --port: "${values.port}" is not a port (0..65535; 0: any free port)\n`);
        return 2;
      }
      if (values.empty === true && (values.config !== undefined || port !== undefined)) {
        process.stderr.write('tcpvs: --empty starts with no config: it takes neither -c nor --port\n');
        return 2;
      }
      return start(values.empty === true ? EMPTY : values.config, level as LogSpec['level'] | undefined, values.admin, workers, port);
    }
    default:
      process.stderr.write(`tcpvs: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

/** Node's argument parser speaks of itself; say what was wrong in tcpvs's words. */
function argumentError(err: Error): string {
  const unknown = /Unknown option '([^']+)'/.exec(err.message);
  if (unknown !== null) return `unknown option '${unknown[1]}'`;
  const missing = /Option '(?:-(\w), )?--([\w-]+) <value>' argument missing/.exec(err.message);
  if (missing !== null) return `--${missing[2]}${missing[1] === undefined ? '' : ` (-${missing[1]})`} needs a value`;
  const boolean = /Option '(?:-(\w), )?--([\w-]+)' does not take an argument/.exec(err.message);
  if (boolean !== null) return `--${boolean[2]} takes no value`;
  return err.message;
}

function load(file: string): Config | null {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\ntcpvs: ${err.problems.length} error(s) in ${file}; nothing started\n`);
      return null;
    }
    throw err;
  }
}

function check(file: string | undefined, strict: boolean): number {
  if (file === undefined) {
    process.stderr.write('tcpvs check: -c FILE is required\n');
    return 2;
  }
  const config = load(file);
  if (config === null) return 1;
  process.stdout.write(formatRuleTable(config));
  if (strict && config.warnings.length > 0) {
    // A warning is something tcpvs ignores or guesses at; --strict (CI, a deploy) wants none.
    for (const w of config.warnings) process.stderr.write(`${w.file}:${w.line}: ${w.field}: ${w.message}\n`);
    process.stderr.write(`tcpvs check --strict: ${config.warnings.length} warning(s) in ${file}\n`);
    return 1;
  }
  return 0;
}

async function keepalived(file: string | undefined): Promise<number> {
  if (file === undefined) {
    process.stderr.write('tcpvs keepalived: -c FILE is required\n');
    return 2;
  }
  const config = load(file);
  if (config === null) return 1;
  if (config.l4?.vrrp === undefined) {
    process.stderr.write(`tcpvs keepalived: ${file} has no 'vrrp' statements (vrrp interface IF, vrrp router-id N, vrrp priority N)\n`);
    return 1;
  }
  const { keepalivedConfig } = await import('./lib/l4/keepalived.ts');
  process.stdout.write(keepalivedConfig(config.l4, file, [process.execPath, import.meta.filename]));
  return 0;
}

async function refuseLoadOverTcp(): Promise<never> {
  throw new AdminError('refused', "loading a config over the TCP admin listener is off: add 'allow-load' to its 'admin tcp' line");
}

async function start(
  file: string | undefined,
  level: LogSpec['level'] | undefined,
  adminFlag: string | undefined,
  workers: number,
  demoPort?: number,
): Promise<number> {
  const demo = file === undefined;
  const empty = file === EMPTY;
  // A SIGHUP while starting (systemd's ExecReload, a script) must not kill
  // tcpvs: remember it, and reload once running.
  let hupWhileStarting = false;
  const hupEarly = (): void => {
    hupWhileStarting = true;
  };
  process.on('SIGHUP', hupEarly);
  const config = empty ? parseConfigText('', 'no config (--empty)') : load(file ?? join(import.meta.dirname, 'rules', 'web-cluster.tcpvs'));
  if (config === null) return 1;
  for (const w of config.warnings) process.stderr.write(`tcpvs: warning: ${w.file}:${w.line}: ${w.field}: ${w.message}\n`);
  if (level !== undefined) config.log.level = level;
  let backends: { close(): Promise<void> } | null = null;
  if (demo) {
    // The demo's backends take free ports, and its groups point at them; the
    // front keeps 8080 (the README's commands use it) unless --port says.
    const { startDemoBackends } = await import('./lib/demo/backends.ts');
    const started = await startDemoBackends({ basePort: 0 });
    backends = started;
    const service = config.services[0];
    for (const group of service.groups) {
      const addresses = started.groups[group.name as keyof typeof started.groups] ?? [];
      group.servers = group.servers.map((server, i) => {
        const at = addresses[i];
        if (at === undefined) return server;
        const colon = at.lastIndexOf(':');
        return { ...server, host: at.slice(0, colon), port: Number(at.slice(colon + 1)) };
      });
    }
    if (demoPort !== undefined) service.listen = { ...service.listen, port: demoPort };
  }
  // What has started, closed in reverse order on a failed start and at the end.
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    while (closers.length > 0) await closers.pop()!();
  };
  if (backends !== null) closers.push(() => backends.close());
  const fail = async (what: string, err: unknown): Promise<number> => {
    await closeAll();
    process.stderr.write(`tcpvs: ${what}: ${(err as Error).message}\n`);
    return 1;
  };
  let node: RunningSwitch;
  let stopping = false; // /ready says 503 from the stop signal on
  try {
    node = await startSwitch(config, undefined, { workers });
  } catch (err) {
    const listen = config.services[0]?.listen;
    if (demo && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && listen !== undefined)
      return fail(
        'cannot start the demo',
        new Error(
          `port ${listen.port} on ${listen.host} is taken by another program: run it on another one, e.g. npm start -- --port 8081 (0: any free port)`,
        ),
      );
    return fail('cannot start', err);
  }
  if (workers > 1) process.stderr.write(`tcpvs: ${workers} worker threads\n`);
  closers.push(() => node.close());
  // The L4 core (embedded user-space by default, or as the config says) and
  // the admin socket, which serves it to `tcpvs ipvsadm` and the running
  // config to `tcpvsadm`. An admin path asked for (--admin, TCPVS_ADMIN,
  // `l4 admin`) must open; the default one is skipped with a warning when
  // another tcpvs holds it.
  let l4: L4Control;
  const spec = config.l4 ?? { driver: 'userspace' as const, admin: null, drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS, vips: [] };
  const envAdmin = (process.env.TCPVS_ADMIN ?? '') !== '' ? process.env.TCPVS_ADMIN : undefined;
  const askedAdmin = adminFlag ?? envAdmin ?? (spec.driver !== 'remote' ? (spec.admin ?? undefined) : undefined);
  const adminPath = resolveAdminPath({ flag: askedAdmin, env: process.env });
  try {
    l4 = await startL4Control({
      spec,
      services: () => node.control.services(),
      log: node.log,
      remoteAdmin: spec.driver === 'remote' ? spec.admin : null,
      registry: node.registry,
    });
  } catch (err) {
    return fail('cannot program the L4 core', err);
  }
  closers.push(() => l4.close());
  // The same methods on the Unix socket and on the optional TCP listener.
  const notifier = l4.notifier;
  const handlers = {
    ...l4Handlers(l4.core),
    ...tcpvsadmHandlers(node.control, { stats: () => node.stats.snapshot() }),
    // keepalived's notify, through `tcpvs director-state`: this director became MASTER, BACKUP, FAULT or STOP.
    'l4.directorState': async (params: unknown) => {
      const { state, priority } = (params ?? {}) as { state?: unknown; priority?: unknown };
      if (state !== 'MASTER' && state !== 'BACKUP' && state !== 'FAULT' && state !== 'STOP')
        throw new Error(`bad params: state must be MASTER, BACKUP, FAULT or STOP`);
      notifier.changed({ kind: 'director', state, ...(typeof priority === 'number' ? { priority } : {}) });
      return null;
    },
  };
  try {
    const admin = await startAdminServer({ path: adminPath, handlers, log: node.log });
    closers.push(() => admin.close());
    process.stderr.write(`tcpvs: admin socket ${admin.path} (tcpvs tcpvsadm -L, tcpvs ipvsadm -L -n; --admin ${admin.path})\n`);
  } catch (err) {
    if (askedAdmin !== undefined) return fail('cannot open the admin socket', err);
    process.stderr.write(`tcpvs: warning: no admin socket (${(err as Error).message})\n`);
  }
  // The optional TCP admin listener: the same methods, every request with the token.
  if (config.adminTcp != null) {
    let adminTcp;
    try {
      // Loading a config over the network is off unless the line says allow-load.
      const tcpHandlers = config.adminTcp.allowLoad ? handlers : { ...handlers, [METHODS.load]: refuseLoadOverTcp };
      adminTcp = await startAdminTcpServer({ ...config.adminTcp, handlers: tcpHandlers, log: node.log });
    } catch (err) {
      return fail('cannot open the TCP admin listener', err);
    }
    closers.push(() => adminTcp.close());
    const a = adminTcp.address;
    process.stderr.write(
      `tcpvs: TCP admin listener tcp://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port} (TCPVS_ADMIN_TOKEN=... tcpvs tcpvsadm --admin tcp://...)\n`,
    );
  }
  for (const v of spec.vips) {
    const host = v.address.includes(':') ? `[${v.address}]` : v.address;
    process.stderr.write(`tcpvs: L4 ${l4.core.driver} vip ${v.name} ${v.protocol} ${host}:${v.port}\n`);
  }
  if (config.adminHttp != null) {
    let adminHttp: AdminHttp;
    try {
      adminHttp = await startAdminHttp({
        ...config.adminHttp,
        stats: node.stats,
        log: node.log,
        cluster: () => ({ stateChanges: l4.notifier.snapshot(), sync: l4.syncStatus() }),
        notReady: () => (stopping ? 'draining' : null),
        version: tcpvsVersion(),
      });
    } catch (err) {
      return fail('cannot open the admin HTTP listener', err);
    }
    closers.push(() => adminHttp.close());
    const a = adminHttp.address;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    process.stderr.write(`tcpvs: stats page http://${host}:${a.port}/  metrics http://${host}:${a.port}/metrics\n`);
  }
  for (const s of node.control.services()) {
    const a = s.address!;
    const host = a.address.includes(':') ? `[${a.address}]` : a.address;
    process.stderr.write(`tcpvs: service ${s.spec.name} listening on http://${host}:${a.port}\n`);
  }
  if (demo) {
    const a = node.control.services()[0].address!;
    const base = `http://${a.address}:${a.port}`;
    process.stderr.write(
      [
        '',
        'Demo: tcpvs routes each request by path to a group of backends on loopback.',
        'Try:',
        `  curl -i ${base}/                          # static group (two servers, see X-Backend)`,
        `  curl -i ${base}/images/tcpvs-logo.png -o /dev/null  # images group`,
        `  curl -i '${base}/cgi-bin/hello.pl?name=you'  # cgi group, a real CGI script`,
        `  curl -i -d 'hello body' ${base}/cgi-bin/echo.sh  # the body goes to the script's stdin`,
        `  curl -i ${base}/cgi-bin/env.sh            # the CGI environment`,
        'Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
  }
  // SIGHUP re-reads the config file: requests in flight finish on the old
  // config, new ones use the new one; a bad file is refused and logged.
  if (!demo && !empty) {
    process.on('SIGHUP', () => {
      node.control.reload().then(
        () => process.stderr.write(`tcpvs: reloaded ${config.file}\n`),
        (err: unknown) => process.stderr.write(`tcpvs: reload refused, the running config stays:\n${(err as Error).message}\n`),
      );
    });
    process.off('SIGHUP', hupEarly);
    if (hupWhileStarting) process.emit('SIGHUP', 'SIGHUP');
  } else process.off('SIGHUP', hupEarly); // the demo and --empty have no file: a hangup ends it, as before
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Graceful stop: leave the L4 core's rotation, stop accepting, let what is
  // in flight finish (up to the drain timeout), then close.
  stopping = true;
  try {
    await l4.drain();
  } catch (err) {
    process.stderr.write(`tcpvs: draining from the L4 core failed: ${(err as Error).message}\n`);
  }
  // The running config's drain timeout: a reload may have changed it.
  await node.drain(node.control.config().l4?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  await closeAll();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; a peer that keeps a half-closed socket open must
    // not keep the process alive. Unref'd: a clean exit is not delayed.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`tcpvs: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);

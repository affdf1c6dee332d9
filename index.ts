#!/usr/bin/env node
// tcpvs: the command line. `start` runs a config (or the demo), `check`
// validates one and prints the compiled rule table. This file parses the
// arguments and imports only what the command runs, when it runs it: the
// node (lib/control/node.ts) for `start`, the admin clients alone for
// `tcpvsadm` and `ipvsadm`, which must start fast.
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import type { LogSpec } from './lib/config/model.ts';
import { tcpvsVersion } from './lib/version.ts';

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
    process.stdout.write(`tcpvs ${tcpvsVersion()}\n`);
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
      const { runNode } = await import('./lib/control/node.ts');
      return runNode({
        file: values.config,
        empty: values.empty === true,
        level: level as LogSpec['level'] | undefined,
        admin: values.admin,
        workers,
        demoPort: port,
      });
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

async function check(file: string | undefined, strict: boolean): Promise<number> {
  if (file === undefined) {
    process.stderr.write('tcpvs check: -c FILE is required\n');
    return 2;
  }
  const { loadConfigFile } = await import('./lib/control/config-file.ts');
  const { formatRuleTable } = await import('./lib/config/print.ts');
  const config = loadConfigFile(file);
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
  const { loadConfigFile } = await import('./lib/control/config-file.ts');
  const config = loadConfigFile(file);
  if (config === null) return 1;
  if (config.l4?.vrrp === undefined) {
    process.stderr.write(`tcpvs keepalived: ${file} has no 'vrrp' statements (vrrp interface IF, vrrp router-id N, vrrp priority N)\n`);
    return 1;
  }
  const { keepalivedConfig } = await import('./lib/l4/keepalived.ts');
  process.stdout.write(keepalivedConfig(config.l4, file, [process.execPath, import.meta.filename]));
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

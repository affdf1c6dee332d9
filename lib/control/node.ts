// A running tcpvs node (`tcpvs start`): the switch with its data paths, the
// L4 core, the admin socket (tcpvsadm, tcpvs ipvsadm, keepalived's notify),
// the optional TCP admin and HTTP stats listeners, and the signals: SIGHUP
// reloads the file, SIGINT and SIGTERM drain, then stop. index.ts parses the
// command line and loads this module only for `start`.
import { join } from 'node:path';
import { parseConfigText } from '../config/load.ts';
import type { LogSpec } from '../config/model.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../config/model.ts';
import { startSwitch, type RunningSwitch } from './switch.ts';
import { startL4Control, type L4Control } from './l4-control.ts';
import { loadConfigFile } from './config-file.ts';
import { startAdminHttp, type AdminHttp } from '../admin/http.ts';
import { resolveAdminPath } from '../admin/path.ts';
import { startAdminServer, startAdminTcpServer } from '../admin/server.ts';
import { l4Handlers } from '../admin/l4.ts';
import { AdminError } from '../admin/protocol.ts';
import { tcpvsadmHandlers } from '../tcpvsadm/handlers.ts';
import { METHODS } from '../tcpvsadm/wire.ts';
import { tcpvsVersion } from '../version.ts';

async function refuseLoadOverTcp(): Promise<never> {
  throw new AdminError('refused', "loading a config over the TCP admin listener is off: add 'allow-load' to its 'admin tcp' line");
}

export interface NodeOptions {
  /** The config file; absent: the demo (rules/web-cluster.tcpvs on its own backends), unless `empty`. */
  file?: string;
  /** No config at all (`--empty`): everything comes from tcpvsadm and tcpvs ipvsadm. */
  empty?: boolean;
  /** --log-level: overrides the file's `log level`. */
  level?: LogSpec['level'];
  /** --admin PATH. */
  admin?: string;
  workers: number;
  /** --port: where the demo's front listens. */
  demoPort?: number;
}

/** Runs tcpvs until SIGINT or SIGTERM; resolves with the exit code. */
export async function runNode(options: NodeOptions): Promise<number> {
  const { file, level, admin: adminFlag, workers, demoPort } = options;
  const empty = options.empty === true;
  const demo = file === undefined && !empty;
  // A SIGHUP while starting (systemd's ExecReload, a script) must not kill
  // tcpvs: remember it, and reload once running.
  let hupWhileStarting = false;
  const hupEarly = (): void => {
    hupWhileStarting = true;
  };
  process.on('SIGHUP', hupEarly);
  const config = empty
    ? parseConfigText('', 'no config (--empty)')
    : loadConfigFile(file ?? join(import.meta.dirname, '..', '..', 'rules', 'web-cluster.tcpvs'));
  if (config === null) return 1;
  for (const w of config.warnings) process.stderr.write(`tcpvs: warning: ${w.file}:${w.line}: ${w.field}: ${w.message}\n`);
  if (level !== undefined) config.log.level = level;
  let backends: { close(): Promise<void> } | null = null;
  if (demo) {
    // The demo's backends take free ports, and its groups point at them; the
    // front keeps 8080 (the README's commands use it) unless --port says.
    const { startDemoBackends } = await import('../demo/backends.ts');
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
    const passthrough = s.spec.mode === 'tls-passthrough';
    const scheme = s.spec.tls === undefined && !passthrough ? 'http' : 'https';
    process.stderr.write(
      `tcpvs: service ${s.spec.name} listening on ${scheme}://${host}:${a.port}${passthrough ? ' (TLS passthrough)' : ''}\n`,
    );
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

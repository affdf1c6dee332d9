// The things we measure: the bare backend itself and each proxy in front of it,
// each in its own process. A target that cannot start is reported with the
// reason instead of stopping the bench.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BODY_SIZES, bodyPath, makeBody } from './bodies.ts';
import { benchCertificate } from './bench-certificate.ts';
import { startChild, stopChild, waitUntilAnswering } from './processes.ts';
import type { ManagedChild } from './processes.ts';
import { haproxyConfig, nginxConfig, nginxStaticConfig, tcpvsConfig } from './proxy-configs.ts';
import type { ProxyConfigInput } from './proxy-configs.ts';
import { ensureSystemProxy, haproxyVersion, nginxVersion, runCommand } from './system-proxies.ts';

// Every proxy runs one worker: tcpvs --workers 1 against nginx's one worker
// process and HAProxy's one thread. tcpvs-log is tcpvs with its default
// access log (to a file); pipe is a bare Node TCP pipe with no parsing, the
// floor for a Node proxy. What tcpvs's worker threads cost is measured by
// bench/workers-bench.ts.
// tcpvs-base is tcpvs at another commit (--baseline REV), measured in the same
// rounds as tcpvs: the way to measure one change alone on a noisy machine.
// tcpvs-tls and nginx-tls terminate TLS with one certificate (made per run,
// bench-certificate.ts) and the same ciphers, and forward plain HTTP.
export const TARGET_NAMES = [
  'backend',
  'pipe',
  'tcpvs',
  'tcpvs-base',
  'tcpvs-log',
  'nginx',
  'haproxy',
  'tcpvs-tls',
  'nginx-tls',
  'node-http-proxy',
  'fastify-http-proxy',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Targets that are spoken to over TLS (https:// for wrk and the checks). */
export function isTlsTarget(name: TargetName): boolean {
  return name === 'tcpvs-tls' || name === 'nginx-tls';
}

/** The nginx a target's rps is compared with: nginx-tls for a TLS target, else nginx. */
export function nginxPeerOf(name: TargetName): TargetName {
  return isTlsTarget(name) ? 'nginx-tls' : 'nginx';
}

export interface TargetContext {
  /** The backend: nginx serving static files (default), or the Node server. */
  backend: 'nginx' | 'node';
  repoRoot: string;
  /** The source tree of --baseline REV (for tcpvs-base), when one was asked for. */
  baseline?: { root: string; rev: string; commit: string };
  workDir: string; // private temp dir of this run
  backendPort: number;
  allowInstall: boolean;
  startupTimeoutMs: number;
  say: (line: string) => void;
}

export interface RunningTarget {
  name: TargetName;
  port: number;
  tls: boolean;
  child: ManagedChild;
  version: string;
}

export type TargetStart = { ok: true; target: RunningTarget } | { ok: false; reason: string };

const BENCH_LIB = import.meta.dirname;
// Readiness probe: the small body, checked byte for byte.
const PROBE_SIZE = BODY_SIZES[0];
const PROBE_BODY = makeBody(PROBE_SIZE.bytes);

export async function startTarget(name: TargetName, listenPort: number, ctx: TargetContext): Promise<TargetStart> {
  const dir = path.join(ctx.workDir, name);
  mkdirSync(dir, { recursive: true });
  const configInput: ProxyConfigInput = { listenPort, backendPort: ctx.backendPort, workDir: dir };
  if (isTlsTarget(name)) {
    const made = await benchCertificate(ctx.workDir, ctx.allowInstall, ctx.say);
    if (!made.ok) return { ok: false, reason: `unavailable: ${made.reason}` };
    configInput.tls = made.certificate;
  }
  const node = process.execPath;
  switch (name) {
    case 'backend': {
      if (ctx.backend === 'node') {
        return launch(
          name,
          listenPort,
          ctx,
          node,
          ['--no-deprecation', path.join(BENCH_LIB, 'backend-server.ts'), String(listenPort)],
          `node ${process.versions.node}`,
        );
      }
      const lookup = await ensureSystemProxy('nginx', ['nginx-light', 'nginx'], ctx.allowInstall, ctx.say);
      if (!('binary' in lookup)) return { ok: false, reason: `unavailable: ${lookup.reason}` };
      const args = staticBackendArgs([listenPort], dir, ctx.workDir);
      return launch(name, listenPort, ctx, lookup.binary, args, `${await nginxVersion(lookup.binary)}, static files`);
    }
    case 'pipe':
      return launch(
        name,
        listenPort,
        ctx,
        node,
        ['--no-deprecation', path.join(BENCH_LIB, 'tcp-pipe-server.ts'), String(listenPort), String(ctx.backendPort)],
        `node ${process.versions.node}`,
      );
    case 'tcpvs-base': {
      if (ctx.baseline === undefined) return { ok: false, reason: 'unavailable: no --baseline REV given' };
      const configFile = path.join(dir, 'tcpvs.conf');
      writeFileSync(configFile, tcpvsConfig(configInput, false));
      const entry = path.join(ctx.baseline.root, 'index.ts');
      return launch(
        name,
        listenPort,
        ctx,
        node,
        [entry, 'start', '--workers', '1', '-c', configFile],
        `${ctx.baseline.rev} (${ctx.baseline.commit}), 1 worker`,
      );
    }
    case 'tcpvs':
    case 'tcpvs-log':
    case 'tcpvs-tls': {
      const entry = path.join(ctx.repoRoot, 'index.ts');
      if (!existsSync(entry)) return { ok: false, reason: 'unavailable: index.ts does not exist yet' };
      const configFile = path.join(dir, 'tcpvs.conf');
      const accessLog = name === 'tcpvs-log';
      writeFileSync(configFile, tcpvsConfig(configInput, accessLog));
      return launch(
        name,
        listenPort,
        ctx,
        node,
        [entry, 'start', '--workers', '1', '-c', configFile],
        `${await tcpvsVersion(ctx.repoRoot)}, 1 worker${accessLog ? ', access log to a file' : ''}${configInput.tls === undefined ? '' : ', TLS'}`,
      );
    }
    case 'nginx':
    case 'nginx-tls': {
      const lookup = await ensureSystemProxy('nginx', ['nginx-light', 'nginx'], ctx.allowInstall, ctx.say);
      if (!('binary' in lookup)) return { ok: false, reason: `unavailable: ${lookup.reason}` };
      const configFile = path.join(dir, 'nginx.conf');
      writeFileSync(configFile, nginxConfig(configInput));
      // -e: nginx opens its default error log before reading the config; point it here too.
      const args = ['-p', dir + '/', '-c', configFile, '-e', path.join(dir, 'nginx-error.log')];
      return launch(
        name,
        listenPort,
        ctx,
        lookup.binary,
        args,
        `${await nginxVersion(lookup.binary)}${configInput.tls === undefined ? '' : ', TLS'}`,
      );
    }
    case 'haproxy': {
      const lookup = await ensureSystemProxy('haproxy', ['haproxy'], ctx.allowInstall, ctx.say);
      if (!('binary' in lookup)) return { ok: false, reason: `unavailable: ${lookup.reason}` };
      const configFile = path.join(dir, 'haproxy.cfg');
      writeFileSync(configFile, haproxyConfig(configInput));
      return launch(name, listenPort, ctx, lookup.binary, ['-f', configFile, '-db'], await haproxyVersion(lookup.binary));
    }
    case 'node-http-proxy':
      return launch(
        name,
        listenPort,
        ctx,
        node,
        ['--no-deprecation', path.join(BENCH_LIB, 'node-http-proxy-server.ts'), String(listenPort), String(ctx.backendPort)],
        `http-proxy ${packageVersion(ctx.repoRoot, 'http-proxy')}`,
      );
    case 'fastify-http-proxy':
      return launch(
        name,
        listenPort,
        ctx,
        node,
        ['--no-deprecation', path.join(BENCH_LIB, 'fastify-proxy-server.ts'), String(listenPort), String(ctx.backendPort)],
        `@fastify/http-proxy ${packageVersion(ctx.repoRoot, '@fastify/http-proxy')}, fastify ${packageVersion(ctx.repoRoot, 'fastify')}`,
      );
  }
}

async function launch(
  name: TargetName,
  port: number,
  ctx: TargetContext,
  command: string,
  args: string[],
  version: string,
): Promise<TargetStart> {
  const child = startChild(name, command, args, ctx.repoRoot);
  const tls = isTlsTarget(name);
  const problem = await waitUntilAnswering(port, bodyPath(PROBE_SIZE), PROBE_BODY, child, ctx.startupTimeoutMs, tls);
  if (problem === null) return { ok: true, target: { name, port, tls, child, version } };
  await stopChild(child);
  return { ok: false, reason: `${name === 'tcpvs' ? 'unavailable' : 'did not start'}: ${problem}` };
}

/**
 * Writes the bench bodies and an nginx config serving them on `listenPorts`
 * into `dir` (inside `workDir`); returns nginx's arguments.
 */
export function staticBackendArgs(listenPorts: readonly number[], dir: string, workDir: string): string[] {
  // nginx's worker may run as another user: the files must be readable to it.
  const root = path.join(dir, 'www');
  mkdirSync(root, { recursive: true, mode: 0o755 });
  for (let d = dir; d.startsWith(workDir); d = path.dirname(d)) chmodSync(d, 0o755);
  for (const size of BODY_SIZES) writeFileSync(path.join(root, size.label), makeBody(size.bytes), { mode: 0o644 });
  const configFile = path.join(dir, 'nginx.conf');
  writeFileSync(configFile, nginxStaticConfig(listenPorts, dir, root));
  // -e: nginx opens its default error log before reading the config; point it here too.
  return ['-p', dir + '/', '-c', configFile, '-e', path.join(dir, 'nginx-error.log')];
}

export function packageVersion(repoRoot: string, pkg: string): string {
  try {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', pkg, 'package.json'), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

async function tcpvsVersion(repoRoot: string): Promise<string> {
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // keep 'unknown'
  }
  const head = await runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], 5000);
  const dirty = await runCommand('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], 5000);
  const commit = head.code === 0 ? head.stdout.trim() : 'no-git';
  return `${version} (${commit}${dirty.code === 0 && dirty.stdout.trim() !== '' ? ', modified' : ''})`;
}

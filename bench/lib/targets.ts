// The things we measure: the bare backend itself and each proxy in front of it,
// each in its own process. A target that cannot start is reported with the
// reason instead of stopping the bench.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { BODY_SIZES, bodyPath, makeBody } from './bodies.ts';
import { startChild, stopChild, waitUntilAnswering } from './processes.ts';
import type { ManagedChild } from './processes.ts';
import { haproxyConfig, nginxConfig, tcpvsConfig } from './proxy-configs.ts';
import type { ProxyConfigInput } from './proxy-configs.ts';
import { ensureSystemProxy, haproxyVersion, nginxVersion, runCommand } from './system-proxies.ts';

// tcpvs runs one worker (against nginx's one worker process and HAProxy's one
// thread); tcpvs-workers runs one per core, to show how it scales.
export const TARGET_NAMES = ['backend', 'tcpvs', 'tcpvs-workers', 'nginx', 'haproxy', 'node-http-proxy', 'fastify-http-proxy'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface TargetContext {
  repoRoot: string;
  workDir: string; // private temp dir of this run
  backendPort: number;
  allowInstall: boolean;
  startupTimeoutMs: number;
  say: (line: string) => void;
}

export interface RunningTarget {
  name: TargetName;
  port: number;
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
  const node = process.execPath;
  switch (name) {
    case 'backend':
      return launch(name, listenPort, ctx, node, ['--no-deprecation', path.join(BENCH_LIB, 'backend-server.ts'), String(listenPort)], `node ${process.versions.node}`);
    case 'tcpvs':
    case 'tcpvs-workers': {
      const entry = path.join(ctx.repoRoot, 'index.ts');
      if (!existsSync(entry)) return { ok: false, reason: 'unavailable: index.ts does not exist yet' };
      const configFile = path.join(dir, 'tcpvs.conf');
      writeFileSync(configFile, tcpvsConfig(configInput));
      const workers = name === 'tcpvs' ? 1 : availableParallelism();
      return launch(name, listenPort, ctx, node, [entry, 'start', '--workers', String(workers), '-c', configFile], `${await tcpvsVersion(ctx.repoRoot)}, ${workers} worker(s)`);
    }
    case 'nginx': {
      const lookup = await ensureSystemProxy('nginx', ['nginx-light', 'nginx'], ctx.allowInstall, ctx.say);
      if (!('binary' in lookup)) return { ok: false, reason: `unavailable: ${lookup.reason}` };
      const configFile = path.join(dir, 'nginx.conf');
      writeFileSync(configFile, nginxConfig(configInput));
      // -e: nginx opens its default error log before reading the config; point it here too.
      const args = ['-p', dir + '/', '-c', configFile, '-e', path.join(dir, 'nginx-error.log')];
      return launch(name, listenPort, ctx, lookup.binary, args, await nginxVersion(lookup.binary));
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
        name, listenPort, ctx, node,
        ['--no-deprecation', path.join(BENCH_LIB, 'node-http-proxy-server.ts'), String(listenPort), String(ctx.backendPort)],
        `http-proxy ${packageVersion(ctx.repoRoot, 'http-proxy')}`,
      );
    case 'fastify-http-proxy':
      return launch(
        name, listenPort, ctx, node,
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
  const problem = await waitUntilAnswering(port, bodyPath(PROBE_SIZE), PROBE_BODY, child, ctx.startupTimeoutMs);
  if (problem === null) return { ok: true, target: { name, port, child, version } };
  await stopChild(child);
  return { ok: false, reason: `${name === 'tcpvs' ? 'unavailable' : 'did not start'}: ${problem}` };
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

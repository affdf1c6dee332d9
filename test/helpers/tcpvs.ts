// Starting tcpvs for tests: in-process from a native config text (fast, and
// the runtime groups are reachable), or as the real CLI in a child process
// (for memory measurements and the end-to-end path through index.ts).
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../lib/config/load.ts';
import { startSwitch, type RunningSwitch } from '../../lib/control/switch.ts';
import type { GroupRuntime } from '../../lib/proxy/group.ts';
import type { Logger } from '../../lib/log/logger.ts';
import type { ServerState } from '../../lib/control/registry.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface GroupDef {
  name: string;
  scheduler?: string;
  servers: Array<number | { port: number; weight: number }>;
}

export interface ServiceDef {
  groups: GroupDef[];
  /** Route lines without the leading `route`, e.g. `img prefix /images/ to images`. */
  routes?: string[];
  defaultGroup?: string;
  /** Extra service lines, e.g. `timeout response 2s`. */
  extra?: string[];
  logLevel?: string;
  logDestination?: string;
  /** The listen port; default 0, any free port (tcpvs prints the one it got). */
  listenPort?: number;
}

/** A native config text for one service on 127.0.0.1. */
export function serviceConfig(def: ServiceDef): string {
  const lines = [`log level ${def.logLevel ?? 'silent'}`];
  if (def.logDestination !== undefined) lines.push(`log destination ${def.logDestination}`);
  lines.push('service test', `  listen 127.0.0.1:${def.listenPort ?? 0}`);
  for (const x of def.extra ?? []) lines.push('  ' + x);
  for (const g of def.groups) {
    lines.push(`  group ${g.name}` + (g.scheduler !== undefined ? ` scheduler ${g.scheduler}` : ''));
    for (const s of g.servers) {
      if (typeof s === 'number') lines.push(`    server 127.0.0.1:${s}`);
      else lines.push(`    server 127.0.0.1:${s.port} weight ${s.weight}`);
    }
  }
  for (const r of def.routes ?? []) lines.push(`  route ${r}`);
  if (def.defaultGroup !== undefined) lines.push(`  default ${def.defaultGroup}`);
  return lines.join('\n') + '\n';
}

export interface InProcessTcpvs {
  readonly running: RunningSwitch;
  readonly port: number;
  /** The data path's group of the first service. */
  group(name: string): GroupRuntime;
  /** The control plane's servers of a group of the first service: live state, whatever the data path has seen. */
  servers(group: string): ServerState[];
  close(): Promise<void>;
}

/** Starts tcpvs in this process; give `listen ...:0` to get an ephemeral port. */
export async function startTcpvs(configText: string, log?: Logger): Promise<InProcessTcpvs> {
  const config = parseConfigText(configText, 'test.tcpvs');
  const running = await startSwitch(config, log);
  const address = running.services[0].address;
  if (address === null) throw new Error('tcpvs service has no address');
  return {
    running,
    port: address.port,
    group(name) {
      const g = running.services[0].groups.get(name);
      if (g === undefined) throw new Error(`no group ${name}`);
      return g;
    },
    servers(name) {
      const g = running.registry.services()[0].group(name);
      if (g === undefined) throw new Error(`no group ${name}`);
      return g.servers;
    },
    close: () => running.close(),
  };
}

export interface SpawnedTcpvs {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number; // the first service's
  readonly ports: number[]; // every service's, in config order
  readonly file: string; // the config file it was started with (rewrite it, then SIGHUP, to reload)
  stderr(): string;
  /** VmRSS of the child in bytes, read from /proc. */
  rss(): number;
  stop(): Promise<void>;
}

/** Runs `node index.ts start -c FILE` and waits for its "listening on" line. */
export async function spawnTcpvs(configText: string, timeoutMs = 10_000, services = 1, workers = 1): Promise<SpawnedTcpvs> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-cli-test-'));
  const file = join(dir, 'test.tcpvs');
  writeFileSync(file, configText);
  const child = spawn(process.execPath, [join(REPO_ROOT, 'index.ts'), 'start', '--workers', String(workers), '-c', file], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderrText = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ports: number[];
  try {
    ports = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tcpvs did not report listening within ${timeoutMs} ms; stderr: ${stderrText}`));
      }, timeoutMs);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (s: string) => {
        stderrText += s;
        const found = [...stderrText.matchAll(/listening on https?:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
        if (found.length >= services) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`tcpvs exited (${code ?? signal}) before listening; stderr: ${stderrText}`));
      });
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = child.pid!;
  return {
    child,
    pid,
    port: ports[0],
    ports,
    file,
    stderr: () => stderrText,
    rss: () => readRss(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
        }, 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc). */
export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples `read` every `everyMs` until stopped; returns the samples. */
export function sampler(read: () => number, everyMs = 50): { stop(): number[] } {
  const samples: number[] = [];
  const take = () => {
    try {
      samples.push(read());
    } catch {
      // the process may be gone at the very end
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export { sleep } from './wait.ts';

/** Rejects when `promise` has not settled within `ms`; the timer never outlives the race. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/**
 * Bytes the kernel holds in send and receive queues of established IPv4 TCP
 * connections with an end on one of `ports` (from /proc/net/tcp): what is in
 * flight on loopback without being in any process's memory.
 */
export function kernelQueuedBytes(ports: number[]): number {
  const wanted = new Set(ports);
  let total = 0;
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 5 || f[3] !== '01') continue; // 01 = ESTABLISHED
    const localPort = parseInt(f[1].split(':')[1], 16);
    const remotePort = parseInt(f[2].split(':')[1], 16);
    if (!wanted.has(localPort) && !wanted.has(remotePort)) continue;
    const [tx, rx] = f[4].split(':');
    total += parseInt(tx, 16) + parseInt(rx, 16);
  }
  return total;
}

/** GET http://127.0.0.1:PORT/PATH on a fresh connection: its status and body as text (10 s at most). */
export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

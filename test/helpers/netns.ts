// A LAN of network namespaces that a test creates and removes itself: a
// bridge in its own namespace and, per host, a namespace joined to it by a
// veth pair, with one IPv4 address on 10.X.0.0/24. Needs root (ip netns).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';

export interface Lan {
  readonly hosts: Record<string, { ns: string; address: string }>;
  /** Runs a command in a host's namespace and waits for it; throws with its stderr on failure. */
  run(host: string, command: string, args: string[]): string;
  /** Starts a long-running process in a host's namespace (its PID is the program's: ip netns exec execs). */
  start(host: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  destroy(): void;
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `tvprobe${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `ip netns add failed: ${(add.stderr || add.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/**
 * Adds `run` as a subtest of `t` where namespaces can be made (and `alsoNeeds`,
 * another requirement, returns null); elsewhere the file skips, saying why.
 * TCPVS_KEEPALIVED=1 (set by .ci/run, which installs what these tests need)
 * turns that skip into a failure.
 */
export function netnsTest(
  t: Test,
  name: string,
  options: { timeout: number },
  run: (t: Test) => Promise<void>,
  alsoNeeds: () => string | null = () => null,
): void {
  const why = netnsUnavailable() ?? alsoNeeds();
  if (why === null) t.test(name, options, run);
  else if (process.env.TCPVS_KEEPALIVED === '1') t.fail(`${name}: cannot run here: ${why}`);
  else t.plan(0, `skipped: ${why}`);
}

function ip(args: string[], ns?: string): string {
  const argv = ns === undefined ? args : ['netns', 'exec', ns, 'ip', ...args];
  const r = spawnSync('ip', argv, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${argv.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** `subnet` is the X of 10.X.0.0/24; `hosts` maps names to the last octet. */
export function createLan(tag: string, subnet: number, hosts: Record<string, number>): Lan {
  const prefix = `tv${tag}`;
  const lanNs = `${prefix}-lan`;
  const created: string[] = [];
  const children = new Set<ChildProcess>();
  const lan: Lan = {
    hosts: {},
    run(host, command, args) {
      const r = spawnSync('ip', ['netns', 'exec', lan.hosts[host].ns, command, ...args], { encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0) throw new Error(`${host}: ${command} ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
      return r.stdout;
    },
    start(host, command, args, env) {
      const child = spawn('ip', ['netns', 'exec', lan.hosts[host].ns, command, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: env ?? process.env,
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    destroy() {
      for (const child of children) if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      for (const ns of created.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    },
  };
  try {
    ip(['netns', 'add', lanNs]);
    created.push(lanNs);
    ip(['link', 'add', 'br0', 'type', 'bridge'], lanNs);
    ip(['link', 'set', 'br0', 'up'], lanNs);
    let i = 0;
    for (const [name, octet] of Object.entries(hosts)) {
      const ns = `${prefix}-${name}`;
      ip(['netns', 'add', ns]);
      created.push(ns);
      const inner = `${prefix}h${i}`.slice(0, 15);
      const outer = `${prefix}b${i}`.slice(0, 15);
      i++;
      ip(['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer]);
      ip(['link', 'set', inner, 'netns', ns]);
      ip(['link', 'set', outer, 'netns', lanNs]);
      ip(['link', 'set', outer, 'master', 'br0', 'up'], lanNs);
      ip(['link', 'set', inner, 'name', 'eth0'], ns);
      const address = `10.${subnet}.0.${octet}`;
      ip(['addr', 'add', `${address}/24`, 'dev', 'eth0'], ns);
      ip(['link', 'set', 'eth0', 'up'], ns);
      ip(['link', 'set', 'lo', 'up'], ns);
      lan.hosts[name] = { ns, address };
    }
  } catch (err) {
    lan.destroy();
    throw err;
  }
  return lan;
}

// nginx and HAProxy come from Debian: found on PATH (or /usr/sbin), else
// installed with apt-get when we are root. Every command here is bounded in time.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

export interface CommandResult {
  code: number | null; // null: killed (timeout)
  stdout: string;
  stderr: string;
}

export function runCommand(command: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err !== null && code === null ? err.message : '') });
      },
    );
  });
}

// Like `command -v`, plus the sbin directories a non-login root shell may lack.
export function findBinary(name: string): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(extra)) dirs.push(extra);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export type SystemProxyLookup = { binary: string } | { reason: string };

let aptUpdated: Promise<CommandResult> | null = null;

// The binary, installing the first package of `packages` that apt can install.
export async function ensureSystemProxy(
  binaryName: string,
  packages: string[],
  allowInstall: boolean,
  say: (line: string) => void,
): Promise<SystemProxyLookup> {
  const found = findBinary(binaryName);
  if (found !== null) return { binary: found };
  if (!allowInstall) return { reason: `${binaryName} not installed (and --no-install given)` };
  if (process.getuid?.() !== 0) return { reason: `${binaryName} not installed; run as root or: apt-get install -y ${packages[0]}` };
  if (!existsSync('/usr/bin/apt-get')) return { reason: `${binaryName} not installed and no apt-get here` };
  if (!existsSync('/usr/sbin/policy-rc.d')) {
    say(`note: no /usr/sbin/policy-rc.d, so the ${binaryName} package may also start a system service`);
  }
  const problems: string[] = [];
  for (const pkg of packages) {
    if (!(await aptKnows(pkg))) {
      if (aptUpdated === undefined) {
        say('running apt-get update ...');
        aptUpdated = runCommand('apt-get', ['update'], 180_000);
      }
      await aptUpdated;
    }
    say(`installing ${pkg} with apt-get ...`);
    const installed = await runCommand('apt-get', ['install', '-y', '--no-install-recommends', pkg], 300_000);
    if (installed.code !== 0) {
      problems.push(`apt-get install ${pkg}: ${lastLine(installed.stderr) || `exit ${installed.code}`}`);
      continue;
    }
    const binary = findBinary(binaryName);
    if (binary !== null) return { binary };
    problems.push(`${pkg} installed but no ${binaryName} binary found`);
  }
  return { reason: problems.join('; ') };
}

async function aptKnows(pkg: string): Promise<boolean> {
  const policy = await runCommand('apt-cache', ['policy', pkg], 30_000);
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout);
  return candidate !== null && candidate[1] !== '(none)';
}

export async function nginxVersion(binary: string): Promise<string> {
  const result = await runCommand(binary, ['-v'], 10_000);
  return firstMatch(result.stderr + result.stdout, /nginx\/(\S+)/);
}

export async function haproxyVersion(binary: string): Promise<string> {
  const result = await runCommand(binary, ['-v'], 10_000);
  return firstMatch(result.stdout + result.stderr, /version\s+(\S+)/i);
}

function firstMatch(text: string, re: RegExp): string {
  const match = re.exec(text);
  return match !== null ? match[1] : (text.trim().split('\n')[0] ?? 'unknown');
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

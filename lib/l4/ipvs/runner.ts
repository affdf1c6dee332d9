// Spawns ipvsadm and turns its failures into L4Errors with a clear cause.
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { L4Error } from '../model.ts';

export interface IpvsadmResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface IpvsadmRunnerOptions {
  /** ipvsadm's path or a name looked up on PATH. */
  path: string;
  /** Kill ipvsadm (by its pid) after this long. */
  timeoutMs: number;
  /** Exists when the kernel has IPVS loaded; consulted to explain errors ipvsadm does not. */
  procNetIpVs: string;
}

export const IPVSADM_NOT_FOUND = 'ipvsadm not found: install Debian package ipvsadm, or use the userspace L4 driver';

export class IpvsadmRunner {
  readonly path: string;
  readonly timeoutMs: number;
  readonly procNetIpVs: string;

  constructor(options: IpvsadmRunnerOptions) {
    this.path = options.path;
    this.timeoutMs = options.timeoutMs;
    this.procNetIpVs = options.procNetIpVs;
  }

  /** Run ipvsadm with `args` (and `input` on stdin). Rejects only when it cannot run at all or hangs. */
  run(args: readonly string[], input?: string): Promise<IpvsadmResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.path, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const finish = (error: L4Error | null, exitCode = -1): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error !== null) reject(error);
        else resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), exitCode });
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(new L4Error('failed', `${this.describe(args)} did not finish within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') finish(new L4Error('unavailable', `${IPVSADM_NOT_FOUND} (tried ${JSON.stringify(this.path)})`));
        else if (err.code === 'EACCES') finish(new L4Error('unavailable', `${this.path} is not executable: ${err.message}`));
        else finish(new L4Error('failed', `cannot run ${this.path}: ${err.message}`));
      });
      child.on('close', (code, signal) => finish(null, code ?? (signal === null ? -1 : 128)));
      if (input !== undefined) {
        // ipvsadm may exit before reading everything (e.g. a usage error): that is reported by its stderr
        child.stdin!.on('error', () => {});
        child.stdin!.end(input);
      }
    });
  }

  /**
   * Run ipvsadm and return its stdout; anything on stderr or a non-zero exit
   * is a failure (ipvsadm -R exits 0 even when a line failed, but says so on stderr).
   */
  async check(args: readonly string[], input?: string): Promise<string> {
    const result = await this.run(args, input);
    if (result.exitCode === 0 && result.stderr.trim() === '') return result.stdout;
    throw await this.classify(args, result);
  }

  describe(args: readonly string[]): string {
    return `ipvsadm ${args.join(' ')}`;
  }

  /** Map ipvsadm's messages to L4Error codes. */
  async classify(args: readonly string[], result: IpvsadmResult): Promise<L4Error> {
    const said = result.stderr.trim() === '' ? `exit status ${result.exitCode}` : result.stderr.trim().split('\n').join(' / ');
    const command = this.describe(args);
    if (/Permission denied|Operation not permitted/.test(said)) {
      return new L4Error(
        'unavailable',
        `${command}: permission denied: programming IPVS needs root or CAP_NET_ADMIN (ipvsadm said: ${said})`,
      );
    }
    const loaded = await this.kernelHasIpvs();
    if (/Protocol not available/.test(said) || !loaded) {
      const proc = loaded ? '' : ` (${this.procNetIpVs} is missing)`;
      return new L4Error('unavailable', `the kernel has no IPVS (modprobe ip_vs?)${proc}: ${command} said: ${said}`);
    }
    // the first complaint decides (in a -R batch later lines often fail because of it)
    const first = said.split(' / ')[0];
    if (/Service already exists|Destination already exists|Daemon has already run/.test(first))
      return new L4Error('exists', `${command}: ${said}`);
    if (/No such service|Service not defined/.test(first)) return new L4Error('no-service', `${command}: ${said}`);
    if (/No such destination/.test(first)) return new L4Error('no-dest', `${command}: ${said}`);
    return new L4Error('failed', `${command}: ${said}`);
  }

  private async kernelHasIpvs(): Promise<boolean> {
    try {
      await access(this.procNetIpVs);
      return true;
    } catch {
      return false;
    }
  }
}

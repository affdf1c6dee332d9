// Waiting on real processes and on conditions, for tests that start programs
// (tcpvs, backends, keepalived) and watch what they print or what they do.
import type { ChildProcess } from 'node:child_process';
export { pollUntil } from './wait.ts';

/** Resolves once the child has printed `pattern` on stderr (from this call on); rejects if it exits first or after `timeoutMs`. */
export function waitFor(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} within ${timeoutMs} ms; stderr: ${text}`)), timeoutMs);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      text += s;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}); stderr: ${text}`));
    });
  });
}

/** Everything the child prints on one of its pipes from now on (reading it also keeps the pipe from filling). */
export function collect(child: ChildProcess, stream: 'stdout' | 'stderr'): () => string {
  let text = '';
  const pipe = child[stream]!;
  pipe.setEncoding('utf8');
  pipe.on('data', (s: string) => (text += s));
  return () => text;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** Resolves when every child has exited, or after `timeoutMs` (false then); the timer never outlives the wait. */
export async function allExited(children: readonly ChildProcess[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([Promise.all(children.map((c) => exited(c))).then(() => true as const), expiry]);
  } finally {
    clearTimeout(timer);
  }
}

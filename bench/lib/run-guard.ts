// What every bench needs around its main(): a hard deadline, Ctrl-C and
// SIGTERM handling, and on any exit every child killed and the work
// directory removed. Nothing is left running, whatever happens.
import { rmSync } from 'node:fs';
import { killAllChildrenNow, stopAllChildren } from './processes.ts';
import { LoadStoppedError } from './load.ts';

export interface RunGuard {
  /** The run's private temp dir; removed at the end. */
  workDir: string;
  /** Set by SIGINT, SIGTERM or the deadline: the exit code the run ends with. */
  readonly abortCode: number | null;
  /** Stops everything and exits 3 after this many seconds. */
  armDeadline(seconds: number): void;
  /** Runs `main`, cleans up, and exits with its code (or the abort's). */
  run(main: () => Promise<number>): Promise<never>;
}

/**
 * `name` prefixes the messages; `stopLoad` ends a load in progress;
 * `beforeMessage` clears anything drawn on the terminal (a progress line).
 */
export function guardRun(name: string, stopLoad: () => void, beforeMessage: () => void = () => {}): RunGuard {
  let abortCode: number | null = null;
  const guard: RunGuard = {
    workDir: '',
    get abortCode() {
      return abortCode;
    },
    armDeadline(seconds) {
      setTimeout(() => {
        beforeMessage();
        process.stderr.write(`${name}: deadline of ${seconds} s passed; stopping everything\n`);
        abort(3);
      }, seconds * 1000).unref();
    },
    async run(main) {
      let exitCode = 1;
      try {
        exitCode = await main();
      } catch (err) {
        beforeMessage();
        // After SIGINT or the deadline, abort() owns the exit and has said why.
        if (!(err instanceof LoadStoppedError)) process.stderr.write(`${name}: ${(err as Error).stack ?? String(err)}\n`);
      } finally {
        await stopAllChildren();
        removeWorkDir();
      }
      return process.exit(abortCode ?? exitCode);
    },
  };

  function removeWorkDir(): void {
    if (guard.workDir !== '') rmSync(guard.workDir, { recursive: true, force: true });
  }

  // SIGKILL at once (nothing here deserves a grace period), then wait a moment
  // for the exits to be collected so no zombies are left behind.
  function abort(code: number): void {
    abortCode ??= code;
    stopLoad();
    killAllChildrenNow();
    void stopAllChildren(500).finally(() => {
      removeWorkDir();
      process.exit(abortCode ?? code);
    });
  }

  process.on('exit', killAllChildrenNow);
  process.on('SIGINT', () => {
    beforeMessage();
    process.stderr.write(`${name}: interrupted; stopping everything\n`);
    abort(130);
  });
  process.on('SIGTERM', () => abort(143));
  return guard;
}

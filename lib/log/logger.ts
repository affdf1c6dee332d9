// pino, configured from the config's `log` section. The access log is one
// line per request; callers check `accessEnabled` first so a silent logger
// costs the hot path nothing.
import pino from 'pino';
import type { LogSpec } from '../config/model.ts';

export type Logger = pino.Logger;

/** `base`: fields every line carries besides the pid (a worker thread's number). */
export function createLogger(spec: LogSpec, base: Record<string, unknown> = {}): Logger {
  const dest =
    spec.destination === 'stdout'
      ? pino.destination({ dest: 1, sync: false })
      : spec.destination === 'stderr'
        ? pino.destination({ dest: 2, sync: false })
        : pino.destination({ dest: spec.destination, sync: false, mkdir: true });
  return pino({ level: spec.level, base: { pid: process.pid, ...base } }, dest);
}

/** Flushes buffered log lines; used before exit. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // an async destination that is not ready yet has nothing to flush
  }
}

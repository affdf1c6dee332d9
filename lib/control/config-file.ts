// Reading the config file a `tcpvs` command names: its problems go to
// stderr as FILE:LINE: FIELD: MESSAGE, and the command stops.
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import type { Config } from '../config/model.ts';

/** The config in `file`, or null once its problems are printed. */
export function loadConfigFile(file: string): Config | null {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\ntcpvs: ${err.problems.length} error(s) in ${file}; nothing started\n`);
      return null;
    }
    throw err;
  }
}

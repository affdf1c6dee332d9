// The control plane's entry: turns a checked Config into running services.
// Every service is built before any listener opens, and if one listener
// fails the others are closed again: tcpvs never runs half a config.
import type { Config } from '../config/model.ts';
import { createLogger, flushLogger, type Logger } from '../log/logger.ts';
import { ServiceRuntime } from '../proxy/service.ts';

export interface RunningSwitch {
  readonly services: ServiceRuntime[];
  readonly log: Logger;
  close(): Promise<void>;
}

export async function startSwitch(config: Config, log: Logger = createLogger(config.log)): Promise<RunningSwitch> {
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, field: w.field }, w.message);
  const services = config.services.map((spec) => new ServiceRuntime(spec, log));
  const started: ServiceRuntime[] = [];
  try {
    for (const s of services) {
      const addr = await s.listen();
      started.push(s);
      log.info({ service: s.spec.name, address: addr.address, port: addr.port }, 'listening');
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  return {
    services,
    log,
    async close() {
      await Promise.all(services.map((s) => s.close()));
      flushLogger(log);
    },
  };
}

// What runs beside each switch (one process, or every worker): health checks,
// restarted on the new services after every hot reload.
import { startHealth } from '../health/index.ts';
import type { RunningSwitch } from './switch.ts';

export interface Wiring {
  stop(): void;
}

export function wireSwitch(running: RunningSwitch): Wiring {
  let health = startHealth(running.services, running.log);
  running.control.onApplied((services) => {
    health.stop();
    health = startHealth(services, running.log);
  });
  return {
    stop() {
      health.stop();
    },
  };
}

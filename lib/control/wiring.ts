// What runs beside each switch (one process, or every worker): health checks
// and the statistics collector, both moved to the new services after every
// hot reload.
import { startHealth } from '../health/index.ts';
import { createStats, type Stats } from '../stats/collector.ts';
import type { RunningSwitch } from './switch.ts';

export interface Wiring {
  readonly stats: Stats;
  stop(): void;
}

export function wireSwitch(running: RunningSwitch): Wiring {
  let health = startHealth(running.services, running.log);
  const stats = createStats();
  stats.attach(running.services);
  running.control.onApplied((services) => {
    health.stop();
    health = startHealth(services, running.log);
    stats.attach(services);
  });
  return {
    stats,
    stop() {
      health.stop();
    },
  };
}

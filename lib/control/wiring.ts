// What runs beside each switch (one process, or every worker): the
// statistics collector, attached to new services after every change.
import { createStats, type Stats } from '../stats/collector.ts';
import type { RunningSwitch } from './switch.ts';

export interface Wiring {
  readonly stats: Stats;
  stop(): void;
}

export function wireSwitch(running: RunningSwitch): Wiring {
  const stats = createStats();
  stats.attach(running.services);
  running.control.onApplied(() => stats.attach(running.services));
  return {
    stats,
    stop() {},
  };
}

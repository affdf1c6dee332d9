// A ControlPlane for tcpvsadm's tests: keeps the config it is given, records
// every apply() and reload(), and can be told to refuse the next apply or to
// take its time (to see that changes do not overlap).
import type { ControlPlane, ServiceView } from '../../lib/control/control-plane.ts';
import { loadConfig, parseConfigText } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/model.ts';

export interface FakeControl extends ControlPlane {
  readonly applied: { config: Config; reason: string }[];
  readonly reloads: string[];
  /** Thrown by the next apply() (then cleared). */
  refuseNext: Error | null;
  /** apply() waits this long before it takes the config. */
  applyDelayMs: number;
  /** What services() returns. */
  runtimes: ServiceView[];
  /** Replaces the running config as a SIGHUP reload would, without recording an apply. */
  replace(config: Config): void;
}

export function fakeControl(initial: Config): FakeControl {
  let current = initial;
  const listeners: Array<() => void> = [];
  const fake: FakeControl = {
    applied: [],
    reloads: [],
    refuseNext: null,
    applyDelayMs: 0,
    runtimes: [],
    config: () => current,
    async apply(next, reason) {
      if (fake.applyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.applyDelayMs));
      const refusal = fake.refuseNext;
      fake.refuseNext = null;
      if (refusal !== null) throw refusal;
      fake.applied.push({ config: next, reason });
      current = next;
      for (const l of listeners) l();
    },
    async reload(path, text) {
      const file = path ?? current.file;
      fake.reloads.push(file);
      await fake.apply(text === undefined ? loadConfig(file) : parseConfigText(text, file), `reload of ${file}`);
    },
    services: () => fake.runtimes,
    onApplied(listener) {
      listeners.push(listener);
    },
    replace(config) {
      current = config;
    },
  };
  return fake;
}

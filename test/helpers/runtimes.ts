// Data path services built as the control plane builds them, never listening:
// for tests that feed records or read state by hand.
import pino from 'pino';
import { parseConfigText } from '../../lib/config/load.ts';
import { Registry } from '../../lib/control/registry.ts';
import { ServiceRuntime } from '../../lib/proxy/service.ts';
import { STATUS_UP, W_STATUS, W_WEIGHT } from '../../lib/state/server-share.ts';

export function buildRuntimes(text: string, file = 'test.tcpvs'): ServiceRuntime[] {
  const registry = new Registry(1);
  const pending = registry.prepare(parseConfigText(text, file));
  pending.commit();
  const log = pino({ level: 'silent' });
  return pending.plan.services.map((plan) => new ServiceRuntime(plan, log));
}

/** Writes a server's status and weight to its shared record, as the control plane does. */
export function setServerState(server: { share: Int32Array }, state: { up?: boolean; weight?: number }): void {
  if (state.up !== undefined) Atomics.store(server.share, W_STATUS, state.up ? STATUS_UP : 0);
  if (state.weight !== undefined) Atomics.store(server.share, W_WEIGHT, state.weight);
}

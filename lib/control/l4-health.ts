// Health checks of the L4 core's real servers, as keepalived's checkers do
// with inhibit_on_failure off: a real server that fails `fall` checks in a row
// is removed from its vip (the core stops scheduling it, and its persistence
// templates with it), and added back as it was after `rise` successes. The
// reals checked are those the core has now, nodes that registered themselves
// included, plus the ones taken out, which are still checked to bring them
// back. With the ipvs driver the same calls reach the kernel's table.
//
// Control plane only: this reads and edits the core; the core's data path
// never waits on it.
import type { ActiveCheckSpec } from '../health/spec.ts';
import { HttpProber, probeTcp, type ProbeResult } from '../health/probes.ts';
import { L4Error, serviceId, type L4Core, type RealServerConfig, type ServiceKey } from '../l4/model.ts';
import type { Logger } from '../log/logger.ts';
import type { StateChange } from './notify.ts';

export interface CheckedVip {
  name: string;
  key: ServiceKey;
  check: ActiveCheckSpec;
}

interface RealState {
  config: RealServerConfig; // as the core had it; what goes back when it rises
  up: boolean;
  successes: number;
  failures: number;
  prober: HttpProber | null;
}

export class L4HealthChecks {
  private readonly core: L4Core;
  private readonly log: Logger;
  private readonly vips: { vip: CheckedVip; reals: Map<string, RealState>; timer: NodeJS.Timeout | null; busy: boolean }[];
  private readonly stop = new AbortController();

  private readonly onChange: (change: StateChange) => void;

  constructor(core: L4Core, vips: readonly CheckedVip[], log: Logger, onChange: (change: StateChange) => void = () => {}) {
    this.core = core;
    this.log = log;
    this.onChange = onChange;
    this.vips = vips.map((vip) => ({ vip, reals: new Map(), timer: null, busy: false }));
  }

  start(): void {
    for (const entry of this.vips) {
      const run = (): void => {
        if (entry.busy || this.stop.signal.aborted) return;
        entry.busy = true;
        this.round(entry)
          .catch((err: unknown) => this.log.warn({ err, vip: entry.vip.name }, 'l4 health: a round of checks failed'))
          .finally(() => (entry.busy = false));
      };
      entry.timer = setInterval(run, entry.vip.check.intervalMs);
      entry.timer.unref();
      run();
    }
  }

  /** Real servers of a vip taken out by their checks, as "addr:port". */
  down(vipName: string): string[] {
    const entry = this.vips.find((e) => e.vip.name === vipName);
    if (entry === undefined) return [];
    return [...entry.reals.entries()].filter(([, s]) => !s.up).map(([k]) => k);
  }

  close(): void {
    this.stop.abort();
    for (const entry of this.vips) {
      if (entry.timer !== null) clearInterval(entry.timer);
      for (const state of entry.reals.values()) state.prober?.close();
    }
  }

  /** One check of every real server of one vip, then the changes they call for. */
  private async round(entry: (typeof this.vips)[number]): Promise<void> {
    const { vip, reals } = entry;
    const id = serviceId(vip.key);
    const listed = (await this.core.list()).find((s) => serviceId(s.key) === id);
    const present = new Map<string, RealServerConfig>();
    for (const r of listed?.realServers ?? []) present.set(realId(r.address, r.port), realConfig(r));
    // Reals that came (a node registered) start up; up reals that went (a
    // node deregistered) are forgotten; down ones stay, to be checked.
    for (const [k, config] of present) {
      const state = reals.get(k);
      if (state === undefined) reals.set(k, this.newState(config, vip));
      else if (state.up) state.config = config;
    }
    for (const [k, state] of reals) {
      if (state.up && !present.has(k)) {
        state.prober?.close();
        reals.delete(k);
      }
    }
    const checked = [...reals.entries()];
    const results = await Promise.all(checked.map(([, state]) => this.probe(state, vip)));
    if (this.stop.signal.aborted) return;
    for (let i = 0; i < checked.length; i++) {
      const [k, state] = checked[i];
      const result = results[i];
      if (result.ok) {
        state.successes++;
        state.failures = 0;
        if (!state.up && state.successes >= vip.check.rise) {
          await upsert(this.core, vip.key, state.config);
          state.up = true;
          this.log.info({ vip: vip.name, real: k, reason: result.reason }, 'l4 real server up');
          this.onChange({ kind: 'real', state: 'up', vip: vip.name, real: k, reason: result.reason });
        }
      } else {
        state.failures++;
        state.successes = 0;
        if (state.up && state.failures >= vip.check.fall) {
          state.up = false;
          this.log.warn({ vip: vip.name, real: k, reason: result.reason }, 'l4 real server down; removed from its vip');
          this.onChange({ kind: 'real', state: 'down', vip: vip.name, real: k, reason: result.reason });
        }
      }
      // A down real that is in the table (just failed, or a node registered
      // itself again while still failing its checks) leaves it.
      if (!state.up && present.has(k)) await ignoreMissing(this.core.deleteRealServer(vip.key, state.config.address, state.config.port));
    }
  }

  private newState(config: RealServerConfig, vip: CheckedVip): RealState {
    const check = vip.check;
    const port = check.port ?? targetPort(config, vip.key);
    const proxy = proxyFor(config, check, vip.key);
    return {
      config,
      up: true,
      successes: 0,
      failures: 0,
      prober: check.kind === 'http' ? new HttpProber(config.address, port, check, proxy) : null,
    };
  }

  private probe(state: RealState, vip: CheckedVip): Promise<ProbeResult> {
    if (state.prober !== null) return state.prober.probe(this.stop.signal);
    const port = vip.check.port ?? targetPort(state.config, vip.key);
    return probeTcp(state.config.address, port, vip.check.timeoutMs, this.stop.signal, proxyFor(state.config, vip.check, vip.key));
  }
}

/** A real that expects a PROXY header gets one (v1 UNKNOWN or v2 LOCAL) from checks on its own port, as HAProxy's checks do. */
function proxyFor(config: RealServerConfig, check: ActiveCheckSpec, key: ServiceKey): 0 | 1 | 2 {
  if (config.proxyProtocol === undefined) return 0;
  return check.port === null || check.port === targetPort(config, key) ? config.proxyProtocol : 0;
}

function realId(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A real server's own port; 0 in a fwmark service means the client's, so the check uses the vip's. */
function targetPort(config: RealServerConfig, key: ServiceKey): number {
  return config.port === 0 ? key.port : config.port;
}

/** The configuration part of what the core lists (no counters). */
function realConfig(r: RealServerConfig): RealServerConfig {
  const config: RealServerConfig = {
    address: r.address,
    port: r.port,
    weight: r.weight,
    method: r.method,
    upperThreshold: r.upperThreshold,
    lowerThreshold: r.lowerThreshold,
  };
  if (r.proxyProtocol !== undefined) config.proxyProtocol = r.proxyProtocol;
  return config;
}

async function upsert(core: L4Core, key: ServiceKey, server: RealServerConfig): Promise<void> {
  try {
    await core.addRealServer(key, server);
  } catch (err) {
    if (err instanceof L4Error && err.code === 'exists') await core.editRealServer(key, server);
    else throw err;
  }
}

async function ignoreMissing(op: Promise<void>): Promise<void> {
  try {
    await op;
  } catch (err) {
    if (!(err instanceof L4Error && (err.code === 'no-dest' || err.code === 'no-service'))) throw err;
  }
}

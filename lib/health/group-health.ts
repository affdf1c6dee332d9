// The health of one group's real servers. Up to three mechanisms each hold
// an opinion per server, and a server is up only when all of them say so:
//
//   active check  HTTP or TCP probes; down after `fall` consecutive failures
//                 while up, up after `rise` consecutive successes while down
//   ejection      passive: `failures` consecutive failed requests eject the
//                 server for a backoff that doubles on each re-ejection
//   agent         the server's own agent: up/down, maint, drain, weight NN%
//
// Servers start up, as in HAProxy. A server that comes back up takes a
// growing share of the weight over `slow-start`. Every change is written to
// the RealServer (up, weight) and followed by scheduler.refresh(), so every
// scheduler skips down servers and sees current weights.
import type { ServerSpec } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { GroupRuntime } from '../proxy/group.ts';
import type { RequestRecord } from '../proxy/observer.ts';
import type { RealServer } from '../sched/scheduler.ts';
import { parseAgentReply } from './agent-reply.ts';
import { HttpProber, probeTcp, readAgentLine, type AgentRead, type ProbeResult } from './probes.ts';
import type { HealthSpec } from './spec.ts';

const MAX_WEIGHT = 65535;
/** Slow start begins at this share of the weight. */
const SLOW_START_FLOOR = 0.1;
/** Slow start updates the weight this many times over its duration. */
const SLOW_START_STEPS = 10;
const MIN_TIMER_MS = 10;

export type HealthMechanism = 'http' | 'tcp' | 'eject' | 'agent';

/** One server's health as the admin side may show it. */
export interface ServerHealthStatus {
  service: string;
  group: string;
  server: string;
  up: boolean;
  weight: number; // effective, as the scheduler sees it
  configuredWeight: number;
  check: 'up' | 'down' | null; // null: no active check
  ejected: boolean;
  agent: { up: boolean; maint: boolean; drain: boolean; percent: number | null; line: string } | null;
  slowStart: boolean; // ramping up now
}

class ServerHealth {
  readonly server: RealServer;
  readonly configuredWeight: number;
  // Active check: its verdict, and how many results in a row disagreed with it.
  activeUp = true;
  streak = 0;
  checkTimer: NodeJS.Timeout | null = null;
  prober: HttpProber | null = null;
  // Passive ejection.
  failures = 0;
  ejected = false;
  ejections = 0; // how many times the backoff has doubled
  readmittedAt = -Infinity;
  ejectTimer: NodeJS.Timeout | null = null;
  // Agent: its last reply's effect.
  agentUp = true;
  agentMaint = false;
  agentDrain = false;
  agentPercent: number | null = null;
  agentLine = '';
  agentTimer: NodeJS.Timeout | null = null;
  // Slow start.
  rampStartedAt = 0;
  rampTimer: NodeJS.Timeout | null = null;

  constructor(server: RealServer, configuredWeight: number) {
    this.server = server;
    this.configuredWeight = configuredWeight;
  }
}

type Direction = 'up' | 'down' | 'weight';

export class GroupHealth {
  private readonly service: string;
  private readonly runtime: GroupRuntime;
  private readonly spec: HealthSpec;
  private readonly log: Logger;
  private readonly stopSignal: AbortSignal;
  private readonly servers: ServerHealth[];
  // Which of the server's fields this group's health owns: weights are left
  // alone unless an agent or slow start sets them.
  private readonly ownsUp: boolean;
  private readonly ownsWeight: boolean;
  private stopped = false;

  constructor(service: string, runtime: GroupRuntime, spec: HealthSpec, serverSpecs: readonly ServerSpec[], log: Logger, stop: AbortSignal) {
    this.service = service;
    this.runtime = runtime;
    this.spec = spec;
    this.log = log;
    this.stopSignal = stop;
    this.ownsUp = spec.check !== undefined || spec.eject !== undefined || spec.agent !== undefined;
    this.ownsWeight = spec.agent !== undefined || spec.slowStartMs !== undefined;
    this.servers = runtime.servers.map((server) => {
      // The configured weight comes from the spec, so a ramp or an agent's
      // percentage never compounds on a weight tcpvs itself lowered.
      const configured = serverSpecs.find((s) => s.host === server.host && s.port === server.port)?.weight ?? server.weight;
      return new ServerHealth(server, configured);
    });
  }

  start(): void {
    const check = this.spec.check;
    const agent = this.spec.agent;
    const n = this.servers.length;
    let changed = false;
    for (let i = 0; i < n; i++) {
      const s = this.servers[i];
      // A group carried over from an earlier generation keeps a server it
      // saw down until the check brings it up; everything else starts up.
      if (check !== undefined && !s.server.up) s.activeUp = false;
      const up = this.ownsUp ? s.activeUp : s.server.up;
      const weight = this.ownsWeight ? this.weightOf(s, 0) : s.server.weight;
      if (s.server.up !== up || s.server.weight !== weight) {
        s.server.up = up;
        s.server.weight = weight;
        changed = true;
      }
      // Checks are spread over the interval so a group's servers are never probed all at once.
      if (check !== undefined) {
        if (check.kind === 'http') s.prober = new HttpProber(s.server.host, check.port ?? s.server.port, check);
        s.checkTimer = this.timer(() => this.runCheck(s), Math.floor((check.intervalMs * i) / n));
      }
      if (agent !== undefined) s.agentTimer = this.timer(() => this.runAgent(s), Math.floor((agent.intervalMs * i) / n));
    }
    if (changed) this.runtime.scheduler.refresh();
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.servers) {
      for (const t of [s.checkTimer, s.agentTimer, s.ejectTimer, s.rampTimer]) if (t !== null) clearTimeout(t);
      s.checkTimer = s.agentTimer = s.ejectTimer = s.rampTimer = null;
      s.prober?.close();
      s.prober = null;
    }
  }

  status(): ServerHealthStatus[] {
    return this.servers.map((s) => ({
      service: this.service,
      group: this.runtime.name,
      server: s.server.name,
      up: s.server.up,
      weight: s.server.weight,
      configuredWeight: s.configuredWeight,
      check: this.spec.check === undefined ? null : s.activeUp ? 'up' : 'down',
      ejected: s.ejected,
      agent:
        this.spec.agent === undefined
          ? null
          : { up: s.agentUp, maint: s.agentMaint, drain: s.agentDrain, percent: s.agentPercent, line: s.agentLine },
      slowStart: s.rampTimer !== null,
    }));
  }

  private timer(run: () => void, delayMs: number): NodeJS.Timeout {
    const t = setTimeout(run, delayMs);
    t.unref(); // health checks never keep a stopping tcpvs alive
    return t;
  }

  // ---- active check ----

  private runCheck(s: ServerHealth): void {
    s.checkTimer = null;
    const check = this.spec.check!;
    const started = Date.now();
    const probe =
      s.prober !== null
        ? s.prober.probe(this.stopSignal)
        : probeTcp(s.server.host, check.port ?? s.server.port, check.timeoutMs, this.stopSignal);
    // The next check is armed only after this one ends: checks of one server never overlap.
    void probe.then((result) => {
      if (this.stopped) return;
      this.checkResult(s, result);
      s.checkTimer = this.timer(() => this.runCheck(s), Math.max(0, check.intervalMs - (Date.now() - started)));
    });
  }

  private checkResult(s: ServerHealth, result: ProbeResult): void {
    const check = this.spec.check!;
    if (result.ok === s.activeUp) {
      s.streak = 0;
      return;
    }
    s.streak++;
    const needed = s.activeUp ? check.fall : check.rise;
    this.log.debug(
      { service: this.service, group: this.runtime.name, server: s.server.name, check: check.kind, ok: result.ok, reason: result.reason, streak: s.streak, needed },
      'health check result',
    );
    if (s.streak < needed) return;
    s.streak = 0;
    s.activeUp = result.ok;
    const what = result.ok ? (needed === 1 ? 'success' : 'successes') : needed === 1 ? 'failure' : 'failures';
    this.settle(s, check.kind, `${needed} consecutive ${check.kind} check ${what}, last: ${result.reason}`, result.ok ? 'up' : 'down');
  }

  // ---- passive ejection ----

  /** Called by the service's observer at the end of every request to this group. */
  requestEnded(r: RequestRecord): void {
    const eject = this.spec.eject;
    const server = r.server;
    if (eject === undefined || server === null || this.stopped) return;
    const s = this.servers[server.id];
    if (s === undefined || s.server !== server || s.ejected) return;
    const outcome = r.outcome;
    // 501 and 505 say the server does not support the request, not that it is unwell.
    const failed =
      outcome === 'connect-failed' || outcome === 'upstream-failed' || (outcome === 'ok' && r.status >= 500 && r.status !== 501 && r.status !== 505);
    if (!failed) {
      // tcpvs's own refusals and client aborts say nothing about the server.
      if (outcome === 'ok') s.failures = 0;
      return;
    }
    if (++s.failures < eject.failures) return;
    const now = Date.now();
    // A server that stayed admitted for max-backoff starts again from the first backoff.
    if (now - s.readmittedAt >= eject.maxBackoffMs) s.ejections = 0;
    const backoffMs = Math.min(eject.maxBackoffMs, eject.backoffMs * 2 ** s.ejections);
    s.ejections++;
    s.ejected = true;
    s.failures = 0;
    s.ejectTimer = this.timer(() => {
      s.ejectTimer = null;
      s.ejected = false;
      s.readmittedAt = Date.now();
      this.settle(s, 'eject', `ejection of ${backoffMs}ms over`, 'up');
    }, backoffMs);
    this.settle(s, 'eject', `${eject.failures} consecutive failed requests (last: ${outcome}, status ${r.status}); ejected for ${backoffMs}ms`, 'down');
  }

  // ---- agent ----

  private runAgent(s: ServerHealth): void {
    s.agentTimer = null;
    const agent = this.spec.agent!;
    const started = Date.now();
    void readAgentLine(s.server.host, agent.port, agent.timeoutMs, this.stopSignal).then((read) => {
      if (this.stopped) return;
      this.agentResult(s, read);
      s.agentTimer = this.timer(() => this.runAgent(s), Math.max(0, agent.intervalMs - (Date.now() - started)));
    });
  }

  private agentResult(s: ServerHealth, read: AgentRead): void {
    if (!read.ok) {
      // As in HAProxy, an agent that cannot be reached changes nothing: the
      // agent is advice, the active check judges reachability.
      this.log.debug({ service: this.service, group: this.runtime.name, server: s.server.name, check: 'agent', reason: read.reason }, 'agent check failed');
      return;
    }
    const reply = parseAgentReply(read.line);
    const wasDown = !s.agentUp || s.agentMaint;
    const before = `${s.agentUp} ${s.agentMaint} ${s.agentDrain} ${s.agentPercent}`;
    if (reply.percent !== null) s.agentPercent = reply.percent;
    if (reply.state !== null) s.agentUp = reply.state === 'up';
    if (reply.admin === 'ready') s.agentDrain = s.agentMaint = false;
    else if (reply.admin === 'drain') s.agentDrain = true;
    else if (reply.admin === 'maint') s.agentMaint = true;
    s.agentLine = read.line;
    if (`${s.agentUp} ${s.agentMaint} ${s.agentDrain} ${s.agentPercent}` === before) return;
    const isDown = !s.agentUp || s.agentMaint;
    const direction: Direction = isDown && !wasDown ? 'down' : !isDown && wasDown ? 'up' : 'weight';
    this.settle(s, 'agent', `agent says ${JSON.stringify(read.line)}`, direction);
  }

  // ---- effective state ----

  private weightOf(s: ServerHealth, now: number): number {
    let w = s.configuredWeight;
    if (w === 0) return 0;
    const percent = s.agentPercent;
    if (percent !== null) w = percent === 0 ? 0 : Math.min(MAX_WEIGHT, Math.max(1, Math.round((w * percent) / 100)));
    if (s.agentDrain) w = 0;
    const ramp = this.spec.slowStartMs;
    if (s.rampTimer !== null && ramp !== undefined && w > 0) {
      const share = SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * Math.min(1, (now - s.rampStartedAt) / ramp);
      w = Math.max(1, Math.round(w * share));
    }
    return w;
  }

  /** After a mechanism changed its opinion: writes the server's up and weight, refreshes the scheduler, logs. */
  private settle(s: ServerHealth, mechanism: HealthMechanism, reason: string, direction: Direction): void {
    const server = s.server;
    const wasUp = server.up;
    const up = this.ownsUp ? s.activeUp && !s.ejected && s.agentUp && !s.agentMaint : wasUp;
    const now = Date.now();
    const ramp = this.spec.slowStartMs;
    if (ramp !== undefined && up && !wasUp) this.startRamp(s, ramp, now);
    else if (!up) this.stopRamp(s);
    const oldWeight = server.weight;
    const weight = this.ownsWeight ? this.weightOf(s, now) : oldWeight;
    const from = wasUp ? 'up' : 'down';
    const to = up ? 'up' : 'down';
    const fields = { service: this.service, group: this.runtime.name, server: server.name, check: mechanism, from, to, reason, weight };
    if (up !== wasUp || weight !== oldWeight) {
      server.up = up;
      server.weight = weight;
      this.runtime.scheduler.refresh();
    }
    if (up !== wasUp) {
      if (up) this.log.info(fields, 'server up');
      else this.log.warn(fields, 'server down');
    } else if (direction === 'down') {
      this.log.warn(fields, `${mechanism} says down; server was already down`);
    } else if (direction === 'up') {
      this.log.info(fields, `${mechanism} says up; server stays ${to}`);
    } else if (weight !== oldWeight) {
      this.log.info(fields, `${mechanism} changed the weight`);
    }
  }

  private startRamp(s: ServerHealth, rampMs: number, now: number): void {
    this.stopRamp(s);
    s.rampStartedAt = now;
    const step = Math.max(MIN_TIMER_MS, Math.floor(rampMs / SLOW_START_STEPS));
    s.rampTimer = setInterval(() => this.rampStep(s, rampMs), step);
    s.rampTimer.unref();
  }

  private stopRamp(s: ServerHealth): void {
    if (s.rampTimer !== null) clearInterval(s.rampTimer);
    s.rampTimer = null;
  }

  private rampStep(s: ServerHealth, rampMs: number): void {
    const now = Date.now();
    if (now - s.rampStartedAt >= rampMs) this.stopRamp(s); // weightOf() then gives the full weight
    const weight = this.weightOf(s, now);
    if (weight === s.server.weight) return;
    s.server.weight = weight;
    this.runtime.scheduler.refresh();
    this.log.debug({ service: this.service, group: this.runtime.name, server: s.server.name, weight, ramping: s.rampTimer !== null }, 'slow start');
  }
}

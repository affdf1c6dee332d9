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
// growing share of the weight over `slow-start`. This runs in the control
// plane, once per server whatever the number of workers: every change is
// written to the server's shared record (lib/control/registry.ts) and the
// group's version is bumped, so every data path sees it at its next request.
// Ejection itself is done by the data path (lib/proxy/passive.ts), which
// counts failures where the requests are; it tells this side, which keeps the
// backoff and readmits.
//
// A config change keeps all of it: a server that stays keeps its check
// streak, verdict, timers, ejection backoff, agent state and slow start. A
// changed health spec restarts the timers with the new one, state kept.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../log/logger.ts';
import type { GroupState, ServerState } from '../control/registry.ts';
import { W_FAILURES } from '../state/server-share.ts';
import { parseAgentReply } from './agent-reply.ts';
import { HttpProber, probeTcp, readAgentLine, type AgentRead, type ProbeResult } from './probes.ts';
import type { HealthSpec } from './spec.ts';
import type { ServerTlsSpec } from '../config/model.ts';
import { sameServerTls } from '../tls/upstream.ts';

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

function expectedProxy(spec: HealthSpec, server: ServerState): 0 | 1 | 2 {
  const port = spec.check?.port ?? null;
  return port === null || port === server.port ? server.sendProxy : 0;
}

function expectedTls(spec: HealthSpec, server: ServerState): ServerTlsSpec | undefined {
  const port = spec.check?.port ?? null;
  return port === null || port === server.port ? server.tls : undefined;
}

class ServerHealth {
  readonly server: ServerState;
  // Active check: its verdict, and how many results in a row disagreed with it.
  activeUp = true;
  streak = 0;
  checkTimer: NodeJS.Timeout | null = null;
  prober: HttpProber | null = null;
  proxy: 0 | 1 | 2 = 0; // the PROXY header its checks send (the server's send-proxy when checked on its own port)
  tls: ServerTlsSpec | undefined = undefined; // the TLS its http checks speak (the server's when checked on its own port)
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
  /** Up, as this side last wrote it to the server's record. */
  publishedUp = true;
  rampTimer: NodeJS.Timeout | null = null;

  constructor(server: ServerState) {
    this.server = server;
  }

  /** The weight from the config: a ramp or an agent's percentage never compounds on a weight tcpvs itself lowered. */
  get configuredWeight(): number {
    return this.server.configuredWeight;
  }

  stopTimers(): void {
    for (const t of [this.checkTimer, this.agentTimer, this.rampTimer]) if (t !== null) clearTimeout(t);
    this.checkTimer = this.agentTimer = this.rampTimer = null;
    this.prober?.close();
    this.prober = null;
  }
}

type Direction = 'up' | 'down' | 'weight';

/** Whether a spec has a mechanism with an opinion on up/down. */
function ownsUp(spec: HealthSpec): boolean {
  return spec.check !== undefined || spec.eject !== undefined || spec.agent !== undefined;
}

/** Whether a spec sets weights (an agent's percentage, slow start). */
function ownsWeight(spec: HealthSpec): boolean {
  return spec.agent !== undefined || spec.slowStartMs !== undefined;
}

export class GroupHealth {
  private readonly service: string;
  readonly group: GroupState;
  private spec: HealthSpec;
  private readonly log: Logger;
  private readonly stopSignal: AbortSignal;
  private servers: ServerHealth[] = [];
  // Which of the server's fields this group's health owns: weights are left
  // alone unless an agent or slow start sets them.
  private ownsUp: boolean;
  private ownsWeight: boolean;
  private stopped = false;

  constructor(service: string, group: GroupState, spec: HealthSpec, log: Logger, stop: AbortSignal) {
    this.service = service;
    this.group = group;
    this.spec = spec;
    this.log = log;
    this.stopSignal = stop;
    this.ownsUp = ownsUp(spec);
    this.ownsWeight = ownsWeight(spec);
    this.servers = group.servers.map((server) => new ServerHealth(server));
    for (const s of this.servers) s.publishedUp = s.server.up;
  }

  get healthSpec(): HealthSpec {
    return this.spec;
  }

  start(): void {
    const n = this.servers.length;
    for (let i = 0; i < n; i++) this.startServer(this.servers[i], i, n);
    this.settleAll();
  }

  /**
   * After a config change: the group's servers now, and its health spec. A
   * server that stays keeps its health and, when the spec is the same, its
   * timers; new servers start; servers that left stop.
   */
  update(spec: HealthSpec): void {
    const same = isDeepStrictEqual(spec, this.spec);
    const before = new Map(this.servers.map((s) => [s.server, s] as const));
    const next = this.group.servers.map((server) => before.get(server) ?? new ServerHealth(server));
    for (const s of next) if (!before.has(s.server)) s.publishedUp = s.server.up;
    for (const s of before.values()) if (!next.includes(s)) this.forget(s);
    if (!same) {
      for (const s of next) {
        s.stopTimers();
        // A check that is no longer configured has no opinion any more.
        if (spec.check === undefined) {
          s.activeUp = true;
          s.streak = 0;
        }
        if (spec.agent === undefined) {
          s.agentUp = true;
          s.agentMaint = s.agentDrain = false;
          s.agentPercent = null;
        }
        // Another ejection rule (or only the default one left): its backoff no longer holds.
        if (!isDeepStrictEqual(spec.eject, this.spec.eject) && s.ejected) this.readmit(s);
      }
      this.spec = spec;
      this.ownsUp = ownsUp(spec);
      this.ownsWeight = ownsWeight(spec);
    }
    this.servers = next;
    const n = next.length;
    for (let i = 0; i < n; i++) {
      const s = next[i];
      // A server whose send-proxy or TLS changed gets checks that speak the new way.
      const proxyChanged =
        same &&
        before.has(s.server) &&
        this.spec.check !== undefined &&
        (s.proxy !== expectedProxy(this.spec, s.server) || !sameServerTls(s.tls, expectedTls(this.spec, s.server)));
      if (proxyChanged) s.stopTimers();
      if (!same || !before.has(s.server) || proxyChanged) this.startServer(s, i, n);
    }
    this.settleAll();
  }

  /** Arms a server's check and agent timers; its checks are spread over the interval so a group's servers are never probed all at once. */
  private startServer(s: ServerHealth, i: number, n: number): void {
    const check = this.spec.check;
    const agent = this.spec.agent;
    if (check !== undefined) {
      // HAProxy's default: a check on the server's own port speaks as the server expects; on another port, plainly.
      s.proxy = expectedProxy(this.spec, s.server);
      s.tls = expectedTls(this.spec, s.server);
      if (check.kind === 'http') s.prober = new HttpProber(s.server.host, check.port ?? s.server.port, check, s.proxy, s.tls);
      s.checkTimer = this.timer(() => this.runCheck(s), Math.floor((check.intervalMs * i) / n));
    }
    if (agent !== undefined) s.agentTimer = this.timer(() => this.runAgent(s), Math.floor((agent.intervalMs * i) / n));
  }

  /** A server left the group (or the checks stop): its timers stop. */
  private forget(s: ServerHealth): void {
    s.stopTimers();
    if (s.ejectTimer !== null) clearTimeout(s.ejectTimer);
    s.ejectTimer = null;
  }

  /** Writes every server's up and weight as its mechanisms now say (after a start or a change). */
  private settleAll(): void {
    const now = Date.now();
    for (const s of this.servers) this.publish(s, this.ownsWeight ? this.weightOf(s, now) : s.configuredWeight);
  }

  /** Writes a server's state to its shared record; the group's version moves only when something changed. */
  private publish(s: ServerHealth, weight: number): void {
    const server = s.server;
    const upByChecks = this.ownsUp ? s.activeUp && s.agentUp && !s.agentMaint : true;
    s.publishedUp = upByChecks && !s.ejected;
    if (server.upByChecks === upByChecks && server.ejected === s.ejected && server.weight === weight) return;
    if (server.upByChecks !== upByChecks || server.ejected !== s.ejected) server.changedAt = Date.now();
    server.upByChecks = upByChecks;
    server.ejected = s.ejected;
    server.weight = weight;
    this.group.changed();
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.servers) this.forget(s);
  }

  /** The group's health statements are gone: every server is up at its configured weight. */
  release(): void {
    this.stop();
    let changed = false;
    for (const s of this.servers) {
      const server = s.server;
      if (!server.upByChecks || server.ejected || server.weight !== s.configuredWeight) {
        server.upByChecks = true;
        server.ejected = false;
        server.weight = s.configuredWeight;
        changed = true;
      }
      Atomics.store(server.words, W_FAILURES, 0);
    }
    if (changed) this.group.changed();
  }

  status(): ServerHealthStatus[] {
    return this.servers.map((s) => ({
      service: this.service,
      group: this.group.name,
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
        : probeTcp(s.server.host, check.port ?? s.server.port, check.timeoutMs, this.stopSignal, s.proxy);
    // The next check is armed only after this one ends: checks of one server never overlap.
    void probe.then((result) => {
      if (this.stopped) return;
      this.checkResult(s, result);
      s.checkTimer = this.timer(() => this.runCheck(s), Math.max(0, check.intervalMs - (Date.now() - started)));
    });
  }

  private checkResult(s: ServerHealth, result: ProbeResult): void {
    const check = this.spec.check!;
    s.server.lastCheck = { ok: result.ok, reason: result.reason, at: Date.now() };
    if (result.ok === s.activeUp) {
      s.streak = 0;
      return;
    }
    s.streak++;
    const needed = s.activeUp ? check.fall : check.rise;
    this.log.debug(
      {
        service: this.service,
        group: this.group.name,
        server: s.server.name,
        check: check.kind,
        ok: result.ok,
        reason: result.reason,
        streak: s.streak,
        needed,
      },
      'health check result',
    );
    if (s.streak < needed) return;
    s.streak = 0;
    s.activeUp = result.ok;
    const what = result.ok ? (needed === 1 ? 'success' : 'successes') : needed === 1 ? 'failure' : 'failures';
    this.settle(s, check.kind, `${needed} consecutive ${check.kind} check ${what}, last: ${result.reason}`, result.ok ? 'up' : 'down');
  }

  // ---- passive ejection ----

  /** The data path ejected this server (lib/proxy/passive.ts); the backoff starts here. */
  ejected(server: ServerState, reason: string): void {
    const eject = this.spec.eject;
    const s = this.servers.find((x) => x.server === server);
    if (eject === undefined || s === undefined || this.stopped || s.ejected) return;
    const now = Date.now();
    // A server that stayed admitted for max-backoff starts again from the first backoff.
    if (now - s.readmittedAt >= eject.maxBackoffMs) s.ejections = 0;
    const backoffMs = Math.min(eject.maxBackoffMs, eject.backoffMs * 2 ** s.ejections);
    s.ejections++;
    s.ejected = true;
    s.ejectTimer = this.timer(() => {
      s.ejectTimer = null;
      this.readmit(s);
      this.settle(s, 'eject', `ejection of ${backoffMs}ms over`, 'up');
    }, backoffMs);
    this.settle(s, 'eject', `${reason}; ejected for ${backoffMs}ms`, 'down');
  }

  private readmit(s: ServerHealth): void {
    if (s.ejectTimer !== null) clearTimeout(s.ejectTimer);
    s.ejectTimer = null;
    s.ejected = false;
    s.readmittedAt = Date.now();
    Atomics.store(s.server.words, W_FAILURES, 0);
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
      this.log.debug(
        { service: this.service, group: this.group.name, server: s.server.name, check: 'agent', reason: read.reason },
        'agent check failed',
      );
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
    // What this side last said, not the record: the data path marks an
    // ejection there before telling this side.
    const wasUp = s.publishedUp;
    const up = this.ownsUp ? s.activeUp && !s.ejected && s.agentUp && !s.agentMaint : wasUp;
    const now = Date.now();
    const ramp = this.spec.slowStartMs;
    if (ramp !== undefined && up && !wasUp) this.startRamp(s, ramp, now);
    else if (!up) this.stopRamp(s);
    const oldWeight = server.weight;
    const weight = this.ownsWeight ? this.weightOf(s, now) : oldWeight;
    const from = wasUp ? 'up' : 'down';
    const to = up ? 'up' : 'down';
    const fields = { service: this.service, group: this.group.name, server: server.name, check: mechanism, from, to, reason, weight };
    this.publish(s, weight);
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
    this.publish(s, weight);
    this.log.debug(
      { service: this.service, group: this.group.name, server: s.server.name, weight, ramping: s.rampTimer !== null },
      'slow start',
    );
  }
}

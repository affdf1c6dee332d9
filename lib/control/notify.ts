// State changes of the cluster, as keepalived's notify scripts see them: the
// director became master, backup or fault (keepalived tells tcpvs through its
// admin socket), a real server of a vip went down or came back (the L4
// checks). Each change is logged, counted for /metrics, and handed to the
// `notify COMMAND` of the config, run without a shell with the change's words
// appended: `director MASTER`, `real VIP REAL down`.
import { spawn } from 'node:child_process';
import type { Logger } from '../log/logger.ts';

export type StateChange =
  | { kind: 'director'; state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP'; priority?: number }
  | { kind: 'real'; state: 'up' | 'down'; vip: string; real: string; reason: string };

export interface StateChangeCount {
  kind: StateChange['kind'];
  state: string;
  vip: string; // '' for the director
  real: string;
  count: number;
}

/** A command may run this long; then it is killed (it is ours: by its PID). */
const COMMAND_TIMEOUT_MS = 10_000;

export class Notifier {
  private readonly command: readonly string[] | null;
  private readonly log: Logger;
  private readonly counts = new Map<string, StateChangeCount>();

  constructor(command: readonly string[] | null, log: Logger) {
    this.command = command;
    this.log = log;
  }

  changed(change: StateChange): void {
    const vip = change.kind === 'real' ? change.vip : '';
    const real = change.kind === 'real' ? change.real : '';
    const key = `${change.kind} ${change.state} ${vip} ${real}`;
    const entry = this.counts.get(key) ?? { kind: change.kind, state: change.state, vip, real, count: 0 };
    entry.count++;
    this.counts.set(key, entry);
    if (change.kind === 'director') this.log.warn({ state: change.state, priority: change.priority }, 'director state changed');
    if (this.command === null) return;
    const words = change.kind === 'director' ? ['director', change.state] : ['real', change.vip, change.real, change.state];
    this.run(words);
  }

  /** Every change so far, counted by kind, state, vip and real. */
  snapshot(): StateChangeCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  private run(words: string[]): void {
    const [file, ...args] = this.command!;
    const child = spawn(file, [...args, ...words], { stdio: 'ignore' });
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, COMMAND_TIMEOUT_MS);
    timer.unref();
    child.once('error', (err) => {
      clearTimeout(timer);
      this.log.warn({ command: this.command, change: words, reason: err.message }, 'notify command could not run');
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) this.log.warn({ command: this.command, change: words, code, signal }, 'notify command failed');
    });
  }
}

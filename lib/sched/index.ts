// The scheduler registry: the one list of schedulers. The native and KTCPVS
// parsers, the printer, the validator, tcpvsadm and the data path all look a
// scheduler up here, by its descriptor (scheduler.ts): its name, whether it
// reads a key, its knobs and its factory. Adding a scheduler is one new file
// beside this one, exporting its descriptor, and its import and name in the
// list below.

import {
  localRealServer,
  type RealServer,
  type Scheduler,
  type SchedulerDescriptor,
  type SchedulerKnob,
  type SchedulerOptions,
} from './scheduler.ts';
import { rr } from './rr.ts';
import { wrr } from './wrr.ts';
import { lc, nq, sed, wlc } from './least-connection.ts';
import { hhttp } from './hhttp.ts';
import { dh } from './dh.ts';
import { sh } from './sh.ts';
import { p2c } from './p2c.ts';
import { lblc } from './lblc.ts';
import { lblcr } from './lblcr.ts';
import { mh } from './mh.ts';
import { chbl } from './chbl.ts';

// In the order `known: ...` lists them. A Map, not an object literal, so
// names like "constructor" are not found.
const SCHEDULERS: ReadonlyMap<string, SchedulerDescriptor> = new Map(
  [rr, wrr, lc, wlc, hhttp, sed, nq, dh, sh, p2c, lblc, lblcr, mh, chbl].map((d) => [d.name, d]),
);

/** Scheduler names in registration order. */
export function knownSchedulers(): string[] {
  return [...SCHEDULERS.keys()];
}

/** The scheduler called `name`, or undefined. */
export function schedulerDescriptor(name: string): SchedulerDescriptor | undefined {
  return SCHEDULERS.get(name);
}

/** Every registered scheduler. */
export function schedulerDescriptors(): SchedulerDescriptor[] {
  return [...SCHEDULERS.values()];
}

/** A knob statement and the schedulers that take it (a knob shared by two is one object). */
export interface KnobEntry {
  readonly knob: SchedulerKnob;
  readonly schedulers: readonly string[];
}

const KNOBS: ReadonlyMap<string, KnobEntry> = (() => {
  const byStatement = new Map<string, { knob: SchedulerKnob; schedulers: string[] }>();
  for (const d of SCHEDULERS.values()) {
    for (const knob of d.knobs) {
      const entry = byStatement.get(knob.statement);
      if (entry === undefined) byStatement.set(knob.statement, { knob, schedulers: [d.name] });
      else entry.schedulers.push(d.name);
    }
  }
  return byStatement;
})();

/** Every knob statement, in registry order, with the schedulers that take it. */
export function knobStatements(): ReadonlyMap<string, KnobEntry> {
  return KNOBS;
}

export function createScheduler(name: string, servers: readonly RealServer[], options: SchedulerOptions): Scheduler {
  const descriptor = SCHEDULERS.get(name);
  if (descriptor === undefined) {
    throw new Error(`unknown scheduler "${name}" (known: ${knownSchedulers().join(', ')})`);
  }
  return descriptor.create(servers, options);
}

export interface RealServerSpec {
  host: string;
  port: number;
  weight: number;
}

/** Fresh RealServer records for one group, ids in spec order, each with a record of its own. */
export function makeRealServers(specs: readonly RealServerSpec[]): RealServer[] {
  return specs.map((spec, id) => localRealServer(id, spec.host, spec.port, spec.weight));
}

export type { PickContext, Scheduler, SchedulerDescriptor, SchedulerFactory, SchedulerKnob, SchedulerOptions } from './scheduler.ts';
export { RealServer, available, localRealServer, setServerState } from './scheduler.ts';

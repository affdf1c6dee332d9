// The scheduler registry: a group's `scheduler` name to its implementation.
// Adding a scheduler is one new file beside this one and one line below.

import { localRealServer, type RealServer, type Scheduler, type SchedulerFactory, type SchedulerOptions } from './scheduler.ts';
import { createRoundRobin } from './rr.ts';
import { createWeightedRoundRobin } from './wrr.ts';
import { createLeastConnection } from './lc.ts';
import { createWeightedLeastConnection } from './wlc.ts';
import { createHashHttp } from './hhttp.ts';
import { createShortestExpectedDelay } from './sed.ts';
import { createNeverQueue } from './nq.ts';
import { createDestinationHash } from './dh.ts';
import { createSourceHash } from './sh.ts';
import { createPowerOfTwoChoices } from './p2c.ts';
import { createLocalityLeastConnection } from './lblc.ts';
import { createLocalityReplicated } from './lblcr.ts';
import { createMaglev } from './mh.ts';
import { createBoundedLoadHash } from './chbl.ts';

// A Map, not an object literal, so names like "constructor" are not found.
const FACTORIES: ReadonlyMap<string, SchedulerFactory> = new Map([
  ['rr', createRoundRobin],
  ['wrr', createWeightedRoundRobin],
  ['lc', createLeastConnection],
  ['wlc', createWeightedLeastConnection],
  ['hhttp', createHashHttp],
  // more schedulers: one line each, below this one
  ['sed', createShortestExpectedDelay],
  ['nq', createNeverQueue],
  ['dh', createDestinationHash],
  ['sh', createSourceHash],
  ['p2c', createPowerOfTwoChoices],
  ['lblc', createLocalityLeastConnection],
  ['lblcr', createLocalityReplicated],
  ['mh', createMaglev],
  ['chbl', createBoundedLoadHash],
]);

/** Scheduler names in registration order. */
export function knownSchedulers(): string[] {
  return [...FACTORIES.keys()];
}

export function createScheduler(name: string, servers: readonly RealServer[], options: SchedulerOptions): Scheduler {
  const factory = FACTORIES.get(name);
  if (factory === undefined) {
    throw new Error(`unknown scheduler "${name}" (known: ${knownSchedulers().join(', ')})`);
  }
  return factory(servers, options);
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

export type { PickContext, Scheduler, SchedulerFactory, SchedulerOptions } from './scheduler.ts';
export { RealServer, available, localRealServer } from './scheduler.ts';

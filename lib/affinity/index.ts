// Builds a group's Affinity from its spec. A group without affinity has none
// (the data path keeps null and skips every affinity call).
import type { RealServer } from '../sched/scheduler.ts';
import type { Affinity, AffinityOptions } from './affinity.ts';
import { CookieAffinity } from './cookie.ts';
import type { AffinitySpec } from './spec.ts';
import { HeaderAffinity, SourceAffinity } from './table.ts';

export function createAffinity(spec: AffinitySpec, servers: readonly RealServer[], options: AffinityOptions): Affinity {
  switch (spec.kind) {
    case 'source':
      return new SourceAffinity(spec, servers, options);
    case 'header':
      return new HeaderAffinity(spec, servers, options);
    case 'cookie':
      return new CookieAffinity(spec, servers, options);
  }
}

export type { Affinity, AffinityOptions } from './affinity.ts';
export type { AffinitySpec, AffinityInput, CookieAffinitySpec, HeaderAffinitySpec, SourceAffinitySpec } from './spec.ts';
export { affinityProblems, withAffinityDefaults } from './spec.ts';
export { CookieAffinity, cookieServerId, defaultCookieSecret } from './cookie.ts';
export { HeaderAffinity, SourceAffinity } from './table.ts';

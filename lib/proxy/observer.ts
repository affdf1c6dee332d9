// What the data path tells observers of a service (tools, tests) when a
// connection opens or closes and when a request ends. Statistics and passive
// checks are counted by the data path itself in shared records. One record
// object per session is reused: an observer copies what it keeps and never
// holds on to the record.
import type { RealServer } from '../sched/scheduler.ts';
import type { GroupRuntime } from './group.ts';
import type { RequestOutcome } from './outcome.ts';

export type { RequestOutcome } from './outcome.ts';

export interface RequestRecord {
  service: string;
  group: GroupRuntime | null;
  server: RealServer | null;
  status: number; // what the client got (0 when nothing)
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  outcome: RequestOutcome;
}

export interface ServiceObserver {
  connectionOpened(service: string): void;
  connectionClosed(service: string): void;
  requestEnded(record: RequestRecord): void;
}

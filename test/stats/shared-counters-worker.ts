// A worker thread for shared-counters.test.ts: records requests and opens and
// closes connections in its own stripe of blocks the main thread created.
// The functions that make the records are exported so the test can compute
// what the sums must be. Nothing runs when this file is imported.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  ConnectionCounterBlock,
  RequestCounterBlock,
  type ConnectionCounterWriter,
  type RequestCounterWriter,
} from '../../lib/stats/shared-counters.ts';
import { bucketOf } from '../../lib/stats/histogram.ts';

export interface WorkerJob {
  role: 'shared-counters';
  requests: SharedArrayBuffer;
  connections: SharedArrayBuffer;
  /** Int32 words: [0] go, [1] writers done with requests, [2] close the connections. */
  control: SharedArrayBuffer;
  stripe: number;
  /** Requests to record. */
  count: number;
  /** Connections to open (a multiple of 3). */
  connectionCount: number;
  second: number;
}

/**
 * `count` requests, the same for the same stripe: durations in quarter
 * milliseconds (sums stay exact in any order), every status class and
 * outcome, some beyond the last bucket.
 */
export function recordRequests(w: RequestCounterWriter, stripe: number, count: number, second: number): void {
  for (let i = 0; i < count; i++) {
    const durationMs = i % 997 === 0 ? 150_000 + stripe : ((i * 7919 + stripe * 31) % 40_000) / 4;
    w.record(second, bucketOf(durationMs), durationMs, (i + stripe) % 6, i % 5, i % 300, (i % 1000) + stripe);
  }
}

/** Opens `count` connections (a multiple of 3) and closes two in three: count / 3 stay open. */
export function openConnections(w: ConnectionCounterWriter, count: number, second: number): void {
  for (let i = 0; i < count; i++) {
    w.opened(second);
    if (i % 3 === 2) {
      w.closed();
      w.closed();
    }
  }
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.role === 'shared-counters') {
  const job = workerData as WorkerJob;
  const port = parentPort!;
  const control = new Int32Array(job.control);
  const requests = RequestCounterBlock.attach(job.requests).writer(job.stripe);
  const connections = ConnectionCounterBlock.attach(job.connections).writer(job.stripe);
  port.postMessage('ready');
  Atomics.wait(control, 0, 0); // both start together
  recordRequests(requests, job.stripe, job.count, job.second);
  openConnections(connections, job.connectionCount, job.second);
  Atomics.add(control, 1, 1);
  port.postMessage('opened');
  Atomics.wait(control, 2, 0);
  for (let i = 0; i <= job.connectionCount / 3; i++) connections.closed(); // one more than open: must stay at 0
  port.postMessage('closed');
}

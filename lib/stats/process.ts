// What /metrics says of the process itself, in the names Prometheus's
// client libraries use (process_*, nodejs_*): CPU and memory of the whole
// process (every worker thread included), open file descriptors, and the
// control thread's event-loop delay. The data path's threads have their
// own loops; their work shows in the CPU time and the request histograms.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readdirSync } from 'node:fs';

export interface ProcessSample {
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  residentBytes: number;
  heapUsedBytes: number;
  openFds: number | null; // null where /proc is not there
  startTimeSeconds: number;
  loopDelayP50Seconds: number;
  loopDelayP99Seconds: number;
  loopDelayMaxSeconds: number;
  version: string;
  nodeVersion: string;
}

const startTimeSeconds = (Date.now() - performance.now()) / 1000;

export class ProcessSampler {
  private readonly delay: ReturnType<typeof monitorEventLoopDelay>;
  private readonly version: string;

  constructor(version: string) {
    this.version = version;
    this.delay = monitorEventLoopDelay({ resolution: 10 });
    this.delay.enable();
  }

  /** The process now; the loop delay since the previous sample (then reset). */
  sample(): ProcessSample {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    let openFds: number | null = null;
    try {
      openFds = readdirSync('/proc/self/fd').length;
    } catch {
      // not Linux
    }
    const d = this.delay;
    const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const out: ProcessSample = {
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      residentBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      openFds,
      startTimeSeconds,
      loopDelayP50Seconds: d.count > 0 ? seconds(d.percentile(50)) : 0,
      loopDelayP99Seconds: d.count > 0 ? seconds(d.percentile(99)) : 0,
      loopDelayMaxSeconds: d.count > 0 ? seconds(d.max) : 0,
      version: this.version,
      nodeVersion: process.version,
    };
    d.reset();
    return out;
  }

  close(): void {
    this.delay.disable();
  }
}

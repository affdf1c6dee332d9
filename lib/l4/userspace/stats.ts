// Traffic counters and rates for one virtual service or one real server, as
// `ipvsadm -L --stats` and `--rate` show them. A "packet" here is one read
// from a socket (a TCP data event) or one datagram: user space never sees the
// segments the kernel coalesces, so packet counts are lower than IPVS's.
//
// Rates follow IPVS's estimator (ip_vs_est.c): every 2 s the counters'
// deltas are turned into per-second rates and folded into a moving average
// that moves a quarter of the way to each new sample, so one burst shows
// up at once but does not swing the figure to the burst's full height.

import type { Counters, Rates } from '../model.ts';

export const ESTIMATOR_INTERVAL_MS = 2000;

export class TrafficStats implements Counters {
  conns = 0;
  inPackets = 0;
  outPackets = 0;
  inBytes = 0;
  outBytes = 0;

  private readonly rates: Rates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  // Counter values at the previous sample.
  private lastConns = 0;
  private lastInPackets = 0;
  private lastOutPackets = 0;
  private lastInBytes = 0;
  private lastOutBytes = 0;

  /** Folds the traffic since the previous sample, `elapsedSec` ago, into the rates. */
  sample(elapsedSec: number): void {
    const rates = this.rates;
    rates.cps += ((this.conns - this.lastConns) / elapsedSec - rates.cps) / 4;
    rates.inPps += ((this.inPackets - this.lastInPackets) / elapsedSec - rates.inPps) / 4;
    rates.outPps += ((this.outPackets - this.lastOutPackets) / elapsedSec - rates.outPps) / 4;
    rates.inBps += ((this.inBytes - this.lastInBytes) / elapsedSec - rates.inBps) / 4;
    rates.outBps += ((this.outBytes - this.lastOutBytes) / elapsedSec - rates.outBps) / 4;
    this.lastConns = this.conns;
    this.lastInPackets = this.inPackets;
    this.lastOutPackets = this.outPackets;
    this.lastInBytes = this.inBytes;
    this.lastOutBytes = this.outBytes;
  }

  counters(): Counters {
    return {
      conns: this.conns,
      inPackets: this.inPackets,
      outPackets: this.outPackets,
      inBytes: this.inBytes,
      outBytes: this.outBytes,
    };
  }

  currentRates(): Rates {
    return { ...this.rates };
  }
}

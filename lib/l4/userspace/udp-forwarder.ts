// A UDP virtual service in user space. Each client address:port is a "flow"
// (IPVS's UDP connection entry) with its own socket connected to the real
// server it was scheduled to: the server's replies come back on that socket
// and leave through the service's socket to the client. A flow expires after
// udpIdleMs without a datagram either way (IPVS's udp timeout, 300 s).

import dgram from 'node:dgram';
import net from 'node:net';
import type { ConnectionEntry } from '../model.ts';
import { L4Error } from '../model.ts';
import { endpointLabel, secondsLeft } from './conn-table.ts';
import type { TableConnection } from './conn-table.ts';
import type { Assignment, Forwarder, VirtualServiceRuntime } from './virtual-service.ts';

// Datagrams a flow holds while its socket connects; more are dropped, as a
// kernel would drop them on a full queue.
const MAX_PENDING_DATAGRAMS = 64;

export class UdpForwarder implements Forwarder {
  readonly service: VirtualServiceRuntime;
  readonly socket: dgram.Socket;
  private readonly flows = new Map<string, UdpFlow>();

  constructor(service: VirtualServiceRuntime) {
    this.service = service;
    const v6 = service.key.family === 6;
    this.socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    this.socket.on('message', this.onMessage);
  }

  listen(): Promise<void> {
    const { address, port } = this.service.key;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new L4Error('failed', `${this.service.id}: cannot bind: ${err.message}`));
      };
      this.socket.once('error', onError);
      this.socket.bind({ address, port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.socket.on('error', (err) => this.service.env.log.debug({ err, service: this.service.id }, 'l4 udp send failed'));
        resolve();
      });
    });
  }

  /** Closes the socket and every flow: replies could no longer reach the clients without it. */
  async close(): Promise<void> {
    for (const flow of [...this.flows.values()]) flow.abort();
    try {
      this.socket.close();
    } catch {
      // never bound, or closed already
    }
  }

  forget(key: string): void {
    this.flows.delete(key);
  }

  private onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const key = `${rinfo.address} ${rinfo.port}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      const env = this.service.env;
      if (env.table.full) {
        env.log.debug({ service: this.service.id }, 'l4 connection table full; datagram dropped');
        return;
      }
      const nowMs = Date.now();
      const assignment = this.service.schedule(rinfo.address, false, nowMs);
      if (assignment === null) return; // no usable real server: dropped, as IPVS does
      flow = new UdpFlow(this, key, rinfo.address, rinfo.port, assignment, nowMs);
      this.flows.set(key, flow);
      env.table.add(flow);
      flow.start();
    }
    flow.forwardToServer(msg);
  };
}

class UdpFlow implements TableConnection {
  private readonly forwarder: UdpForwarder;
  private readonly key: string;
  private readonly clientAddress: string;
  private readonly clientPort: number;
  private readonly assignment: Assignment;
  private readonly upstream: dgram.Socket;
  private pending: Buffer[] | null = []; // null once connected
  private lastActivityMs: number;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(forwarder: UdpForwarder, key: string, clientAddress: string, clientPort: number, assignment: Assignment, nowMs: number) {
    this.forwarder = forwarder;
    this.key = key;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.assignment = assignment;
    this.lastActivityMs = nowMs;
    const serverAddress = assignment.server.config.address;
    this.upstream = dgram.createSocket(net.isIPv6(serverAddress) ? 'udp6' : 'udp4');
  }

  start(): void {
    const server = this.assignment.server;
    this.upstream.on('message', this.onReply);
    this.upstream.on('error', this.onError);
    this.upstream.once('connect', this.onConnect);
    // Connected: the kernel then delivers only the real server's datagrams to this socket.
    this.upstream.connect(server.targetPort, server.config.address);
    this.armIdleTimer(this.forwarder.service.env.udpIdleMs);
  }

  forwardToServer(msg: Buffer): void {
    if (this.closed) return;
    const pending = this.pending;
    if (pending !== null) {
      if (pending.length >= MAX_PENDING_DATAGRAMS) return;
      pending.push(msg);
    } else this.upstream.send(msg);
    this.lastActivityMs = Date.now();
    this.count(this.forwarder.service.stats, msg.length, true);
    this.count(this.assignment.server.stats, msg.length, true);
  }

  private count(
    stats: { inPackets: number; inBytes: number; outPackets: number; outBytes: number },
    bytes: number,
    inbound: boolean,
  ): void {
    if (inbound) {
      stats.inPackets++;
      stats.inBytes += bytes;
    } else {
      stats.outPackets++;
      stats.outBytes += bytes;
    }
  }

  private onConnect = (): void => {
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) for (const msg of pending) this.upstream.send(msg);
  };

  private onReply = (msg: Buffer): void => {
    this.lastActivityMs = Date.now();
    this.count(this.forwarder.service.stats, msg.length, false);
    this.count(this.assignment.server.stats, msg.length, false);
    this.forwarder.socket.send(msg, this.clientPort, this.clientAddress);
  };

  private onError = (err: Error): void => {
    const env = this.forwarder.service.env;
    env.log.debug({ err, service: this.forwarder.service.id, server: this.assignment.server.label }, 'l4 udp real server error');
    // A failed connect leaves nothing to forward through; later errors (an
    // ICMP unreachable) leave the flow to expire, as IPVS's entry does.
    if (this.pending !== null) this.abort();
  };

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = setTimeout(this.onIdleCheck, delayMs);
    this.idleTimer.unref();
  }

  /** One timer per flow, re-armed for the time left rather than reset on every datagram. */
  private onIdleCheck = (): void => {
    const idleMs = this.forwarder.service.env.udpIdleMs;
    const leftMs = this.lastActivityMs + idleMs - Date.now();
    if (leftMs > 0) this.armIdleTimer(leftMs);
    else this.abort();
  };

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    try {
      this.upstream.close();
    } catch {
      // already closed
    }
    const service = this.forwarder.service;
    this.forwarder.forget(this.key);
    service.env.table.remove(this);
    service.release(this.assignment, false, Date.now());
  }

  describe(nowMs: number): ConnectionEntry {
    return {
      protocol: 'udp',
      state: 'UDP',
      expiresInSec: secondsLeft(this.lastActivityMs + this.forwarder.service.env.udpIdleMs - nowMs),
      source: endpointLabel(this.clientAddress, this.clientPort),
      virtual: this.forwarder.service.label,
      destination: this.assignment.server.label,
    };
  }
}

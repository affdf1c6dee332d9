// A TCP virtual service in user space: a listener on the virtual address and,
// per client, a connection to the scheduled real server with the bytes
// spliced both ways. The core always proxies, whatever the forwarding method
// says (route and tunnel need the kernel's packet path): the real server sees
// the core's address as the client's, as behind a NAT.
//
// Half-close is kept: a client's FIN ends the write side towards the real
// server while the answer still flows back, and the reverse. A reset or error
// on either side resets the other. States follow IPVS's table for masq
// (ip_vs_proto_tcp.c): the client's FIN moves ESTABLISHED to CLOSE_WAIT, the
// server's to FIN_WAIT, both to TIME_WAIT; the entry leaves the table once
// both sockets are closed (no kernel state to protect, so no 2-minute wait).

import net from 'node:net';
import type { ConnectionEntry } from '../model.ts';
import { L4Error } from '../model.ts';
import { encodeProxyHeader, proxyAddresses } from '../../net/proxy-protocol.ts';
import { endpointLabel, secondsLeft } from './conn-table.ts';
import type { TableConnection } from './conn-table.ts';
import type { Assignment, Forwarder, VirtualServiceRuntime } from './virtual-service.ts';

export type TcpState = 'SYN_RECV' | 'ESTABLISHED' | 'FIN_WAIT' | 'CLOSE_WAIT' | 'TIME_WAIT';

export class TcpForwarder implements Forwarder {
  private readonly service: VirtualServiceRuntime;
  private readonly server: net.Server;
  private readonly connections = new Set<TcpConnection>();
  private lastFullWarningMs = 0;

  constructor(service: VirtualServiceRuntime) {
    this.service = service;
    // pauseOnConnect: nothing is read from a client before its real server
    // has accepted, so nothing needs buffering meanwhile.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) => this.accept(client));
  }

  listen(): Promise<void> {
    const { address, port, family } = this.service.key;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new L4Error('failed', `${this.service.id}: cannot listen: ${err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host: address, port, ipv6Only: family === 6, exclusive: true }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.service.env.log.error({ err, service: this.service.id }, 'l4 listener error'));
        resolve();
      });
    });
  }

  async close(abortConnections: boolean): Promise<void> {
    // The listening socket is closed at once; accepted connections are not
    // affected, as IPVS keeps a deleted service's connections until they end.
    if (this.server.listening) this.server.close();
    if (abortConnections) for (const connection of [...this.connections]) connection.abort();
  }

  private accept(client: net.Socket): void {
    const env = this.service.env;
    const clientAddress = client.remoteAddress;
    const clientPort = client.remotePort;
    if (clientAddress === undefined || clientPort === undefined) {
      client.destroy(); // already gone
      return;
    }
    client.on('error', ignoreError);
    if (env.table.full) {
      // Once a second at most: a flood must not turn into a flood of log lines.
      const nowMs = Date.now();
      if (nowMs - this.lastFullWarningMs >= 1000) {
        this.lastFullWarningMs = nowMs;
        env.log.warn({ service: this.service.id, max: env.table.maxConnections }, 'l4 connection table full; refusing');
      }
      client.resetAndDestroy();
      return;
    }
    const nowMs = Date.now();
    const assignment = this.service.schedule(clientAddress, false, nowMs);
    if (assignment === null) {
      // No usable real server: refuse, as IPVS answers a SYN it cannot schedule with a reset.
      env.log.debug({ service: this.service.id, client: clientAddress }, 'l4 no real server available');
      client.resetAndDestroy();
      return;
    }
    const connection = new TcpConnection(this.service, client, clientAddress, clientPort, assignment, nowMs, () =>
      this.connections.delete(connection),
    );
    this.connections.add(connection);
    env.table.add(connection);
    connection.start();
  }
}

function ignoreError(): void {
  // Errors are handled through 'close'; this listener only keeps them from being thrown.
}

/** Resets a socket (RST), or just destroys it when it has no connected handle to reset. */
function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

class TcpConnection implements TableConnection {
  state: TcpState = 'SYN_RECV';
  private readonly service: VirtualServiceRuntime;
  private readonly client: net.Socket;
  private readonly upstream: net.Socket;
  private readonly clientAddress: string;
  private readonly clientPort: number;
  private readonly assignment: Assignment;
  private readonly onFinished: () => void;
  private lastActivityMs: number;
  private clientEnded = false; // FIN received from the client
  private upstreamEnded = false; // FIN received from the real server
  private clientClosed = false;
  private upstreamClosed = false;
  private finished = false;

  constructor(
    service: VirtualServiceRuntime,
    client: net.Socket,
    clientAddress: string,
    clientPort: number,
    assignment: Assignment,
    nowMs: number,
    onFinished: () => void,
  ) {
    this.service = service;
    this.client = client;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.assignment = assignment;
    this.onFinished = onFinished;
    this.lastActivityMs = nowMs;
    this.upstream = new net.Socket({ allowHalfOpen: true });
  }

  start(): void {
    const { client, upstream } = this;
    const env = this.service.env;
    const server = this.assignment.server;
    client.on('close', this.onClientClose);
    client.on('timeout', this.onIdle);
    client.setTimeout(env.tcpConnectTimeoutMs);
    upstream.on('close', this.onUpstreamClose);
    upstream.on('error', this.onUpstreamError);
    client.on('error', this.onClientError);
    upstream.once('connect', this.onUpstreamConnect);
    upstream.setNoDelay(true); // forwarded segments must not wait for Nagle
    upstream.connect({ host: server.config.address, port: server.targetPort });
  }

  private onUpstreamConnect = (): void => {
    const { client, upstream } = this;
    this.setState('ESTABLISHED');
    const version = this.assignment.server.config.proxyProtocol;
    if (version !== undefined) {
      // The client and the VIP it reached (an address a header cannot carry: UNKNOWN / LOCAL).
      upstream.write(
        encodeProxyHeader(version, proxyAddresses(this.clientAddress, this.clientPort, client.localAddress, client.localPort)),
      );
    }
    client.on('data', this.onClientData);
    client.on('end', this.onClientEnd);
    client.on('drain', this.onClientDrain);
    upstream.on('data', this.onUpstreamData);
    upstream.on('end', this.onUpstreamEnd);
    upstream.on('drain', this.onUpstreamDrain);
    client.resume();
  };

  private onClientData = (chunk: Buffer): void => {
    this.lastActivityMs = Date.now();
    const serviceStats = this.service.stats;
    const serverStats = this.assignment.server.stats;
    serviceStats.inPackets++;
    serviceStats.inBytes += chunk.length;
    serverStats.inPackets++;
    serverStats.inBytes += chunk.length;
    if (!this.upstream.write(chunk)) this.client.pause();
  };

  private onUpstreamData = (chunk: Buffer): void => {
    this.lastActivityMs = Date.now();
    const serviceStats = this.service.stats;
    const serverStats = this.assignment.server.stats;
    serviceStats.outPackets++;
    serviceStats.outBytes += chunk.length;
    serverStats.outPackets++;
    serverStats.outBytes += chunk.length;
    if (!this.client.write(chunk)) this.upstream.pause();
  };

  private onUpstreamDrain = (): void => {
    this.client.resume();
  };

  private onClientDrain = (): void => {
    this.upstream.resume();
  };

  private onClientEnd = (): void => {
    this.clientEnded = true;
    this.lastActivityMs = Date.now();
    this.upstream.end(); // after whatever is still queued
    this.setState(this.upstreamEnded ? 'TIME_WAIT' : 'CLOSE_WAIT');
  };

  private onUpstreamEnd = (): void => {
    this.upstreamEnded = true;
    this.lastActivityMs = Date.now();
    this.client.end();
    this.setState(this.clientEnded ? 'TIME_WAIT' : 'FIN_WAIT');
  };

  private onClientError = (): void => {
    // A reset (or any error) from the client resets the real server's side.
    reset(this.upstream);
  };

  private onUpstreamError = (err: Error): void => {
    if (this.state === 'SYN_RECV') {
      this.service.env.log.debug({ err, service: this.service.id, server: this.assignment.server.label }, 'l4 real server connect failed');
    }
    reset(this.client);
  };

  private onClientClose = (): void => {
    this.clientClosed = true;
    // A clean close after both FINs leaves the real server's side to flush
    // and close by itself; anything else takes it down now.
    if (!(this.clientEnded && this.upstreamEnded)) reset(this.upstream);
    this.finishIfClosed();
  };

  private onUpstreamClose = (): void => {
    this.upstreamClosed = true;
    if (!(this.clientEnded && this.upstreamEnded)) reset(this.client);
    this.finishIfClosed();
  };

  /** The state's timeout passed with no traffic: the entry expires, as in IPVS, and both sides are closed. */
  private onIdle = (): void => {
    this.service.env.log.debug({ service: this.service.id, state: this.state }, 'l4 connection expired');
    this.client.destroy();
    this.upstream.destroy();
  };

  private setState(state: TcpState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.assignment.server.stateChanged(previous === 'ESTABLISHED', state === 'ESTABLISHED');
    // The client socket sees traffic in both directions (reads one way,
    // writes the other), so its idle timer stands for the connection's.
    this.client.setTimeout(this.stateTimeoutMs());
    if (state === 'TIME_WAIT') {
      // The client's socket may close first while the real server's side
      // still flushes; a server that stops reading must not hold it forever.
      this.upstream.setTimeout(this.service.env.tcpFinTimeoutMs);
      this.upstream.on('timeout', this.onIdle);
    }
  }

  private stateTimeoutMs(): number {
    const env = this.service.env;
    switch (this.state) {
      case 'SYN_RECV':
        return env.tcpConnectTimeoutMs;
      case 'ESTABLISHED':
        return env.tcpTimeoutMs;
      default:
        return env.tcpFinTimeoutMs;
    }
  }

  private finishIfClosed(): void {
    if (this.finished || !this.clientClosed || !this.upstreamClosed) return;
    this.finished = true;
    this.service.env.table.remove(this);
    this.service.release(this.assignment, this.state === 'ESTABLISHED', Date.now());
    this.onFinished();
  }

  abort(): void {
    reset(this.client);
    reset(this.upstream);
  }

  describe(nowMs: number): ConnectionEntry {
    return {
      protocol: 'tcp',
      state: this.state,
      expiresInSec: secondsLeft(this.lastActivityMs + this.stateTimeoutMs() - nowMs),
      source: endpointLabel(this.clientAddress, this.clientPort),
      virtual: this.service.label,
      destination: this.assignment.server.label,
    };
  }
}

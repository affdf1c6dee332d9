// Who may hold a connection to the TCP admin and stats listeners. A
// connection is a stranger until its first request proves the token (or,
// on a listener without one, until it sends a request at all): strangers get
// a short deadline, and a bound per source address and in all. A new
// stranger over a bound displaces the oldest stranger (of its address, else
// of all) rather than being refused, so idle connections cannot lock out a
// token holder, whose first request arrives with its connection. Connections
// that proved themselves are bounded on their own.
import type net from 'node:net';

export interface GuardOptions {
  authDeadlineMs?: number; // default 2 s
  strangersPerAddress?: number; // default 8
  strangers?: number; // default 128
  members?: number; // connections that proved themselves; default 64
  onRefused?: (address: string, reason: string) => void;
}

export class ConnectionGuard {
  private readonly deadlineMs: number;
  private readonly perAddress: number;
  private readonly maxStrangers: number;
  private readonly maxMembers: number;
  private readonly onRefused: (address: string, reason: string) => void;
  // Insertion order is age order: the first is the oldest.
  private readonly strangers = new Map<net.Socket, { address: string; timer: NodeJS.Timeout }>();
  private readonly byAddress = new Map<string, Set<net.Socket>>();
  private readonly members = new Set<net.Socket>();
  /** Strangers closed for their deadline or displaced, members refused over the bound (status, tests). */
  closed = 0;

  constructor(options: GuardOptions = {}) {
    this.deadlineMs = options.authDeadlineMs ?? 2000;
    this.perAddress = options.strangersPerAddress ?? 8;
    this.maxStrangers = options.strangers ?? 128;
    this.maxMembers = options.members ?? 64;
    this.onRefused = options.onRefused ?? (() => {});
  }

  /** A new connection: a stranger until admit(). */
  track(socket: net.Socket): void {
    const address = socket.remoteAddress ?? '';
    let mine = this.byAddress.get(address);
    if (mine === undefined) this.byAddress.set(address, (mine = new Set()));
    if (mine.size >= this.perAddress) this.drop(mine.values().next().value!, 'too many connections without a token from this address');
    if (this.strangers.size >= this.maxStrangers) this.drop(this.strangers.keys().next().value!, 'too many connections without a token');
    const timer = setTimeout(() => this.drop(socket, `no request with the token within ${this.deadlineMs} ms`), this.deadlineMs);
    timer.unref();
    this.strangers.set(socket, { address, timer });
    mine.add(socket);
    socket.once('close', () => {
      this.forget(socket);
      this.members.delete(socket);
    });
  }

  /** The connection proved itself; false (and it is closed) when members are at their bound. */
  admit(socket: net.Socket): boolean {
    if (this.members.has(socket)) return true;
    this.forget(socket);
    if (this.members.size >= this.maxMembers) {
      this.onRefused(socket.remoteAddress ?? '', `already ${this.maxMembers} connections with the token`);
      this.closed++;
      socket.destroy();
      return false;
    }
    this.members.add(socket);
    return true;
  }

  isMember(socket: net.Socket): boolean {
    return this.members.has(socket);
  }

  strangerCount(): number {
    return this.strangers.size;
  }

  private drop(socket: net.Socket, reason: string): void {
    const entry = this.strangers.get(socket);
    this.forget(socket);
    this.onRefused(entry?.address ?? socket.remoteAddress ?? '', reason);
    this.closed++;
    socket.destroy();
  }

  private forget(socket: net.Socket): void {
    const entry = this.strangers.get(socket);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.strangers.delete(socket);
    const mine = this.byAddress.get(entry.address);
    mine?.delete(socket);
    if (mine?.size === 0) this.byAddress.delete(entry.address);
  }
}

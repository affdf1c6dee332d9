// The connection table (`ipvsadm -L -c`): every open TCP connection and UDP
// flow of every service, bounded by maxConnections so a flood of clients
// cannot exhaust memory or descriptors.

import type { ConnectionEntry } from '../model.ts';

/** One forwarded connection, TCP or UDP, as the table sees it. */
export interface TableConnection {
  describe(nowMs: number): ConnectionEntry;
  /** Tears the connection down at once (core close, service delete). */
  abort(): void;
}

export class ConnectionTable {
  readonly maxConnections: number;
  private readonly connections = new Set<TableConnection>();

  constructor(maxConnections: number) {
    this.maxConnections = maxConnections;
  }

  get size(): number {
    return this.connections.size;
  }

  get full(): boolean {
    return this.connections.size >= this.maxConnections;
  }

  add(connection: TableConnection): void {
    this.connections.add(connection);
  }

  remove(connection: TableConnection): void {
    this.connections.delete(connection);
  }

  list(nowMs: number): ConnectionEntry[] {
    const entries: ConnectionEntry[] = [];
    for (const connection of this.connections) entries.push(connection.describe(nowMs));
    return entries;
  }

  abortAll(): void {
    for (const connection of [...this.connections]) connection.abort();
  }
}

/** "addr:port", with an IPv6 address in brackets as ipvsadm prints it. */
export function endpointLabel(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Seconds left, rounded up so an entry shows 0 only when it is due. */
export function secondsLeft(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

// A connection after 101 Switching Protocols: bytes go both ways as they
// are, until either side ends. The session pauses the client when the server
// pushes back (fromClient returns false) and resumes it on the server's
// drain; a slow client pauses the server until the client drains.
import type net from 'node:net';
import type { UpstreamConnection } from '../upstream/pool.ts';

export class Tunnel {
  private readonly client: net.Socket;
  private readonly server: UpstreamConnection;
  private readonly lent: boolean;

  /** `lent`: the client's chunks are borrowed (client-reads.ts) and copied to be kept. */
  constructor(client: net.Socket, server: UpstreamConnection, lent: boolean) {
    this.client = client;
    this.server = server;
    this.lent = lent;
  }

  /** Client bytes to the server; false when the server pushes back. */
  fromClient(chunk: Buffer): boolean {
    return this.server.socket.write(this.lent ? Buffer.from(chunk) : chunk);
  }

  /** Bytes the client sent before the switch, kept (owned) while the upgrade was answered. */
  flush(kept: Buffer): void {
    this.server.socket.write(kept);
  }

  fromServer(chunk: Buffer): void {
    if (!this.client.write(chunk)) this.server.socket.pause();
  }

  clientEnded(): void {
    this.server.socket.end();
  }

  serverEnded(): void {
    this.client.end();
  }
}

// PROXY protocol on a client connection: the header a client may send first
// (`accept-proxy`), which names the real client, and the one tcpvs sends
// ahead of its requests to servers with `send-proxy`, naming that client.
import type net from 'node:net';
import type { ServiceSpec } from '../config/model.ts';
import { encodeProxyHeader, parseProxyHeader, proxyAddresses, type ProxyAddresses } from '../net/proxy-protocol.ts';
import { proxySourceTrusted } from './proxy-trust.ts';

/** What read() found. */
export const PROXY_WAIT = 0; // a header has begun: more bytes are needed
export const PROXY_DONE = 1; // a header was read (or none was sent): `rest` is the first request's bytes
export const PROXY_REFUSE = 2; // malformed, or from a source not trusted: `reason` says which
export const PROXY_DROP = 3; // a header from a peer already gone: nobody to refuse

export class ClientProxy {
  /** After PROXY_DONE: the bytes after the header (maybe none). */
  rest: Buffer | null = null;
  /** After PROXY_REFUSE: why. */
  reason = '';
  /** The addresses of the header the client sent, if any. */
  received: ProxyAddresses | null = null;
  /** The client's address it names, as the session shows it (an IPv4 address without its ::ffff: prefix). */
  clientAddress = '';
  private partial: Buffer | null = null; // a header's first bytes, while incomplete
  // For servers with send-proxy: the headers naming this client (made once).
  private v1: Buffer | null = null;
  private v2: Buffer | null = null;

  /**
   * The first bytes of a connection to a service that accepts PROXY headers:
   * a header from a trusted source names the client; from any other source,
   * or malformed, it is refused. Bytes that cannot begin a header are the
   * first request. `lent`: `chunk` is borrowed and copied to be kept.
   * `peerGone`: the peer's address was unknown when it was accepted.
   */
  read(chunk: Buffer, lent: boolean, socket: net.Socket, spec: ServiceSpec, peerGone: boolean): number {
    const buf = this.partial === null ? chunk : Buffer.concat([this.partial, chunk]);
    const parsed = parseProxyHeader(buf);
    if (parsed.kind === 'incomplete') {
      this.partial = buf !== chunk || !lent ? buf : Buffer.from(chunk);
      return PROXY_WAIT;
    }
    this.partial = null;
    if (parsed.kind === 'none') {
      this.rest = buf;
      return PROXY_DONE;
    }
    if (parsed.kind === 'error') {
      this.reason = parsed.message;
      return PROXY_REFUSE;
    }
    if (!proxySourceTrusted(spec, socket)) {
      // A connection reset before it was accepted has no peer address left
      // (the L4 core's checks send a header, then a reset): nobody to refuse.
      if (peerGone) return PROXY_DROP;
      this.reason = 'a PROXY header from a source that accept-proxy does not name';
      return PROXY_REFUSE;
    }
    if (parsed.addresses !== null) this.adopt(parsed.addresses);
    this.rest = parsed.length < buf.length ? buf.subarray(parsed.length) : null;
    return PROXY_DONE;
  }

  /** The addresses of a PROXY header read for this connection, here or before its TLS handshake (tls-listener.ts). */
  adopt(named: ProxyAddresses): void {
    const source = named.sourceAddress;
    this.clientAddress = source.startsWith('::ffff:') && source.includes('.') ? source.slice(7) : source;
    this.received = named;
  }

  /**
   * The header naming this client, for a send-proxy server: its address and
   * port, and where it connected to (the PROXY header's destination when it
   * sent one, else this socket's own address).
   */
  header(version: 1 | 2, clientAddress: string, clientPort: number, socket: net.Socket): Buffer {
    const made = version === 1 ? this.v1 : this.v2;
    if (made !== null) return made;
    const r = this.received;
    const addresses = proxyAddresses(
      clientAddress,
      clientPort,
      r !== null ? r.destinationAddress : socket.localAddress,
      r !== null ? r.destinationPort : socket.localPort,
    );
    const header = encodeProxyHeader(version, addresses);
    if (version === 1) this.v1 = header;
    else this.v2 = header;
    return header;
  }
}

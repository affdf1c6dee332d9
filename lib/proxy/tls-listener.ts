// TLS termination on a service's listener: each accepted connection is
// wrapped in a server TLSSocket over the service's certificates (SNI picks
// one, lib/tls/certificates.ts), and once its handshake is done it becomes an
// ordinary client session (client-session.ts): the same parser, refusals,
// routing, affinity and access log as a plain connection.
//
// The certificates come as PEM text in the plan, since a SecureContext
// cannot cross threads: every data path builds its own store from it, once
// per change of the text. A new store serves the connections accepted after
// the change; those in flight keep the context they were given.
import type net from 'node:net';
import tls from 'node:tls';
import type { ServiceSpec, TlsSpec } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { ProxyAddresses } from '../net/proxy-protocol.ts';
import { acceptsProxy } from './proxy-trust.ts';
import { ClientProxy, PROXY_DONE, PROXY_REFUSE, PROXY_WAIT } from './client-proxy.ts';
import { buildCertificateStore } from '../tls/certificates.ts';

const ALPN = ['http/1.1'];

/** What the listener needs of its service. */
export interface TlsService {
  readonly spec: ServiceSpec;
  readonly log: Logger;
  /** Connections in their handshake, whichever listener took them: the service closes them on a stop. */
  readonly handshakes: Set<tls.TLSSocket>;
  /** A connection whose handshake is done, with the PROXY header read before it (null: none). */
  startSession(socket: tls.TLSSocket, proxied: ProxyAddresses | null): void;
}

/** The text a store was built from: a change of it builds a new store. */
function storeKey(spec: TlsSpec): string {
  let key = spec.ciphers ?? '';
  for (const c of spec.certificates) key += `\u0000${c.certPem}\u0000${c.keyPem}`;
  return key;
}

export class TlsListener {
  private readonly key: string;
  /** Options for every TLSSocket: one object, not one per connection. */
  private readonly options: tls.TLSSocketOptions;
  private readonly service: TlsService;

  /** Builds the store; the control plane checked the certificates, so this only fails on what it could not foresee. */
  constructor(spec: TlsSpec, service: TlsService) {
    this.service = service;
    this.key = storeKey(spec);
    const { store } = buildCertificateStore(spec.certificates, spec.ciphers === undefined ? {} : { ciphers: spec.ciphers });
    // The store lives on in its SNICallback and contexts, which these options hold.
    this.options = { isServer: true, ...store.socketOptions, ALPNProtocols: ALPN };
  }

  /** Whether a changed spec has the same certificates and ciphers (so this listener can stay). */
  serves(spec: TlsSpec): boolean {
    return storeKey(spec) === this.key;
  }

  /**
   * A new connection: its PROXY header first, when the service reads them
   * (it comes before the handshake), then the handshake; both within
   * `timeout client-header`.
   */
  accept(raw: net.Socket): void {
    let current: net.Socket = raw; // then the TLS socket over it
    const timer = setTimeout(() => current.destroy(), this.service.spec.timeouts.clientHeaderMs);
    timer.unref();
    const handshake = (proxied: ProxyAddresses | null): void => {
      current = this.handshake(raw, proxied, timer);
    };
    if (!acceptsProxy(this.service.spec)) return handshake(null);
    // The same reading and trust rule as an HTTP session's (client-proxy.ts).
    const proxy = new ClientProxy();
    const onData = (chunk: Buffer): void => {
      const verdict = proxy.read(chunk, false, raw, this.service.spec, raw.remoteAddress === undefined);
      if (verdict === PROXY_WAIT) return;
      raw.off('data', onData);
      raw.pause();
      if (verdict !== PROXY_DONE) {
        clearTimeout(timer);
        if (verdict === PROXY_REFUSE && raw.remoteAddress !== undefined)
          this.service.log.warn({ client: raw.remoteAddress, reason: proxy.reason }, 'refused');
        raw.destroy();
        return;
      }
      // What follows the header (or everything, when none came: a trusted source may also connect without one) is the ClientHello.
      if (proxy.rest !== null) raw.unshift(proxy.rest);
      handshake(proxy.received);
    };
    raw.on('data', onData);
    raw.on('error', () => raw.destroy());
    raw.resume();
  }

  private handshake(raw: net.Socket, proxied: ProxyAddresses | null, timer: NodeJS.Timeout): tls.TLSSocket {
    const socket = new tls.TLSSocket(raw, this.options);
    const handshakes = this.service.handshakes;
    handshakes.add(socket);
    const failed = (): void => {
      clearTimeout(timer);
      handshakes.delete(socket);
      socket.destroy();
    };
    socket.once('error', failed);
    socket.once('close', failed);
    socket.once('secure', () => {
      clearTimeout(timer);
      handshakes.delete(socket);
      socket.off('error', failed);
      socket.off('close', failed);
      if (socket.destroyed) return;
      this.service.startSession(socket, proxied);
    });
    return socket;
  }
}

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
import type { TlsSpec } from '../config/model.ts';
import { buildCertificateStore, type CertificateStore } from '../tls/certificates.ts';

const ALPN = ['http/1.1'];

/** What the listener needs of its service. */
export interface TlsService {
  /** The handshake must be done within this (`timeout client-header`). */
  handshakeTimeoutMs(): number;
  /** A connection whose handshake is done. */
  startSession(socket: tls.TLSSocket): void;
}

/** The text a store was built from: a change of it builds a new store. */
function storeKey(spec: TlsSpec): string {
  let key = spec.ciphers ?? '';
  for (const c of spec.certificates) key += `\u0000${c.certPem}\u0000${c.keyPem}`;
  return key;
}

export class TlsListener {
  private readonly store: CertificateStore;
  private readonly key: string;
  /** Options for every TLSSocket: one object, not one per connection. */
  private readonly options: tls.TLSSocketOptions;
  private readonly handshakes = new Set<tls.TLSSocket>();
  private readonly service: TlsService;

  /** Builds the store; the control plane checked the certificates, so this only fails on what it could not foresee. */
  constructor(spec: TlsSpec, service: TlsService) {
    this.service = service;
    this.key = storeKey(spec);
    this.store = buildCertificateStore(spec.certificates, spec.ciphers === undefined ? {} : { ciphers: spec.ciphers }).store;
    this.options = { isServer: true, ...this.store.socketOptions, ALPNProtocols: ALPN };
  }

  /** Whether a changed spec has the same certificates and ciphers (so this listener can stay). */
  serves(spec: TlsSpec): boolean {
    return storeKey(spec) === this.key;
  }

  /** Connections still in their handshake. */
  get pending(): number {
    return this.handshakes.size;
  }

  accept(raw: net.Socket): void {
    const socket = new tls.TLSSocket(raw, this.options);
    const handshakes = this.handshakes;
    handshakes.add(socket);
    // A per-connection timer, for the handshake only: the session's deadlines take over after it.
    const timer = setTimeout(() => socket.destroy(), this.service.handshakeTimeoutMs());
    timer.unref();
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
      this.service.startSession(socket);
    });
  }

  /** Closes every connection still in its handshake (a stop, a drain, the service leaving). */
  closeHandshakes(): void {
    for (const s of this.handshakes) s.destroy();
    this.handshakes.clear();
  }
}

// Whom a service takes PROXY headers from: a source in `accept-proxy from`,
// or this host's own address for a service that is a real self of the L4
// core. One rule for plain connections (client-session.ts) and for TLS ones,
// whose header is read before the handshake (tls-listener.ts).
import type net from 'node:net';
import type { ServiceSpec } from '../config/model.ts';
import { inNetworks } from '../net/networks.ts';

/** Whether the service reads PROXY headers at all. */
export function acceptsProxy(spec: ServiceSpec): boolean {
  return spec.acceptProxy !== undefined || spec.acceptProxyFromL4 === true;
}

export function proxySourceTrusted(spec: ServiceSpec, socket: net.Socket): boolean {
  const peer = socket.remoteAddress ?? '';
  if (spec.acceptProxy !== undefined && inNetworks(peer, spec.acceptProxy)) return true;
  return spec.acceptProxyFromL4 === true && peer !== '' && peer === socket.localAddress;
}

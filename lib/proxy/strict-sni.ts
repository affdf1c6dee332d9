// `strict-sni` (docs/tls.md): on a TLS service, a request must name the host
// the client named in its handshake. Otherwise a certificate valid for one
// name would carry requests for another (a client reusing a connection, or
// fronting one name with another), which RFC 9110 §15.5.20 answers with
// 421 Misdirected Request so that the client retries on a new connection.
import { normalizeName } from '../tls/certificate-names.ts';

/** Why a request for `host` (lower-case, no port) is misdirected on a connection for `sniName`; null when it is not. */
export function misdirectedRequest(sniName: string, host: string | null): string | null {
  if (sniName === '') return 'strict-sni: the client sent no SNI name';
  if (host === null) return 'strict-sni: the request names no host';
  return host === normalizeName(sniName) ? null : `strict-sni: Host '${host}' is not the SNI name '${sniName}'`;
}

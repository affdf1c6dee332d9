// TLS from tcpvs to a server: `tls [verify CA-FILE | no-verify] [sni NAME]`
// on a server line. The control plane loads the settings once (reading the
// CA file); each server then gets an UpstreamTlsConnector, which keeps one
// options object and the server's last TLS session, so a new connection to
// the same server resumes instead of running a full handshake.
//
// Without `verify` the server's certificate is checked against Node's
// bundled CAs; `no-verify` accepts any certificate (the bytes are still
// encrypted, but a man in the middle goes unnoticed). The name sent as SNI,
// and checked against the certificate, is `sni NAME`, else the server's host
// when it is a name; an IP address is never sent as SNI (RFC 6066), and the
// certificate must then carry that address.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ServerTlsSpec } from '../config/model.ts';
import { type CertificateProblem, CertificateError } from './certificates.ts';

/** What a server line says. */
export interface UpstreamTlsSource {
  verify: 'system' | 'no-verify' | { caFile: string };
  sni?: string;
  line: number;
}

/** The same with the CA file read: what connectors are built from. */
export interface UpstreamTlsSettings {
  verify: 'system' | 'no-verify' | { caFile: string; caPem: string };
  sni?: string;
  line: number;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$/i;

/** Reads and checks the CA file, checks the SNI name; a CertificateError names the line and the file or field. */
export function loadUpstreamTls(source: UpstreamTlsSource): UpstreamTlsSettings {
  const fail = (file: string, message: string): never => {
    const problem: CertificateProblem = { line: source.line, file, message };
    throw new CertificateError([problem]);
  };
  if (source.sni !== undefined && (!DNS_NAME.test(source.sni) || net.isIP(source.sni) !== 0)) {
    fail('sni', `${JSON.stringify(source.sni)} is not a DNS name (an IP address is never sent as SNI)`);
  }
  if (typeof source.verify === 'string') return { verify: source.verify, sni: source.sni, line: source.line };
  const { caFile } = source.verify;
  let caPem = '';
  try {
    caPem = readFileSync(caFile, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(caFile, `cannot read the CA file: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message}`);
  }
  const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) fail(caFile, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (let i = 0; i < blocks!.length; i++) {
    try {
      new X509Certificate(blocks![i]);
    } catch (err) {
      fail(caFile, `certificate ${i + 1} in the file does not parse: ${(err as Error).message}`);
    }
  }
  return { verify: { caFile, caPem }, sni: source.sni, line: source.line };
}

/** Whether two server lines' TLS connect alike (the line they were written on aside): a change closes pooled connections and restarts checks. */
export function sameServerTls(a: ServerTlsSpec | undefined, b: ServerTlsSpec | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.verify === b.verify && a.caPem === b.caPem && a.sni === b.sni;
}

/** The name sent as SNI to `host`: the configured one, else the host when it is a name. */
export function upstreamServername(host: string, sni: string | undefined): string | undefined {
  if (sni !== undefined) return sni;
  return net.isIP(host) === 0 ? host.replace(/\.$/, '') : undefined;
}

const acceptAny = (): undefined => undefined;

/** One server's TLS: the options for tls.connect, built once, and its last session for resumption. */
export class UpstreamTlsConnector {
  readonly host: string;
  readonly port: number;
  readonly servername: string | undefined;
  readonly #options: tls.ConnectionOptions & { onread?: net.OnReadOpts }; // tls.connect takes net's onread (missing from its types)
  #session: Buffer | undefined = undefined;
  readonly #saveSession = (session: Buffer): void => {
    this.#session = session;
  };

  constructor(host: string, port: number, settings: UpstreamTlsSettings, alpn: readonly string[] = ['http/1.1']) {
    this.host = host;
    this.port = port;
    this.servername = upstreamServername(host, settings.sni);
    const verify = settings.verify;
    this.#options = {
      host,
      port,
      // '' sends no SNI; Node then checks the certificate against `host`, the IP address
      servername: this.servername ?? '',
      // one context for every connection: the CA file is parsed once, not per handshake
      secureContext: tls.createSecureContext({ minVersion: 'TLSv1.2', ca: typeof verify === 'object' ? verify.caPem : undefined }),
      ALPNProtocols: [...alpn],
      rejectUnauthorized: verify !== 'no-verify',
      session: undefined,
    };
    if (verify === 'no-verify') this.#options.checkServerIdentity = acceptAny;
  }

  /** The options for the next connection (the same object each time, with the latest session). */
  options(): tls.ConnectionOptions {
    this.#options.session = this.#session;
    return this.#options;
  }

  /**
   * A TLS connection to the server over a new TCP connection, or over
   * `socket` when given; `onread` (net.Socket's: reads into a buffer of the
   * caller's) applies to a new TCP connection only.
   */
  connect(socket?: net.Socket, onread?: net.OnReadOpts): tls.TLSSocket {
    const options = this.#options;
    options.session = this.#session;
    options.socket = socket;
    options.onread = onread;
    const tlsSocket = tls.connect(options);
    options.socket = undefined;
    options.onread = undefined;
    tlsSocket.on('session', this.#saveSession);
    return tlsSocket;
  }

  /** Forgets the session (after a failed resumption, or when the server's certificate may have changed). */
  forgetSession(): void {
    this.#session = undefined;
  }
}

/** Why a TLS connection to a server failed, in words an operator acts on. */
export function describeUpstreamTlsError(err: NodeJS.ErrnoException, connector: UpstreamTlsConnector): string {
  const where = `TLS to ${connector.host}:${connector.port}`;
  const name = connector.servername ?? connector.host;
  switch (err.code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `${where}: the server's certificate is not signed by a trusted CA (${err.code}); give its CA with \`tls verify CA-FILE\``;
    case 'CERT_HAS_EXPIRED':
      return `${where}: the server's certificate has expired (${err.code})`;
    case 'CERT_NOT_YET_VALID':
      return `${where}: the server's certificate is not yet valid (${err.code})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return `${where}: the server does not answer in TLS; is it plain HTTP on this port? (${err.code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `${where}: the server's certificate does not cover ${name} (${err.code}); set the name with \`sni NAME\``;
    default:
      return `${where}: ${err.message}${err.code === undefined ? '' : ` (${err.code})`}`;
  }
}

// The certificates a TLS-terminating service serves, chosen by the name the
// client asks for (SNI). The control plane reads the files and builds a
// CertificateStore; the data path only looks a name up in it. A store never
// changes once built: a reload builds a new one and hands it to connections
// accepted from then on, while connections in flight keep the context they
// were given.
//
// Names follow browsers (lib/tls/certificate-names.ts). The most specific
// name wins (exact over wildcard), the first listed certificate wins a tie,
// and it is also the default for a client that sends no name or a name
// nothing covers.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { coveredNames, type NamesFrom, normalizeName } from './certificate-names.ts';

/** One `certificate` line of the config: the files it names and where it stands. */
export interface CertificateSource {
  certFile: string; // PEM: the certificate, then its chain
  keyFile: string; // PEM: the private key, unencrypted
  line: number; // in the config file, for messages
}

/** A source with its files read. */
export interface CertificateFiles extends CertificateSource {
  certPem: string;
  keyPem: string;
}

/** An error or a warning: the config line, the file at fault and what is wrong with it. */
export interface CertificateProblem {
  line: number;
  file: string;
  message: string;
}

export class CertificateError extends Error {
  readonly problems: CertificateProblem[];
  constructor(problems: CertificateProblem[]) {
    super(problems.map(formatCertificateProblem).join('\n'));
    this.name = 'CertificateError';
    this.problems = problems;
  }
}

export function formatCertificateProblem(p: CertificateProblem): string {
  return `line ${p.line}: ${p.file}: ${p.message}`;
}

export const TLS_MIN_VERSION = 'TLSv1.2';

/**
 * TLS 1.2: forward secrecy and AEAD only (ECDHE with GCM or ChaCha20-Poly1305,
 * Mozilla's "intermediate" list without DHE). TLS 1.3's suites are all AEAD
 * and stay OpenSSL's default.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface CertificateStoreOptions {
  /** An OpenSSL cipher list for TLS 1.2 instead of TLS12_CIPHERS. */
  ciphers?: string;
  /** The time validity is judged at (tests); now when omitted. */
  now?: Date;
  /** A certificate that expires within this many days is warned about (14 when omitted), so a reload's output says it in time. */
  expiryWarningDays?: number;
}

const DAY_MS = 86_400_000;

/** A certificate as served: its names, its dates, and the context built for it once. */
export interface ServedCertificate {
  readonly source: CertificateSource;
  /** Lowercased DNS names, wildcards as `*.example.com`; only those that can match. */
  readonly names: readonly string[];
  readonly namesFrom: NamesFrom;
  readonly subject: string;
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  readonly context: tls.SecureContext;
}

export type SNICallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

export class CertificateStore {
  readonly certificates: readonly ServedCertificate[];
  readonly defaultCertificate: ServedCertificate;
  /** For tls.TLSSocket / tls.createServer: bound once, so it can be handed out as is. */
  readonly SNICallback: SNICallback;
  /** For `new tls.TLSSocket(socket, { isServer: true, ...store.socketOptions, ALPNProtocols })`; one object, not one per connection. */
  readonly socketOptions: { readonly secureContext: tls.SecureContext; readonly SNICallback: SNICallback };
  readonly #exact = new Map<string, ServedCertificate>();
  readonly #wildcard = new Map<string, ServedCertificate>(); // by the parent: "example.com" for "*.example.com"
  readonly #served = new Set<ServedCertificate>(); // those some name or the default leads to
  readonly #ciphers: string;
  readonly #defaultPem: { cert: string; key: string };

  /** `defaultPem`: the first certificate's chain and key, which tls.createServer takes only as PEM. */
  constructor(certificates: readonly ServedCertificate[], ciphers: string, defaultPem: { cert: string; key: string }) {
    if (certificates.length === 0) throw new Error('a certificate store needs at least one certificate');
    this.certificates = certificates;
    this.defaultCertificate = certificates[0];
    this.#ciphers = ciphers;
    this.#defaultPem = defaultPem;
    this.#served.add(certificates[0]);
    for (const cert of certificates) {
      for (const name of cert.names) {
        const table = name.startsWith('*.') ? this.#wildcard : this.#exact;
        const key = name.startsWith('*.') ? name.slice(2) : name;
        if (table.has(key)) continue; // the first listed wins
        table.set(key, cert);
        this.#served.add(cert);
      }
    }
    this.SNICallback = (servername, cb) => cb(null, this.certificateFor(servername).context);
    this.socketOptions = Object.freeze({ secureContext: this.defaultCertificate.context, SNICallback: this.SNICallback });
  }

  /** The certificate for a client's server name (any case, a trailing dot allowed); the default when none covers it. */
  certificateFor(servername: string | null | undefined): ServedCertificate {
    if (!servername) return this.defaultCertificate;
    const name = normalizeName(servername);
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wildcard = this.#wildcard.get(name.slice(dot + 1));
      if (wildcard !== undefined) return wildcard;
    }
    return this.defaultCertificate;
  }

  secureContextFor(servername: string | null | undefined): tls.SecureContext {
    return this.certificateFor(servername).context;
  }

  /** Whether any name (or being the default) leads to `cert`. */
  isServed(cert: ServedCertificate): boolean {
    return this.#served.has(cert);
  }

  /**
   * Options for tls.createServer (or server.setSecureContext on a reload):
   * the server's own context decides the protocol version and the ciphers,
   * since OpenSSL keeps them when SNI switches the certificate.
   */
  serverOptions(): tls.TlsOptions {
    return {
      cert: this.#defaultPem.cert,
      key: this.#defaultPem.key,
      minVersion: TLS_MIN_VERSION,
      ciphers: this.#ciphers,
      SNICallback: this.SNICallback,
    };
  }
}

/** Reads each source's files; every file that cannot be read is named in one CertificateError. */
export function readCertificateFiles(sources: readonly CertificateSource[]): CertificateFiles[] {
  const problems: CertificateProblem[] = [];
  const read = (file: string, line: number, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why =
        e.code === 'ENOENT'
          ? 'no such file'
          : e.code === 'EACCES'
            ? 'permission denied'
            : e.code === 'EISDIR'
              ? 'is a directory'
              : e.message;
      problems.push({ line, file, message: `cannot read the ${what}: ${why}` });
      return '';
    }
  };
  const files = sources.map((s) => ({ ...s, certPem: read(s.certFile, s.line, 'certificate'), keyPem: read(s.keyFile, s.line, 'key') }));
  if (problems.length > 0) throw new CertificateError(problems);
  return files;
}

/**
 * Validates each certificate and builds its context: every error across all
 * of them in one CertificateError; warnings (expired, not yet valid, names
 * that never match) returned beside the store.
 */
export function buildCertificateStore(
  files: readonly CertificateFiles[],
  options: CertificateStoreOptions = {},
): { store: CertificateStore; warnings: CertificateProblem[] } {
  const ciphers = options.ciphers ?? TLS12_CIPHERS;
  const now = options.now ?? new Date();
  const soon = new Date(now.getTime() + (options.expiryWarningDays ?? 14) * DAY_MS);
  const errors: CertificateProblem[] = [];
  const warnings: CertificateProblem[] = [];
  if (files.length === 0) throw new CertificateError([{ line: 0, file: '(none)', message: 'TLS needs at least one certificate' }]);
  if (options.ciphers !== undefined) {
    try {
      tls.createSecureContext({ ciphers, minVersion: TLS_MIN_VERSION });
    } catch (err) {
      throw new CertificateError([
        { line: files[0].line, file: 'ciphers', message: `${JSON.stringify(ciphers)}: ${(err as Error).message}` },
      ]);
    }
  }
  const served: ServedCertificate[] = [];
  let defaultPem = { cert: '', key: '' };
  for (const f of files) {
    const cert = validate(f, ciphers, now, soon, errors, warnings);
    if (cert === null) continue;
    if (served.length === 0) defaultPem = { cert: cert.chainPem, key: f.keyPem };
    served.push(cert.served);
  }
  if (errors.length > 0) throw new CertificateError(errors);
  const store = new CertificateStore(served, ciphers, defaultPem);
  for (const cert of served) {
    if (store.isServed(cert)) continue;
    const { certFile, line } = cert.source;
    if (cert.names.length === 0)
      warnings.push({ line, file: certFile, message: 'covers no DNS name and is not listed first, so it is never served' });
    else {
      warnings.push({
        line,
        file: certFile,
        message: 'every name it covers is served by a certificate listed before it, so it is never served',
      });
    }
  }
  return { store, warnings };
}

/** readCertificateFiles, then buildCertificateStore. */
export function loadCertificateStore(
  sources: readonly CertificateSource[],
  options: CertificateStoreOptions = {},
): { store: CertificateStore; warnings: CertificateProblem[] } {
  return buildCertificateStore(readCertificateFiles(sources), options);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function validate(
  f: CertificateFiles,
  ciphers: string,
  now: Date,
  soon: Date,
  errors: CertificateProblem[],
  warnings: CertificateProblem[],
): { served: ServedCertificate; chainPem: string } | null {
  const certProblem = (message: string): null => {
    errors.push({ line: f.line, file: f.certFile, message });
    return null;
  };
  const blocks = f.certPem.match(PEM_CERTIFICATE);
  if (blocks === null) return certProblem('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  const chain: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      chain.push(new X509Certificate(blocks[i]));
    } catch (err) {
      return certProblem(`certificate ${i + 1} in the file does not parse: ${(err as Error).message}`);
    }
  }
  const leaf = chain[0];
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(f.keyPem)) {
    errors.push({ line: f.line, file: f.keyFile, message: 'the key is encrypted; tcpvs reads unencrypted keys only' });
    return null;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(f.keyPem);
  } catch (err) {
    errors.push({ line: f.line, file: f.keyFile, message: `not a PEM private key (${(err as Error).message})` });
    return null;
  }
  if (!leaf.checkPrivateKey(key)) {
    const later = chain.findIndex((c) => c.checkPrivateKey(key));
    const hint = later > 0 ? `; it matches certificate ${later + 1} there, and the server's own certificate must come first` : '';
    errors.push({ line: f.line, file: f.keyFile, message: `does not match the certificate in ${f.certFile} (${describe(leaf)})${hint}` });
    return null;
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1])) {
      warnings.push({
        line: f.line,
        file: f.certFile,
        message: `certificate ${i + 2} did not issue certificate ${i + 1}: the chain is out of order`,
      });
    }
  }
  const validFrom = new Date(leaf.validFrom);
  const validTo = new Date(leaf.validTo);
  if (now < validFrom) warnings.push({ line: f.line, file: f.certFile, message: `not valid before ${validFrom.toISOString()}` });
  if (now > validTo) warnings.push({ line: f.line, file: f.certFile, message: `expired on ${validTo.toISOString()}` });
  else if (soon > validTo) {
    const days = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
    warnings.push({ line: f.line, file: f.certFile, message: `expires on ${validTo.toISOString()}, in ${days} days` });
  }
  const { names, from, ignored } = coveredNames(leaf);
  for (const name of ignored)
    warnings.push({ line: f.line, file: f.certFile, message: `name ${JSON.stringify(name)} can never match and is ignored` });
  if (from === 'commonName') {
    warnings.push({
      line: f.line,
      file: f.certFile,
      message: 'has no subjectAltName: its names come from the subject CN, which browsers refuse',
    });
  }
  const chainPem = `${blocks.join('\n')}\n`;
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: chainPem, key: f.keyPem, minVersion: TLS_MIN_VERSION, ciphers });
  } catch (err) {
    return certProblem(`OpenSSL refuses the certificate and key: ${(err as Error).message}`);
  }
  const source = { certFile: f.certFile, keyFile: f.keyFile, line: f.line };
  const { subject, fingerprint256 } = leaf;
  return { served: { source, names, namesFrom: from, subject, fingerprint256, validFrom, validTo, context }, chainPem };
}

function describe(cert: X509Certificate): string {
  const subject = cert.subject.replace(/\n/g, ', ');
  return subject === '' ? `serial ${cert.serialNumber}` : subject;
}

// The native format's TLS termination statements (docs/tls.md):
//
//   listen HOST:PORT tls
//   certificate FILE key FILE      (one or more; the first is the default, SNI picks among them)
//   ciphers STRING                 (OpenSSL's TLS 1.2 cipher list; TLS 1.3 keeps its own)
//   strict-sni                     (a request whose Host is not the SNI name: 421)
//
// Only the statements are read here; the files are read and checked when the
// config is loaded (load.ts), so a bad certificate names its line.
import { dirname, resolve } from 'node:path';
import tls from 'node:tls';
import type { CertificateSource } from '../tls/certificates.ts';
import { TLS_MIN_VERSION } from '../tls/certificates.ts';
import type { ProblemSink } from './errors.ts';
import type { TlsSpec } from './model.ts';
import type { Token } from './tokenize.ts';

export interface TlsDraft {
  listenTls: boolean;
  certificates: CertificateSource[];
  certificateLines: number; // bad ones too, so that a bad line is not also "no certificate"
  ciphers: { text: string; line: number } | null;
  strictSni: boolean;
}

const CERTIFICATE_USAGE = 'certificate FILE key FILE';

/** One statement into `draft`; `file` is the config's, relative certificate paths are relative to its directory. */
export function tlsStatement(draft: TlsDraft, file: string, line: number, tokens: Token[], problem: ProblemSink): void {
  const keyword = tokens[0].text;
  if (keyword === 'strict-sni') {
    if (tokens.length > 1) return problem(line, keyword, `unexpected '${tokens[1].text}': usage: strict-sni`);
    draft.strictSni = true;
    return;
  }
  if (keyword === 'ciphers') {
    if (tokens.length !== 2) return problem(line, keyword, 'usage: ciphers STRING (an OpenSSL cipher list, e.g. ECDHE+AESGCM)');
    const text = tokens[1].text;
    try {
      tls.createSecureContext({ ciphers: text, minVersion: TLS_MIN_VERSION });
    } catch (err) {
      return problem(line, keyword, `OpenSSL takes no cipher from '${text}': ${(err as Error).message}`);
    }
    draft.ciphers = { text, line };
    return;
  }
  draft.certificateLines++;
  if (tokens.length !== 4 || tokens[2].text !== 'key') return problem(line, keyword, `usage: ${CERTIFICATE_USAGE}`);
  const base = dirname(file);
  draft.certificates.push({ certFile: resolve(base, tokens[1].text), keyFile: resolve(base, tokens[3].text), line });
}

/** The service's TlsSpec (its PEM text still empty), or null for a plain service; reports statements that need the other half. */
export function finishTls(draft: TlsDraft, serviceLine: number, listenLine: number, problem: ProblemSink): TlsSpec | null {
  if (!draft.listenTls) {
    const stray = draft.certificates[0]?.line ?? draft.ciphers?.line;
    if (stray !== undefined) problem(stray, 'listen', "TLS settings on a service that does not listen with 'tls' (listen HOST:PORT tls)");
    else if (draft.strictSni) problem(serviceLine, 'strict-sni', "'strict-sni' on a service that does not listen with 'tls'");
    return null;
  }
  if (draft.certificates.length === 0) {
    if (draft.certificateLines > 0) return null;
    problem(listenLine || serviceLine, 'certificate', `'listen ... tls' needs at least one '${CERTIFICATE_USAGE}' line`);
    return null;
  }
  return {
    certificates: draft.certificates.map((c) => ({ ...c, certPem: '', keyPem: '' })),
    ...(draft.ciphers === null ? {} : { ciphers: draft.ciphers.text }),
    strictSni: draft.strictSni,
  };
}

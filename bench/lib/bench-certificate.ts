// The one certificate every TLS target of a run serves: ECDSA P-256, made by
// Debian's openssl into the run's temp dir, so tcpvs and nginx do the same
// signature and key exchange work per handshake and nothing of it outlives
// the run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ensureSystemProxy, runCommand } from './system-proxies.ts';

export interface BenchCertificate {
  certFile: string;
  keyFile: string;
}

export type BenchCertificateLookup = { ok: true; certificate: BenchCertificate } | { ok: false; reason: string };

// Made once per work dir: the second TLS target reuses the first one's files.
const made = new Map<string, Promise<BenchCertificateLookup>>();

export function benchCertificate(workDir: string, allowInstall: boolean, say: (line: string) => void): Promise<BenchCertificateLookup> {
  let pending = made.get(workDir);
  if (pending === undefined) {
    pending = makeCertificate(workDir, allowInstall, say);
    made.set(workDir, pending);
  }
  return pending;
}

async function makeCertificate(workDir: string, allowInstall: boolean, say: (line: string) => void): Promise<BenchCertificateLookup> {
  const openssl = await ensureSystemProxy('openssl', ['openssl'], allowInstall, say);
  if (!('binary' in openssl)) return { ok: false, reason: `no certificate: ${openssl.reason}` };
  const certificate = { certFile: path.join(workDir, 'bench-cert.pem'), keyFile: path.join(workDir, 'bench-key.pem') };
  const result = await runCommand(openssl.binary, opensslArgs(certificate), 30_000);
  if (result.code !== 0 || !existsSync(certificate.certFile) || !existsSync(certificate.keyFile)) {
    return { ok: false, reason: `no certificate: openssl req failed: ${result.stderr.trim().split('\n').pop() ?? `exit ${result.code}`}` };
  }
  return { ok: true, certificate };
}

/** A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, valid for two days. */
export function opensslArgs(certificate: BenchCertificate): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    certificate.keyFile,
    '-out',
    certificate.certFile,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ];
}

// The DNS names a certificate covers, by browsers' rule: the DNS entries of
// subjectAltName; the subject's CN only when the certificate has no
// subjectAltName extension at all (browsers refuse even that, so the store
// warns about it). A wildcard `*.example.com` covers exactly one label, and
// only as the whole leftmost label over two labels or more.
import type { X509Certificate } from 'node:crypto';

/** Where a certificate's names come from; 'nothing' when it has none. */
export type NamesFrom = 'subjectAltName' | 'commonName' | 'nothing';

/** The DNS names a certificate covers, by browsers' rule (see the top of the file). */
export function coveredNames(cert: X509Certificate): { names: string[]; from: NamesFrom; ignored: string[] } {
  const raw: string[] = [];
  let from: NamesFrom;
  if (cert.subjectAltName !== undefined) {
    from = 'subjectAltName';
    for (const entry of splitAltNames(cert.subjectAltName)) if (entry.startsWith('DNS:')) raw.push(entry.slice(4));
  } else {
    from = 'commonName';
    // Node gives no subject at all (undefined, not '') for a certificate with an empty one.
    for (const line of (cert.subject ?? '').split('\n')) if (line.startsWith('CN=')) raw.push(line.slice(3));
  }
  const names: string[] = [];
  const ignored: string[] = [];
  for (const r of raw) {
    const name = normalizeName(r);
    if (usableName(name)) names.push(name);
    else ignored.push(r);
  }
  if (raw.length === 0) from = 'nothing';
  return { names, from, ignored };
}

/** Node's subjectAltName: "DNS:a, DNS:b, IP Address:…", a value with a comma or quote JSON-quoted. */
function splitAltNames(text: string): string[] {
  const out: string[] = [];
  const entry = /([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  let m: RegExpExecArray | null;
  while ((m = entry.exec(text)) !== null && m[0] !== '') {
    const value = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
    out.push(`${m[1]}:${value}`);
  }
  return out;
}

/** An LDH name; a wildcard only as the whole leftmost label, over two labels or more (browsers refuse `*.com`). */
function usableName(name: string): boolean {
  const host = name.startsWith('*.') ? name.slice(2) : name;
  if (!/^[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$/.test(host) || host.length > 253) return false;
  return !name.startsWith('*.') || host.includes('.');
}

export function normalizeName(name: string): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return /[A-Z]/.test(trimmed) ? trimmed.toLowerCase() : trimmed;
}

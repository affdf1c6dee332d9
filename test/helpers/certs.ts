// Certificates a test makes for itself with Debian's `openssl`: a CA, leaf
// certificates with given names and validity signed by it, and keys that
// match nothing, in a temp dir the caller removes at teardown. `openssl ca`
// signs (not `x509 -req`) because only it takes explicit start and end dates,
// which expired and not-yet-valid certificates need.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return null;
}

/**
 * The openssl binary, installed with apt-get when missing (as root, or with
 * sudo), as .ci/run installs what other tests need; a reason to skip when it
 * cannot be had.
 */
export function ensureOpenssl(): { path: string } | { skip: string } {
  const found = onPath('openssl');
  if (found !== null) return { path: found };
  if (onPath('apt-get') === null) return { skip: 'no openssl on PATH and no apt-get to install it' };
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const argv = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '--no-install-recommends', 'openssl'];
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 180_000 });
  const installed = onPath('openssl');
  if (r.status === 0 && installed !== null) return { path: installed };
  return { skip: 'no openssl on PATH, and `apt-get install openssl` failed (run it as root)' };
}

export interface LeafSpec {
  /** The subject's CN; none when omitted. */
  cn?: string;
  /** subjectAltName DNS entries; no SAN extension when omitted, an IP-only SAN with `ipOnly`. */
  dns?: string[];
  /** A SAN extension holding only this IP address (so no DNS names at all). */
  ipOnly?: string;
  /** Validity as [start, end] dates; now − 1 h to now + 30 days when omitted. */
  validity?: [Date, Date];
  keyType?: 'ec' | 'rsa';
}

export interface IssuedCert {
  certFile: string; // the leaf followed by the CA, as a server sends its chain
  leafFile: string; // the leaf alone
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface TestCa {
  dir: string;
  caFile: string;
  caPem: string;
  issue(name: string, spec: LeafSpec): IssuedCert;
  /** A key that matches no certificate. */
  strayKey(name: string): string;
  cleanup(): void;
}

const CA_CONFIG = `[ca]
default_ca = test
[test]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = optional
`;

/** "YYYYMMDDHHMMSSZ", the form `openssl ca -startdate` takes. */
function asn1Time(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function createTestCa(openssl: string, label = 'tcpvs test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'tcpvs-certs-'));
  const run = (args: string[]): void => {
    execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'db', 'index.txt'), '');
  writeFileSync(join(dir, 'db', 'serial'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-subj',
    `/CN=${label}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const newKey = (file: string, type: 'ec' | 'rsa'): void =>
    run(
      type === 'ec'
        ? ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]
        : ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file],
    );
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caPem,
    issue(name, spec) {
      const keyFile = join(dir, `${name}.key`);
      newKey(keyFile, spec.keyType ?? 'ec');
      run(['req', '-new', '-key', keyFile, '-subj', spec.cn === undefined ? '/' : `/CN=${spec.cn}`, '-out', `${name}.csr`]);
      const ext = [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
      ];
      // a section, one entry a line, so a name may hold a comma (as hostile certificates do)
      const alt = spec.dns !== undefined ? spec.dns.map((d, i) => `DNS.${i + 1} = ${d}`) : [];
      if (spec.dns !== undefined) ext.push('subjectAltName=@alt');
      else if (spec.ipOnly !== undefined) ext.push(`subjectAltName=IP:${spec.ipOnly}`);
      writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n[alt]\n${alt.join('\n')}\n`);
      const now = Date.now();
      const [start, end] = spec.validity ?? [new Date(now - 3600_000), new Date(now + 30 * 86400_000)];
      const leafFile = join(dir, `${name}.leaf.pem`);
      run([
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-cert',
        'ca.pem',
        '-keyfile',
        'ca.key',
        '-in',
        `${name}.csr`,
        '-out',
        leafFile,
        '-startdate',
        asn1Time(start),
        '-enddate',
        asn1Time(end),
        '-extfile',
        `${name}.ext`,
        '-notext',
      ]);
      const certPem = readFileSync(leafFile, 'utf8') + caPem;
      const certFile = join(dir, `${name}.pem`);
      writeFileSync(certFile, certPem);
      return { certFile, leafFile, keyFile, certPem, keyPem: readFileSync(keyFile, 'utf8') };
    },
    strayKey(name) {
      const file = join(dir, `${name}.key`);
      newKey(file, 'ec');
      return file;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

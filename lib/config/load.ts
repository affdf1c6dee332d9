// Reading a rule-set file and choosing its parser. A file whose first
// significant line opens a `virtual NAME {` block is a KTCPVS config; anything
// else is tcpvs's native format.

import { readFileSync } from 'node:fs';
import type { Config } from './model.ts';
import { ConfigError, type ConfigProblem } from './errors.ts';
import { parseNativeConfig } from './native.ts';
import { parseKtcpvsConfig } from './ktcpvs.ts';
import { sortProblems } from './tokenize.ts';
import { loadUpstreamTls } from '../tls/upstream.ts';
import { buildCertificateStore, CertificateError, type CertificateProblem, readCertificateFiles } from '../tls/certificates.ts';

export type ConfigFormat = Config['format'];

export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new ConfigError([{ file: path, line: 0, field: 'file', message: `cannot read config: ${why}` }]);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, file: string): Config {
  // Strip a UTF-8 byte-order mark some editors write.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const config = detectFormat(body) === 'ktcpvs' ? parseKtcpvsConfig(body, file) : parseNativeConfig(body, file);
  readServiceCertificates(config);
  readServerCaFiles(config);
  return config;
}

/**
 * Reads and checks every TLS service's certificate files into its spec, so
 * that a missing or unreadable file, a key that does not match or a broken
 * chain is a config error naming the line and the file (an expired
 * certificate: a warning), and a reload that cannot use its certificates
 * changes nothing. The data paths build their contexts from the PEM text.
 */
function readServiceCertificates(config: Config): void {
  const problems: ConfigProblem[] = [];
  const asProblem = (p: CertificateProblem): ConfigProblem => ({
    file: config.file,
    line: p.line,
    field: 'certificate',
    message: `${p.file}: ${p.message}`,
  });
  let warned = false;
  for (const service of config.services) {
    const tls = service.tls;
    if (tls === undefined) continue;
    try {
      const files = readCertificateFiles(tls.certificates);
      const { warnings } = buildCertificateStore(files, tls.ciphers === undefined ? {} : { ciphers: tls.ciphers });
      tls.certificates = files;
      for (const w of warnings) config.warnings.push(asProblem(w));
      warned ||= warnings.length > 0;
    } catch (err) {
      if (!(err instanceof CertificateError)) throw err;
      problems.push(...err.problems.map(asProblem));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (warned) config.warnings = sortProblems(config.warnings);
}

/**
 * Reads each `server ... tls verify CA-FILE` file into its spec and checks
 * the `sni` names, so that a missing or broken CA file is a config error
 * naming the line and the file; the data paths build connectors from the text.
 */
function readServerCaFiles(config: Config): void {
  const problems: ConfigProblem[] = [];
  for (const service of config.services) {
    for (const group of service.groups) {
      for (const server of group.servers) {
        const tls = server.tls;
        if (tls === undefined) continue;
        try {
          const settings = loadUpstreamTls({
            verify: tls.verify === 'ca' ? { caFile: tls.caFile! } : tls.verify,
            sni: tls.sni,
            line: tls.line,
          });
          if (typeof settings.verify === 'object') tls.caPem = settings.verify.caPem;
        } catch (err) {
          if (!(err instanceof CertificateError)) throw err;
          for (const p of err.problems)
            problems.push({ file: config.file, line: p.line, field: 'server.tls', message: `${p.file}: ${p.message}` });
        }
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(sortProblems(problems));
}

const KTCPVS_OPENING = /^\s*virtual\s+\S+\s*\{/;

export function detectFormat(text: string): ConfigFormat {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    return KTCPVS_OPENING.test(trimmed) ? 'ktcpvs' : 'native';
  }
  return 'native';
}

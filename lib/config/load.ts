// Reading a rule-set file and choosing its parser. A file whose first
// significant line opens a `virtual NAME {` block is a KTCPVS config; anything
// else is tcpvs's native format.

import { readFileSync } from 'node:fs';
import type { Config } from './model.ts';
import { ConfigError } from './errors.ts';
import { parseNativeConfig } from './native.ts';
import { parseKtcpvsConfig } from './ktcpvs.ts';

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
  return detectFormat(body) === 'ktcpvs' ? parseKtcpvsConfig(body, file) : parseNativeConfig(body, file);
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

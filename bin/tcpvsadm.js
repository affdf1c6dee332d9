#!/usr/bin/env node
// The `tcpvsadm` command: dist/tcpvsadm.js in an installed package, the
// TypeScript source in a checkout (see tcpvs.js beside this file).
import { existsSync } from 'node:fs';

const source = new URL('../tcpvsadm.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/tcpvsadm.js', import.meta.url).href);

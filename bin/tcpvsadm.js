#!/usr/bin/env node
// The `tcpvsadm` command: dist/tcpvsadm.js in an installed package, the
// TypeScript source in a checkout (see tcpvs.js beside this file).
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node's compile cache keeps each module's compiled code, and in a checkout
// its type-stripped text, in the temp directory (NODE_DISABLE_COMPILE_CACHE=1
// turns it off): without it, every run of an admin command pays for loading
// the TypeScript stripper, more than the command itself takes.
module.enableCompileCache?.(); // Node 22.1 and later

const source = new URL('../tcpvsadm.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/tcpvsadm.js', import.meta.url).href);

#!/usr/bin/env node
// The `tcpvs` command. In an installed package it runs the built JavaScript
// (dist/index.js: Node does not strip types under node_modules); in a checkout,
// where `npx tcpvs` finds it too, the TypeScript sources, which the pinned
// Node 26 runs as they are (a stale dist/ from `npm pack` is never used there).
import { existsSync } from 'node:fs';
import module from 'node:module';

// The compile cache, as in tcpvsadm.js: `tcpvs ipvsadm` and the other quick
// commands start without loading the TypeScript stripper again.
module.enableCompileCache?.(); // Node 22.1 and later

const source = new URL('../index.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/index.js', import.meta.url).href);

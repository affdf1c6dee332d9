#!/usr/bin/env node
// tcpvsadm: KTCPVS's tcpvsadm(8), and tcpvs's own service, group and route
// commands, against the running tcpvs's admin socket. See docs-tcpvsadm.md.
import { main } from './lib/tcpvsadm/main.ts';

await main();

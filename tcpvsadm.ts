#!/usr/bin/env node
// tcpvsadm: KTCPVS's tcpvsadm(8), and tcpvs's own service, group and route
// commands, against the running tcpvs's admin socket. See
// docs/operations.md#tcpvsadm-changing-a-running-tcpvs (and man/tcpvsadm.8).
import { main } from './lib/tcpvsadm/main.ts';

await main();

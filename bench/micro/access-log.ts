// The access log line, serialised into a destination that only keeps the
// last line: as pino writes it from an object (what ClientSession did before)
// and as AccessLog builds it (what ClientSession does now). The file write is
// left out: in a loop this tight, pino's asynchronous destination only piles
// lines up, which says nothing about its cost under real traffic.
import pino from 'pino';
import { AccessLog } from '../../lib/log/access-log.ts';
import { measure } from './harness.ts';

let last = '';
const log = pino({ level: 'info', base: { pid: process.pid } }, { write: (line: string) => (last = line) });
const access = new AccessLog(log);
const f = {
  client: '192.0.2.7',
  method: 'GET',
  path: '/static/app.js',
  rule: 'js',
  group: 'static',
  server: '10.0.0.1:80',
  status: 200,
  bytesIn: 120,
  bytesOut: 300,
  ms: 0.412,
};

measure(
  [
    {
      name: 'access log line (pino, object of 10 fields)',
      run: () => {
        log.info(f, 'request');
        return last;
      },
    },
    {
      name: 'access log line (AccessLog)',
      run: () => {
        access.write(Date.now(), f.client, f.method, f.path, f.rule, f.group, f.server, f.status, f.bytesIn, f.bytesOut, f.ms);
        return last;
      },
    },
  ],
  Number(process.env.MICRO_ITERATIONS ?? 300_000),
);

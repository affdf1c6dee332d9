// The access log line (lib/log/logger.ts with pino, as ClientSession.logAccess
// writes it) to /dev/null: what one request's line costs, the write included.
import { createLogger } from '../../lib/log/logger.ts';
import { measure } from './harness.ts';

const log = createLogger({ level: 'info', destination: '/dev/null' });
const fields = { client: '192.0.2.7', method: 'GET', path: '/static/app.js', rule: 'js', group: 'static', server: '10.0.0.1:80', status: 200, bytesIn: 120, bytesOut: 300, ms: 0.412 };

measure([{ name: 'access log line (pino, 10 fields)', run: () => log.info(fields, 'request') }], Number(process.env.MICRO_ITERATIONS ?? 300_000));

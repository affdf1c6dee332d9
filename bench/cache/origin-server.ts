// The origin behind every cache node: answers GET <object path> with the
// object's body after a fixed delay, so a cache miss costs real time. The delay
// can be changed at run time (POST /_delay?ms=N) so warm-ups can fill the caches
// fast and the measurement still pays the full price of every miss.
//   node bench/cache/origin-server.ts PORT DELAY_MS BODY_BYTES
import http from 'node:http';
import { exitWhenParentGoes, portArg } from '../lib/child-guard.ts';
import { objectBody } from './object-body.ts';

const port = portArg(0, 'origin-server.ts PORT DELAY_MS BODY_BYTES');
let delayMs = Number(process.argv[3]);
const bodyBytes = Number(process.argv[4]);
if (!Number.isInteger(delayMs) || delayMs < 0 || !Number.isInteger(bodyBytes) || bodyBytes < 1) {
  process.stderr.write('usage: origin-server.ts PORT DELAY_MS BODY_BYTES\n');
  process.exit(2);
}
let served = 0;

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/_delay')) {
    const ms = Number(new URL(url, 'http://origin').searchParams.get('ms'));
    if (req.method !== 'POST' || !Number.isInteger(ms) || ms < 0) {
      res.writeHead(400, ['Content-Length', '0']);
      res.end();
      return;
    }
    delayMs = ms;
    res.writeHead(204);
    res.end();
    return;
  }
  if (url === '/_stats') {
    const text = JSON.stringify({ served, delayMs });
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(text))]);
    res.end(text);
    return;
  }
  const body = objectBody(url, bodyBytes);
  const answer = (): void => {
    served++;
    res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(body.length)]);
    res.end(body);
  };
  if (delayMs === 0) answer();
  else setTimeout(answer, delayMs);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, '127.0.0.1');
exitWhenParentGoes();

// The bare backend every proxy forwards to: GET /100b and GET /64k with
// preallocated bodies and headers, keep-alive on. Run as its own process:
//   node bench/lib/backend-server.ts PORT
import http from 'node:http';
import { BODY_SIZES, bodyPath, makeBody } from './bodies.ts';
import { exitWhenParentGoes, portArg } from './child-guard.ts';

interface PreparedResponse {
  headers: string[]; // raw [name, value, ...]: Node skips header-object handling
  body: Buffer;
}

const port = portArg(0, 'backend-server.ts PORT');
const responses = new Map<string, PreparedResponse>();
for (const size of BODY_SIZES) {
  const body = makeBody(size.bytes);
  responses.set(bodyPath(size), {
    headers: ['Content-Type', 'application/octet-stream', 'Content-Length', String(body.length)],
    body,
  });
}
const notFound: PreparedResponse = { headers: ['Content-Length', '0'], body: Buffer.alloc(0) };

const server = http.createServer((req, res) => {
  const prepared = (req.url !== undefined && responses.get(req.url)) || notFound;
  res.writeHead(prepared === notFound ? 404 : 200, prepared.headers);
  res.end(prepared.body);
});
// Proxies' pooled connections sit idle while other targets are measured; a short
// server idle timeout would race with their reuse and show up as proxy errors.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, '127.0.0.1');
exitWhenParentGoes();

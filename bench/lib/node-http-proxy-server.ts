// node-http-proxy (the `http-proxy` package) in front of the backend, with a
// keep-alive agent as its README recommends for throughput. Run as its own process:
//   node bench/lib/node-http-proxy-server.ts LISTEN_PORT BACKEND_PORT
import http from 'node:http';
import { createRequire } from 'node:module';
import { exitWhenParentGoes, portArg } from './child-guard.ts';

// http-proxy ships no types; this is the part of its API used here.
interface ProxyServer {
  web(req: http.IncomingMessage, res: http.ServerResponse): void;
  on(event: 'error', listener: (err: Error, req: http.IncomingMessage, res: http.ServerResponse) => void): void;
}
interface HttpProxyModule {
  createProxyServer(options: { target: string; agent: http.Agent; xfwd?: boolean }): ProxyServer;
}

const listenPort = portArg(0, 'node-http-proxy-server.ts LISTEN_PORT BACKEND_PORT');
const backendPort = portArg(1, 'node-http-proxy-server.ts LISTEN_PORT BACKEND_PORT');
const httpProxy = createRequire(import.meta.url)('http-proxy') as HttpProxyModule;

const proxy = httpProxy.createProxyServer({
  target: `http://127.0.0.1:${backendPort}`,
  agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
});
proxy.on('error', (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502, { 'Content-Length': '0' });
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 120_000;
server.listen(listenPort, '127.0.0.1');
exitWhenParentGoes();

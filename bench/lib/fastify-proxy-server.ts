// @fastify/http-proxy (undici pool underneath) in front of the backend, logger
// off. Run as its own process:
//   node bench/lib/fastify-proxy-server.ts LISTEN_PORT BACKEND_PORT
import Fastify from 'fastify';
import fastifyHttpProxy from '@fastify/http-proxy';
import { exitWhenParentGoes, portArg } from './child-guard.ts';

const listenPort = portArg(0, 'fastify-proxy-server.ts LISTEN_PORT BACKEND_PORT');
const backendPort = portArg(1, 'fastify-proxy-server.ts LISTEN_PORT BACKEND_PORT');

const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });
await app.register(fastifyHttpProxy, { upstream: `http://127.0.0.1:${backendPort}` });
await app.listen({ host: '127.0.0.1', port: listenPort });
exitWhenParentGoes();

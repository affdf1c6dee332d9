// The bare Node TCP pipe: every client connection gets its own connection to
// the backend and the bytes are piped both ways, with no parsing at all. What
// Node's sockets cost with no HTTP work: the floor a Node proxy can reach.
// Run as its own process:
//   node bench/lib/tcp-pipe-server.ts LISTEN_PORT BACKEND_PORT
import net from 'node:net';
import { exitWhenParentGoes, portArg } from './child-guard.ts';

const listenPort = portArg(0, 'tcp-pipe-server.ts LISTEN_PORT BACKEND_PORT');
const backendPort = portArg(1, 'tcp-pipe-server.ts LISTEN_PORT BACKEND_PORT');

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(listenPort, '127.0.0.1');
exitWhenParentGoes();

// Whom a service takes PROXY headers from (lib/proxy/proxy-trust.ts), with
// real sockets on 127.0.0.1 for the peer and local addresses the rule reads.
import t, { type Test } from 'tap';
import net from 'node:net';
import { acceptsProxy, proxySourceTrusted } from '../../lib/proxy/proxy-trust.ts';
import type { ServiceSpec } from '../../lib/config/model.ts';
import { parseNetwork, type Network } from '../../lib/net/networks.ts';

function spec(fields: Partial<ServiceSpec>): ServiceSpec {
  return fields as ServiceSpec;
}

function network(text: string): Network {
  const n = parseNetwork(text);
  if (typeof n === 'string') throw new Error(`bad network ${text}: ${n}`);
  return n;
}

/** The accepted side of a connection from 127.0.0.1 to 127.0.0.1. */
async function accepted(t: Test): Promise<net.Socket> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  const socket = await got;
  t.teardown(() => {
    client.destroy();
    socket.destroy();
    server.close();
  });
  return socket;
}

t.test('acceptsProxy: accept-proxy, or a real self of the L4 core', async (t) => {
  t.equal(acceptsProxy(spec({})), false);
  t.equal(acceptsProxy(spec({ acceptProxy: [network('10.0.0.0/8')] })), true);
  t.equal(acceptsProxy(spec({ acceptProxyFromL4: true })), true);
  t.equal(acceptsProxy(spec({ acceptProxyFromL4: false })), false);
});

t.test('proxySourceTrusted: a peer in accept-proxy from, or this host for the L4 core', async (t) => {
  const socket = await accepted(t);
  t.equal(proxySourceTrusted(spec({ acceptProxy: [network('127.0.0.0/8')] }), socket), true, 'peer in the network');
  t.equal(proxySourceTrusted(spec({ acceptProxy: [network('10.0.0.0/8')] }), socket), false, 'peer outside it');
  t.equal(proxySourceTrusted(spec({ acceptProxyFromL4: true }), socket), true, "the host's own address (peer = local address)");
  t.equal(proxySourceTrusted(spec({}), socket), false, 'neither');
});

// UDP through the user-space L4 core: forwarding, per-client flows, idle expiry.
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import { addServiceOnFreePort, realServer, waitFor, withTimeout } from '../userspace-helpers.ts';
import { newCore, udpBackends } from '../userspace-helpers.ts';

/** A client socket that sends a datagram and waits for the reply. */
class UdpClient {
  readonly socket = dgram.createSocket('udp4');
  private readonly replies: Buffer[] = [];

  async bind(address = '127.0.0.1'): Promise<this> {
    this.socket.on('message', (msg) => this.replies.push(msg));
    await new Promise<void>((resolve) => this.socket.bind(0, address, resolve));
    return this;
  }

  async ask(port: number, payload: string): Promise<string> {
    const before = this.replies.length;
    this.socket.send(payload, port, '127.0.0.1');
    const ok = await waitFor(() => this.replies.length > before, 2000);
    if (!ok) throw new Error(`no reply to "${payload}"`);
    return this.replies[before].toString();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

async function client(t: Test, address?: string): Promise<UdpClient> {
  const c = await new UdpClient().bind(address);
  t.teardown(() => c.close());
  return c;
}

t.test('datagrams go through and back, and one client stays on one server', async (t) => {
  const servers = await udpBackends(t, ['u1', 'u2', 'u3']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'udp', 'rr');
  for (const s of servers) await core.addRealServer(key, realServer(s.port));

  const first = await client(t);
  const replies: string[] = [];
  for (let i = 0; i < 5; i++) replies.push(await first.ask(key.port, `ping${i}`));
  t.same(replies, ['u1:ping0', 'u1:ping1', 'u1:ping2', 'u1:ping3', 'u1:ping4'], 'one flow, one server, replies intact');
  const second = await client(t);
  t.equal(await second.ask(key.port, 'hello'), 'u2:hello', 'another client port is another flow: rr moves on');
  const third = await client(t);
  t.equal(await third.ask(key.port, 'hi'), 'u3:hi');

  const entries = await core.connections();
  t.equal(entries.length, 3);
  for (const entry of entries) {
    t.equal(entry.protocol, 'udp');
    t.equal(entry.state, 'UDP');
    t.equal(entry.virtual, `127.0.0.1:${key.port}`);
    t.ok(entry.expiresInSec > 290 && entry.expiresInSec <= 300, 'IPVS udp timeout by default');
  }
  t.same(entries.map((e) => e.source).sort(), [first, second, third].map((c) => `127.0.0.1:${c.socket.address().port}`).sort());
  t.equal(servers[0].peers.size, 1, 'the server saw one source for the five datagrams');

  const [status] = await core.list();
  t.equal(status.stats.conns, 3);
  t.equal(status.stats.inPackets, 7);
  t.equal(status.stats.outPackets, 7);
  t.equal(status.stats.inBytes, 5 * 5 + 5 + 2);
  t.equal(status.stats.outBytes, status.stats.inBytes + 7 * 3, 'each reply carries the "uN:" prefix');
  t.same(
    status.realServers.map((s) => [s.activeConns, s.inactiveConns]),
    [
      [0, 1],
      [0, 1],
      [0, 1],
    ],
    'UDP flows count as inactive, as ipvsadm shows them',
  );
});

t.test('an idle flow expires; the client is then scheduled afresh', async (t) => {
  const servers = await udpBackends(t, ['i1', 'i2']);
  const core = newCore(t, { udpIdleMs: 300 });
  const key = await addServiceOnFreePort(core, 'udp', 'rr');
  for (const s of servers) await core.addRealServer(key, realServer(s.port));
  const c = await client(t);
  t.equal(await c.ask(key.port, 'a'), 'i1:a');
  // Traffic within the idle time keeps the flow.
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 120));
    t.equal(await c.ask(key.port, 'b'), 'i1:b');
  }
  t.ok(await waitFor(async () => (await core.connections()).length === 0, 2000), 'the flow expires when idle');
  t.equal(await c.ask(key.port, 'c'), 'i2:c', 'a new flow, scheduled by rr to the next server');
  const [status] = await core.list();
  t.same(
    status.realServers.map((s) => s.inactiveConns),
    [0, 1],
  );
});

t.test('UDP persistence pins a client across flows', async (t) => {
  const servers = await udpBackends(t, ['pu1', 'pu2']);
  const core = newCore(t, { udpIdleMs: 200 });
  const key = await addServiceOnFreePort(core, 'udp', 'rr', { timeoutSec: 5, netmask: '255.255.255.0' });
  for (const s of servers) await core.addRealServer(key, realServer(s.port));
  const one = await client(t, '127.0.0.2');
  const two = await client(t, '127.0.0.3');
  t.equal(await one.ask(key.port, 'x'), 'pu1:x');
  t.equal(await two.ask(key.port, 'y'), 'pu1:y', 'the /24 neighbour shares the pin');
  t.ok(await waitFor(async () => (await core.connections()).every((c) => c.state === 'NONE'), 2000));
  t.equal(await one.ask(key.port, 'z'), 'pu1:z', 'the template outlives the flow');
  const templates = (await core.connections()).filter((c) => c.state === 'NONE');
  t.same(
    templates.map((c) => [c.protocol, c.source]),
    [['udp', '127.0.0.0:0']],
  );
});

t.test('a UDP service is deleted with its flows; its port is free again', async (t) => {
  const [s] = await udpBackends(t, ['d1']);
  const core = newCore(t);
  const key = await addServiceOnFreePort(core, 'udp', 'rr');
  await core.addRealServer(key, realServer(s.port));
  const c = await client(t);
  t.equal(await c.ask(key.port, 'q'), 'd1:q');
  await core.deleteService(key);
  t.same(await core.connections(), []);
  await core.addService({ key, scheduler: 'rr', persistence: null });
  await core.addRealServer(key, realServer(s.port));
  t.equal(await withTimeout(c.ask(key.port, 'again'), 3000, 'ask'), 'd1:again', 're-added on the same port');
});

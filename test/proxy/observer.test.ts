// Observers hear of every connection and of every request's end, with the
// outcome that statistics and passive health checks need.
import t from 'tap';
import net from 'node:net';
import { startIdentityBackend } from '../helpers/backends.ts';
import { deadPort } from '../helpers/refuse-helpers.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, quietFor, waitUntil } from '../helpers/wait.ts';
import type { RequestRecord, ServiceObserver } from '../../lib/proxy/observer.ts';

interface Seen {
  opened: number;
  closed: number;
  ends: Array<Omit<RequestRecord, 'group' | 'server'> & { group: string | null; server: string | null }>;
}

function recorder(): { observer: ServiceObserver; seen: Seen } {
  const seen: Seen = { opened: 0, closed: 0, ends: [] };
  return {
    seen,
    observer: {
      connectionOpened: () => void seen.opened++,
      connectionClosed: () => void seen.closed++,
      requestEnded: (r) => void seen.ends.push({ ...r, group: r.group?.name ?? null, server: r.server?.name ?? null }),
    },
  };
}

t.test('outcomes: ok, refused, connect-failed, upstream-failed, aborted', async (t) => {
  const ok = await startIdentityBackend('ok');
  const reset = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise<void>((r) => reset.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    await ok.close();
    await new Promise<void>((r) => reset.close(() => r()));
  });
  const dead = await deadPort();
  const tcpvs = await startTcpvs(
    serviceConfig({
      groups: [
        { name: 'good', servers: [ok.port] },
        { name: 'dead', servers: [dead] },
        { name: 'resets', servers: [(reset.address() as net.AddressInfo).port] },
      ],
      routes: ['d prefix /dead to dead', 'r prefix /reset to resets', 'g prefix /good to good'],
    }),
  );
  t.teardown(() => tcpvs.close());
  const { observer, seen } = recorder();
  tcpvs.running.services[0].observers.push(observer);

  const c = await RawClient.connect(tcpvs.port);
  c.write(requestHead('GET', '/good/1'));
  await c.readResponse();
  c.write(requestHead('GET', '/nowhere'));
  await c.readResponse();
  c.write(requestHead('GET', '/dead/x'));
  await c.readResponse();
  c.close();
  const c2 = await RawClient.connect(tcpvs.port);
  c2.write(requestHead('GET', '/reset/x'));
  await c2.readResponse();
  c2.close();
  // A client that resets while its request is being served (a FIN alone
  // would be a half-close, which still gets its answer).
  const c3 = net.connect(tcpvs.port, '127.0.0.1');
  await new Promise<void>((r) => c3.once('connect', () => r()));
  c3.write(requestHead('GET', '/good/slow?delay=500'));
  // Reset once the backend holds the request (it answers 500 ms later).
  await waitUntil(() => ok.requests.some((r) => r.url.startsWith('/good/slow')), 5000, 'the slow request at the backend');
  c3.resetAndDestroy();
  await pollUntil(() => seen.ends.length >= 5, 5000);
  await quietFor(50, 'a sixth requestEnded');

  t.match(seen.ends, [
    { outcome: 'ok', status: 200, group: 'good', server: `127.0.0.1:${ok.port}` },
    { outcome: 'refused', status: 404, group: null, server: null },
    { outcome: 'connect-failed', status: 502, group: 'dead', server: `127.0.0.1:${dead}` },
    { outcome: 'upstream-failed', status: 502, group: 'resets' },
    { outcome: 'aborted', group: 'good' },
  ]);
  t.equal(seen.ends.length, 5, 'exactly one end per request');
  t.ok(seen.ends.every((e) => e.durationMs >= 0 && e.service === 'test'));
  t.ok(seen.ends[0].bytesIn > 0 && seen.ends[0].bytesOut > 0);
  t.equal(seen.opened, 3);
  await pollUntil(() => seen.closed >= 3, 5000);
  t.equal(seen.closed, 3, 'every connection reported closed once');
});

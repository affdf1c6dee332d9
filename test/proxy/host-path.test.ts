// Issue 11, "one host, one path", through a running tcpvs over raw sockets:
// each vector either reaches exactly one backend with exactly the bytes
// expected (request line and Host as forwarded), or is refused with the
// backends receiving zero bytes. Routes: host admin.internal and prefix
// /admin/ go to `admin`, prefix /static/ to `static`, path /secret to
// `admin`, everything else to `web`. The vectors, each with the rule it
// checks, are data in test/corpus/requests.ts (hostPathVectors).
import t from 'tap';
import type { Test } from 'tap';
import { startRecordingBackend, type RecordingBackend } from '../helpers/refuse-helpers.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { serviceConfig, startTcpvs, type ServiceDef } from '../helpers/tcpvs.ts';
import {
  HOST_PATH_ROUTES,
  hostPathVectors as vectors,
  requestText as request,
  upstreamHead as upstream,
  type HostPathBackend as Name,
} from '../corpus/requests.ts';

const backends: Record<Name, RecordingBackend> = {
  web: await startRecordingBackend(),
  static: await startRecordingBackend(),
  admin: await startRecordingBackend(),
};
const def = (extra: string[]): ServiceDef => ({
  groups: (Object.keys(backends) as Name[]).map((name) => ({ name, servers: [backends[name].port] })),
  routes: HOST_PATH_ROUTES,
  defaultGroup: 'web',
  extra,
});
const plain = await startTcpvs(serviceConfig(def([])));
const forward = await startTcpvs(serviceConfig(def(['normalize-path forward'])));
t.teardown(async () => {
  await plain.close();
  await forward.close();
  for (const b of Object.values(backends)) await b.close();
});

const SENTINELS: Record<Name, string> = { web: '/sentinel', static: '/static/sentinel', admin: '/admin/sentinel' };

async function send(port: number, bytes: string, head: boolean): Promise<{ status: number; body: string; closed: boolean }> {
  const c = await RawClient.connect(port);
  try {
    c.write(bytes);
    const res = await c.readResponse({ head });
    const closed = res.status >= 400 ? await c.waitEnd() : false;
    return { status: res.status, body: res.body.toString('latin1'), closed };
  } finally {
    c.close();
  }
}

/** Each backend's bytes since the vector are exactly one sentinel request sent after it: the vector sent them nothing. */
async function expectNothingReached(t: Test): Promise<void> {
  for (const name of Object.keys(backends) as Name[]) {
    const res = await send(plain.port, request(`GET ${SENTINELS[name]} HTTP/1.1`, 'Host: test'), false);
    t.equal(res.status, 200, `sentinel to ${name}`);
    t.equal(
      backends[name].received().toString('latin1'),
      upstream(`GET ${SENTINELS[name]}`, 'test'),
      `${name} received zero bytes of the vector`,
    );
  }
}

t.test(`${vectors.length} vectors`, async (t) => {
  t.ok(vectors.length >= 25);
  for (const v of vectors) {
    await t.test(`${v.name} → ${v.status}${v.to === undefined ? '' : ' at ' + v.to}`, async (t) => {
      t.comment(v.rule);
      for (const b of Object.values(backends)) b.reset();
      const res = await send(v.forward === true ? forward.port : plain.port, v.send, false);
      t.equal(res.status, v.status, 'status');
      if (v.to === undefined) {
        t.ok(res.closed, 'the connection is closed after the refusal');
        return expectNothingReached(t);
      }
      for (const name of Object.keys(backends) as Name[]) {
        const got = backends[name].received().toString('latin1');
        if (name === v.to) t.equal(got, v.bytes, `${name} received exactly the forwarded head`);
        else t.equal(got, '', `${name} received nothing`);
      }
    });
  }
});

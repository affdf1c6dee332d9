// bench/compare-proxies.ts's pure half: the corpus it loads (issue 11: at
// least 100 request vectors and 30 malicious-server cases, each with its RFC
// note), the per-profile configs of the three proxies, its response reader
// and its comparison. No proxy is started here.
import t from 'tap';
import {
  agreement,
  bytesOf,
  configFor,
  formatTable,
  loadCompareCorpus,
  readResponses,
  requestKey,
  responseKey,
  tcpvsAsExpected,
  type RequestOutcome,
} from '../../bench/lib/compare-corpus.ts';

t.test('the corpus: counts, unique ids, an RFC note on each', async (t) => {
  const { requests, responses } = loadCompareCorpus();
  t.ok(requests.length >= 100, `${requests.length} request vectors`);
  t.ok(responses.length >= 30, `${responses.length} malicious-server cases`);
  const ids = [...requests, ...responses].map((c) => c.id);
  t.equal(new Set(ids).size, ids.length, 'ids are unique');
  for (const c of [...requests, ...responses]) {
    if (!/RFC \d{4}/.test(c.rule)) t.fail(`${c.id}: no RFC in its note`);
  }
  t.same([...new Set(requests.map((v) => v.profile))].sort(), ['default', 'forward', 'limits'], 'three profiles');
  for (const v of requests) {
    if (v.tcpvs.forwarded && !v.tcpvs.statuses.every((s) => s < 300)) t.fail(`${v.id}: forwarded but refused`);
    if (v.request !== bytesOf(v.request).toString('latin1')) t.fail(`${v.id}: not a byte string`);
  }
});

t.test('--filter keeps the cases whose id contains it, any case', async (t) => {
  const { requests, responses } = loadCompareCorpus('TRAILER');
  t.ok(requests.length > 5 && requests.every((v) => /trailer/i.test(v.id)));
  t.ok(responses.length > 2 && responses.every((c) => /trailer/i.test(c.id)));
  t.same(loadCompareCorpus('no such vector'), { requests: [], responses: [] });
});

t.test("configs: the bench configs with each profile spelled the proxy's way", async (t) => {
  const input = { listenPort: 8001, backendPort: 9001, workDir: '/tmp/x' };
  t.match(configFor('tcpvs', 'default', input), /listen 127\.0\.0\.1:8001\n {2}group/);
  t.match(configFor('tcpvs', 'limits', input), /listen 127\.0\.0\.1:8001\n {2}limit uri 1k\n {2}limit headers 4k\n/);
  t.match(configFor('tcpvs', 'forward', input), /\n {2}normalize-path forward\n/);
  t.match(configFor('nginx', 'default', input), /proxy_pass http:\/\/backend;/);
  t.match(configFor('nginx', 'limits', input), /listen 127\.0\.0\.1:8001;\n {4}large_client_header_buffers 4 1k;/);
  t.match(configFor('nginx', 'forward', input), /proxy_pass http:\/\/backend\/;/);
  t.match(configFor('haproxy', 'limits', input), /tune\.bufsize 5120[\s\S]*url_len gt 1024[\s\S]*default_backend/);
  t.match(
    configFor('haproxy', 'forward', input),
    /expose-experimental-directives[\s\S]*normalize-uri path-strip-dotdot[\s\S]*default_backend/,
  );
  t.notMatch(configFor('haproxy', 'default', input), /normalize-uri|tune\.bufsize/);
});

t.test('readResponses: Content-Length, chunked, HEAD, close-delimited, a strict status line', async (t) => {
  const two = readResponses(
    bytesOf(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 X\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nno\r\n0\r\nT: 1\r\n\r\n',
    ),
    false,
  );
  t.same(
    two.map((r) => [r.status, r.body.toString(), r.complete]),
    [
      [200, 'ok', true],
      [404, 'no', true],
    ],
  );
  const head = readResponses(bytesOf('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No\r\n\r\n'), false, true);
  t.same(
    head.map((r) => r.status),
    [200, 204],
    'a HEAD response has no body',
  );
  const short = readResponses(bytesOf('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'), true);
  t.equal(short[0].complete, false, 'short body: incomplete');
  const byClose = readResponses(bytesOf('HTTP/1.0 200 OK\r\n\r\nuntil close'), false);
  t.equal(byClose[0].complete, false, 'delimited by close: incomplete while open');
  t.equal(readResponses(bytesOf('HTTP/1.0 200 OK\r\n\r\nuntil close'), true)[0].complete, true, '...complete once closed');
  t.same(readResponses(bytesOf('HTTP/1.1 1000 OK\r\nContent-Length: 0\r\n\r\n'), true), [], 'no 4-digit status');
  t.same(readResponses(bytesOf('garbage\r\n\r\n'), true), []);
});

t.test('comparison', async (t) => {
  const o = (status: RequestOutcome['status'], forwarded: boolean): RequestOutcome => ({
    status,
    forwarded,
    responses: 1,
    backendRequests: forwarded ? 1 : 0,
    backendBytes: forwarded ? 'x' : '',
    sentinelOk: true,
    ms: 1,
  });
  t.equal(requestKey(o(400, false)), '400');
  t.equal(requestKey(o(200, true)), '200 fwd');
  t.equal(agreement({ tcpvs: '400', nginx: '400', haproxy: '400' }), 'all agree');
  t.equal(agreement({ tcpvs: '400', nginx: '200 fwd', haproxy: '200 fwd' }), 'tcpvs differs from both');
  t.equal(agreement({ tcpvs: '400', nginx: '501', haproxy: '422' }), 'tcpvs differs from both');
  t.equal(agreement({ tcpvs: '400', nginx: '400', haproxy: '200 fwd' }), 'tcpvs differs from haproxy');
  t.equal(agreement({ tcpvs: '400', nginx: '501', haproxy: '400' }), 'tcpvs differs from nginx');
  t.equal(agreement({ tcpvs: '400', nginx: '400' }), 'incomplete');
  const v = loadCompareCorpus().requests[0];
  t.equal(tcpvsAsExpected(v, o(v.tcpvs.statuses[0], v.tcpvs.forwarded)), true);
  t.equal(tcpvsAsExpected(v, o(v.tcpvs.statuses[0], !v.tcpvs.forwarded)), false);
  t.equal(
    responseKey({ status: 200, complete: false, leaked: true, marker: 'hello', atServerClose: true, next: null, clientBytes: '', ms: 1 }),
    '200 cut at close +hello',
  );
  const table = formatTable(
    [
      {
        id: 'v',
        cells: { tcpvs: '400', nginx: '200', haproxy: '200' },
        forwarded: { tcpvs: false, nginx: true, haproxy: true },
        agreement: 'tcpvs differs from both',
      },
    ],
    true,
  );
  t.match(table, /^vector +tcpvs +nginx +haproxy +forwarded\? t\/n\/h +tcpvs\n/);
  t.match(table, /\nv +400 +200 +200 +-\/y\/y +≠both$/);
});

// The responses tcpvs writes itself (lib/http/local-response.ts), parsed as a
// client would: status line, the framing fields, Connection: close only when
// asked, no body for HEAD, and one prebuilt buffer per kind.
import t from 'tap';
import { localResponse } from '../../lib/http/local-response.ts';

function parse(buf: Buffer): { status: string; fields: Map<string, string>; body: string } {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const [status, ...lines] = text.slice(0, end).split('\r\n');
  const fields = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, fields, body: text.slice(end + 4) };
}

t.test('a 502: status line, plain-text body, framed by Content-Length', async (t) => {
  const res = parse(localResponse(502, false, false));
  t.equal(res.status, 'HTTP/1.1 502 Bad Gateway');
  t.equal(res.body, '502 Bad Gateway\n');
  t.equal(res.fields.get('content-length'), String(Buffer.byteLength(res.body)));
  t.equal(res.fields.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(res.fields.get('cache-control'), 'no-store', 'an error must not be cached');
  t.notOk(res.fields.has('connection'), 'keep-alive is the HTTP/1.1 default');
});

t.test('close and HEAD', async (t) => {
  const closing = parse(localResponse(408, true, false));
  t.equal(closing.status, 'HTTP/1.1 408 Request Timeout');
  t.equal(closing.fields.get('connection'), 'close');
  const head = parse(localResponse(404, false, true));
  t.equal(head.body, '', 'HEAD: no body');
  t.equal(head.fields.get('content-length'), String('404 Not Found\n'.length), 'but the length a GET would get (RFC 9110 §9.3.2)');
  const both = parse(localResponse(503, true, true));
  t.equal(both.fields.get('connection'), 'close');
  t.equal(both.body, '');
});

t.test('a status Node has no text for is an Error', async (t) => {
  const res = parse(localResponse(599, false, false));
  t.equal(res.status, 'HTTP/1.1 599 Error');
  t.equal(res.body, '599 Error\n');
});

t.test('one buffer per status and disposition, built once', async (t) => {
  t.equal(localResponse(400, true, false), localResponse(400, true, false), 'the same buffer');
  const kinds = new Set([
    localResponse(400, false, false),
    localResponse(400, true, false),
    localResponse(400, false, true),
    localResponse(400, true, true),
    localResponse(401, false, false),
  ]);
  t.equal(kinds.size, 5, 'no two kinds share a buffer');
});

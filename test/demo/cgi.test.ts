import t from 'tap';
import { Client } from 'undici';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startCgiServer } from '../../lib/demo/cgi-server.ts';
import { CGI_DIR } from '../../lib/demo/backends.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'cgi-bin');

interface Reply {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on a fresh connection, read whole; node:http keeps the path verbatim. */
function fetchRaw(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | Buffer[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    // An array is written piece by piece without a length: chunked transfer coding.
    if (Array.isArray(opts.body)) for (const part of opts.body) req.write(part);
    req.end(Array.isArray(opts.body) ? undefined : opts.body);
  });
}

function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

/** Resolves once no process is left in the group, within a bounded wait. */
async function groupGone(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

const stderrSeen: Array<{ script: string; text: string }> = [];
const onScriptStderr = (script: string, chunk: Buffer): void => {
  stderrSeen.push({ script, text: chunk.toString() });
};
async function pidFromStderr(script: string, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const hit = stderrSeen.find((e) => e.script === script && /pid \d+/.test(e.text));
    if (hit !== undefined) {
      stderrSeen.splice(stderrSeen.indexOf(hit), 1);
      return Number(/pid (\d+)/.exec(hit.text)![1]);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${script} never reported its pid`);
}

const demo = await startCgiServer({ scriptDir: CGI_DIR, host: '127.0.0.1', port: 0, name: 'cgi-test', onScriptStderr });
const fixtures = await startCgiServer({ scriptDir: FIXTURES, host: '127.0.0.1', port: 0, name: 'cgi-fixtures', onScriptStderr });
t.teardown(async () => {
  await demo.close();
  await fixtures.close();
});

t.test('env.sh sees the RFC 3875 meta-variables', async (t) => {
  const r = await fetchRaw(demo.port, '/cgi-bin/env.sh/extra/p%20q?a=1&b=%20x', {
    headers: { 'X-Demo-Header': 'yes', Authorization: 'Basic c2VjcmV0', Proxy: 'http://evil', Cookie: 'k=v' },
  });
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['x-backend'], 'cgi-test');
  t.equal(r.headers['transfer-encoding'], 'chunked', 'no length from the script: chunked');
  const env = parseEnv(r.body.toString());
  t.equal(env.get('GATEWAY_INTERFACE'), 'CGI/1.1');
  t.equal(env.get('SERVER_PROTOCOL'), 'HTTP/1.1');
  t.match(env.get('SERVER_SOFTWARE'), /\S/);
  t.equal(env.get('SERVER_NAME'), '127.0.0.1');
  t.equal(env.get('SERVER_PORT'), String(demo.port));
  t.equal(env.get('REQUEST_METHOD'), 'GET');
  t.equal(env.get('SCRIPT_NAME'), '/cgi-bin/env.sh');
  t.equal(env.get('PATH_INFO'), '/extra/p q', 'PATH_INFO is decoded');
  t.equal(env.get('QUERY_STRING'), 'a=1&b=%20x', 'QUERY_STRING is not decoded');
  t.equal(env.get('REMOTE_ADDR'), '127.0.0.1');
  t.match(env.get('REMOTE_PORT'), /^\d+$/);
  t.equal(env.get('HTTP_X_DEMO_HEADER'), 'yes');
  t.equal(env.get('HTTP_HOST'), `127.0.0.1:${demo.port}`);
  t.equal(env.get('HTTP_COOKIE'), 'k=v');
  t.notOk(env.has('HTTP_AUTHORIZATION'), 'credentials are not exported');
  t.notOk(env.has('HTTP_PROXY'), 'no httpoxy');
  t.notOk(env.has('CONTENT_LENGTH'), 'no body, no CONTENT_LENGTH');
  t.notOk(env.has('CONTENT_TYPE'));
  t.equal(env.get('PWD'), CGI_DIR, 'runs in its own folder');

  const noInfo = parseEnv((await fetchRaw(demo.port, '/cgi-bin/env.sh')).body.toString());
  t.notOk(noInfo.has('PATH_INFO'));
  t.equal(noInfo.get('QUERY_STRING'), '', 'QUERY_STRING is always set');
});

t.test('POST: CONTENT_LENGTH and CONTENT_TYPE reach the script', async (t) => {
  const r = await fetchRaw(demo.port, '/cgi-bin/env.sh?post', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: Buffer.from('a=1&b=2'),
  });
  const env = parseEnv(r.body.toString());
  t.equal(env.get('REQUEST_METHOD'), 'POST');
  t.equal(env.get('CONTENT_LENGTH'), '7');
  t.equal(env.get('CONTENT_TYPE'), 'application/x-www-form-urlencoded');
  t.notOk(env.has('HTTP_CONTENT_LENGTH'), 'mapped headers are not repeated as HTTP_*');
  t.notOk(env.has('HTTP_CONTENT_TYPE'));
});

t.test('echo.sh returns a 1 MB body byte for byte', async (t) => {
  const body = randomBytes(1024 * 1024);
  const r = await fetchRaw(demo.port, '/cgi-bin/echo.sh', {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  t.equal(r.status, 200);
  t.equal(r.headers['content-length'], String(body.length), "the script's Content-Length is passed on");
  t.ok(r.body.equals(body), 'same bytes');

  // Chunked upload: spooled, so the script still gets CONTENT_LENGTH.
  const parts = [randomBytes(300_000), randomBytes(1), randomBytes(200_000)];
  const chunked = await fetchRaw(demo.port, '/cgi-bin/echo.sh', { method: 'POST', body: parts });
  t.equal(chunked.status, 200);
  t.equal(chunked.headers['content-length'], '500001');
  t.ok(chunked.body.equals(Buffer.concat(parts)), 'chunked body, same bytes');

  const empty = await fetchRaw(demo.port, '/cgi-bin/echo.sh', { method: 'POST', body: Buffer.alloc(0) });
  t.equal(empty.status, 200);
  t.equal(empty.body.length, 0);
});

t.test('keep-alive across CGI requests, with and without bodies', async (t) => {
  const client = new Client(`http://127.0.0.1:${demo.port}`, { pipelining: 1 });
  t.teardown(() => client.close());
  let connects = 0;
  client.on('connect', () => connects++);
  for (let i = 0; i < 3; i++) {
    const r = await client.request({
      path: '/cgi-bin/echo.sh',
      method: 'POST',
      body: `round ${i}`,
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    t.equal(await r.body.text(), `round ${i}`);
    const g = await client.request({ path: '/cgi-bin/hello.pl?name=Ada', method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
    t.match(await g.body.text(), /Hello, Ada!/);
  }
  t.equal(connects, 1, 'one connection for all six requests');
});

t.test('hello.pl makes HTML from QUERY_STRING, escaped', async (t) => {
  const r = await fetchRaw(demo.port, '/cgi-bin/hello.pl?name=J%C3%BCrgen+%3Cscript%3E');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  const html = r.body.toString();
  t.match(html, /<h1>Hello, Jürgen &lt;script&gt;!<\/h1>/);
  t.notMatch(html, /<script>/);
  t.match((await fetchRaw(demo.port, '/cgi-bin/hello.pl')).body.toString(), /Hello, world!/);
});

t.test('HEAD runs the script but sends no body', async (t) => {
  const r = await fetchRaw(demo.port, '/cgi-bin/env.sh', { method: 'HEAD' });
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.body.length, 0);
});

t.test('Status, Location and other fields from the script', async (t) => {
  const status = await fetchRaw(fixtures.port, '/cgi-bin/status.sh');
  t.equal(status.status, 404);
  t.equal(status.statusText, 'Not Found');
  t.equal(status.headers['x-script'], 'status');
  t.notOk('status' in status.headers, 'Status is not sent as a header');
  t.equal(status.body.toString(), 'no such thing\n');

  const client = await fetchRaw(fixtures.port, '/cgi-bin/redirect.sh');
  t.equal(client.status, 302, 'client redirect without Status is a 302');
  t.equal(client.headers.location, 'http://example.com/elsewhere');

  const local = await fetchRaw(fixtures.port, '/cgi-bin/local.sh', { method: 'POST', body: Buffer.from('dropped') });
  t.equal(local.status, 200, 'local redirect is answered in place');
  t.notOk('location' in local.headers);
  t.equal(local.body.toString(), 'method=GET\narg=from\narg=local\n');

  const loop = await fetchRaw(fixtures.port, '/cgi-bin/loop.sh');
  t.equal(loop.status, 500, 'a redirect loop ends');

  const mixed = await fetchRaw(fixtures.port, '/cgi-bin/lf-and-crlf.sh');
  t.equal(mixed.status, 200);
  t.equal(mixed.headers['x-one'], '1');
  t.equal(mixed.headers['x-two'], '2');
  t.equal(mixed.body.toString(), 'line1\r\nline2\n');

  const short = await fetchRaw(fixtures.port, '/cgi-bin/short-length.sh');
  t.equal(short.headers['content-length'], '5');
  t.equal(short.body.toString(), 'hello', 'no byte past Content-Length');
});

t.test('search-string queries become argv (RFC 3875 §4.4)', async (t) => {
  const r = await fetchRaw(fixtures.port, '/cgi-bin/argv.sh?one+two%20words+%2B');
  t.equal(r.body.toString(), 'method=GET\narg=one\narg=two words\narg=+\n');
  const withEquals = await fetchRaw(fixtures.port, '/cgi-bin/argv.sh?a=b+c');
  t.equal(withEquals.body.toString(), 'method=GET\n', 'a query with = is not a search string');
});

t.test('missing, hidden and escaping script names are 404', async (t) => {
  for (const path of [
    '/cgi-bin/nope.sh',
    '/cgi-bin/',
    '/cgi-bin/.hidden',
    '/cgi-bin/..%2fcgi.test.ts',
    '/cgi-bin/../cgi.test.ts',
    '/other',
    '/',
  ]) {
    const r = await fetchRaw(fixtures.port, path);
    t.equal(r.status, 404, path);
    t.equal(r.headers['x-backend'], 'cgi-fixtures');
  }
  t.equal((await fetchRaw(fixtures.port, '/cgi-bin/%zz')).status, 400);
});

t.test('broken scripts give 500 with a short body', async (t) => {
  for (const script of ['crash.sh', 'badhead.sh', 'unterminated.sh', 'noexec-plain.txt', 'bad-interpreter.sh']) {
    const r = await fetchRaw(fixtures.port, '/cgi-bin/' + script);
    t.equal(r.status, 500, script);
    t.ok(r.body.length > 0 && r.body.length < 200, `${script}: short explanation`);
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  }
  t.ok(
    stderrSeen.some((e) => e.script === 'crash.sh' && e.text.includes('giving up')),
    "the script's stderr goes to the log hook",
  );
});

t.test('a script without the exec bit runs through its #! line', async (t) => {
  const r = await fetchRaw(fixtures.port, '/cgi-bin/noexec-shebang.sh');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'ran without exec bit\n');
});

t.test('a runaway script is killed at the timeout, with its children', async (t) => {
  const quick = await startCgiServer({
    scriptDir: FIXTURES,
    host: '127.0.0.1',
    port: 0,
    name: 'cgi-quick',
    timeoutMs: 300,
    onScriptStderr,
  });
  t.teardown(() => quick.close());
  const started = Date.now();
  const r = await fetchRaw(quick.port, '/cgi-bin/sleepy.sh');
  t.equal(r.status, 504);
  t.ok(Date.now() - started < 5000, 'answered near the timeout, not after the script');
  const pid = await pidFromStderr('sleepy.sh', 2000);
  t.ok(await groupGone(pid, 3000), 'script and its sleep child are gone');
});

t.test('a client that disconnects kills the script', async (t) => {
  const req = httpRequest({ host: '127.0.0.1', port: fixtures.port, path: '/cgi-bin/ticker.sh', agent: false });
  const firstChunk = new Promise<string>((resolve, reject) => {
    req.on('response', (res) => res.once('data', (c: Buffer) => resolve(c.toString())));
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
  req.end();
  t.match(await firstChunk, /tick/);
  const pid = await pidFromStderr('ticker.sh', 2000);
  t.notOk(await groupGone(pid, 200), 'still running while the client listens');
  req.destroy();
  t.ok(await groupGone(pid, 3000), 'killed once the client is gone');
});

t.test('limits: concurrent scripts and spooled body size', async (t) => {
  const small = await startCgiServer({
    scriptDir: FIXTURES,
    host: '127.0.0.1',
    port: 0,
    name: 'cgi-small',
    timeoutMs: 1000,
    maxConcurrent: 1,
    maxSpooledBodyBytes: 1000,
    onScriptStderr,
  });
  t.teardown(() => small.close());
  const running = fetchRaw(small.port, '/cgi-bin/sleepy.sh');
  await pidFromStderr('sleepy.sh', 2000);
  const refused = await fetchRaw(small.port, '/cgi-bin/argv.sh');
  t.equal(refused.status, 503);
  t.equal(refused.headers['retry-after'], '1');
  t.equal((await running).status, 504);

  const tooBig = await fetchRaw(small.port, '/cgi-bin/argv.sh', { method: 'POST', body: [Buffer.alloc(800), Buffer.alloc(800)] });
  t.equal(tooBig.status, 413);
  const fits = await fetchRaw(small.port, '/cgi-bin/argv.sh', { method: 'POST', body: [Buffer.alloc(500), Buffer.alloc(500)] });
  t.equal(fits.status, 200);
});

// tcpvs loadtest: autocannon against a URL, progress on stderr, a summary on
// stdout, and an exit status that says whether anything failed.
import t from 'tap';
import { Writable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runLoadtest } from '../../lib/loadtest/main.ts';
import { startIdentityBackend } from '../helpers/backends.ts';
import { REPO_ROOT } from '../helpers/tcpvs.ts';

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

t.test('a short run against a backend: the summary, exit 0', async (t) => {
  const backend = await startIdentityBackend('A');
  t.teardown(() => backend.close());
  const out = capture();
  const err = capture();
  const code = await runLoadtest([`http://127.0.0.1:${backend.port}/x`, '-c', '2', '-d', '1', '-H', 'X-Test: yes'], {
    stdout: out.stream,
    stderr: err.stream,
  });
  t.equal(code, 0, err.text());
  t.match(out.text(), /^requests: +[\d,]+ in [\d.]+ s, [\d,]+ per second$/m);
  t.match(out.text(), /^failures: +0 errors \(0 of them timeouts\), 0 responses not 2xx$/m);
  t.match(err.text(), /GET http:\/\/127\.0\.0\.1:\d+\/x, 2 connections, 1 s/);
  t.ok(backend.requests.length > 0, `the backend saw ${backend.requests.length} requests`);
  t.equal(backend.header(backend.requests[0], 'x-test'), 'yes', 'with the header asked for');
});

t.test('non-2xx answers make the exit status 1; --json prints the result', async (t) => {
  const backend = await startIdentityBackend('A', { handler: (_s, _r, res) => res.writeHead(503).end('no') });
  t.teardown(() => backend.close());
  const out = capture();
  const code = await runLoadtest([`http://127.0.0.1:${backend.port}/`, '-c', '1', '-d', '1', '--json'], {
    stdout: out.stream,
    stderr: capture().stream,
  });
  t.equal(code, 1);
  const result = JSON.parse(out.text()) as { non2xx: number };
  t.ok(result.non2xx > 0);
});

t.test('usage errors name what is wrong and exit 2', async (t) => {
  for (const [args, message] of [
    [[], /a URL is required/],
    [['ftp://x/'], /"ftp:" is not http: or https:/],
    [['http://127.0.0.1:1/', '-c', '0'], /--connections: "0" is not a whole number from 1 to 10000/],
    [['http://127.0.0.1:1/', '-H', 'nocolon'], /--header: "nocolon" is not NAME: VALUE/],
  ] as const) {
    const err = capture();
    t.equal(await runLoadtest([...args], { stdout: capture().stream, stderr: err.stream }), 2);
    t.match(err.text(), message);
  }
});

t.test('through the CLI: tcpvs loadtest --help', async (t) => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'index.ts'), 'loadtest', '--help'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(r.status, 0);
  t.match(r.stdout, /^usage: tcpvs loadtest URL \[options\]/);
});

// One pino access-log line per request with the fields an operator needs,
// written to the configured destination at the configured level.
import t from 'tap';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityBackend } from '../helpers/backends.ts';
import { RawClient, requestHead } from '../helpers/raw-client.ts';
import { serviceConfig, spawnTcpvs, startTcpvs } from '../helpers/tcpvs.ts';
import { pollUntil, sleep } from '../helpers/wait.ts';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

async function readLines(file: string, want: (l: LogLine[]) => boolean): Promise<LogLine[]> {
  let lines: LogLine[] = [];
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) {
      lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((x) => x !== '')
        .map((x) => JSON.parse(x) as LogLine);
      if (want(lines)) return lines;
    }
    await sleep(30);
  }
  return lines;
}

t.test('one access line per request with client, method, path, rule, group, server, status, bytes, duration', async (t) => {
  const images = await startIdentityBackend('images');
  const other = await startIdentityBackend('other');
  t.teardown(() => Promise.all([images.close(), other.close()]));
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-log-')), 'access.log');
  const tcpvs = await startTcpvs(
    serviceConfig({
      groups: [
        { name: 'img', servers: [images.port] },
        { name: 'rest', servers: [other.port] },
      ],
      routes: ['pictures prefix /images/ to img'],
      defaultGroup: 'rest',
      logLevel: 'info',
      logDestination: log,
    }),
  );
  t.teardown(() => tcpvs.close());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  c.write(requestHead('GET', '/images/a.png?size=2'));
  const r1 = await c.readResponse();
  const body = 'x'.repeat(321);
  c.write(requestHead('POST', '/form', [['Content-Length', String(body.length)]]) + body);
  const r2 = await c.readResponse();
  t.equal(r1.status, 200);
  t.equal(r2.status, 200);

  const lines = await readLines(log, (l) => l.filter((x) => x.msg === 'request').length >= 2);
  const access = lines.filter((x) => x.msg === 'request');
  t.equal(access.length, 2, 'one line per request');
  const [a, b] = access;
  t.match(a, {
    level: 30,
    client: '127.0.0.1',
    method: 'GET',
    path: '/images/a.png',
    rule: 'pictures',
    group: 'img',
    server: `127.0.0.1:${images.port}`,
    status: 200,
  });
  t.ok((a.bytesIn as number) > 20, 'bytes in counts the head');
  t.equal(a.bytesOut, r1.rawHead.length + r1.rawBody.length, 'bytes out is what the client received');
  t.type(a.ms, 'number');
  t.match(b, { method: 'POST', path: '/form', rule: 'default', group: 'rest', server: `127.0.0.1:${other.port}`, status: 200 });
  t.ok((b.bytesIn as number) > body.length, 'bytes in counts the body');
  t.equal(b.bytesOut, r2.rawHead.length + r2.rawBody.length);
});

t.test('level warn: no access lines, but refusals are still logged', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-log-')), 'warn.log');
  const tcpvs = await startTcpvs(
    serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g', logLevel: 'warn', logDestination: log }),
  );
  t.teardown(() => tcpvs.close());
  const c = await RawClient.connect(tcpvs.port);
  c.write(requestHead('GET', '/ok'));
  t.equal((await c.readResponse()).status, 200);
  c.write('GET /bad HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
  t.equal((await c.readResponse()).status, 400);
  c.close();
  const lines = await readLines(log, (l) => l.some((x) => x.msg === 'refused'));
  t.equal(lines.filter((x) => x.msg === 'request').length, 0, 'no access lines at warn');
  const refused = lines.filter((x) => x.msg === 'refused');
  t.equal(refused.length, 1);
  t.match(refused[0], { level: 40, status: 400, client: '127.0.0.1', reason: /Content-Length/ });
});

// (A backslash in a path is refused now: lib/route/normalise.ts.)
t.test('a path with a quote (llhttp lets it through) is escaped: the line is still one JSON object', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-log-')), 'access.log');
  const tcpvs = await startTcpvs(
    serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g', logLevel: 'info', logDestination: log }),
  );
  t.teardown(() => tcpvs.close());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  const path = '/q"x","status":999';
  c.write(requestHead('GET', path));
  t.equal((await c.readResponse()).status, 200);
  const lines = await readLines(log, (l) => l.some((x) => x.msg === 'request'));
  const access = lines.filter((x) => x.msg === 'request');
  t.equal(access.length, 1);
  t.equal(access[0].path, path, 'the path comes back as sent');
  t.equal(access[0].status, 200, 'the path cannot add or change a field');
  t.equal(access[0].pid, process.pid, 'the logger’s bindings are on the line');
});

t.test('every line of a file log is in the file once tcpvs has stopped (lines are buffered, then written)', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const log = join(mkdtempSync(join(tmpdir(), 'tcpvs-log-')), 'access.log');
  const tcpvs = await spawnTcpvs(
    serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g', logLevel: 'info', logDestination: log }),
  );
  t.teardown(() => tcpvs.stop());
  const clients = await Promise.all([1, 2, 3, 4].map(() => RawClient.connect(tcpvs.port)));
  const perClient = 50;
  await Promise.all(
    clients.map(async (c, k) => {
      for (let i = 0; i < perClient; i++) {
        c.write(requestHead('GET', `/c${k}/${i}`));
        if ((await c.readResponse()).status !== 200) throw new Error('request failed');
      }
      c.close();
    }),
  );
  await tcpvs.stop();
  const lines = readFileSync(log, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'the file ends with a whole line');
  const paths = lines
    .map((l) => JSON.parse(l) as LogLine)
    .filter((x) => x.msg === 'request')
    .map((x) => x.path as string);
  t.equal(paths.length, 4 * perClient, 'one line per request');
  t.equal(new Set(paths).size, 4 * perClient, 'no line twice');
  for (let k = 0; k < 4; k++) {
    const mine = paths.filter((p) => p.startsWith(`/c${k}/`));
    t.same(
      mine,
      Array.from({ length: perClient }, (_, i) => `/c${k}/${i}`),
      `client ${k}'s lines in its order`,
    );
  }
});

t.test('a log file that cannot be written (/dev/full): requests are still served, and stderr says so once', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const tcpvs = await spawnTcpvs(
    serviceConfig({ groups: [{ name: 'g', servers: [backend.port] }], defaultGroup: 'g', logLevel: 'info', logDestination: '/dev/full' }),
  );
  t.teardown(() => tcpvs.stop());
  const c = await RawClient.connect(tcpvs.port);
  t.teardown(() => c.close());
  const lost = () =>
    tcpvs
      .stderr()
      .split('\n')
      .filter((l) => l.includes('log lines lost')).length;
  for (let i = 0; i < 5; i++) {
    c.write(requestHead('GET', `/${i}`));
    t.equal((await c.readResponse()).status, 200, `request ${i} served`);
    t.ok(await pollUntil(() => lost() >= 1, 5000), 'the loss is reported');
  }
  t.equal(lost(), 1, 'once, not once per write');
  t.match(tcpvs.stderr(), /log lines lost: cannot write the log file \(ENOSPC\)/);
});

t.test('a log destination that cannot be opened stops the start with a message that names it', async (t) => {
  const backend = await startIdentityBackend('b');
  t.teardown(() => backend.close());
  const file = join(mkdtempSync(join(tmpdir(), 'tcpvs-log-')), 'plain-file');
  writeFileSync(file, 'not a directory\n');
  await t.rejects(
    spawnTcpvs(
      serviceConfig({
        groups: [{ name: 'g', servers: [backend.port] }],
        defaultGroup: 'g',
        logLevel: 'info',
        logDestination: `${file}/access.log`,
      }),
    ),
    { message: new RegExp(`exited \\(1\\).*cannot start: log destination ${file}/access.log: cannot open it`, 's') },
  );
});

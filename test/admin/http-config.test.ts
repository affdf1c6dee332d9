// `admin http HOST:PORT [token SECRET]` in the native format.
import t from 'tap';
import { parseConfigText } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/config/errors.ts';

const SERVICE = `service web
  listen 127.0.0.1:8080
  group g
    server 127.0.0.1:9001
  default g
`;

function problems(text: string): string[] {
  try {
    parseConfigText(text, 'a.tcpvs');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}: ${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('parsed forms', async (t) => {
  t.equal(parseConfigText(SERVICE, 'a.tcpvs').adminHttp, null, 'absent: null');
  t.same(parseConfigText(`admin http 127.0.0.1:9900\n${SERVICE}`, 'a.tcpvs').adminHttp, { host: '127.0.0.1', port: 9900, token: null });
  t.same(
    parseConfigText(`${SERVICE}admin http [::1]:0 token "s3cret-s3cret-s3cret"\n`, 'a.tcpvs').adminHttp,
    { host: '::1', port: 0, token: 's3cret-s3cret-s3cret' },
    'inside a service block too: it is global; port 0 allowed',
  );
  const c = parseConfigText(`admin http 0.0.0.0:9900 token abcdefghijklmnopq\n${SERVICE}`, 'a.tcpvs');
  t.same(c.adminHttp, { host: '0.0.0.0', port: 9900, token: 'abcdefghijklmnopq' });
  t.same(c.warnings, [], 'a wildcard address with a long token: no warning');
});

t.test('warnings: no token off loopback, a short token', async (t) => {
  const open = parseConfigText(`admin http 0.0.0.0:9900\n${SERVICE}`, 'a.tcpvs');
  t.match(open.warnings, [{ line: 1, field: 'admin.http', message: /no token on 0\.0\.0\.0:9900/ }]);
  const short = parseConfigText(`admin http 127.0.0.1:9900 token abc\n${SERVICE}`, 'a.tcpvs');
  t.match(short.warnings, [{ line: 1, field: 'admin.http.token', message: /shorter than 16/ }]);
  t.same(parseConfigText(`admin http localhost:9900\n${SERVICE}`, 'a.tcpvs').warnings, [], 'loopback without a token is fine');
});

t.test('errors name the line and field', async (t) => {
  const any = '1: admin: usage: admin http HOST:PORT [token SECRET] | admin tcp HOST:PORT token SECRET [allow-load]';
  t.same(problems(`admin socket /x\n${SERVICE}`), [any]);
  t.same(problems(`admin\n${SERVICE}`), [any]);
  t.same(
    problems(`admin tcp 127.0.0.1:1\n${SERVICE}`),
    ['1: admin.tcp: usage: admin tcp HOST:PORT token SECRET [allow-load]'],
    'admin tcp needs a token',
  );
  t.same(
    problems(`admin tcp 127.0.0.1:1 token abcdefghijklmnopq allow-lode\n${SERVICE}`),
    ['1: admin.tcp: usage: admin tcp HOST:PORT token SECRET [allow-load]'],
    'a misspelt allow-load',
  );
  t.same(parseConfigText(`admin tcp 127.0.0.1:1 token abcdefghijklmnopq allow-load\n${SERVICE}`, 'a.tcpvs').adminTcp, {
    host: '127.0.0.1',
    port: 1,
    token: 'abcdefghijklmnopq',
    allowLoad: true,
  });
  t.same(problems(`admin http\n${SERVICE}`), ['1: admin.http: usage: admin http HOST:PORT [token SECRET]']);
  t.same(problems(`admin http 127.0.0.1:1 token\n${SERVICE}`), ['1: admin.http: usage: admin http HOST:PORT [token SECRET]']);
  t.match(problems(`admin http 127.0.0.1:99999\n${SERVICE}`), [/^1: admin\.http: bad port '99999'/]);
  t.match(problems(`admin http 127.0.0.1:1 secret abcdefghijklmnopq\n${SERVICE}`), [/^1: admin\.http\.secret: unexpected 'secret'/]);
  t.same(problems(`admin http 127.0.0.1:1 token ""\n${SERVICE}`), ['1: admin.http.token: the token is empty']);
  t.match(problems(`admin http 127.0.0.1:1 token "a b c d e f g h i j"\n${SERVICE}`), [
    /^1: admin\.http\.token: the token may not contain spaces/,
  ]);
  t.same(problems(`admin http 127.0.0.1:9900\nadmin http 127.0.0.1:9901\n${SERVICE}`), [
    "2: admin.http: 'admin http' is already set at line 1",
  ]);
  t.same(problems(`admin http 127.0.0.1:8080\n${SERVICE}`), [
    "1: admin.http: 127.0.0.1:8080 overlaps the listen address 127.0.0.1:8080 of service 'web' (line 2)",
  ]);
  t.match(problems(`admin http 0.0.0.0:8080 token abcdefghijklmnopq\n${SERVICE}`), [/^1: admin\.http: 0\.0\.0\.0:8080 overlaps/]);
  t.same(problems(`admin http 127.0.0.2:8080\n${SERVICE}`), [], 'another address on the same port is fine');
});

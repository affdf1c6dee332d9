// strict-sni's rule (lib/proxy/strict-sni.ts) on its own; over real TLS
// connections in test/proxy/tls-terminate.test.ts.
import t from 'tap';
import { misdirectedRequest } from '../../lib/proxy/strict-sni.ts';

t.test('a request for the SNI name passes', async (t) => {
  t.equal(misdirectedRequest('www.example.com', 'www.example.com'), null);
  t.equal(
    misdirectedRequest('WWW.Example.COM.', 'www.example.com'),
    null,
    'the SNI name is compared as a DNS name: case and a trailing dot do not count',
  );
});

t.test('any other host is misdirected, and says which', async (t) => {
  t.equal(
    misdirectedRequest('www.example.com', 'api.example.com'),
    "strict-sni: Host 'api.example.com' is not the SNI name 'www.example.com'",
  );
  t.equal(
    misdirectedRequest('www.example.com', 'www.example.com.evil'),
    "strict-sni: Host 'www.example.com.evil' is not the SNI name 'www.example.com'",
  );
});

t.test('no SNI name, or no host: misdirected', async (t) => {
  t.equal(misdirectedRequest('', 'www.example.com'), 'strict-sni: the client sent no SNI name');
  t.equal(misdirectedRequest('www.example.com', null), 'strict-sni: the request names no host');
});

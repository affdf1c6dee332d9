// Trusted-source networks (lib/net/networks.ts): what parseNetwork accepts
// and how it says no, and which peer addresses inNetworks lets in, at the
// prefix boundaries of both families and for IPv4-mapped IPv6 peers.
import t from 'tap';
import { inNetworks, type Network, parseNetwork } from '../../lib/net/networks.ts';

function net(text: string): Network {
  const n = parseNetwork(text);
  if (typeof n === 'string') throw new Error(`${text}: ${n}`);
  return n;
}

t.test('parseNetwork: addresses and networks of both families', async (t) => {
  t.same(net('10.0.0.0/8'), { family: 4, base: 0x0a000000, bits: 8, text: '10.0.0.0/8' });
  t.same(net('192.0.2.7'), { family: 4, base: 0xc0000207, bits: 32, text: '192.0.2.7' }, 'a bare address is a /32');
  t.same(net('0.0.0.0/0'), { family: 4, base: 0, bits: 0, text: '0.0.0.0/0' });
  t.same(net('::1'), { family: 6, groups: [0, 0, 0, 0, 0, 0, 0, 1], bits: 128, text: '::1' }, 'a bare address is a /128');
  t.same(net('fd00::/8'), { family: 6, groups: [0xfd00, 0, 0, 0, 0, 0, 0, 0], bits: 8, text: 'fd00::/8' });
  t.equal(net('2001:db8::/32').bits, 32);
  t.equal(net('::/0').bits, 0);
});

t.test('parseNetwork: what it refuses, and why', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['example.com', /is not an address or ADDRESS\/BITS network/],
    ['', /is not an address/],
    ['10.0.0', /is not an address/],
    ['10.0.0.256', /is not an address/],
    ['fe80::1%eth0', /is not an address/],
    ['10.0.0.0/33', /prefix length must be 0\.\.32/],
    ['::/129', /prefix length must be 0\.\.128/],
    ['10.0.0.0/08', /prefix length/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/ 8', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['10.0.0.1/8', /has bits set past its \/8 prefix/],
    ['fd00::1/8', /has bits set past its \/8 prefix/],
    ['2001:db8:c000::/33', /has bits set past its \/33 prefix/],
  ];
  for (const [text, reason] of refused) {
    const result = parseNetwork(text);
    t.type(result, 'string', `${JSON.stringify(text)} is refused`);
    t.match(result, reason, `${JSON.stringify(text)}: ${result}`);
  }
  t.type(parseNetwork('10.128.0.0/9'), 'object', 'a set bit inside the prefix is fine');
  t.type(parseNetwork('2001:db8:8000::/33'), 'object');
});

t.test('inNetworks: IPv4 at the prefix boundaries', async (t) => {
  const eight = [net('10.0.0.0/8')];
  t.ok(inNetworks('10.0.0.0', eight));
  t.ok(inNetworks('10.255.255.255', eight));
  t.notOk(inNetworks('11.0.0.0', eight));
  t.notOk(inNetworks('9.255.255.255', eight));
  const host = [net('192.0.2.7')];
  t.ok(inNetworks('192.0.2.7', host));
  t.notOk(inNetworks('192.0.2.6', host));
  t.notOk(inNetworks('192.0.2.8', host));
  const odd = [net('172.16.0.0/12')];
  t.ok(inNetworks('172.31.255.255', odd));
  t.notOk(inNetworks('172.32.0.0', odd));
  t.ok(inNetworks('203.0.113.9', [net('0.0.0.0/0')]), '/0: every IPv4 address');
  t.notOk(inNetworks('::1', [net('0.0.0.0/0')]), '/0 of IPv4 is not every address');
});

t.test('inNetworks: IPv6 at the prefix boundaries, inside a group', async (t) => {
  const n = [net('2001:db8:8000::/33')];
  t.ok(inNetworks('2001:db8:8000::1', n));
  t.ok(inNetworks('2001:db8:ffff:ffff::', n));
  t.notOk(inNetworks('2001:db8:7fff::1', n));
  t.notOk(inNetworks('2001:db9:8000::', n));
  const pair = [net('2001:db8::/127')];
  t.ok(inNetworks('2001:db8::1', pair));
  t.notOk(inNetworks('2001:db8::2', pair));
  t.ok(inNetworks('::1', [net('::1')]));
  t.notOk(inNetworks('::2', [net('::1')]));
  t.ok(inNetworks('fe80::1', [net('::/0')]));
  t.notOk(inNetworks('10.0.0.1', [net('::/0')]), '::/0 holds no IPv4 peer');
});

t.test('inNetworks: an IPv4-mapped IPv6 peer is its IPv4 address', async (t) => {
  t.ok(inNetworks('::ffff:10.1.2.3', [net('10.0.0.0/8')]), 'what a dual-stack listener reports');
  t.notOk(inNetworks('::ffff:11.1.2.3', [net('10.0.0.0/8')]));
  t.notOk(inNetworks('::ffff:10.1.2.3', [net('::/0')]), 'so an IPv6 network does not hold it');
});

t.test('inNetworks: any of several networks; nothing else gets in', async (t) => {
  const list = [net('10.0.0.0/8'), net('fd00::/8'), net('192.0.2.1')];
  t.ok(inNetworks('10.9.9.9', list));
  t.ok(inNetworks('fd12::1', list));
  t.ok(inNetworks('192.0.2.1', list));
  t.notOk(inNetworks('192.0.2.2', list));
  t.notOk(inNetworks('fe80::1', list));
  t.notOk(inNetworks('10.0.0.1', []), 'no networks: nobody');
  t.notOk(inNetworks('', list), 'no address (a Unix socket peer)');
  t.notOk(inNetworks('not-an-address', list));
});

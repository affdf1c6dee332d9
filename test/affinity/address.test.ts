import t from 'tap';
import { AddressMasker, ipv4Mask, parseIPv4, parseIPv6 } from '../../lib/affinity/address.ts';

t.test('parseIPv4 reads dotted quads and refuses the rest', async (t) => {
  t.equal(parseIPv4('0.0.0.0'), 0);
  t.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  t.equal(parseIPv4('10.1.2.3'), 0x0a010203);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', '.1.2.3', 'a.b.c.d', '::1', '1.2.3.4 '])
    t.equal(parseIPv4(bad), -1, JSON.stringify(bad));
});

t.test('parseIPv6 expands every textual form to eight groups', async (t) => {
  t.same(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  t.same(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(parseIPv6('2001:DB8::8:800:200c:417a'), [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
  t.same(parseIPv6('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1], 'zone id left out');
  t.same(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
  t.same(parseIPv6('::ffff:192.0.2.1'), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]);
  t.same(parseIPv6('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
  t.same(parseIPv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
  for (const bad of ['10.0.0.1', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4::5:6:7:8', '12345::', 'g::1', '::1.2.3', '1:2'])
    t.equal(parseIPv6(bad), null, bad);
});

t.test('ipv4Mask', async (t) => {
  t.equal(ipv4Mask(0), 0);
  t.equal(ipv4Mask(24), 0xffffff00);
  t.equal(ipv4Mask(32), 0xffffffff);
  t.equal(ipv4Mask(1), 0x80000000);
});

t.test('full masks: one key per address; v4, mapped v4 and v6 keyed apart from each other', async (t) => {
  const m = new AddressMasker(32, 128);
  t.equal(m.key('10.1.2.3'), 0x0a010203);
  t.equal(m.key('::ffff:10.1.2.3'), 0x0a010203, 'mapped form is the same client');
  t.equal(m.key('::FFFF:10.1.2.3'), 0x0a010203);
  t.equal(m.key('::ffff:a01:203'), 0x0a010203, 'mapped form in hex too');
  t.not(m.key('10.1.2.4'), m.key('10.1.2.3'));
  t.equal(m.key('2001:db8::1'), '2001:db8:0:0:0:0:0:1');
  t.equal(m.key('2001:0DB8:0:0::1'), m.key('2001:db8::1'), 'spellings of one address agree');
  t.not(m.key('2001:db8::2'), m.key('2001:db8::1'));
  t.equal(m.key(''), null, 'a Unix socket peer has no address');
  t.equal(m.key('not-an-address'), null);
});

t.test('netmasks group clients as ipvsadm -M does', async (t) => {
  const m = new AddressMasker(24, 64);
  t.equal(m.key('192.168.7.1'), m.key('192.168.7.254'));
  t.equal(m.key('192.168.7.1'), 0xc0a80700);
  t.not(m.key('192.168.7.1'), m.key('192.168.8.1'));
  t.equal(m.key('::ffff:192.168.7.99'), m.key('192.168.7.1'), 'the v4 mask applies to mapped addresses');
  t.equal(m.key('2001:db8:1:2::1'), m.key('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  t.equal(m.key('2001:db8:1:2::1'), '2001:db8:1:2:0:0:0:0');
  t.not(m.key('2001:db8:1:2::1'), m.key('2001:db8:1:3::1'));
  const odd = new AddressMasker(0, 52);
  t.equal(odd.key('1.2.3.4'), odd.key('200.1.1.1'), '/0: every IPv4 client is one');
  t.equal(odd.key('2001:db8:1:2fff::1'), odd.key('2001:db8:1:2000::'), '/52 cuts inside a group');
  t.equal(odd.key('2001:db8:1:2fff::1'), '2001:db8:1:2000:0:0:0:0');
  t.not(odd.key('2001:db8:1:3000::'), odd.key('2001:db8:1:2000::'));
});

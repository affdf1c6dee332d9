// The HTTP byte classes (lib/http/token.ts), checked byte by byte against the
// ABNF of RFC 9110 §5.6 written out here as sets, so a table that gains or
// loses one byte fails.
import t from 'tap';
import { isOws, QDTEXT, QUOTED_PAIR, TCHAR } from '../../lib/http/token.ts';

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function members(table: Uint8Array): number[] {
  return range(0, 255).filter((c) => table[c] === 1);
}

const VCHAR = range(0x21, 0x7e);
const OBS_TEXT = range(0x80, 0xff);

t.test('the tables are 256 bytes of 0 and 1', async (t) => {
  for (const [name, table] of [
    ['TCHAR', TCHAR],
    ['QDTEXT', QDTEXT],
    ['QUOTED_PAIR', QUOTED_PAIR],
  ] as const) {
    t.equal(table.length, 256, name);
    t.ok(
      table.every((v) => v === 0 || v === 1),
      `${name}: only 0 and 1`,
    );
  }
});

t.test("tchar: DIGIT, ALPHA and !#$%&'*+-.^_`|~ (RFC 9110 §5.6.2)", async (t) => {
  const expected = [
    ...range(0x30, 0x39),
    ...range(0x41, 0x5a),
    ...range(0x61, 0x7a),
    ...[..."!#$%&'*+-.^_`|~"].map((c) => c.charCodeAt(0)),
  ];
  t.same(
    members(TCHAR),
    expected.sort((a, b) => a - b),
  );
  for (const c of '"(),/:;<=>?@[\\]{} \t') t.equal(TCHAR[c.charCodeAt(0)], 0, `${JSON.stringify(c)} is a delimiter`);
  t.equal(TCHAR[0x7f], 0, 'DEL');
  t.equal(TCHAR[0x80], 0, 'obs-text is no tchar');
});

t.test('qdtext: HTAB, SP, VCHAR but " and \\, obs-text (RFC 9110 §5.6.4)', async (t) => {
  const expected = [0x09, 0x20, ...VCHAR.filter((c) => c !== 0x22 && c !== 0x5c), ...OBS_TEXT];
  t.same(members(QDTEXT), expected);
});

t.test('quoted-pair: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.6.4)', async (t) => {
  t.same(members(QUOTED_PAIR), [0x09, 0x20, ...VCHAR, ...OBS_TEXT]);
  t.equal(QUOTED_PAIR[0x22], 1, 'a quote may be escaped');
  t.equal(QUOTED_PAIR[0x0a], 0, 'LF may not');
});

t.test('OWS: SP and HTAB only (RFC 9110 §5.6.3)', async (t) => {
  t.same(
    range(0, 255).filter((c) => isOws(c)),
    [0x09, 0x20],
  );
});

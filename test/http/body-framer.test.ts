// BodyFramer finds where a body ends in a raw byte stream. Every valid message
// is fed whole, one byte at a time, split at every boundary and at seeded
// random boundaries: the end offset must be exact each time and the bytes
// after it (the next pipelined request) must never be consumed. Every
// invalid message must throw at the same byte however it is split.
import t from 'tap';
import { seededRandom as prng } from '../helpers/seeded-random.ts';
import {
  BodyFramer,
  FORBIDDEN_TRAILERS,
  FramingError,
  FRAME_CHUNKED,
  FRAME_CLOSE,
  FRAME_LENGTH,
  FRAME_NONE,
} from '../../lib/http/body-framer.ts';

const NEXT = Buffer.from('GET /next HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
const TRAILER_LIMIT = 16384;

/** Cuts `buf` at the given sorted offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const k of at) {
    pieces.push(buf.subarray(from, k));
    from = k;
  }
  pieces.push(buf.subarray(from));
  return pieces.filter((p) => p.length > 0);
}

function randomCuts(length: number, rand: () => number): number[] {
  const count = 1 + Math.floor(rand() * Math.min(8, length));
  const at = new Set<number>();
  while (at.size < count && at.size < length - 1) at.add(1 + Math.floor(rand() * (length - 1)));
  return [...at].sort((a, b) => a - b);
}

type Outcome = { end: number } | { error: string; at: number } | { pending: true };

/**
 * Feeds pieces in order until the body ends; the absolute end offset, the
 * absolute offset of a framing error, or "pending" when all was consumed.
 * Checks on the way that `done` is false until the end.
 */
function feed(framer: BodyFramer, pieces: Buffer[]): Outcome {
  let base = 0;
  for (const piece of pieces) {
    if (framer.done) throw new Error(`done before byte ${base}`);
    let end: number;
    try {
      end = framer.advance(piece, 0);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      return { error: err.message, at: base + err.offset };
    }
    if (end !== -1) {
      if (end < 0 || end > piece.length) throw new Error(`end ${end} outside a ${piece.length}-byte piece`);
      return { end: base + end };
    }
    base += piece.length;
  }
  return { pending: true };
}

function chunkedFramer(maxTrailerBytes = TRAILER_LIMIT): BodyFramer {
  const f = new BodyFramer(maxTrailerBytes);
  f.chunked();
  return f;
}

const validChunked: Array<[string, string]> = [
  ['last chunk only', '0\r\n\r\n'],
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n'],
  ['several chunks', '1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n'],
  ['extensions', '5;name=value\r\nhello\r\nA;a="q;x\\"y";b\r\n0123456789\r\n0;last=1\r\n\r\n'],
  ['HTAB in an extension', '1;\text=1\r\nx\r\n0\r\n\r\n'],
  ['trailers', '3\r\nabc\r\n0\r\nX-Trailer: one\r\nX-Other:\ttwo\r\n\r\n'],
  ['extensions and trailers', '3;x\r\nabc\r\n0;y=z\r\nChecksum: 1234\r\n\r\n'],
  ['upper-case hex and leading zeros', '00A\r\n0123456789\r\n000\r\n\r\n'],
  ['mixed-case hex', 'aB\r\n' + 'd'.repeat(0xab) + '\r\n0\r\n\r\n'],
  ['chunk data that looks like framing', '10\r\n0\r\n\r\nGET / HTTP/\r\n0\r\n\r\n'],
  ['a large chunk', '1000\r\n' + 'L'.repeat(0x1000) + '\r\n0\r\n\r\n'],
  ['obs-text in a trailer', '0\r\nX: caf\xe9\r\n\r\n'],
  // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  ['BWS around ";" and "="', '5 ;\ta = b ; c\r\nhello\r\n0\t; d="x y"\r\n\r\n'],
  ['an extension without a value, then one with', '1;a;b=c\r\nx\r\n0\r\n\r\n'],
  ['quoted-string with escapes and obs-text', '1;a="\\"\\\\\xe9\t"\r\nx\r\n0\r\n\r\n'],
  ['empty quoted-string', '1;a=""\r\nx\r\n0\r\n\r\n'],
  ['trailer with an empty value', '0\r\nX-Empty:\r\n\r\n'],
  ['trailer names that only start like forbidden ones', '0\r\nHostname: a\r\nContent-Length-X: 1\r\nX-Host: b\r\nTEX: c\r\n\r\n'],
];

t.test('chunked: the end offset is exact and pipelined bytes are left alone', async (t) => {
  for (const [name, text] of validChunked) {
    const msg = Buffer.from(text, 'latin1');
    const stream = Buffer.concat([msg, NEXT]);

    t.same(feed(chunkedFramer(), [stream]), { end: msg.length }, `${name}: whole`);
    t.same(feed(chunkedFramer(), [msg]), { end: msg.length }, `${name}: whole, nothing after`);

    // The body starting in the middle of a buffer, as after a request head.
    const prefix = Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
    const f = chunkedFramer();
    t.equal(f.advance(Buffer.concat([prefix, stream]), prefix.length), prefix.length + msg.length, `${name}: from an offset`);
    t.ok(f.done, `${name}: done`);

    const oneByte = cut(
      stream,
      Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
    );
    t.same(feed(chunkedFramer(), oneByte), { end: msg.length }, `${name}: one byte at a time`);

    let everyBoundary = true;
    for (let k = 1; k < stream.length; k++) {
      const got = feed(chunkedFramer(), cut(stream, [k]));
      if (!('end' in got) || got.end !== msg.length) {
        everyBoundary = false;
        t.fail(`${name}: split at ${k} gave ${JSON.stringify(got)}`);
        break;
      }
    }
    t.ok(everyBoundary, `${name}: split in two at every boundary`);

    const rand = prng(0xc0ffee ^ msg.length);
    let randomOk = true;
    for (let round = 0; round < 200; round++) {
      const at = randomCuts(stream.length, rand);
      const got = feed(chunkedFramer(), cut(stream, at));
      if (!('end' in got) || got.end !== msg.length) {
        randomOk = false;
        t.fail(`${name}: cuts ${JSON.stringify(at)} gave ${JSON.stringify(got)}`);
        break;
      }
    }
    t.ok(randomOk, `${name}: 200 seeded random splits`);
  }
});

t.test('chunked: a message cut short stays pending, and is not done', async (t) => {
  for (const [name, text] of validChunked) {
    const msg = Buffer.from(text, 'latin1');
    for (const keep of [1, Math.floor(msg.length / 2), msg.length - 1]) {
      const f = chunkedFramer();
      t.same(feed(f, [msg.subarray(0, keep)]), { pending: true }, `${name}: ${keep} of ${msg.length} bytes`);
      t.notOk(f.done, `${name}: not done after ${keep} bytes`);
    }
  }
});

// [name, bytes, absolute offset of the offending byte, maxTrailerBytes]
const invalidChunked: Array<[string, string, number, number?]> = [
  ['non-hex size', 'zz\r\nhello\r\n0\r\n\r\n', 0],
  ['negative size', '-1\r\nhello\r\n0\r\n\r\n', 0],
  ['signed size', '+5\r\nhello\r\n0\r\n\r\n', 0],
  ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 1],
  ['empty size line', '\r\nhello\r\n0\r\n\r\n', 0],
  ['size overflow (18 hex digits)', 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n', 13],
  ['size overflow (2^52 + 1)', '10000000000001\r\n', 13],
  ['space after the size', '5 \r\nhello\r\n0\r\n\r\n', 2], // BWS is only allowed before ";"
  // chunk-ext grammar (RFC 9112 §7.1.1)
  ['empty extension', '5;\r\nhello\r\n0\r\n\r\n', 2],
  ['extension without a name', '5;=b\r\nhello\r\n0\r\n\r\n', 2],
  ['extension with "=" and no value', '5;a=\r\nhello\r\n0\r\n\r\n', 4],
  ['space inside an extension value', '5;a=b c\r\nhello\r\n0\r\n\r\n', 6],
  ['whitespace before CRLF', '5;a=b \r\nhello\r\n0\r\n\r\n', 6],
  ['obs-text in a token extension value', '5;a=\xe9\r\nhello\r\n0\r\n\r\n', 4],
  ['U+00A0 after the size', '5\xa0\r\nhello\r\n0\r\n\r\n', 1],
  ['unterminated quoted-string', '5;a="b\r\nhello\r\n0\r\n\r\n', 6],
  ['"@" in an extension name', '5;a@b\r\nhello\r\n0\r\n\r\n', 3],
  ['junk after a quoted value', '5;a="b"c\r\nhello\r\n0\r\n\r\n', 7],
  ['extensions over the limit', '5;' + 'e'.repeat(40) + '\r\nhello\r\n0\r\n\r\n', 2 + 16, 16],
  // trailer fields are header fields (RFC 9112 §7.1.2, §5)
  ['a request line as a trailer', '0\r\nGET /admin HTTP/1.1\r\n\r\n', 6],
  ['space before the colon of a trailer', '0\r\nX : a\r\n\r\n', 4],
  ['trailer obs-fold', '0\r\nX: a\r\n b\r\n\r\n', 9],
  ['trailer without a colon', '0\r\nXYZ\r\n\r\n', 6],
  ['empty trailer name', '0\r\n: a\r\n\r\n', 3],
  ['non-token trailer name', '0\r\nX{Y}: a\r\n\r\n', 4],
  // fields that may not be trailers (RFC 9110 §6.5.1)
  ['Content-Length as a trailer', '0\r\nContent-Length: 5\r\n\r\n', 17],
  ['Transfer-Encoding as a trailer', '0\r\nTRANSFER-ENCODING: chunked\r\n\r\n', 20],
  ['Host as a trailer', '0\r\nX-Ok: 1\r\nhost: evil\r\n\r\n', 16],
  ['Content-Type as a trailer', '0\r\nContent-Type: text/html\r\n\r\n', 15],
  ['X-Forwarded-For as a trailer', '0\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n', 18],
  ['bare LF after the size', '5\nhello\r\n0\r\n\r\n', 1],
  ['CR not followed by LF after the size', '5\rhello\r\n0\r\n\r\n', 2],
  ['control byte in an extension', '5;a\x01b\r\nhello\r\n0\r\n\r\n', 3],
  ['DEL in an extension', '5;a\x7f\r\nhello\r\n0\r\n\r\n', 3],
  ['bare LF in an extension', '5;a\nb\r\nhello\r\n0\r\n\r\n', 3],
  ['data longer than its size', '5\r\nhelloXX\r\n0\r\n\r\n', 8],
  ['LF without CR after data', '5\r\nhello\n0\r\n\r\n', 8],
  ['CR without LF after data', '5\r\nhello\rX0\r\n\r\n', 9],
  ['control byte in a trailer', '0\r\nX: a\x01\r\n\r\n', 7],
  ['bare CR in a trailer', '0\r\nX: a\rb\r\n\r\n', 8],
  ['bare LF in a trailer', '0\r\nX: a\nY: b\r\n\r\n', 7],
  ['CR without LF at the very end', '0\r\n\rX', 4],
  ['trailers over the limit', '0\r\nX-Big: ' + 'b'.repeat(64) + '\r\n\r\n', 3 + 16, 16],
];

t.test('chunked: every invalid message throws FramingError at the same byte however it is split', async (t) => {
  for (const [name, text, at, limit] of invalidChunked) {
    const bytes = Buffer.from(text, 'latin1');
    const expected = feed(chunkedFramer(limit), [bytes]);
    t.ok('error' in expected, `${name}: throws`);
    if (!('error' in expected)) continue;
    t.equal(expected.at, at, `${name}: at byte ${at} (${expected.error})`);
    t.same(
      feed(
        chunkedFramer(limit),
        cut(
          bytes,
          Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
        ),
      ),
      expected,
      `${name}: one byte at a time`,
    );
    const rand = prng(0xbad ^ bytes.length);
    let same = true;
    for (let round = 0; round < 100 && same; round++) {
      const cuts = randomCuts(bytes.length, rand);
      const got = feed(chunkedFramer(limit), cut(bytes, cuts));
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        same = false;
        t.fail(`${name}: cuts ${JSON.stringify(cuts)} gave ${JSON.stringify(got)}`);
      }
    }
    t.ok(same, `${name}: 100 seeded random splits`);
  }
});

t.test('chunked: the largest allowed size parses, and the trailer limit is per message', async (t) => {
  const f = chunkedFramer();
  t.equal(f.advance(Buffer.from('fffffffffffff\r\n', 'latin1'), 0), -1, '13 hex digits (2^52 - 1) is a size');
  t.equal(f.remaining, 2 ** 52 - 1, 'remaining is the chunk size');

  const msg = Buffer.from('0\r\nX-T: 0123456\r\n\r\n', 'latin1'); // a 13-byte trailer line
  const g = new BodyFramer(20);
  for (let i = 1; i <= 3; i++) {
    g.chunked();
    t.equal(g.advance(msg, 0), msg.length, `message ${i}: trailers under the limit pass`);
  }
});

t.test('chunked: every forbidden trailer name is refused, in any case', async (t) => {
  for (const name of FORBIDDEN_TRAILERS) {
    for (const spelled of [name, name.toUpperCase()]) {
      const msg = Buffer.from(`0\r\n${spelled}: x\r\n\r\n`, 'latin1');
      const got = feed(chunkedFramer(), [msg]);
      t.ok('error' in got && got.at === 3 + name.length, `${spelled}: refused at its colon`);
    }
  }
});

t.test('chunked with a sink: the data without the framing, however it is split', async (t) => {
  const text = '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n';
  const msg = Buffer.from(text, 'latin1');
  const stream = Buffer.concat([msg, NEXT]);
  const rand = prng(0x5eed);
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    const f = new BodyFramer(TRAILER_LIMIT);
    f.chunked((buf, start, end) => parts.push(Buffer.from(buf.subarray(start, end))));
    t.ok(f.dechunking || round > 0, 'dechunking');
    const got = feed(f, cut(stream, round === 0 ? [] : randomCuts(stream.length, rand)));
    if (!('end' in got) || got.end !== msg.length || Buffer.concat(parts).toString('latin1') !== 'hello 0123456789') {
      t.fail(`round ${round}: ${JSON.stringify(got)} ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`);
      return;
    }
    if (parts.some((p) => p.length === 0)) {
      t.fail('an empty piece');
      return;
    }
  }
  const f = new BodyFramer(TRAILER_LIMIT);
  f.chunked(() => {});
  f.chunked();
  t.notOk(f.dechunking, 'a new body forgets the sink');
});

t.test('chunked: remaining counts down through a chunk split across reads', async (t) => {
  const f = chunkedFramer();
  t.equal(f.mode, FRAME_CHUNKED);
  t.equal(f.advance(Buffer.from('a\r\n0123', 'latin1'), 0), -1);
  t.equal(f.remaining, 6, '6 bytes of the chunk left');
  t.equal(f.advance(Buffer.from('456789\r\n0\r\n\r\nNEXT', 'latin1'), 0), 13, 'ends before NEXT');
  t.ok(f.done);
});

t.test('Content-Length: exact end under every split, pipelined bytes left alone', async (t) => {
  for (const length of [1, 2, 10, 1000]) {
    const body = Buffer.alloc(length, 0x62);
    const stream = Buffer.concat([body, NEXT]);
    const whole = new BodyFramer(TRAILER_LIMIT);
    whole.length(length);
    t.equal(whole.mode, FRAME_LENGTH, `${length}: length mode`);
    t.notOk(whole.done, `${length}: not done before any byte`);
    t.equal(whole.advance(stream, 0), length, `${length}: whole`);
    t.ok(whole.done, `${length}: done`);
    t.equal(whole.remaining, 0);

    const from = new BodyFramer(TRAILER_LIMIT);
    from.length(length);
    t.equal(from.advance(Buffer.concat([Buffer.from('HEAD'), stream]), 4), 4 + length, `${length}: from an offset`);

    const oneByte = new BodyFramer(TRAILER_LIMIT);
    oneByte.length(length);
    t.same(
      feed(
        oneByte,
        cut(
          stream,
          Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
        ),
      ),
      { end: length },
      `${length}: one byte at a time`,
    );

    const rand = prng(length);
    let ok = true;
    for (let round = 0; round < 200 && ok; round++) {
      const f = new BodyFramer(TRAILER_LIMIT);
      f.length(length);
      const cuts = randomCuts(stream.length, rand);
      const got = feed(f, cut(stream, cuts));
      if (!('end' in got) || got.end !== length) {
        ok = false;
        t.fail(`${length}: cuts ${JSON.stringify(cuts)} gave ${JSON.stringify(got)}`);
      }
    }
    t.ok(ok, `${length}: 200 seeded random splits`);
  }

  const partial = new BodyFramer(TRAILER_LIMIT);
  partial.length(10);
  t.equal(partial.advance(Buffer.from('0123'), 0), -1, 'short read: all consumed');
  t.equal(partial.remaining, 6, 'remaining counts down');
  t.notOk(partial.done);
  t.equal(partial.advance(Buffer.from('456789XYZ'), 0), 6, 'then ends exactly');
});

t.test('no body, empty body and close-delimited bodies', async (t) => {
  const f = new BodyFramer(TRAILER_LIMIT);
  f.length(0);
  t.equal(f.mode, FRAME_NONE, 'Content-Length: 0 is no body');
  t.ok(f.done);
  t.equal(f.advance(NEXT, 5), 5, 'consumes nothing');

  f.none();
  t.equal(f.mode, FRAME_NONE);
  t.ok(f.done);
  t.equal(f.advance(NEXT, 0), 0, 'consumes nothing');

  f.untilClose();
  t.equal(f.mode, FRAME_CLOSE);
  t.notOk(f.done, 'never done by itself');
  t.equal(f.advance(NEXT, 0), -1, 'takes everything');
  t.equal(f.advance(Buffer.from('0\r\n\r\n'), 0), -1, 'even what looks like a last chunk');
  t.notOk(f.done);

  // One framer serves message after message.
  f.chunked();
  t.notOk(f.done, 'a new chunked body is not done');
  t.equal(f.advance(Buffer.from('0\r\n\r\n'), 0), 5);
  f.length(3);
  t.equal(f.advance(Buffer.from('abcd'), 0), 3, 'then a length body');
});

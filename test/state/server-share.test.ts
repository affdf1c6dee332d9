// A real server's shared record (lib/state/server-share.ts): its layout (the
// header words, one cache line per worker stripe, the float64 request count
// inside each stripe), the status bits, the peak that only rises, and the
// request total summed over every worker.
import t from 'tap';
import {
  createServerShare,
  raisePeak,
  shareStripes,
  STATUS_EJECTED,
  STATUS_UP,
  statusUp,
  stripeTotalIndex,
  stripeWord,
  totalRequests,
  W_ACTIVE,
  W_FAILURES,
  W_PEAK,
  W_RECENT,
  W_STATUS,
  W_WEIGHT,
} from '../../lib/state/server-share.ts';

t.test('a new share: up, at its weight, every count zero, one stripe per worker', async (t) => {
  const buffer = createServerShare(3, 7);
  t.ok(buffer instanceof SharedArrayBuffer, 'shared between threads');
  const words = new Int32Array(buffer);
  t.equal(words[W_STATUS], STATUS_UP);
  t.equal(words[W_WEIGHT], 7);
  for (const w of [W_ACTIVE, W_FAILURES, W_RECENT, W_PEAK]) t.equal(words[w], 0);
  t.equal(shareStripes(words), 3);
  t.equal(totalRequests(words), 0);
  t.equal(buffer.byteLength, 64 + 3 * 64, 'a 64-byte header line and a 64-byte line per worker');
  t.equal(shareStripes(new Int32Array(createServerShare(1, 1))), 1);
});

t.test('a share needs a positive whole number of workers', async (t) => {
  for (const workers of [0, -1, 1.5, Number.NaN])
    t.throws(() => createServerShare(workers, 1), /workers must be a positive integer/, `${workers}`);
});

t.test('the header words are distinct and inside the header line', async (t) => {
  const header = [W_ACTIVE, W_STATUS, W_WEIGHT, W_FAILURES, W_RECENT, W_PEAK];
  t.equal(new Set(header).size, header.length);
  t.ok(
    header.every((w) => w >= 0 && w < 16),
    'within the first 16 words',
  );
});

t.test("each worker's stripe: its own cache line, its in-flight word and request count apart", async (t) => {
  const workers = 4;
  const words = new Int32Array(createServerShare(workers, 1));
  const lines = new Set<number>();
  for (let s = 0; s < workers; s++) {
    const word = stripeWord(s);
    const float = stripeTotalIndex(s);
    t.equal((word * 4) % 64, 0, `stripe ${s} starts a cache line`);
    t.ok(word >= 16, `stripe ${s} is past the header`);
    lines.add(Math.floor((word * 4) / 64));
    // The float64 covers int32 words 2*float and 2*float+1: in the stripe, not its in-flight word.
    t.ok(2 * float > word && 2 * float + 1 < word + 16, `stripe ${s}: the total sits inside the stripe, after the in-flight word`);
    t.equal(Math.floor((float * 8) / 64), Math.floor((word * 4) / 64), `stripe ${s}: same cache line`);
  }
  t.equal(lines.size, workers, 'no two stripes share a line');
  t.ok(stripeTotalIndex(workers - 1) * 8 + 8 <= words.byteLength, 'the last stripe fits in the buffer');
});

t.test('totalRequests adds every stripe, and the counts do not touch the in-flight words', async (t) => {
  const words = new Int32Array(createServerShare(3, 1));
  const floats = new Float64Array(words.buffer);
  floats[stripeTotalIndex(0)] = 5;
  floats[stripeTotalIndex(1)] = 2 ** 40; // past int32: why it is a float64
  floats[stripeTotalIndex(2)] = 1;
  t.equal(totalRequests(words), 2 ** 40 + 6);
  for (let s = 0; s < 3; s++) t.equal(words[stripeWord(s)], 0, `stripe ${s} in-flight word untouched`);
  t.same([words[W_ACTIVE], words[W_STATUS], words[W_WEIGHT]], [0, STATUS_UP, 1], 'the header untouched');
});

t.test('statusUp: up and not ejected', async (t) => {
  t.equal(statusUp(STATUS_UP), true);
  t.equal(statusUp(0), false, 'down');
  t.equal(statusUp(STATUS_UP | STATUS_EJECTED), false, 'ejected while up');
  t.equal(statusUp(STATUS_EJECTED), false);
  t.equal(statusUp(STATUS_UP | 4), true, 'other bits do not matter');
});

t.test('raisePeak only ever raises the peak', async (t) => {
  const words = new Int32Array(createServerShare(1, 1));
  raisePeak(words, 3);
  t.equal(words[W_PEAK], 3);
  raisePeak(words, 2);
  t.equal(words[W_PEAK], 3, 'a lower count leaves it');
  raisePeak(words, 3);
  t.equal(words[W_PEAK], 3);
  raisePeak(words, 9);
  t.equal(words[W_PEAK], 9);
});

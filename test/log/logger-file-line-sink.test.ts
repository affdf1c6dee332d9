// The log file sink on its own: lines are buffered, written whole and in
// order, whatever their size and characters, and none waits long.
import t, { type Test } from 'tap';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLineSink } from '../../lib/log/logger.ts';
import { pollUntil } from '../helpers/wait.ts';

function openLog(t: Test): { file: string; sink: FileLineSink } {
  const file = join(mkdtempSync(join(tmpdir(), 'tcpvs-sink-')), 'log');
  const fd = openSync(file, 'a');
  t.teardown(() => closeSync(fd));
  return { file, sink: new FileLineSink(fd) };
}

t.test('a line reaches the file without a flush, within a bounded time', async (t) => {
  const { file, sink } = openLog(t);
  sink.write('{"one":1}\n');
  await pollUntil(() => readFileSync(file, 'utf8') !== '', 5000, 10);
  t.equal(readFileSync(file, 'utf8'), '{"one":1}\n');
});

t.test('lines written in one turn beyond the buffer: whole lines go out before the turn ends, all of them in order at flush', async (t) => {
  const { file, sink } = openLog(t);
  const lines = Array.from({ length: 3000 }, (_, i) => `{"n":${i},"pad":"${'p'.repeat(80)}"}\n`);
  for (const l of lines) sink.write(l);
  const early = readFileSync(file, 'utf8');
  t.ok(early.length > 0, 'the buffer was written when full, not only at the end of the turn');
  t.ok(early.endsWith('\n'), 'only whole lines');
  t.equal(early, lines.slice(0, early.split('\n').length - 1).join(''), 'the first lines, in order');
  sink.flush();
  t.equal(readFileSync(file, 'utf8'), lines.join(''), 'every line once, in order');
});

t.test('lines written across turns, multibyte characters and a line larger than the buffer', async (t) => {
  const { file, sink } = openLog(t);
  const want: string[] = [];
  for (let turn = 0; turn < 40; turn++) {
    for (let i = 0; i < 50; i++) {
      const l = `{"t":${turn},"i":${i},"s":"é€😀${'x'.repeat(i * 7)}"}\n`;
      want.push(l);
      sink.write(l);
    }
    if (turn === 20) {
      const huge = `{"huge":"${'€'.repeat(70000)}"}\n`;
      want.push(huge);
      sink.write(huge);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  sink.flush();
  t.equal(readFileSync(file, 'utf8'), want.join(''), 'the bytes are the UTF-8 of every line, in order');
});

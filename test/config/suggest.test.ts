// The "did you mean" helper: edit distance with swaps, and when a guess is made.
import t from 'tap';
import { didYouMean, editDistance, nearest } from '../../lib/config/suggest.ts';

t.test('edit distance counts insertions, deletions, substitutions and swaps', async (t) => {
  t.equal(editDistance('', ''), 0);
  t.equal(editDistance('abc', ''), 3);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('scheduler', 'scheduler'), 0);
  t.equal(editDistance('sheduler', 'scheduler'), 1, 'a letter left out');
  t.equal(editDistance('schedulerr', 'scheduler'), 1, 'one too many');
  t.equal(editDistance('schedular', 'scheduler'), 1, 'one wrong');
  t.equal(editDistance('shceduler', 'scheduler'), 1, 'two swapped');
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('listen', 'server'), editDistance('server', 'listen'), 'symmetric');
});

t.test('nearest: a near miss, case ignored; nothing when far off or tied', async (t) => {
  const keys = ['listen', 'port', 'scheduler', 'server', 'rule', 'timeout', 'maxclients'];
  t.equal(nearest('sheduler', keys), 'scheduler');
  t.equal(nearest('SEVER', keys), 'server');
  t.equal(nearest('prot', keys), 'port');
  t.equal(nearest('maxclient', keys), 'maxclients');
  t.equal(nearest('persistent', keys), null, 'too far from everything');
  t.equal(nearest('xy', keys), null);
  t.equal(nearest('ab', ['ax', 'ay']), null, 'two equally near: no guess');
  t.equal(nearest('ab', ['ab', 'ax']), 'ab');
  t.equal(didYouMean('sheduler', keys), "; did you mean 'scheduler'?");
  t.equal(didYouMean('persistent', keys), '');
});

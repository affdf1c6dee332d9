// Event-loop turn numbers (lib/net/loop-turn.ts), which the upstream pool
// uses to never hand out a connection in the turn it was released: a turn
// is counted only when someone asked for its number, counted once however
// often they asked, and "reading now" nests.
import t from 'tap';
import { currentTurn, enterRead, leaveRead, readingNow, thisTurn } from '../../lib/net/loop-turn.ts';

/** Resolves after the check phase of the current turn (and so after endTurn, queued earlier). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

t.test('thisTurn: one number for the whole turn, the next turn gets the next number', async (t) => {
  const start = thisTurn();
  t.equal(thisTurn(), start, 'asked again in the same turn');
  t.equal(currentTurn(), start);
  await nextTurn();
  t.equal(currentTurn(), start + 1, 'counted once, though asked twice');
  t.equal(thisTurn(), start + 1);
  await nextTurn();
  t.equal(currentTurn(), start + 2);
});

t.test('a turn nobody asked about is not counted', async (t) => {
  await nextTurn(); // let any count asked for earlier land
  const start = currentTurn();
  await nextTurn();
  await nextTurn();
  t.equal(currentTurn(), start, 'currentTurn() alone does not advance it');
  thisTurn();
  await nextTurn();
  t.equal(currentTurn(), start + 1);
});

t.test('a turn boundary is a setImmediate, not a microtask', async (t) => {
  const start = thisTurn();
  await Promise.resolve();
  await new Promise<void>((resolve) => process.nextTick(resolve));
  t.equal(currentTurn(), start, 'microtasks and nextTick run inside the turn');
  await nextTurn();
  t.equal(currentTurn(), start + 1);
});

t.test('readingNow: true between enterRead and leaveRead, nested', async (t) => {
  t.equal(readingNow(), false);
  enterRead();
  t.equal(readingNow(), true);
  enterRead();
  leaveRead();
  t.equal(readingNow(), true, 'an inner leave does not end the outer read');
  leaveRead();
  t.equal(readingNow(), false);
});

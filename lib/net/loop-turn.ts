// Which turn of the event loop this is, and whether we are inside a socket
// read callback (the poll phase), for the upstream pool's defence against
// bytes a server sends after a complete response (see lib/upstream/pool.ts).
//
// In one turn libuv reads every socket that epoll_wait found readable, in
// the order epoll listed them, then runs the check phase (setImmediate).
// `turn` is bumped by one setImmediate per turn in which someone asked for
// it, and by nothing while the loop is quiet: no timer, no busy loop.

let turn = 0;
let turnEnding = false;
let readDepth = 0;

function endTurn(): void {
  turn++;
  turnEnding = false;
}

/** The current turn, making sure the next turn gets a new number. */
export function thisTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    setImmediate(endTurn);
  }
  return turn;
}

/** The current turn, without asking for the next one to be counted. */
export function currentTurn(): number {
  return turn;
}

/** Around a socket read callback (in a try/finally): we are in the poll phase. */
export function enterRead(): void {
  readDepth++;
}

export function leaveRead(): void {
  readDepth--;
}

/** True inside a socket read callback: whatever epoll reported in this turn was ready before now. */
export function readingNow(): boolean {
  return readDepth > 0;
}

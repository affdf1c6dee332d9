// Waiting in tests. A test never waits a fixed time and hopes: it polls until
// the condition it needs holds, within a deadline generous enough for a
// loaded machine (pollUntil, waitUntil). The one fixed wait is quietFor: it
// proves that something does NOT happen within a stated time, and says what.
// sleep is for pacing what a test sends (and for the loops here), not for
// waiting on what tcpvs does.

/** Resolves after `ms`: pacing a sender, never a wait for a result. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Tries `check` every `everyMs` until it holds or `timeoutMs` passes (one last try at the deadline); returns whether it held. */
export async function pollUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}

/** pollUntil that throws, naming `what` did not happen within `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  if (!(await pollUntil(check, timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Waits `ms` so that something which must NOT happen would have had the time
 * to: a late retry, an error line, a second connection. `what` names it, so
 * every such wait says what it rules out. Prefer an event when one exists.
 */
export function quietFor(ms: number, what: string): Promise<void> {
  void what;
  return sleep(ms);
}

/**
 * Polls `read` until its value has not changed for `stillMs`: that value, or
 * null when it kept changing for `timeoutMs`. For "it has done all it will"
 * (a count of checks, bytes pushed against a paused reader).
 */
export async function untilSteady(read: () => number, stillMs: number, timeoutMs: number, everyMs = 20): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(everyMs);
    const now = read();
    if (now !== value) {
      value = now;
      since = Date.now();
    } else if (Date.now() - since >= stillMs) return value;
  }
  return null;
}

// The CPU time a process and its descendants have used (utime + stime of
// every thread, from /proc), for CPU time per request: the figure that holds
// on a shared machine, where requests per second move with the neighbours.
import { readFileSync, readdirSync } from 'node:fs';

/** USER_HZ: the unit of utime and stime in /proc/PID/stat (100 on Linux). */
const CLOCK_TICKS = 100;

interface Stat {
  ppid: number;
  seconds: number;
}

function readStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces), from field 3, the state.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  } catch {
    return null; // gone
  }
}

/** Seconds of CPU used so far by `pid` and every process below it. */
export function treeCpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    const stat = readStat(p);
    if (stat === null) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [p]);
    else list.push(p);
  }
  let total = 0;
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.pop()!;
    total += readStat(p)?.seconds ?? 0;
    queue.push(...(children.get(p) ?? []));
  }
  return total;
}

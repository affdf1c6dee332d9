// What /metrics says of the process (lib/stats/process.ts), on its own: a
// busy stretch of the thread shows as event-loop delay, once, and the next
// sample starts afresh.
import t from 'tap';
import { ProcessSampler } from '../../lib/stats/process.ts';

t.test('a busy stretch shows as event-loop delay; a sample resets it', async (t) => {
  const sampler = new ProcessSampler('1.2.3');
  t.teardown(() => sampler.close());
  // Let the monitor's timer (10 ms resolution) run a few times first.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const until = performance.now() + 60;
  while (performance.now() < until);
  // The monitor's overdue timer runs in the first timers phase after the
  // stretch, before this later one: by then the delay is recorded.
  await new Promise((resolve) => setTimeout(resolve, 15));
  const busy = sampler.sample();
  t.ok(busy.loopDelayMaxSeconds >= 0.03, `a 60 ms stretch is at least 30 ms of delay (${busy.loopDelayMaxSeconds} s)`);
  t.ok(busy.loopDelayP50Seconds <= busy.loopDelayP99Seconds && busy.loopDelayP99Seconds <= busy.loopDelayMaxSeconds);
  t.equal(busy.version, '1.2.3');
  t.ok(busy.cpuUserSeconds > 0 && busy.residentBytes > 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const quiet = sampler.sample();
  t.ok(quiet.loopDelayMaxSeconds < busy.loopDelayMaxSeconds, `the next sample starts afresh (${quiet.loopDelayMaxSeconds} s)`);
});

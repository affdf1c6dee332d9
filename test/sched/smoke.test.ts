import t from 'tap';
import { available } from '../../lib/sched/scheduler.ts';
t.test('available', async (t) => {
  t.equal(available({ id: 0, host: 'h', port: 1, name: 'h:1', weight: 0, up: true, active: 0, total: 0 }), false);
});

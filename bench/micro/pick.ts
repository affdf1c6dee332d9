// Picking a real server (lib/sched/): the schedulers most groups use, over 8
// servers, with the in-flight counting of a request around each pick; and a
// source persistence lookup in the shared pin table.
import { createScheduler, makeRealServers } from '../../lib/sched/index.ts';
import type { PickContext } from '../../lib/sched/index.ts';
import { createAffinity, withAffinityDefaults } from '../../lib/affinity/index.ts';
import { RequestView } from '../../lib/route/request-view.ts';
import { measure } from './harness.ts';

const servers = () => makeRealServers(Array.from({ length: 8 }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 80, weight: 1 + (i % 3) })));
const ctx: PickContext = { key: '/static/app.js', clientAddress: '192.0.2.7' };
const cases = ['rr', 'wrr', 'wlc', 'p2c', 'mh', 'chbl', 'lblc'].map((name) => {
  const scheduler = createScheduler(name, servers(), {});
  return {
    name: `pick: ${name} (8 servers)`,
    run: () => {
      const s = scheduler.pick(ctx)!;
      s.begin();
      s.end();
      return s;
    },
  };
});
const group = servers();
const affinity = createAffinity(withAffinityDefaults({ kind: 'source' }), group, { groupName: 'micro' });
const view = new RequestView();
view.reset('GET', '/', ['Host', 'x'], '192.0.2.7');
affinity.pin(view, group[3]);
cases.push({ name: 'persist source: lookup of a pinned client', run: () => affinity.lookup(view)! });
measure(cases);

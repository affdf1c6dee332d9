// The registry's descriptors: each describes the scheduler its factory makes,
// and every knob reads back what it prints, in the parser and the printer.
import t from 'tap';
import { createScheduler, knobStatements, makeRealServers, schedulerDescriptors } from '../../lib/sched/index.ts';
import { parseNativeConfig } from '../../lib/config/native.ts';
import { formatTuning } from '../../lib/config/print.ts';

// One example per knob statement: a new knob without one fails the test.
const EXAMPLES: Record<string, string[]> = {
  seed: ['0', '4294967295', '17'],
  'table-max': ['1', '16384', '1048576'],
  expire: ['1ms', '90s', '24h'],
  'set-expire': ['1ms', '5m', '596h'],
  'table-size': ['101', '1009', '65537'],
  'balance-factor': ['1.01', '1.25', '100'],
  'balance-on': ['requests', 'active'],
};

t.test('each descriptor describes the scheduler its factory makes', async (t) => {
  for (const d of schedulerDescriptors()) {
    const servers = makeRealServers([{ host: '127.0.0.1', port: 1, weight: 1 }]);
    const scheduler = d.create(servers, {});
    t.equal(scheduler.name, d.name, `${d.name}: name`);
    t.equal(scheduler.usesKey, d.usesKey, `${d.name}: usesKey ${d.usesKey}`);
    t.equal(createScheduler(d.name, servers, {}).name, d.name, `${d.name}: createScheduler finds it`);
  }
});

t.test('every knob round-trips: parse(print(parse(text))) and through the config file and printer', async (t) => {
  const statements = knobStatements();
  t.same([...statements.keys()].sort(), Object.keys(EXAMPLES).sort(), 'an example for every knob');
  for (const [statement, { knob, schedulers }] of statements) {
    for (const text of EXAMPLES[statement] ?? []) {
      const first = knob.parse(text);
      if (!first.ok) {
        t.fail(`${statement} ${text}: ${first.message}`);
        continue;
      }
      const printed = knob.print(first.value);
      const again = knob.parse(printed);
      t.same(again, first, `${statement} ${text} prints as '${printed}' and reads back`);
      for (const scheduler of schedulers) {
        const config = parseNativeConfig(
          [
            'service s',
            'listen 127.0.0.1:8080',
            `group g scheduler ${scheduler}`,
            `${statement} ${text}`,
            'server 127.0.0.1:1',
            'default g',
          ].join('\n'),
          'knobs.tcpvs',
        );
        const tuning = config.services[0].groups[0].tuning;
        t.same(tuning, { [knob.field]: first.value }, `${scheduler}: ${statement} ${text} compiles`);
        t.equal(formatTuning(tuning), `${statement} ${printed}`, `${scheduler}: printed as its statement`);
      }
    }
  }
});

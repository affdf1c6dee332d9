// A micro-benchmark of one hot-path function: warm it up, then time a fixed
// number of calls and print nanoseconds per call. Each case runs in a loop of
// its own, alone, so a change to that function can be measured on its own.
// The numbers are for comparing one build with another on the same machine,
// not with other machines.

export interface MicroCase {
  name: string;
  /** One operation; what it returns is kept so the work is not optimised away. */
  run: () => unknown;
}

let sink: unknown;

export function measure(cases: MicroCase[], iterations = Number(process.env.MICRO_ITERATIONS ?? 1_000_000)): void {
  for (const c of cases) {
    for (let i = 0; i < Math.min(200_000, iterations); i++) sink = c.run(); // warm-up: let the JIT settle
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = c.run();
    const ns = Number(process.hrtime.bigint() - started) / iterations;
    process.stdout.write(`${c.name.padEnd(48)} ${ns.toFixed(1).padStart(9)} ns/op\n`);
  }
  if (sink === Symbol.for('never')) process.stdout.write('');
}

// No module of lib/ reaches itself through its imports. Every relative
// `import ... from './x.ts'` and `export ... from './x.ts'` of lib/**/*.ts
// counts, type-only ones included: a type-only cycle is erased at run time,
// but the two modules still cannot be understood, moved or tested apart,
// which is what a cycle costs. Dynamic import() is left out: it is the way
// to load a module late on purpose.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { RequestOutcome as DataPathOutcome } from '../../lib/proxy/observer.ts';
import { OUTCOMES, type RequestOutcome } from '../../lib/stats/collector.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const LIB = join(ROOT, 'lib');

/**
 * Imports left out of the graph, each `FROM -> TO`: cycles that other
 * branches of the same refactor are removing. The integrator deletes an entry
 * once the branch that breaks its cycle is merged (the test fails on an entry
 * whose import is gone).
 */
// Imports a cycle is allowed to run through, each with the reason; none now.
const ALLOWED_IMPORTS: readonly string[] = [];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

// `import X from '...'`, `import type {...} from '...'`, `export {...} from '...'`,
// `import '...'`, across lines; comments are not parsed, so a commented-out
// import at the start of a line would count (none does).
const STATIC_IMPORT = /^(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"](\.{1,2}\/[^'"]+)['"]/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) out.push(resolve(dirname(file), m[1]));
  return out;
}

/**
 * The modules of every strongly connected component with more than one
 * module (Tarjan), each listed sorted: every cycle lies inside one.
 */
function cyclicGroups(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    for (let m = stack.pop()!; ; m = stack.pop()!) {
      onStack.delete(m);
      group.push(m);
      if (m === node) break;
    }
    if (group.length > 1 || (graph.get(node) ?? []).includes(node)) groups.push(group.map((f) => relative(ROOT, f)).sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return groups.sort();
}

const graph = new Map<string, string[]>();
for (const file of sources(LIB)) graph.set(file, importsOf(file));
const allowed = new Set(ALLOWED_IMPORTS);
const acyclic = new Map(
  [...graph].map(([from, to]) => [from, to.filter((m) => !allowed.has(`${relative(ROOT, from)} -> ${relative(ROOT, m)}`))]),
);

t.test('the parser sees the imports', async (t) => {
  // A guard against a regex that silently matches nothing.
  const edges = [...graph.values()].reduce((n, e) => n + e.length, 0);
  t.ok(graph.size > 100 && edges > graph.size, `${graph.size} modules, ${edges} imports`);
  const spec = graph.get(join(LIB, 'config', 'load.ts')) ?? [];
  t.ok(spec.includes(join(LIB, 'config', 'native.ts')), 'config/load.ts imports config/native.ts');
});

t.test('no import cycles in lib/', async (t) => {
  const groups = cyclicGroups(acyclic);
  t.same(groups, [], `modules that import each other, directly or not:\n${groups.map((g) => g.join(' ')).join('\n')}`);
  const edges = new Set([...graph].flatMap(([from, to]) => to.map((m) => `${relative(ROOT, from)} -> ${relative(ROOT, m)}`)));
  t.same(
    ALLOWED_IMPORTS.filter((e) => !edges.has(e)),
    [],
    'allowed imports that are gone (delete them from ALLOWED_IMPORTS)',
  );
});

t.test('the outcomes the stats count are the ones the data path reports', async (t) => {
  // lib/stats lists them itself rather than import the data path: the types must stay equal.
  const same: [DataPathOutcome] extends [RequestOutcome] ? ([RequestOutcome] extends [DataPathOutcome] ? true : false) : false = true;
  t.ok(same);
  const all: readonly DataPathOutcome[] = OUTCOMES;
  t.equal(new Set(all).size, OUTCOMES.length);
});

t.test('the config parser loads no part of the data path', async (t) => {
  // lib/config reads text into a Config; it may use the pure path normaliser
  // (lib/route/normalise.ts) to refuse a path that could never match.
  const dataPath = /^lib\/(?:proxy|upstream|http|control)\/|^lib\/route\/(?!normalise\.ts$)/;
  const bad = [...graph]
    .filter(([from]) => relative(ROOT, from).startsWith('lib/config/'))
    .flatMap(([from, to]) => to.map((m) => [relative(ROOT, from), relative(ROOT, m)]))
    .filter(([, m]) => dataPath.test(m))
    .map(([from, m]) => `${from} -> ${m}`);
  t.same(bad, []);
});

t.test('the admin side and the statistics see what runs through views, not the data path', async (t) => {
  // They read lib/control/control-plane.ts and runtime-view.ts; a data-path class
  // (ServiceRuntime, GroupRuntime, a pool) in their hands could change what runs.
  const readers = /^lib\/(?:admin|stats|tcpvsadm)\/|^lib\/control\/(?:control-plane|runtime-view)\.ts$/;
  const bad = [...graph]
    .filter(([from]) => readers.test(relative(ROOT, from)))
    .flatMap(([from, to]) => to.map((m) => `${relative(ROOT, from)} -> ${relative(ROOT, m)}`))
    .filter((e) => /-> lib\/(?:proxy|upstream|http)\//.test(e));
  t.same(bad, []);
});

t.test('the config parser reaches the schedulers only through their registry', async (t) => {
  // A scheduler's descriptor owns its knobs, their parsing and printing and its
  // checks (issue 13, as Envoy's policies own their config): the parser reads
  // them from lib/sched/index.ts and the interface types, never from one
  // scheduler's file, so adding a scheduler touches no config code.
  const bad = [...graph]
    .filter(([from]) => relative(ROOT, from).startsWith('lib/config/'))
    .flatMap(([from, to]) => to.map((m) => `${relative(ROOT, from)} -> ${relative(ROOT, m)}`))
    .filter((e) => e.includes('-> lib/sched/') && !/-> lib\/sched\/(?:index|scheduler)\.ts$/.test(e));
  t.same(bad, []);
});

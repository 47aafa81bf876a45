/**
 * The pipeline graph: stage B depends on stage A when one of B's deps is, contains or lies
 * inside a path A writes: one of its outs, or a file it keeps in git (a `cache: false` metrics
 * file or plot, spec.ts's keptInGit). Validation refuses a path written by two stages (or nested
 * in another stage's), a stage reading what it writes, and cycles. Pure.
 */
import { invalid, keptInGit, type StageSpec } from './spec.js';

export interface DagEdge {
  from: string;
  to: string;
  /** The dep of `to` that `from` writes. */
  path: string;
}

export interface Dag {
  stages: Map<string, StageSpec>;
  /** Every stage, upstream before downstream (ties in file order). */
  order: string[];
  edges: DagEdge[];
  upstream: Map<string, Set<string>>;
  downstream: Map<string, Set<string>>;
}

/** Whether two repository paths are the same or one lies inside the other. */
export function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
}

/** Every path a stage writes: its outs and the files it keeps in git. */
export function writtenBy(s: StageSpec): string[] {
  return [...s.outs, ...keptInGit(s)];
}

export function buildDag(stages: StageSpec[]): Dag {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const outs: { path: string; stage: string }[] = [];
  for (const s of stages) {
    const writes = writtenBy(s);
    for (const o of writes) {
      const other = outs.find((x) => overlaps(x.path, o));
      if (other) {
        const what =
          other.path === o
            ? `out ${o} is claimed by stages ${other.stage} and ${s.name}`
            : `out ${o} of stage ${s.name} overlaps out ${other.path} of stage ${other.stage}`;
        throw invalid(`dv.yaml: ${what}: each path may be written by one stage only`, { path: o, stages: [other.stage, s.name] });
      }
      outs.push({ path: o, stage: s.name });
    }
    for (const d of s.deps) {
      const own = writes.find((o) => overlaps(o, d));
      if (own)
        throw invalid(`dv.yaml: stage ${s.name} reads ${d} and writes ${own}: a stage cannot depend on its own output`, {
          stage: s.name,
          path: d,
        });
    }
  }
  const edges: DagEdge[] = [];
  const upstream = new Map<string, Set<string>>(stages.map((s) => [s.name, new Set()]));
  const downstream = new Map<string, Set<string>>(stages.map((s) => [s.name, new Set()]));
  for (const s of stages) {
    for (const d of s.deps) {
      for (const o of outs) {
        if (o.stage === s.name || !overlaps(o.path, d)) continue;
        edges.push({ from: o.stage, to: s.name, path: d });
        upstream.get(s.name)!.add(o.stage);
        downstream.get(o.stage)!.add(s.name);
      }
    }
  }
  // Kahn's algorithm, taking ready stages in file order so the order is stable.
  const indeg = new Map(stages.map((s) => [s.name, upstream.get(s.name)!.size]));
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < stages.length) {
    const next = stages.find((s) => !done.has(s.name) && indeg.get(s.name) === 0);
    if (!next)
      throw invalid(
        `dv.yaml: the stages form a cycle: ${findCycle(
          stages.filter((s) => !done.has(s.name)).map((s) => s.name),
          upstream,
        ).join(' -> ')}: break it by removing a dep or an out (or \`dv stage remove\` a stage on it)`,
        {},
      );
    done.add(next.name);
    order.push(next.name);
    for (const d of downstream.get(next.name)!) indeg.set(d, indeg.get(d)! - 1);
  }
  return { stages: byName, order, edges, upstream, downstream };
}

/** One cycle among `left` (stages that never became ready), as a closed path a -> b -> a. */
function findCycle(left: string[], upstream: Map<string, Set<string>>): string[] {
  const inLeft = new Set(left);
  const path: string[] = [];
  let cur = left[0];
  while (!path.includes(cur)) {
    path.push(cur);
    cur = [...upstream.get(cur)!].find((u) => inLeft.has(u))!;
  }
  // The walk followed deps backwards: print it in the direction data flows, from the stage
  // that comes first in dv.yaml.
  const cycle = path.slice(path.indexOf(cur)).reverse();
  const start = cycle.indexOf(left.find((n) => cycle.includes(n))!);
  const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
  return [...rotated, rotated[0]];
}

/** `names` and every stage upstream of them, in DAG order. */
export function withUpstream(dag: Dag, names: string[]): string[] {
  const want = new Set<string>();
  const visit = (n: string): void => {
    if (want.has(n)) return;
    want.add(n);
    for (const u of dag.upstream.get(n) ?? []) visit(u);
  };
  names.forEach(visit);
  return dag.order.filter((n) => want.has(n));
}

/** Every stage downstream of `names` (not including them), in DAG order. */
export function downstreamOf(dag: Dag, names: Iterable<string>): string[] {
  const seen = new Set<string>();
  const visit = (n: string): void => {
    for (const d of dag.downstream.get(n) ?? [])
      if (!seen.has(d)) {
        seen.add(d);
        visit(d);
      }
  };
  for (const n of names) visit(n);
  return dag.order.filter((n) => seen.has(n));
}

/** The stage that writes `path` or a directory holding it. */
export function ownerOf(dag: Dag, path: string): { stage: string; out: string } | undefined {
  for (const name of dag.order) {
    const out = writtenBy(dag.stages.get(name)!).find((o) => path === o || path.startsWith(o + '/'));
    if (out) return { stage: name, out };
  }
  return undefined;
}

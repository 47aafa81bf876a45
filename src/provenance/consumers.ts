/**
 * Reverse lineage inside one dv.lock: the stage outs built from some data, directly (a stage read
 * it) or transitively (a stage read an out built from it). Pure.
 *
 * Invariant: the closure visits each stage at most once (a stage enters the frontier only when
 * first reached), so it ends after the lock's stages whatever their deps say, cycles included.
 */
import { overlaps } from '../pipeline/dag.js';
import type { Lockfile } from '../pipeline/lockfile.js';
import type { DepRecord } from '../pipeline/run.js';

export interface Consumer {
  /** The out built from the data. */
  path: string;
  id: string;
  snapshot: string;
  stage: string;
  /** The stages from the one that read the data to the one that wrote this out. */
  via: string[];
  /** The version of the data the first stage of `via` read. */
  input: { path: string; id: string; snapshot?: string };
}

/** Every out of `lock` built from the deps `reads` accepts, with the chain of stages that led there. */
export function consumersIn(lock: Lockfile, reads: (d: DepRecord) => boolean): Consumer[] {
  const stages = Object.entries(lock.stages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const reached = new Map<string, { via: string[]; input: Consumer['input'] }>();
  let frontier: string[] = [];
  for (const [name, st] of stages) {
    const d = st.deps.find(reads);
    if (!d) continue;
    reached.set(name, { via: [name], input: { path: d.path, id: d.id, ...(d.snapshot ? { snapshot: d.snapshot } : {}) } });
    frontier.push(name);
  }
  // Breadth first: each stage is reached by its shortest chain.
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const from of frontier) {
      const outs = lock.stages[from].outs.map((o) => o.path);
      const how = reached.get(from)!;
      for (const [name, st] of stages) {
        if (reached.has(name) || !st.deps.some((d) => outs.some((o) => overlaps(o, d.path)))) continue;
        reached.set(name, { via: [...how.via, name], input: how.input });
        next.push(name);
      }
    }
    frontier = next;
  }
  const out: Consumer[] = [];
  for (const [name, how] of reached)
    for (const o of lock.stages[name].outs) out.push({ path: o.path, id: o.id, snapshot: o.snapshot, stage: name, ...how });
  return out.sort((a, b) => a.via.length - b.via.length || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

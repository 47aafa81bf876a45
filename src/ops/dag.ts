/** `dv dag`: the pipeline graph of dv.yaml (stages, and which path links each pair). */
import type { RepoSession } from '../repo/repo.js';
import type { DagEdge } from '../pipeline/dag.js';
import type { Graph } from '../pipeline/graph.js';
import { loadPipeline } from '../pipeline/state.js';
import { stageList, type StageInfo } from './stage.js';

export interface DagResult {
  /** In DAG order: every stage after the stages it reads from. */
  stages: StageInfo[];
  edges: DagEdge[];
}

export async function dag(s: RepoSession): Promise<DagResult> {
  const p = await loadPipeline(s.root);
  return { stages: await stageList(s), edges: p.dag.edges };
}

/** Stages as nodes; an edge per path one stage writes and the next reads. */
export function dagGraph(r: DagResult): Graph {
  return {
    nodes: r.stages.map((st) => ({ id: st.name, label: st.name, kind: 'stage' as const })),
    edges: r.edges.map((e) => ({ from: e.from, to: e.to, label: e.path })),
  };
}

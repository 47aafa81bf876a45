/**
 * The pipeline views of `dv ui` as JSON: the DAG of dv.yaml (the `dv dag` op) laid out by elkjs
 * on the server, and one stage's lineage (the `dv lineage` op, from the snapshot of its first out
 * as dv.lock records it) with its verification status: whether the workspace still matches the
 * recorded run (what `dv status` says of the stage) and whether the run record is signed by a
 * trusted key (`attest.trustedKeys`).
 *
 * Invariants: read only; dv.yaml and dv.lock come from a clone and are parsed by the pipeline
 * readers (bounded, validated); the stage name is looked up among the stages, never used as a path.
 */
import { DvError } from '../errors.js';
import { checkRunSignature } from '../provenance/run-signature.js';
import { trustedKeys } from '../provenance/trust.js';
import { loadRunSignature } from '../pipeline/run-cache.js';
import { describeChange, loadPipeline, outOfDate } from '../pipeline/state.js';
import type { RepoSession } from '../repo/repo.js';
import { type Layout, layoutDag } from '../ui/layout.js';
import { type DagResult, dag } from './dag.js';
import { type LineageResult, lineage } from './lineage.js';

type StageInfo = DagResult['stages'][number];

export interface DagView extends Layout {
  stages: StageInfo[];
}

/** The DAG with positions (left to right, in DAG order). */
export async function dagView(s: RepoSession): Promise<DagView> {
  const d = await dag(s);
  const layout = await layoutDag({
    nodes: d.stages.map((st) => ({ id: st.name, label: st.name })),
    edges: d.edges.map((e) => ({ from: e.from, to: e.to, label: e.path })),
  });
  return { ...layout, stages: d.stages.slice(0, layout.nodes.length) };
}

export interface StageView {
  stage: StageInfo;
  /** Whether dv.lock records a run of it. */
  recorded: boolean;
  /** The lineage of its first out (stages[0] is this stage's run); absent when it has no recorded out. */
  lineage?: LineageResult;
  /** Why there is no lineage (no out, or its snapshot is not in this clone). */
  lineageError?: string;
  verification: {
    /** `up to date`, or what changed since the recorded run (as `dv status` says). */
    state: string[];
    upToDate: boolean;
    /** The run record's signature: `signed by KEY`, `unsigned`, or why it is not trusted. */
    signature: string;
    signed: boolean;
  };
}

async function signature(s: RepoSession, runId: string | undefined): Promise<{ signature: string; signed: boolean }> {
  if (!runId) return { signature: 'no run recorded', signed: false };
  const envelope = await loadRunSignature(s, runId);
  if (!envelope) return { signature: 'unsigned', signed: false };
  const keys = await trustedKeys(s.config, s.root).catch(() => undefined);
  if (!keys) return { signature: 'signed (no trusted keys configured to check it: attest.trustedKeys)', signed: false };
  const record = await s.store.get(runId).catch(() => undefined);
  if (!record) return { signature: 'signed, but the run record is not in this clone', signed: false };
  const t = checkRunSignature(record, envelope, keys);
  return t.ok ? { signature: `signed by trusted key ${t.keyid}`, signed: true } : { signature: `run record ${t.why}`, signed: false };
}

/** One stage: its definition, its lineage and its verification status. */
export async function stageView(s: RepoSession, name: string): Promise<StageView> {
  const d = await dag(s);
  const stage = d.stages.find((st) => st.name === name);
  if (!stage) throw new DvError('NOT_TRACKED', `no stage ${JSON.stringify(name.slice(0, 80))} in dv.yaml`, { stage: name });
  const p = await loadPipeline(s.root);
  const locked = Object.hasOwn(p.lock.stages, name) ? p.lock.stages[name] : undefined;
  let lin: LineageResult | undefined;
  let lineageError: string | undefined;
  const out = locked?.outs[0];
  if (!out) lineageError = locked ? 'the stage has no out dv records' : 'never run: dv.lock records no run of it';
  else {
    try {
      lin = await lineage(s, { target: out.snapshot });
    } catch (e) {
      lineageError = e instanceof Error ? e.message : String(e);
    }
  }
  const stale = (await outOfDate(s, p, [name])).find((x) => x.name === name);
  const state = stale ? stale.changes.map(describeChange) : ['up to date'];
  return {
    stage,
    recorded: !!locked,
    ...(lin ? { lineage: lin } : {}),
    ...(lineageError ? { lineageError } : {}),
    verification: { state, upToDate: !stale, ...(await signature(s, locked?.run)) },
  };
}

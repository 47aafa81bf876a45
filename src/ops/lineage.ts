/**
 * `dv lineage <path|id>`: how an artifact was made, from the records themselves. An out's
 * snapshot carries `lineage.pipeline` (stage, command, dep ids and snapshots, params,
 * environment); each dep that was tracked data leads to its own snapshot, recursively, down to
 * raw data that no stage wrote. Works on any clone that holds the snapshots, whatever dv.yaml
 * says today.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isIdPrefix } from '../core/ids.js';
import type { GitLineage, Snapshot } from '../core/snapshot.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { trackedHolding, trackedRel } from '../workspace/tracked.js';
import type { Graph, GraphEdge, GraphNode } from '../pipeline/graph.js';
import type { DepRecord, ParamValues, RunEnv } from '../pipeline/run.js';
import { metricValues, type MetricValues } from '../pipeline/metrics.js';
import { kindOf, loadSnapshot, resolveId, treeLoader } from '../history/objects.js';
import { asPipelineLineage } from '../pipeline/outs.js';
import { type EnvSummary, envSummary } from '../provenance/env-summary.js';
import { loadPipeline } from '../pipeline/state.js';

export interface LineageOptions {
  /** A path in the workspace (a stage out, tracked data, or a file inside one), or a snapshot id. */
  target: string;
  cwd?: string;
}

export interface LineageArtifact {
  path: string;
  /** Tree id of the path. */
  id: string;
  snapshot: string | null;
  /** output: written by a stage; raw: tracked data no stage wrote; file: an untracked file such as a script. */
  kind: 'output' | 'raw' | 'file';
  /** The stage that wrote it (kind output). */
  stage?: string;
  /** Snapshot message, time and code commit (when the snapshot is in the store). */
  message?: string;
  time?: string;
  git?: GitLineage | null;
  /** False when the snapshot is named but not in the local store (run `dv fetch`). */
  inStore: boolean;
  /** Tracked data read with changes not `dv commit`ed (`dv repro --force`): no snapshot held it then. */
  uncommitted?: true;
  /** For uncommitted data: the snapshot its pointer file names now, when that holds exactly what was read. */
  committedSince?: string;
}

export interface LineageStage {
  name: string;
  cmd: string;
  wdir?: string;
  /** Metrics files the run wrote, with their values (null: not in the store or not parsable). */
  metrics?: { path: string; id: string; values: MetricValues | null }[];
  /** Run key. */
  key: string;
  ranAt: string;
  params: ParamValues;
  env: RunEnv;
  /** The infrastructure fields of `env` in short (package count and digest, CPU, container, GPU, lockfiles). */
  environment: EnvSummary;
  inputs: DepRecord[];
  outputs: { path: string; id: string }[];
}

export interface LineageResult {
  target: { path: string; snapshot: string; tree: string; inside?: string };
  /** From the stage that wrote the target back towards raw data. */
  stages: LineageStage[];
  artifacts: LineageArtifact[];
}

async function resolveTarget(s: RepoSession, arg: string, cwd: string): Promise<{ snapshot: string; inside?: string }> {
  let rel: string | undefined;
  try {
    rel = trackedRel(s.root, cwd, arg);
  } catch {
    rel = undefined;
  }
  if (rel !== undefined && rel !== '') {
    const t = trackedHolding(await findTracked(s.root), rel);
    if (t) return { snapshot: t.pointer.snapshot, ...(t.rel !== rel ? { inside: rel } : {}) };
    const p = await loadPipeline(s.root).catch(() => undefined);
    for (const st of Object.values(p?.lock.stages ?? {})) {
      const o = st.outs.find((x) => x.path === rel || rel!.startsWith(x.path + '/'));
      if (o) return { snapshot: o.snapshot, ...(o.path !== rel ? { inside: rel } : {}) };
    }
    const exists = await fsp.lstat(join(s.root, rel)).then(
      () => true,
      () => false,
    );
    if (exists || !isIdPrefix(arg.toLowerCase())) {
      throw new DvError(
        'NOT_TRACKED',
        `${arg} is neither a stage output nor tracked data: \`dv lineage\` follows what dv recorded (see \`dv stage list\`)`,
        { path: arg },
      );
    }
  }
  const id = await resolveId(s.store, arg);
  const bytes = await s.store.get(id);
  if (kindOf(bytes) === 'snapshot') return { snapshot: id };
  // A tree: an out recorded in dv.lock.
  const p = await loadPipeline(s.root).catch(() => undefined);
  for (const st of Object.values(p?.lock.stages ?? {})) {
    const o = st.outs.find((x) => x.id === id);
    if (o) return { snapshot: o.snapshot };
  }
  throw new DvError('USAGE', `${arg} names a ${kindOf(bytes)}, not a snapshot or a stage output`, { arg });
}

export async function lineage(s: RepoSession, opts: LineageOptions): Promise<LineageResult> {
  const { snapshot, inside } = await resolveTarget(s, opts.target, opts.cwd ?? s.root);
  const artifacts = new Map<string, LineageArtifact>();
  const stages = new Map<string, LineageStage>();
  const keyOf = (path: string, id: string): string => `${path}\0${id}`;
  const put = (a: LineageArtifact): void => {
    const k = keyOf(a.path, a.id);
    const had = artifacts.get(k);
    // A fuller record (one with its snapshot) wins over a mention.
    if (!had || (had.snapshot === null && a.snapshot !== null) || (!had.inStore && a.inStore)) artifacts.set(k, a);
  };
  const loaded = new Map<string, Snapshot | undefined>();
  let target: LineageResult['target'] | undefined;
  const queue: { id: string; path?: string; tree?: string }[] = [{ id: snapshot }];
  // Breadth first: stages nearest the target come first.
  while (queue.length > 0) {
    const { id, path, tree } = queue.shift()!;
    // A snapshot is followed once, but each dep naming it (a part of it, maybe) gets its artifact.
    const first = !loaded.has(id);
    if (first) {
      loaded.set(
        id,
        await loadSnapshot(s.store, id).catch((e) => {
          if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'UNKNOWN_ID')) return undefined;
          throw e;
        }),
      );
    }
    const snap = loaded.get(id);
    if (!snap) {
      if (!target) throw new DvError('OBJECT_MISSING', `snapshot ${id.slice(0, 12)} is not in the local store: run \`dv fetch\``, { id });
      put({ path: path ?? '?', id: tree ?? '?', snapshot: id, kind: 'raw', inStore: false });
      continue;
    }
    target ??= { path: snap.path, snapshot: id, tree: snap.tree, ...(inside ? { inside } : {}) };
    const p = asPipelineLineage(snap.lineage.pipeline);
    const about = {
      snapshot: id,
      kind: p ? ('output' as const) : ('raw' as const),
      ...(p ? { stage: p.stage } : {}),
      message: snap.message,
      time: snap.time,
      git: snap.lineage.git,
      inStore: true,
    };
    // A dep inside a tracked directory (data/raw/a.csv of snapshot data/raw): the part read, too.
    if (path !== undefined && tree !== undefined && path !== snap.path) put({ path, id: tree, ...about });
    if (!first) continue;
    put({ path: snap.path, id: snap.tree, ...about });
    if (!p || stages.has(`${p.stage}\0${p.key}`)) continue;
    const metrics = Array.isArray(p.metrics)
      ? await Promise.all(
          (p.outs ?? [])
            .filter((o) => p.metrics!.includes(o.path))
            .map(async (o) => ({ path: o.path, id: o.id, values: await storedMetrics(s, o.path, o.id) })),
        )
      : [];
    stages.set(`${p.stage}\0${p.key}`, {
      name: p.stage,
      cmd: p.cmd,
      ...(p.wdir ? { wdir: p.wdir } : {}),
      ...(metrics.length ? { metrics } : {}),
      key: p.key,
      ranAt: snap.time,
      params: p.params ?? {},
      env: p.env,
      environment: envSummary(p.env),
      inputs: p.deps,
      outputs: p.outs ?? [],
    });
    for (const o of p.outs ?? [])
      if (o.path !== snap.path) put({ path: o.path, id: o.id, snapshot: null, kind: 'output', stage: p.stage, inStore: true });
    for (const d of p.deps) {
      if (d.snapshot) queue.push({ id: d.snapshot, path: d.path, tree: d.id });
      else if (d.uncommitted) put({ path: d.path, id: d.id, snapshot: null, kind: 'raw', inStore: false, uncommitted: true });
      else put({ path: d.path, id: d.id, snapshot: null, kind: 'file', inStore: true });
    }
  }
  const all = [...artifacts.values()];
  if (all.some((a) => a.uncommitted)) {
    const tracked = await findTracked(s.root);
    for (const a of all) {
      const t = a.uncommitted ? tracked.find((x) => x.rel === a.path) : undefined;
      if (t && t.pointer.tree === a.id) a.committedSince = t.pointer.snapshot;
    }
  }
  return { target: target!, stages: [...stages.values()], artifacts: all };
}

/** The values of a metrics file out (a tree of one small file) from the store. */
export async function storedMetrics(s: RepoSession, path: string, tree: string): Promise<MetricValues | null> {
  try {
    const t = await treeLoader(s.store)(tree);
    const e = t.entries.length === 1 ? t.entries[0] : undefined;
    if (!e || e.type !== 'file' || e.chunked) return null;
    return metricValues((await s.store.get(e.id)).toString('utf8'), path);
  } catch {
    return null;
  }
}

/** The lineage as a graph: inputs -> stage -> outputs. */
export function lineageGraph(r: LineageResult): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const short = (id: string): string => id.slice(0, 10);
  const art = (path: string, id: string): string => `a:${path}\0${id}`;
  for (const a of r.artifacts) {
    nodes.push({
      id: art(a.path, a.id),
      kind: a.kind === 'output' ? 'data' : a.kind,
      label: `${a.path}\n${a.snapshot ? `snapshot ${short(a.snapshot)}` : `id ${short(a.id)}`}${a.uncommitted ? ' (uncommitted)' : ''}`,
    });
  }
  for (const st of r.stages) {
    const sid = `s:${st.name}\0${st.key}`;
    const params = Object.entries(st.params).flatMap(([f, kv]) =>
      Object.entries(kv).map(([k, v]) => `${f === 'params.yaml' ? '' : f + ':'}${k}=${JSON.stringify(v)}`),
    );
    const code = st.env.git?.commit ? `\ncode ${st.env.git.commit.slice(0, 10)}${st.env.git.dirty ? ' (dirty)' : ''}` : '';
    nodes.push({ id: sid, kind: 'stage', label: `${st.name}${params.length ? '\n' + params.join(', ') : ''}${code}` });
    for (const d of st.inputs) if (nodes.some((n) => n.id === art(d.path, d.id))) edges.push({ from: art(d.path, d.id), to: sid });
    for (const o of st.outputs) if (nodes.some((n) => n.id === art(o.path, o.id))) edges.push({ from: sid, to: art(o.path, o.id) });
  }
  return { nodes, edges };
}

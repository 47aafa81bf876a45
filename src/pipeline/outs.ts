/**
 * Stage outputs as tracked data: each out gets a snapshot (whose `lineage.pipeline` says which
 * run made it), a pointer file and a .gitignore line, exactly as `dv add` would give it; push,
 * pull, checkout and gc then treat it like any tracked path. The run refs are in run-cache.ts.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { git } from '../repo/git.js';
import { findTracked, ignoreInGit, readPointer, usesGit } from '../workspace/pointers.js';
import type { ScanResult } from '../workspace/scan.js';
import { canonicalJson, type DepRecord, type OutRecord, type ParamValues, type RunEnv } from './run.js';
import { pointAt, storeSnapshot } from '../history/snapshot.js';
import { loadSnapshot } from '../history/objects.js';
import { overlaps } from './dag.js';
import type { LockStage } from './lockfile.js';
import { invalid, type StageSpec } from './spec.js';
import { loadPipeline, workspaceId } from './state.js';

/** What an out's snapshot records about the run that wrote it (`lineage.pipeline`). */
export interface PipelineLineage {
  stage: string;
  cmd: string;
  wdir?: string;
  /** Outs that are metrics files. */
  metrics?: string[];
  /** The run key (see src/pipeline/run.ts). */
  key: string;
  deps: DepRecord[];
  params: ParamValues;
  /** Every out of the run, this one included. */
  outs: { path: string; id: string }[];
  env: RunEnv;
}

export function asPipelineLineage(v: unknown): PipelineLineage | undefined {
  const p = v as PipelineLineage | undefined;
  if (!p || typeof p !== 'object' || typeof p.stage !== 'string' || typeof p.cmd !== 'string' || !isId(p.key) || !Array.isArray(p.deps))
    return undefined;
  return p;
}

/** An out stored and given a snapshot, not yet named by its pointer file (see `publishOut`). */
export interface PreparedOut extends OutRecord {
  scan: ScanResult;
  /** False when the pointer names this snapshot already. */
  fresh: boolean;
}

/**
 * Gives the scanned out `rel` (already stored) a snapshot with `pipeline` lineage, without
 * flushing; keeps the current snapshot when it holds the same tree from the same run.
 */
export async function prepareOut(
  s: RepoSession,
  rel: string,
  scan: ScanResult,
  pipeline: PipelineLineage,
  ranAt: string,
): Promise<PreparedOut> {
  const existing = await readPointer(s.root, rel).catch(() => undefined);
  const parent = existing?.pointer.snapshot;
  if (parent) {
    const prev = await loadSnapshot(s.store, parent).catch(() => undefined);
    const was = prev && asPipelineLineage(prev.lineage.pipeline);
    // Same tree from the same run, and the same dep records (a dep since committed gets its snapshot named).
    if (prev && was && prev.tree === scan.tree && was.key === pipeline.key && canonicalJson(was.deps) === canonicalJson(pipeline.deps))
      return { path: rel, id: scan.tree, snapshot: parent, scan, fresh: false };
  }
  const id = await storeSnapshot(s, rel, scan, {
    parent,
    message: `dv repro: stage ${pipeline.stage}`,
    time: ranAt,
    lineage: { git: pipeline.env.git, dv: VERSION, meta: {}, pipeline },
  });
  return { path: rel, id: scan.tree, snapshot: id, scan, fresh: true };
}

/** Points the out's pointer file at its snapshot (call after the store is flushed: data first). */
export async function publishOut(s: RepoSession, o: PreparedOut): Promise<void> {
  if (o.fresh) await pointAt(s, o.path, o.snapshot, o.scan);
  if (await usesGit(s)) await ignoreInGit(s.root, o.path);
}

/**
 * Removes an out before its stage runs, so the command starts from nothing, but only when dv
 * holds its content (its tree is in the store): a hand-made change is left for the command to
 * overwrite, never deleted by dv.
 */
export async function clearOut(s: RepoSession, rel: string): Promise<boolean> {
  const ws = await workspaceId(s, rel);
  if (!ws) return true;
  if (!(await s.store.has(ws.id))) return false;
  await fsp.rm(join(s.root, ...rel.split('/')), { recursive: true, force: true });
  return true;
}

/**
 * Checks what `outs` may be: dv tracks each out on its own (a pointer file beside it), so an out
 * may not lie inside or contain a path dv tracks already (unless it is that path), nor be a file
 * git tracks.
 */
export async function checkOuts(s: RepoSession, stage: StageSpec): Promise<void> {
  const tracked = await findTracked(s.root);
  const locked = (await loadPipeline(s.root)).lock.stages;
  for (const o of stage.outs) {
    const t = tracked.find((x) => x.rel !== o && overlaps(x.rel, o));
    if (t)
      throw invalid(`out ${o} of stage ${stage.name} overlaps ${t.rel}, which dv tracks (${t.pointerRel}): choose an out path outside it`, {
        path: o,
      });
    const same = tracked.find((x) => x.rel === o);
    if (same && !(await writtenByStage(s, o, same.pointer.snapshot, locked))) {
      throw invalid(
        `out ${o} of stage ${stage.name} is data tracked with \`dv add\` (${same.pointerRel}): a stage may not take it over; run \`dv remove ${o}\` first (the files stay), or choose another out path`,
        { path: o, pointer: same.pointerRel },
      );
    }
    const inGit = await git(s.root, ['ls-files', '-z', '--', o]);
    if (inGit.code === 0 && inGit.stdout.split('\0').some(Boolean)) {
      throw invalid(`out ${o} of stage ${stage.name} is tracked by git: run \`git rm -r --cached ${o}\` first, so that dv can track it`, {
        path: o,
      });
    }
  }
}

/**
 * Whether the tracked path `rel` is a stage's out rather than data added by hand: dv.lock
 * records it as an out, or the snapshot its pointer names was written by a stage run.
 */
async function writtenByStage(s: RepoSession, rel: string, snapshot: string, locked: Record<string, LockStage>): Promise<boolean> {
  if (Object.values(locked).some((l) => l.outs.some((x) => x.path === rel))) return true;
  const snap = await loadSnapshot(s.store, snapshot).catch(() => undefined);
  return asPipelineLineage(snap?.lineage.pipeline) !== undefined;
}

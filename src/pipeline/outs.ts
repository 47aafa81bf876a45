/**
 * Stage outputs as tracked data: each out gets a snapshot (whose `lineage.pipeline` says which
 * run made it), a pointer file and a .gitignore line, exactly as `dv add` would give it; push,
 * pull, checkout and gc then treat it like any tracked path. The run refs are in run-cache.ts.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { ignoreInGit, readPointer, usesGit } from '../workspace/pointers.js';
import type { ScanResult } from '../workspace/scan.js';
import { canonicalJson, type DepRecord, type OutRecord, type ParamValues, type RunEnv } from './run.js';
import { pointAt, storeSnapshot } from '../history/snapshot.js';
import { loadSnapshot } from '../history/objects.js';
import { workspaceId } from './state.js';

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

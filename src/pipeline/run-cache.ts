/**
 * The run cache of this clone: which run object records each run key (`<cache>/runs/<key>`,
 * beside the packs, so clones sharing a cache share runs), and which runs `dv push` carries
 * with the data. A ref is a hint: the record it names is read from the store and checked.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { readControlBytes, readControlFile, writeControlFile } from '../repo/control-file.js';
import { writeFileAtomic } from '../store/atomic.js';
import { reachable } from '../history/reach.js';
import { decodeRun, type RunRecord } from './run.js';
import { lockedRuns } from './state.js';

// Beside the packs that hold the run objects, so clones sharing a cache (cache.dir) share runs.
const runsDir = (s: RepoSession): string => join(s.paths.cacheDir, 'runs');

/** Remembers that run `key` is recorded in run object `runId`: `<cache>/runs/<key>`. */
export async function saveRunRef(s: RepoSession, key: string, runId: string): Promise<void> {
  await writeFileAtomic(join(runsDir(s), key), runId + '\n', s.paths.tmpDir);
}

/** This clone's run refs: run key and run object id. */
export async function runRefs(s: RepoSession): Promise<{ key: string; id: string }[]> {
  const keys = (await fsp.readdir(runsDir(s)).catch(() => [] as string[])).filter(isId);
  // Never through a link or from a FIFO: a cache inside the work tree may have come with a clone.
  const ids = await Promise.all(
    keys.map((k) =>
      readControlFile(join(runsDir(s), k), { maxBytes: 1024 }).then(
        (t) => (t ?? '').trim(),
        () => '',
      ),
    ),
  );
  return keys.map((key, i) => ({ key, id: ids[i] })).filter((r) => isId(r.id));
}

/** Every run object id this clone's run refs name (gc keeps them). */
export async function runRefIds(s: RepoSession): Promise<string[]> {
  return (await runRefs(s)).map((r) => r.id);
}

/** The run recorded for `key` in this clone, when its record is still in the store. */
export async function findRun(s: RepoSession, key: string): Promise<{ id: string; run: RunRecord } | undefined> {
  const id = ((await readControlFile(join(runsDir(s), key), { maxBytes: 1024 }).catch(() => undefined)) ?? '').trim();
  if (!isId(id)) return undefined;
  try {
    return { id, run: decodeRun(await s.store.get(id), id) };
  } catch (e) {
    if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'OBJECT_CORRUPT' || e.code === 'BAD_OBJECT')) return undefined;
    throw e;
  }
}

/** Which local runs `dv push` sends: those dv.lock names (default), every run of this clone, or none. */
export type PushRunsMode = 'locked' | 'all' | 'none';

export interface LocalRun {
  key: string;
  id: string;
  run: RunRecord;
  bytes: Buffer;
  /** Its signature (DSSE envelope), when this clone signed or verified it. */
  sig?: Buffer;
}

/**
 * The runs to push, with every object their outs need; a run whose outs are not all in the
 * local store (dropped by gc) is left out rather than pushed without its data.
 */
export async function runsToPush(
  s: RepoSession,
  mode: PushRunsMode,
  remoteHas: (id: string) => boolean = () => false,
): Promise<{ runs: LocalRun[]; ids: Set<string>; meta: Set<string> }> {
  const ids = new Set<string>();
  const meta = new Set<string>();
  const runs: LocalRun[] = [];
  if (mode === 'none') return { runs, ids, meta };
  const named = new Map<string, string>();
  for (const r of await lockedRuns(s.root)) named.set(r.key, r.run);
  if (mode === 'all') for (const r of await runRefs(s)) if (!named.has(r.key)) named.set(r.key, r.id);
  for (const [key, id] of named) {
    let bytes: Buffer;
    let run: RunRecord;
    try {
      bytes = await s.store.get(id);
      run = decodeRun(bytes, id);
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'OBJECT_CORRUPT' || e.code === 'BAD_OBJECT')) continue;
      throw e;
    }
    if (run.key !== key) continue;
    const r = await reachable(
      s,
      run.outs.map((o) => o.snapshot),
    );
    if (r.problems.some((p) => !(p.id && remoteHas(p.id)))) continue;
    for (const x of r.ids) ids.add(x);
    for (const x of r.meta) meta.add(x);
    ids.add(id);
    meta.add(id);
    const sig = await loadRunSignature(s, id);
    runs.push({ key, id, run, bytes, ...(sig ? { sig } : {}) });
  }
  return { runs, ids, meta };
}

/** An envelope of one signature over a small record (provenance/run-signature.ts): anything larger is not one. */
export const MAX_RUN_SIG_BYTES = 64 * 1024;

const sigPath = (s: RepoSession, runId: string): string => join(s.paths.cacheDir, 'runsigs', runId);

/** Keeps a run record's signature in the local store's directory. */
export async function saveRunSignature(s: RepoSession, runId: string, envelope: Buffer): Promise<void> {
  if (!isId(runId)) throw new DvError('ERROR', `not a run id: ${runId}`);
  await writeControlFile(sigPath(s, runId), envelope, { tmpDir: s.paths.tmpDir });
}

/** The signature kept for a run record, or undefined (never through a link: the cache may sit in the work tree). */
export async function loadRunSignature(s: RepoSession, runId: string): Promise<Buffer | undefined> {
  if (!isId(runId)) return undefined;
  return readControlBytes(sigPath(s, runId), { maxBytes: MAX_RUN_SIG_BYTES }).catch(() => undefined);
}

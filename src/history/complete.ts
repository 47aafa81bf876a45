/**
 * Whether a tracked directory's pointer tree is complete in the local store (nothing left out by
 * a partial pull), proven cheaply from the directory records a writer's scan stamped
 * (`DirStat.complete`): a directory whose record names the same tree, stamped with the index's
 * current generation, is complete with everything under it once that tree is in the store (a
 * killed dv may leave records of trees that never reached a pack), so the walk skips it. Only the rest
 * (after a status or a checkout rewrote records, the directories that changed) is looked up
 * object by object, and a leaf directory found complete gets its record stamped on the way.
 *
 * Invariant: `true` only when every object under the tree is in the store (so a snapshot of the
 * whole workspace drops nothing); `false` when it cannot tell or something is missing, and the
 * caller then asks `refusePartialSnapshot`, which names what is missing. The walk holds a stack
 * of directories (no recursion), goes through `treeLoader` (declared sizes bound the work) and
 * gives up on paths longer than a file system takes.
 */
import type { DirStat } from '../store/index-db.js';
import type { RepoSession } from '../repo/repo.js';
import type { Tracked } from '../workspace/pointers.js';
import { refusePartialSnapshot } from './partial.js';
import { treeLoader } from './objects.js';

const MAX_PATH = 4096;

export async function provenComplete(s: RepoSession, rel: string, tree: string): Promise<boolean> {
  const gen = await s.index.generation?.();
  if (gen === undefined) return false;
  const load = treeLoader(s.store);
  const stamped = (rec: DirStat | undefined, id: string): boolean => rec?.id === id && rec.complete === gen;
  const [top] = await s.index.getDirs([rel]);
  // (A stamp counts only with its tree in the store: records may outlive the trees of a killed dv.)
  if (!(await s.store.has(tree))) return false;
  if (stamped(top, tree)) return true;
  const stack: { path: string; id: string; rec: DirStat | undefined }[] = [{ path: rel, id: tree, rec: top }];
  const stamps: [string, DirStat][] = [];
  for (let d = stack.pop(); d; d = stack.pop()) {
    if (Buffer.byteLength(d.path) > MAX_PATH) return false;
    const t = await load(d.id);
    const files = t.entries.flatMap((e) => (e.type === 'file' ? [e.id] : []));
    if (!(await s.store.hasMany(files)).every(Boolean)) return false;
    const dirs = t.entries.flatMap((e) => (e.type === 'dir' ? [{ path: `${d.path}/${e.name}`, id: e.id }] : []));
    if (dirs.length === 0 && d.rec?.id === d.id) stamps.push([d.path, { ...d.rec, complete: gen }]);
    const recs = await s.index.getDirs(dirs.map((x) => x.path));
    const present = await s.store.hasMany(dirs.map((x) => x.id));
    for (let k = dirs.length - 1; k >= 0; k--) {
      if (!present[k]) return false;
      if (stamped(recs[k], dirs[k].id)) continue;
      stack.push({ ...dirs[k], rec: recs[k] });
    }
    if (stamps.length >= 256) await s.index.putDirs(stamps.splice(0));
  }
  await s.index.putDirs(stamps);
  return true;
}

/** refusePartialSnapshot, skipped when the records prove the pointer's tree complete. */
export async function refuseIncomplete(s: RepoSession, t: Tracked): Promise<void> {
  if (t.pointer.kind === 'dir' && (await provenComplete(s, t.rel, t.pointer.tree))) return;
  await refusePartialSnapshot(s, t);
}

/**
 * A tracked directory after a partial `dv pull` holds only some of its pointer's files, the rest
 * never fetched. A snapshot of that workspace would record the rest as deleted: refused here
 * (commit of the whole path), while `dv commit <path inside>` grafts just the changes named.
 *
 * Invariant: a path whose pointer tree is not here at all (data never fetched, or a pointer git
 * moved) is not partial: committing its workspace is as before. The walk is checkComplete's
 * (iterative, memoised through the loader, bounded by the declared sizes).
 */
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import type { Tracked } from '../workspace/pointers.js';
import { treeLoader } from './objects.js';
import { checkComplete } from './tree-check.js';

export async function refusePartialSnapshot(s: RepoSession, t: Tracked): Promise<void> {
  if (t.pointer.kind !== 'dir' || !(await s.store.has(t.pointer.tree))) return;
  try {
    await checkComplete(s.store, t.pointer.tree, treeLoader(s.store));
  } catch (e) {
    if (!(e instanceof DvError) || e.code !== 'OBJECT_MISSING') throw e;
    throw new DvError(
      'OBJECT_MISSING',
      `${t.rel} holds data not fetched (a partial \`dv pull\`): a snapshot of the whole of it would drop that data; commit the paths you changed (\`dv commit ${t.rel}/<path>\`), or \`dv pull ${t.rel}\` first`,
      { path: t.rel },
    );
  }
}

/**
 * `dv exp remove NAME...|--all|--queue`: deletes experiment refs (the commits go with git's gc;
 * their data with `dv gc` once nothing else names it). A name that is no experiment is refused
 * before any ref is deleted.
 */
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { deleteRef, type ExpRef, findExp, headCommit, listExpRefs } from '../pipeline/exp-refs.js';

export interface ExpRemoveOptions {
  names?: string[];
  /** Every experiment of every baseline (not the queue). */
  all?: boolean;
  /** Every queued experiment. */
  queue?: boolean;
}

export interface ExpRemoveResult {
  removed: { name: string; ref: string; commit: string }[];
}

export async function expRemove(s: RepoSession, o: ExpRemoveOptions): Promise<ExpRemoveResult> {
  const names = o.names ?? [];
  if (names.length === 0 && !o.all && !o.queue) throw new DvError('USAGE', 'dv exp remove: name experiments, or pass --all or --queue');
  const refs = await listExpRefs(s.root);
  const drop = new Map<string, ExpRef>();
  if (o.all) for (const e of refs.filter((x) => !x.queued)) drop.set(e.ref, e);
  if (o.queue) for (const e of refs.filter((x) => x.queued)) drop.set(e.ref, e);
  const head = await headCommit(s.root).catch(() => undefined);
  for (const n of names) {
    const queued = refs.find((x) => x.queued && x.name === n);
    const e = queued ?? (await findExp(s.root, n, head));
    drop.set(e.ref, e);
  }
  const removed: ExpRemoveResult['removed'] = [];
  for (const e of drop.values()) {
    await deleteRef(s.root, e.ref, e.commit);
    removed.push({ name: e.name, ref: e.ref, commit: e.commit });
  }
  return { removed };
}

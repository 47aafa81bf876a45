/** Reading typed objects from the store, and resolving ids and id prefixes. */
import { DeclaredLedger } from '../core/declared.js';
import { decodeSnapshot, isSnapshotBytes, type Snapshot } from '../core/snapshot.js';
import { decodeTree, encodeTree, TREE_MAGIC, type Tree } from '../core/tree.js';
import { MANIFEST_MAGIC } from '../core/manifest.js';
import { isIdPrefix } from '../core/ids.js';
import { DvError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';

export type ObjectKind = 'snapshot' | 'tree' | 'manifest' | 'chunk';

export function kindOf(bytes: Buffer): ObjectKind {
  if (isSnapshotBytes(bytes)) return 'snapshot';
  if (bytes.subarray(0, TREE_MAGIC.length).toString('latin1') === TREE_MAGIC) return 'tree';
  if (bytes.subarray(0, MANIFEST_MAGIC.length).equals(MANIFEST_MAGIC)) return 'manifest';
  return 'chunk';
}

/**
 * Loads trees through a small cache, with an optional overlay of trees not in the store. Every
 * tree must hold what its parent's entry declares (size and file count, core/declared.ts), so a
 * walk through this loader (checkout, diff, ls) does at most the work its root declares, however
 * often a subtree is named: a lie fails with BAD_OBJECT as soon as the lying tree is loaded.
 */
export function treeLoader(store: ObjectStore, overlay?: Map<string, Tree>): (id: string) => Promise<Tree> {
  const cache = new Map<string, Tree>();
  let entries = 0;
  const ledger = new DeclaredLedger({ files: false });
  return async (id) => {
    const o = overlay?.get(id) ?? cache.get(id);
    if (o) return o;
    const t = decodeTree(await store.get(id), id);
    ledger.tree(id, t);
    // Bounded by entries, not trees: a walk of 1,000 directories of 1,000 files must not keep them all.
    if (cache.size > 10_000 || entries > 65_536) {
      cache.clear();
      entries = 0;
    }
    cache.set(id, t);
    entries += t.entries.length;
    return t;
  };
}

/**
 * A tracked file's tree holds the file alone, under the file's name. The id of the same file under
 * `name`: `tree` itself when its one entry already has that name (or it holds more than one), else
 * the renamed tree, put in the store (pending until its next flush).
 */
export async function fileTreeNamed(store: ObjectStore, tree: string, name: string): Promise<string> {
  const t = decodeTree(await store.get(tree), tree);
  if (t.entries.length !== 1 || t.entries[0].name === name) return tree;
  return store.putObject(encodeTree({ entries: [{ ...t.entries[0], name }] }));
}

export async function loadSnapshot(store: ObjectStore, id: string): Promise<Snapshot> {
  const bytes = await store.get(id);
  if (!isSnapshotBytes(bytes)) throw new DvError('BAD_OBJECT', `object ${id.slice(0, 12)} is not a snapshot`, { id });
  return decodeSnapshot(bytes, id);
}

/** The full id for an id or unique prefix (at least 4 hex characters). */
export async function resolveId(store: ObjectStore, arg: string): Promise<string> {
  const prefix = arg.toLowerCase();
  if (!isIdPrefix(prefix))
    throw new DvError('USAGE', `${JSON.stringify(arg)} is not an object id or prefix: give at least 4 hex characters`, { arg });
  const ids = await store.idsWithPrefix(prefix, 10);
  if (ids.length === 0)
    throw new DvError(
      'UNKNOWN_ID',
      `no object has id or prefix ${arg}: check \`dv log\`, or \`dv fetch\` if it was pushed from elsewhere`,
      { arg },
    );
  if (ids.length > 1)
    throw new DvError(
      'AMBIGUOUS_ID',
      `prefix ${arg} matches ${ids.length === 10 ? '10 or more' : ids.length} objects (${ids
        .slice(0, 3)
        .map((i) => i.slice(0, 12))
        .join(', ')}...): give more characters`,
      { arg, matches: ids },
    );
  return ids[0];
}

/** What an id names, for commands that accept a snapshot or a tree. */
export async function resolveTreeish(
  store: ObjectStore,
  arg: string,
): Promise<{ id: string; tree: string; snapshot?: Snapshot; snapshotId?: string }> {
  const id = await resolveId(store, arg);
  const bytes = await store.get(id);
  const kind = kindOf(bytes);
  if (kind === 'snapshot') {
    const snapshot = decodeSnapshot(bytes, id);
    return { id, tree: snapshot.tree, snapshot, snapshotId: id };
  }
  if (kind === 'tree') {
    decodeTree(bytes, id);
    return { id, tree: id };
  }
  throw new DvError('USAGE', `${arg} names a ${kind}, not a snapshot or tree`, { arg });
}

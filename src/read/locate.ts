/**
 * `<rev>:<path>` to a tree entry, without checking anything out. `rev` is a git revision (the
 * pointer files of that commit name the data; the path is from the repository root, or from the
 * current directory when it starts with `./` or `../`, as in git), a snapshot or tree id (prefix;
 * the path is inside that snapshot), or empty (the pointer files in the workspace now).
 *
 * Trees are read level by level, one per path component (no recursion), each verified and held
 * to the size and file count its parent (or the pointer file) declares (core/declared.ts), so a
 * lying tree is refused as soon as it is read. Objects come from an ObjectSource: the local store,
 * else the remote.
 */
import { DeclaredLedger, declaredTotals } from '../core/declared.js';
import { isIdPrefix } from '../core/ids.js';
import type { Pointer } from '../core/pointer.js';
import { decodeSnapshot, isSnapshotBytes } from '../core/snapshot.js';
import { decodeTree, TREE_MAGIC, type FileEntry, type Tree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { pointersAt, resolveCommit } from '../repo/git-revision.js';
import { findTracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import type { ObjectSource } from './source.js';

/** A `<rev>:<path>` argument split at its first colon; no colon (or an empty rev): the workspace's pointer files. */
export interface RevPath {
  rev?: string;
  path: string;
}

export function parseRevPath(spec: string): RevPath {
  const i = spec.indexOf(':');
  if (i < 0) return { path: spec };
  return { rev: spec.slice(0, i) || undefined, path: spec.slice(i + 1) };
}

/** What `<rev>:<path>` names. */
export type Found =
  | { type: 'file'; entry: FileEntry }
  | { type: 'dir'; id: string; size: number; files: number }
  | { type: 'link'; target: string }
  /** `<rev>:` with an empty path: the tracked paths at that revision. */
  | { type: 'tracked'; pointers: { rel: string; pointer: Pointer }[] };

export interface Located {
  /** The argument as given, for messages. */
  spec: string;
  /** The path inside the version, as the user wrote it, normalised. */
  path: string;
  /** The git commit whose pointer files were read, when `rev` was a git revision. */
  commit?: string;
  /** The snapshot holding the path, when known. */
  snapshot?: string;
  found: Found;
  /** The directory a `dir` was read through (ledger and all): list its entries. */
  load?: (id: string) => Promise<Tree>;
}

/** The components of a path inside a version: no `..`, empty and `.` components dropped. */
function components(spec: string, path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new DvError('USAGE', `${spec}: a path inside a version may not contain ".."`, { arg: spec });
  return parts;
}

interface Root {
  tree: string;
  claim?: { size: number; files: number };
  kind: 'dir' | 'file';
  by: string;
}

export async function locate(src: ObjectSource, o: { root: string; cwd: string; spec: string }): Promise<Located> {
  const { rev, path } = parseRevPath(o.spec);
  if (rev !== undefined && isIdPrefix(rev.toLowerCase())) {
    const local = await src.store.idsWithPrefix(rev.toLowerCase(), 2);
    if (local.length > 1) throw ambiguous(rev);
    if (local.length === 1) return inObject(src, o.spec, local[0], await src.object(local[0], 'snapshot'), path);
  }
  const commit = rev === undefined ? undefined : await resolveCommit(o.root, rev);
  if (rev !== undefined && !commit) {
    if (!isIdPrefix(rev.toLowerCase()))
      throw new DvError('UNKNOWN_ID', `${rev} (in ${o.spec}) is neither a git revision nor an object id here: check \`dv log --git\``, {
        arg: rev,
      });
    const id = await remoteId(src, rev);
    return inObject(src, o.spec, id, await src.fetchOne(id, 'snapshot'), path);
  }
  const pointers = commit ? await pointersAt(o.root, commit) : (await findTracked(o.root)).map((t) => ({ rel: t.rel, pointer: t.pointer }));
  const where = commit ? `${rev} (${commit.slice(0, 10)})` : 'in the workspace';
  // Paths are from the repository root, as in git; `./x` and `../x` from the current directory (an absolute one as it says).
  const rel = /^(\.\.?(\/|$)|\/)/.test(path) ? toRepoRel(o.root, o.cwd, path) : components(o.spec, path).join('/');
  if (rel === '') return { spec: o.spec, path: '', ...(commit ? { commit } : {}), found: { type: 'tracked', pointers } };
  const p = pointers.find((x) => rel === x.rel || rel.startsWith(`${x.rel}/`));
  if (!p) {
    const names = pointers.map((x) => x.rel);
    throw new DvError(
      'NOT_TRACKED',
      `${rel} is not inside a path tracked ${commit ? `at ${where}` : where}${names.length ? ` (tracked: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''})` : ' (nothing is tracked there)'}: \`dv ls ${rev ?? ''}:\` lists them`,
      { path: rel, ...(commit ? { commit } : {}) },
    );
  }
  const root: Root = {
    tree: p.pointer.tree,
    claim: { size: p.pointer.size, files: p.pointer.files },
    kind: p.pointer.kind,
    by: `pointer file ${p.rel}.dv`,
  };
  const sub = rel === p.rel ? [] : rel.slice(p.rel.length + 1).split('/');
  const found = await walk(src, o.spec, root, sub, p.rel);
  return { spec: o.spec, path: rel, ...(commit ? { commit } : {}), snapshot: p.pointer.snapshot, ...found };
}

async function remoteId(src: ObjectSource, rev: string): Promise<string> {
  const unknown = (): DvError =>
    new DvError('UNKNOWN_ID', `${rev} is neither a git revision, nor an object id here or on the remote: check \`dv log --git\``, {
      arg: rev,
    });
  let h: Awaited<ReturnType<ObjectSource['handle']>>;
  try {
    h = await src.handle();
  } catch (e) {
    if (e instanceof DvError && e.code === 'NO_REMOTE') throw unknown();
    throw e;
  }
  const ids = h.index.idsWithPrefix(rev.toLowerCase(), 2);
  if (ids.length > 1) throw ambiguous(rev);
  if (ids.length === 0) throw unknown();
  return ids[0];
}

const ambiguous = (rev: string): DvError =>
  new DvError('AMBIGUOUS_ID', `prefix ${rev} matches several objects: give more characters`, { arg: rev });

/** A path inside a snapshot or tree named by id. */
async function inObject(src: ObjectSource, spec: string, id: string, bytes: Buffer, path: string): Promise<Located> {
  let root: Root;
  let snapshot: string | undefined;
  if (isSnapshotBytes(bytes)) {
    const s = decodeSnapshot(bytes, id);
    root = { tree: s.tree, claim: { size: s.size, files: s.files }, kind: s.kind, by: `snapshot ${id.slice(0, 12)}` };
    snapshot = id;
  } else if (bytes.subarray(0, TREE_MAGIC.length).toString('latin1') === TREE_MAGIC) {
    root = { tree: id, kind: 'dir', by: 'the command line' };
  } else {
    throw new DvError('USAGE', `${spec}: ${id.slice(0, 12)} names neither a snapshot nor a tree`, { arg: spec });
  }
  const sub = components(spec, path);
  const found = await walk(src, spec, root, sub, '');
  return { spec, path: sub.join('/'), ...(snapshot ? { snapshot } : {}), ...found };
}

/** Reads the trees on the way to `sub`, level by level; returns the entry at its end. `base`: where the tree is, for messages. */
async function walk(src: ObjectSource, spec: string, root: Root, sub: string[], base: string): Promise<Pick<Located, 'found' | 'load'>> {
  const shown = [base, ...sub].filter(Boolean).join('/');
  const ledger = new DeclaredLedger({ files: false });
  if (root.claim) ledger.claim(root.tree, 'tree', root.claim, root.by);
  const load = async (id: string): Promise<Tree> => {
    const t = decodeTree(await src.object(id, 'tree'), id);
    ledger.tree(id, t);
    return t;
  };
  const notFound = (why: string): DvError => new DvError('PATH_NOT_FOUND', `${spec}: ${why}`, { path: shown });
  if (root.kind === 'file') {
    // A tracked file's tree holds the file alone, under its name.
    const t = await load(root.tree);
    const e = t.entries[0];
    if (t.entries.length !== 1 || e.type !== 'file')
      throw new DvError('BAD_OBJECT', `tree ${root.tree.slice(0, 12)} of a file holds no single file`);
    if (sub.length > 1 || (sub.length === 1 && sub[0] !== e.name)) throw notFound(`${shown} is inside a tracked file, not a directory`);
    return { found: { type: 'file', entry: e } };
  }
  if (sub.length === 0) {
    const { size, files } = declaredTotals(await load(root.tree), root.tree);
    return { found: { type: 'dir', id: root.tree, size, files }, load };
  }
  let tree = root.tree;
  for (let i = 0; i < sub.length; i++) {
    const entries = (await load(tree)).entries;
    const e = findEntry(entries, sub[i]);
    const here = [base, ...sub.slice(0, i + 1)].filter(Boolean).join('/');
    if (!e) throw notFound(`no ${here} in this version`);
    if (i === sub.length - 1) {
      if (e.type === 'file') return { found: { type: 'file', entry: e } };
      if (e.type === 'link') return { found: { type: 'link', target: e.target } };
      return { found: { type: 'dir', id: e.id, size: e.size, files: e.files }, load };
    }
    if (e.type === 'link') throw notFound(`${here} is a symbolic link (to ${e.target}); dv does not follow links inside stored data`);
    if (e.type !== 'dir') throw notFound(`${here} is a file, not a directory`);
    tree = e.id;
  }
  throw new Error('unreachable');
}

/** Binary search: entries are sorted by name (code units), as decodeTree checked. */
function findEntry<T extends { name: string }>(entries: T[], name: string): T | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const n = entries[mid].name;
    if (n === name) return entries[mid];
    if (n < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/**
 * Whether a tree can be checked out: every object it names is in the local store, no path in it
 * is longer than a file system takes, and every symlink stays inside it when followed as the
 * kernel will. Checkout asks before it writes anything, so a refusal changes nothing.
 */
import type { Tree, TreeEntry } from '../core/tree.js';
import { DvError, PATH_MAX, pathTooLong } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';

/** The longest path (bytes, from the tracked path) a checkout plans for: Linux's PATH_MAX. */
const MAX_PATH = 4096;

/**
 * Fails with OBJECT_MISSING before anything is written when the tree is not complete locally,
 * and with UNSAFE_PATH when one of its symlinks leads outside it (see `checkLinks`).
 */
export async function checkComplete(store: ObjectStore, tree: string, load: (id: string) => Promise<Tree>, at?: string): Promise<void> {
  const missing: string[] = [];
  const links: { rel: string; target: string }[] = [];
  const walk = async (id: string, rel: string): Promise<void> => {
    // No file system takes a path this long (Linux: 4096 bytes), and a tree that nests deeper
    // would cost memory quadratic in its depth to plan: refused before anything is written.
    if (Buffer.byteLength(rel) > MAX_PATH) {
      const shown = `${rel.slice(0, 60)}...${rel.slice(-60)}`;
      throw new DvError(
        'PATH_TOO_LONG',
        `tree ${tree.slice(0, 12)} holds a path longer than ${MAX_PATH} bytes (${shown}): no file system can hold it; nothing was written`,
        { id: tree },
      );
    }
    if (!(await store.has(id))) {
      missing.push(id);
      return;
    }
    const t = await load(id);
    if (at !== undefined) checkLengths(at, rel, t);
    const files = t.entries.filter((e) => e.type === 'file').map((e) => (e as { id: string }).id);
    const have = await store.hasMany(files);
    files.forEach((f, i) => {
      if (!have[i]) missing.push(f);
    });
    for (const e of t.entries) {
      if (e.type === 'dir') await walk(e.id, rel ? `${rel}/${e.name}` : e.name);
      else if (e.type === 'link') links.push({ rel: rel ? `${rel}/${e.name}` : e.name, target: e.target });
    }
  };
  await walk(tree, '');
  if (missing.length > 0) {
    throw new DvError(
      'OBJECT_MISSING',
      `${missing.length} object(s) of tree ${tree.slice(0, 12)} are not in the local store (first: ${missing[0]}): run \`dv pull\` or \`dv fetch\``,
      { missing: missing.slice(0, 100) },
    );
  }
  await checkLinks(tree, links, load);
}

/**
 * PATH_TOO_LONG when an entry of `t` (at `rel` in the tree) would have a path, below the tracked
 * path's absolute path `at`, longer than the kernel takes: checked out through directory handles
 * it would be written, but no other command (status, add) could read it.
 */
function checkLengths(at: string, rel: string, t: Tree): void {
  const dir = Buffer.byteLength(at) + (rel ? 1 + Buffer.byteLength(rel) : 0);
  for (const e of t.entries)
    if (dir + 1 + Buffer.byteLength(e.name) >= PATH_MAX) {
      const todo = 'check it out in a clone at a shorter path (nothing was written)';
      throw pathTooLong(`${at}/${rel ? `${rel}/` : ''}${e.name}`, undefined, todo);
    }
}

/**
 * UNSAFE_PATH unless every symlink of `tree` stays inside it when followed the way the kernel
 * will, through the tree's own symlinks: `x -> z/z/../..` with `z -> .` looks inside to a purely
 * lexical check but leads two levels up.
 */
export async function checkLinks(
  tree: string,
  links: { rel: string; target: string }[],
  load: (id: string) => Promise<Tree>,
): Promise<void> {
  if (links.length === 0) return;
  const dirs = new Map<string, Map<string, TreeEntry>>();
  const entriesOf = async (id: string): Promise<Map<string, TreeEntry>> => {
    let m = dirs.get(id);
    if (!m) {
      m = new Map((await load(id)).entries.map((e) => [e.name, e]));
      dirs.set(id, m);
    }
    return m;
  };
  const entryAt = async (parts: string[]): Promise<TreeEntry | undefined> => {
    let id = tree;
    let e: TreeEntry | undefined;
    for (let i = 0; i < parts.length; i++) {
      e = (await entriesOf(id)).get(parts[i]);
      if (!e || (i < parts.length - 1 && e.type !== 'dir')) return undefined;
      if (e.type === 'dir') id = e.id;
    }
    return e;
  };
  // The path `target` leads to from directory `base`, or 'out' when it leaves the tree; a cycle
  // cannot lead anywhere (the kernel stops it with ELOOP), so it counts as inside.
  const follow = async (base: string[], target: string, depth: number): Promise<string[] | 'out' | 'loop'> => {
    if (target.startsWith('/')) return 'out';
    const cur = [...base];
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (cur.length === 0) return 'out';
        cur.pop();
        continue;
      }
      cur.push(part);
      const e = await entryAt(cur);
      if (e?.type === 'link') {
        if (depth >= 40) return 'loop';
        const r = await follow(cur.slice(0, -1), e.target, depth + 1);
        if (r === 'out' || r === 'loop') return r;
        cur.splice(0, cur.length, ...r);
      }
    }
    return cur;
  };
  for (const l of links) {
    if ((await follow(l.rel.split('/').slice(0, -1), l.target, 0)) === 'out') {
      throw new DvError(
        'UNSAFE_PATH',
        `refusing symlink ${l.rel} -> ${l.target} in tree ${tree.slice(0, 12)}: followed through the tree's other symlinks it leads outside the tracked directory`,
        { path: l.rel, target: l.target },
      );
    }
  }
}

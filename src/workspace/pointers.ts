/**
 * Pointer files in the workspace: finding them, reading and writing them, and keeping the
 * tracked data out of git through `.gitignore`. Both arrive by `git clone`, so both are control
 * files (src/repo/control-file.ts): never read or written through a link, never read from a FIFO.
 * A pointer names a snapshot and its tree; the two must agree (`checkPointerSnapshots`).
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { shellQuote } from '../core/shell.js';
import { decodePointer, encodePointer, POINTER_SUFFIX, type Pointer } from '../core/pointer.js';
import { decodeSnapshot, type Snapshot } from '../core/snapshot.js';
import { DvError, fsError } from '../errors.js';
import { git, gitTopLevel } from '../repo/git.js';
import { lstatControlFile, readControlFile, writeControlFile, type ControlFileOptions } from '../repo/control-file.js';

/** A pointer file is a few hundred bytes; a larger one is not read. */
const MAX_POINTER = 64 * 1024;

export interface Tracked {
  /** Tracked path relative to the repository root, '/'-separated. */
  rel: string;
  /** Pointer file path relative to the root. */
  pointerRel: string;
  pointer: Pointer;
}

export const pointerRelFor = (rel: string): string => rel + POINTER_SUFFIX;

export async function readPointer(root: string, rel: string): Promise<Tracked | undefined> {
  const pointerRel = pointerRelFor(rel);
  // Never through a link, never from a FIFO: a pointer file arrives by git clone.
  const text = await readControlFile(join(root, pointerRel), { code: 'BAD_POINTER', show: pointerRel, maxBytes: MAX_POINTER });
  if (text === undefined) return undefined;
  // `git checkout -- FILE` (decodePointer's advice) is refused for an unmerged path.
  if (/^<{7}(?: |$)/m.test(text) && /^>{7}(?: |$)/m.test(text)) {
    throw new DvError(
      'BAD_POINTER',
      `${pointerRel} has a git merge conflict: pick one side (\`git checkout --ours ${shellQuote(pointerRel)}\` or \`--theirs\`), then \`dv checkout ${shellQuote(rel)}\``,
      { file: pointerRel, conflict: true },
    );
  }
  const pointer = decodePointer(text, pointerRel);
  if (pointer.path !== posix.basename(rel))
    throw new DvError(
      'BAD_POINTER',
      `${pointerRel} names ${JSON.stringify(pointer.path)}, but sits beside ${posix.basename(rel)}: rename it or re-add the data`,
      { file: pointerRel },
    );
  return { rel, pointerRel, pointer };
}

export async function writePointer(root: string, rel: string, p: Pointer): Promise<void> {
  const pointerRel = pointerRelFor(rel);
  await writeBesideGit(root, join(root, pointerRel), encodePointer(p), { code: 'BAD_POINTER', show: pointerRel });
}

/**
 * Writes a file of the work tree atomically through a temp file in `.dv/tmp`, so a process
 * killed mid-write leaves no stray temp file for git to see (beside the target only when `.dv`
 * is on another file system). Never through a link (src/repo/control-file.ts).
 */
async function writeBesideGit(root: string, file: string, text: string, o: ControlFileOptions): Promise<void> {
  await writeControlFile(file, text, { ...o, root, tmpDir: join(root, '.dv', 'tmp') });
}

/** Every pointer file in the workspace, outside `.dv`, `.git` and the tracked data itself. */
export async function findTracked(root: string): Promise<Tracked[]> {
  let candidates: string[];
  const inGit = await git(root, ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.dv', '**/*.dv']);
  if (inGit.code === 0) {
    candidates = [...new Set(inGit.stdout.split('\0').filter(Boolean))];
  } else {
    // Outside git only (rare): fast-glob is loaded on demand.
    const fg = (await import('fast-glob')).default;
    candidates = await fg('**/*.dv', {
      cwd: root,
      dot: true,
      onlyFiles: true,
      followSymbolicLinks: false,
      ignore: ['.dv/**', '.git/**', '**/node_modules/**'],
    });
  }
  candidates.sort();
  const out: Tracked[] = [];
  for (const c of candidates) {
    if (c.startsWith('.dv/')) continue;
    const rel = c.slice(0, -POINTER_SUFFIX.length);
    if (!posix.basename(rel)) continue;
    // A "*.dv" file inside tracked data is data, not a pointer.
    if (out.some((t) => rel.startsWith(t.rel + '/'))) continue;
    const t = await readPointer(root, rel).catch(async (e) => {
      // A "*.dv" file that does not even look like a pointer is somebody's data, not ours; a link
      // or special file named so is refused (it is never read to find out).
      if (e instanceof DvError && !e.data.special && !(await looksLikePointer(join(root, c), join(root, rel)))) return undefined;
      if (e instanceof DvError) throw e;
      return undefined; // listed by git but deleted from the work tree
    });
    if (t) out.push(t);
  }
  return out;
}

const HEADER = encodePointer({ path: 'x', kind: 'dir', snapshot: '0'.repeat(64), tree: '0'.repeat(64), size: 0, files: 0 }).split('\n')[0];

/**
 * Whether a "*.dv" file that fails to parse is a damaged pointer (an error) rather than someone's
 * data: it has our header or a `dv:` line, or it is a pointer cut short (empty, or a prefix of
 * the header) beside the data it would name. Ignoring a damaged pointer would hide its data from
 * status, and from gc's roots.
 */
async function looksLikePointer(file: string, tracked: string): Promise<boolean> {
  const text = await readControlFile(file, { maxBytes: MAX_POINTER }).catch(() => undefined);
  if (text === undefined) return false;
  if (text.startsWith('# dv pointer') || /^dv:\s*\d+\s*$/m.test(text)) return true;
  if (!HEADER.startsWith(text)) return false;
  return fsp.lstat(tracked).then(
    () => true,
    () => false,
  );
}

const gitUse = new WeakMap<object, Promise<boolean>>();

/**
 * Whether dv works with git in this repository (writes .gitignore lines, suggests git commands,
 * asks git what it tracks): not after `dv init --no-git` (recorded as core.git false), and only
 * inside a git work tree.
 */
export function usesGit(s: { root: string; config: { get(key: string): string | undefined } }): Promise<boolean> {
  let p = gitUse.get(s);
  if (!p) {
    p = s.config.get('core.git') === 'false' ? Promise.resolve(false) : gitTopLevel(s.root).then((top) => top !== undefined);
    gitUse.set(s, p);
  }
  return p;
}

/** The `.gitignore` beside tracked path `rel` and the line that ignores it (`/<name>`, escaped). */
function gitignoreEntry(rel: string): { gi: string; line: string } {
  const dir = posix.dirname(rel);
  return { gi: dir === '.' ? '.gitignore' : `${dir}/.gitignore`, line: '/' + posix.basename(rel).replace(/([\\*?[\]!# ])/g, '\\$1') };
}

/** Refuses, before anything is written, a `.gitignore` beside `rel` that dv may not read or rewrite (a link, a FIFO). */
export async function checkIgnoreFile(root: string, rel: string): Promise<void> {
  const { gi } = gitignoreEntry(rel);
  await lstatControlFile(join(root, gi), { code: 'UNSAFE_PATH', show: gi, root });
}

/** Adds `/<name>` to the `.gitignore` beside the tracked path, once. Returns the file changed. */
export async function ignoreInGit(root: string, rel: string): Promise<string | undefined> {
  const { gi, line } = gitignoreEntry(rel);
  const file = join(root, gi);
  const o = { code: 'UNSAFE_PATH' as const, show: gi, root };
  const text = (await readControlFile(file, o)) ?? '';
  // The line alone is not enough: a later `!/name` (in this file or another) un-ignores it, and
  // git would then offer the data for commit. Git says what it ignores; the last line wins.
  if (text.split('\n').includes(line) && (await ignoredByGit(root, rel))) return undefined;
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  await writeBesideGit(root, file, text + sep + line + '\n', o);
  return gi;
}

/** Whether git ignores `rel` (a git that cannot say counts as yes: nothing to repair then). */
async function ignoredByGit(root: string, rel: string): Promise<boolean> {
  const r = await git(root, ['check-ignore', '-q', '--no-index', '--', rel]);
  return r.code !== 1;
}

/** Removes the `/<name>` line `ignoreInGit` added for `rel`. Returns the file changed. */
export async function unignoreInGit(root: string, rel: string): Promise<string | undefined> {
  const { gi, line } = gitignoreEntry(rel);
  const file = join(root, gi);
  const o = { code: 'UNSAFE_PATH' as const, show: gi, root };
  const text = await readControlFile(file, o);
  if (text === undefined || !text.split('\n').includes(line)) return undefined;
  const rest = text
    .split('\n')
    .filter((l) => l !== line)
    .join('\n');
  // Nothing left: the file goes (an empty .gitignore would show in `git status` as a new file).
  if (rest.trim() === '')
    await fsp.rm(file, { force: true }).catch((e) => {
      throw fsError(e, file);
    });
  else await writeBesideGit(root, file, rest, o);
  return gi;
}

/**
 * Of `paths` (repository-relative), those `git add` takes: each one that is there, or that git
 * tracks (its deletion is then staged). A pointer file or .gitignore that never reached git and is
 * gone now would make the whole `git add` line fail.
 */
export async function stageable(root: string, paths: string[]): Promise<string[]> {
  const gone: string[] = [];
  for (const p of paths) {
    const there = await fsp.lstat(join(root, p)).then(
      () => true,
      () => false,
    );
    if (!there) gone.push(p);
  }
  if (gone.length === 0) return paths;
  const r = await git(root, ['--literal-pathspecs', 'ls-files', '-z', '--cached', '--', ...gone]);
  const known = new Set(r.code === 0 ? r.stdout.split('\0') : gone);
  return paths.filter((p) => !gone.includes(p) || known.has(p));
}

/** What the pointer/snapshot check needs of the object store. */
export interface SnapshotSource {
  has(id: string): Promise<boolean>;
  get(id: string): Promise<Buffer>;
}

/** The snapshot, or undefined when it is not in the store (an index naming a pack deleted by hand counts as not there). */
async function loadSnapshot(store: SnapshotSource, id: string): Promise<Snapshot | undefined> {
  if (!(await store.has(id))) return undefined;
  try {
    return decodeSnapshot(await store.get(id), id);
  } catch (e) {
    if (e instanceof DvError && e.code === 'OBJECT_MISSING') return undefined;
    throw e;
  }
}

/**
 * Why pointer `t` disagrees with its snapshot (BAD_POINTER), or undefined when it agrees or the
 * snapshot is not in the store. A pointer names both the snapshot and its tree; a `tree:` edited
 * while `snapshot:` was kept would check out other data than the snapshot (and its history) say.
 */
export async function pointerSnapshotProblem(store: SnapshotSource, t: Tracked): Promise<DvError | undefined> {
  const p = t.pointer;
  const snap = await loadSnapshot(store, p.snapshot);
  if (!snap || (snap.tree === p.tree && snap.kind === p.kind)) return undefined;
  const what =
    snap.tree !== p.tree
      ? `tree ${p.tree.slice(0, 12)}, but its snapshot ${p.snapshot.slice(0, 12)} records tree ${snap.tree.slice(0, 12)}`
      : `kind ${p.kind}, but its snapshot ${p.snapshot.slice(0, 12)} records ${snap.kind}`;
  return new DvError(
    'BAD_POINTER',
    `${t.pointerRel} names ${what}: the pointer file was edited by hand; restore it with \`git checkout -- ${shellQuote(t.pointerRel)}\` or re-add the data with \`dv add ${shellQuote(t.rel)}\``,
    { file: t.pointerRel, snapshot: p.snapshot, tree: p.tree, snapshotTree: snap.tree },
  );
}

/**
 * Checks the pointers against their snapshots (see `pointerSnapshotProblem`). A snapshot not in
 * the store is checked once it is fetched; with `required` it must be here (OBJECT_MISSING, which
 * `dv pull` repairs), so that nothing is checked out from an unchecked pointer.
 */
export async function checkPointerSnapshots(store: SnapshotSource, tracked: Tracked[], opts: { required?: boolean } = {}): Promise<void> {
  for (const t of tracked) {
    if (opts.required && !(await loadSnapshot(store, t.pointer.snapshot))) {
      throw new DvError(
        'OBJECT_MISSING',
        `snapshot ${t.pointer.snapshot.slice(0, 12)} that ${t.pointerRel} names is not in this clone: fetch it with \`dv pull ${shellQuote(t.rel)}\``,
        { id: t.pointer.snapshot, file: t.pointerRel },
      );
    }
    // Without `required` a snapshot that cannot be read is no reason to stop (status, push):
    // the commands that read it say so themselves.
    const problem = await pointerSnapshotProblem(store, t).catch((e: unknown) => {
      if (!opts.required && e instanceof DvError && e.code !== 'BAD_POINTER') return undefined;
      throw e;
    });
    if (problem) throw problem;
  }
}

/**
 * `dv exp apply NAME`: the workspace takes the experiment's files (parameters, dv.lock, metrics,
 * the outs' pointer files, and any code it ran with) and its outs, checked out from the store.
 * The files considered are those any experiment changed from its baseline (so applying one after
 * another leaves nothing of the first); each takes this experiment's version.
 *
 * Refused (UNSAVED_CHANGES, nothing written) when it would overwrite content that exists
 * nowhere else: a file whose bytes are neither HEAD's, nor this or any experiment's version of
 * it; an out whose data differs from what its pointer names. `force` overwrites them. Refused
 * too (OBJECT_MISSING) when the store lacks data an out needs: `dv exp pull` brings it.
 * Files are written temp + rename; the branch, HEAD and the git index are not touched. An
 * experiment may come from another clone: its paths are checked as a snapshot's are (no `.git`
 * or `.dv` at any depth, nothing behind a symlink leading out: UNSAFE_PATH before any write),
 * and dv's own `.dv/` files are never taken from it.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodePointer } from '../core/pointer.js';
import { DvError } from '../errors.js';
import { gitOut } from '../repo/git-pointers.js';
import type { RepoSession } from '../repo/repo.js';
import { readPointer } from '../workspace/pointers.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { treeLoader } from '../history/objects.js';
import { checkComplete } from '../history/tree-check.js';
import { workspaceId } from '../pipeline/state.js';
import { type ExpRef, findExp, gitOk, gitx, headCommit, listExpRefs } from '../pipeline/exp-refs.js';
import { checkout } from './checkout.js';

export interface ExpApplyOptions {
  name: string;
  /** Overwrite changes that exist nowhere else. */
  force?: boolean;
}

export interface ExpApplyResult {
  name: string;
  commit: string;
  /** Files written or removed. */
  files: string[];
  /** Tracked paths checked out. */
  outs: string[];
}

const ZERO = /^0+$/;

/** Paths (relative to the dv root) that `e` changed from its baseline, with its blob and mode of each (blob absent: deleted). */
async function changedBy(root: string, e: ExpRef & { parent: string }): Promise<Map<string, { blob?: string; mode: string }>> {
  const raw = await gitOk(root, ['diff-tree', '-r', '-z', '--no-renames', '--relative', e.parent, e.commit]);
  const out = new Map<string, { blob?: string; mode: string }>();
  const parts = raw.split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const m = /^:(\d+) (\d+) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])/.exec(parts[i]);
    if (m) out.set(parts[i + 1], { mode: m[2], ...(ZERO.test(m[4]) ? {} : { blob: m[4] }) });
  }
  return out;
}

/** `<commit>:<path>` blob ids, from one `git cat-file --batch-check` (missing ones absent). */
async function blobIds(root: string, specs: string[]): Promise<Map<string, string>> {
  const asked = specs.filter((x) => !x.includes('\n'));
  const r = await gitx(root, ['cat-file', '--batch-check'], { input: asked.map((x) => `${x}\n`).join('') });
  const out = new Map<string, string>();
  r.stdout.split('\n').forEach((line, i) => {
    const m = /^([0-9a-f]{40,64}) blob \d+$/.exec(line);
    if (m && i < asked.length) out.set(asked[i], m[1]);
  });
  return out;
}

/** The git blob id each existing workspace file would have (regular files and links only). */
async function workspaceBlobs(root: string, paths: string[]): Promise<Map<string, string>> {
  const present: string[] = [];
  for (const p of paths) {
    const st = await fsp.lstat(join(root, p)).catch(() => undefined);
    if (st?.isFile() && !p.includes('\n')) present.push(p);
  }
  if (present.length === 0) return new Map();
  const r = await gitOk(root, ['hash-object', '--stdin-paths'], { input: present.map((p) => `${p}\n`).join('') });
  const ids = r.trim().split('\n');
  return new Map(present.map((p, i) => [p, ids[i]]));
}

async function parentOf(root: string, e: ExpRef): Promise<ExpRef & { parent: string }> {
  return { ...e, parent: (await gitOk(root, ['rev-parse', '--verify', `${e.commit}^1`])).trim() };
}

export async function expApply(s: RepoSession, o: ExpApplyOptions): Promise<ExpApplyResult> {
  const head = await headCommit(s.root);
  const exp = await parentOf(s.root, await findExp(s.root, o.name, head));
  const mine = await changedBy(s.root, exp);
  const others = (await listExpRefs(s.root)).filter((e) => !e.queued);
  const candidates = new Set(mine.keys());
  for (const e of others)
    if (e.ref !== exp.ref) for (const p of (await changedBy(s.root, await parentOf(s.root, e))).keys()) candidates.add(p);
  // dv's own files are never taken from an experiment; every other path is checked before anything
  // is written (a pulled commit may hold `.git/hooks/x` or paths behind a symlink leading out).
  // Another experiment's unsafe path is only left alone (one hostile experiment must not block the others).
  const paths: string[] = [];
  for (const p of [...candidates].filter((x) => x.split('/')[0] !== '.dv').sort()) {
    const ok = mine.has(p)
      ? await checkTrackedPath(s.root, p).then(() => true)
      : await checkTrackedPath(s.root, p).then(
          () => true,
          () => false,
        );
    if (ok) paths.push(p);
  }
  const target = await blobIds(
    s.root,
    paths.map((p) => `${exp.commit}:${p}`),
  );
  const current = await workspaceBlobs(s.root, paths);
  const saved = await blobIds(
    s.root,
    [head, ...others.map((e) => e.commit)].flatMap((c) => paths.map((p) => `${c}:${p}`)),
  );
  const savedIds = new Set(saved.values());
  const writes: string[] = [];
  for (const p of paths) {
    const now = current.get(p);
    const want = target.get(`${exp.commit}:${p}`);
    if (now === want) continue;
    if (now !== undefined && !savedIds.has(now) && !o.force)
      throw unsaved(o.name, p, 'has changes that are in no commit and no experiment');
    if (now === undefined && want === undefined) continue;
    writes.push(p);
  }
  const outs = await checkOuts(s, exp.commit, writes, o);
  for (const p of writes) await writeBlob(s.root, p, target.get(`${exp.commit}:${p}`), mine.get(p)?.mode);
  if (outs.length > 0) await checkout(s, { paths: outs, force: o.force });
  return { name: exp.name, commit: exp.commit, files: writes, outs };
}

const unsaved = (name: string, path: string, why: string): DvError =>
  new DvError(
    'UNSAVED_CHANGES',
    `dv exp apply ${name}: ${path} ${why}: commit or move them first (or pass --force to overwrite them); nothing was changed`,
    { path },
  );

/**
 * The tracked paths whose pointer file the apply rewrites: refused unless their data is what the
 * current pointer names (or absent, or already the target), and unless the store holds all of
 * the target's data.
 */
async function checkOuts(s: RepoSession, commit: string, writes: string[], o: ExpApplyOptions): Promise<string[]> {
  const outs: string[] = [];
  for (const p of writes.filter((x) => x.endsWith('.dv'))) {
    const rel = p.slice(0, -3);
    const text = (await gitx(s.root, ['cat-file', 'blob', `${commit}:${p}`])).stdout;
    if (!text) continue;
    const ptr = decodePointer(text, `${o.name}:${p}`);
    const ws = await workspaceId(s, rel);
    const was = (await readPointer(s.root, rel).catch(() => undefined))?.pointer.tree;
    if (ws && ws.id !== was && ws.id !== ptr.tree && !o.force) throw unsaved(o.name, rel, 'has data changes not recorded with `dv commit`');
    try {
      await checkComplete(s.store, ptr.tree, treeLoader(s.store), join(s.root, rel));
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'UNKNOWN_ID'))
        throw new DvError(
          'OBJECT_MISSING',
          `dv exp apply ${o.name}: the data of ${rel} is not in the local store: run \`dv exp pull\` (or \`dv pull\`) first; nothing was changed`,
          {
            path: rel,
          },
        );
      throw e;
    }
    outs.push(rel);
  }
  return outs;
}

/** Writes blob `blob` to `path` (temp + rename), or removes it when `blob` is undefined. */
async function writeBlob(root: string, path: string, blob: string | undefined, mode: string | undefined): Promise<void> {
  const file = join(root, path);
  if (blob === undefined) {
    await fsp.rm(file, { force: true });
    return;
  }
  const bytes = await gitOut(root, ['cat-file', 'blob', blob]);
  await fsp.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.dvexp-tmp`;
  await fsp.writeFile(tmp, bytes, { mode: mode === '100755' ? 0o755 : 0o644 });
  await fsp.rename(tmp, file);
}

/** `dv add`: start tracking files or directories (or record a new snapshot of tracked ones). */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { toRepoRel } from '../workspace/scan.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { checkIgnoreFile, findTracked, ignoreInGit, pointerRelFor, usesGit } from '../workspace/pointers.js';
import { inReservedDir, refuseGitTracked } from '../workspace/tracked.js';
import { snapshotPath, withScanPool, type SnapshotEntry, type SnapshotOptions } from '../history/snapshot.js';
import { refuseIncomplete } from '../history/complete.js';

export interface AddOptions extends SnapshotOptions {
  /** Paths to track (relative to `cwd`). */
  paths: string[];
  cwd?: string;
}

export interface AddResult {
  added: (SnapshotEntry & { pointer: string; gitignore?: string })[];
  /** Files a git user should `git add` next (none without git: `dv init --no-git`). */
  gitAdd: string[];
  bytesStored: number;
  objectsStored: number;
}

export async function add(s: RepoSession, opts: AddOptions): Promise<AddResult> {
  const cwd = opts.cwd ?? s.root;
  if (opts.paths.length === 0) throw new DvError('USAGE', 'dv add needs at least one path, e.g. `dv add data/`');
  const tracked = await findTracked(s.root);
  const rels: string[] = [];
  for (const p of opts.paths) {
    const rel = toRepoRel(s.root, cwd, p).replace(/\/+$/, '');
    if (rel === '') throw new DvError('USAGE', 'cannot track the repository root itself: name a file or directory inside it');
    if (inReservedDir(rel)) throw new DvError('USAGE', `${p} is inside .dv or .git: dv does not track those`, { path: p });
    // Not through a symlinked directory that leads out of the repository.
    await checkTrackedPath(s.root, rel);
    const st = await fsp.lstat(join(s.root, rel)).catch(() => undefined);
    if (!st) throw new DvError('PATH_NOT_FOUND', `${p} does not exist: check the path`, { path: p });
    if (!st.isFile() && !st.isDirectory())
      throw new DvError(
        'USAGE',
        `${p} is not a regular file or directory (symlinks are kept inside tracked directories, not tracked on their own)`,
        { path: p },
      );
    const outer = tracked.find((t) => rel.startsWith(t.rel + '/'));
    if (outer)
      throw new DvError('USAGE', `${p} is inside ${outer.rel}, which dv tracks already: run \`dv commit ${outer.rel}\` instead`, {
        path: p,
      });
    const inner = tracked.find((t) => t.rel.startsWith(rel + '/'));
    if (inner)
      throw new DvError(
        'USAGE',
        `${p} contains ${inner.rel}, which dv tracks on its own: remove ${inner.pointerRel} first, or track a different path`,
        { path: p },
      );
    if (tracked.some((t) => t.pointerRel === rel))
      throw new DvError('USAGE', `${p} is a dv pointer file: add the data it names instead`, { path: p });
    if (!rels.includes(rel)) rels.push(rel);
  }
  const withGit = await usesGit(s);
  for (const rel of rels) {
    if (!withGit) break;
    await refuseGitTracked(s.root, rel);
    // Its pointer file and .gitignore are checked before anything is stored or written.
    await checkIgnoreFile(s.root, rel);
  }
  const before = { ...s.store.stats };
  const added: AddResult['added'] = [];
  const gitAdd = new Set<string>();
  await withScanPool(s, rels.length, async (pool) => {
    for (const rel of rels) {
      const existing = tracked.find((t) => t.rel === rel);
      if (existing) await refuseIncomplete(s, existing);
      const entry = await snapshotPath(s, rel, existing?.pointer.snapshot ?? null, { ...opts, pool });
      const gitignore = withGit ? await ignoreInGit(s.root, rel) : undefined;
      added.push({ ...entry, pointer: pointerRelFor(rel), ...(gitignore ? { gitignore } : {}) });
      if (!withGit) continue;
      gitAdd.add(pointerRelFor(rel));
      gitAdd.add(rel.includes('/') ? `${rel.slice(0, rel.lastIndexOf('/'))}/.gitignore` : '.gitignore');
    }
  });
  return {
    added,
    gitAdd: [...gitAdd],
    bytesStored: s.store.stats.storedBytesWritten - before.storedBytesWritten,
    objectsStored: s.store.stats.objectsWritten - before.objectsWritten,
  };
}

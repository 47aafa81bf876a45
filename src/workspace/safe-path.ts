/** Where dv may write: a tracked path that stays inside the repository, whatever symlinks say. */
import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { badEntryName, reservedName } from '../core/tree.js';
import { DvError, NAME_MAX, PATH_MAX, pathTooLong } from '../errors.js';

/**
 * Checks a tracked path before anything is written there: every component a plain name (a
 * snapshot's `path` comes from outside and is not trusted), not inside .dv or .git (any depth,
 * any alias: core/tree.ts), and its parent directory really inside the repository and not in
 * its .git or .dv either, wherever committed symlinks lead (`legacy -> .git/hooks`).
 */
export async function checkTrackedPath(root: string, rel: string): Promise<void> {
  const parts = rel.split('/');
  // Too long for any file system: PATH_TOO_LONG with the path shortened, before the generic name checks.
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX) || Buffer.byteLength(join(root, rel)) >= PATH_MAX)
    throw pathTooLong(join(root, ...parts));
  const bad = parts.map((p) => badEntryName(p)).find(Boolean);
  if (bad) throw new DvError('UNSAFE_PATH', `refusing to write ${JSON.stringify(rel)}: ${bad}`, { path: rel });
  if (parts[0] === '.dv' || parts[0] === '.git')
    throw new DvError('UNSAFE_PATH', `refusing to write ${rel}: dv never writes inside .dv or .git`, { path: rel });
  // The deepest existing ancestor, resolved, must lie inside the resolved root.
  let dir = dirname(join(root, ...parts));
  for (;;) {
    const real = await fsp.realpath(dir).catch(() => undefined);
    if (real !== undefined) {
      checkRealInside(rel, relative(await fsp.realpath(root), real), real);
      return;
    }
    if (dir === root || dirname(dir) === dir) return;
    dir = dirname(dir);
  }
}

/**
 * PATH_OUTSIDE_REPO when `up` (the real path `real` of where `rel` goes, relative to the
 * repository's real root) leaves the repository; UNSAFE_PATH when it enters .git or .dv.
 */
export function checkRealInside(rel: string, up: string, real: string): void {
  if (up.startsWith('..') || isAbsolute(up)) {
    throw new DvError(
      'PATH_OUTSIDE_REPO',
      `${rel} lies behind a symbolic link leading outside the repository (it leads to ${real}): dv does not write through it`,
      { path: rel },
    );
  }
  const into = up
    .split(sep)
    .map((p) => reservedName(p))
    .find(Boolean);
  if (into) {
    throw new DvError(
      'UNSAFE_PATH',
      `${rel} lies behind a symbolic link leading into ${into} (it leads to ${real}): dv never writes there; remove the link`,
      { path: rel },
    );
  }
}

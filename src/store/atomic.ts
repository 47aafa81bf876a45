/** Atomic file writes: temp file in the same file system, fsync, rename. */
import { promises as fsp } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fsError } from '../errors.js';

let counter = 0;

/** A temp path for `target`, inside `tmpDir` when given (same file system), else beside it. */
export function tempPathFor(target: string, tmpDir?: string): string {
  const name = `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}.tmp`;
  return join(tmpDir ?? dirname(target), name);
}

/** Writes `data` to `target` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, tmpDir?: string, mode?: number): Promise<void> {
  const tmp = tempPathFor(target, tmpDir);
  try {
    await fsp.mkdir(dirname(target), { recursive: true });
    if (tmpDir) await fsp.mkdir(tmpDir, { recursive: true });
    const fh = await fsp.open(tmp, 'w', mode ?? 0o666);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(e, target);
  }
}

/**
 * What killed dv processes leave in a store, for `dv gc` to count and remove: packs without an
 * index (invisible to every reader) and temp files whose writer is gone (`writerGone`). gc
 * holds the writer lock of every repository using the store, so no writer is mid-way here but
 * those this rule already tells apart (a push runs without the lock and is alive).
 *
 * Every command also sweeps the temp directories when it opens the repository
 * (`sweepDeadTemps`): a killed `dv add` leaves up to a pack per core (~100 MB) that should not
 * wait for gc. That sweep needs no lock: a file whose writer is gone is nobody's.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { tempWriterPid, useTempDir, writerGone } from './atomic.js';

/** How old a pack without an index must be before gc removes it from a cache others may write. */
export const ORPHAN_AGE_MS = 3600_000;

/**
 * Packs without an index are invisible (a writer killed between the pack and its index, or
 * between gc's two deletions): nothing reads them, so they go. The writer lock excludes every
 * other writer of a private cache; in a shared one a young orphan may still get its index.
 */
export async function removeOrphanPacks(packsDir: string, minAgeMs: number, remove: boolean): Promise<Leftovers> {
  const out: Leftovers = { files: 0, bytes: 0 };
  for (const fan of await fsp.readdir(packsDir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    const names = await fsp.readdir(join(packsDir, fan)).catch(() => [] as string[]);
    for (const f of names) {
      const m = /^([0-9a-f]{64})\.pack$/.exec(f);
      if (!m || names.includes(`${m[1]}.idx`)) continue;
      const st = await fsp.stat(join(packsDir, fan, f)).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < minAgeMs) continue;
      out.files++;
      out.bytes += st.size;
      if (remove) await fsp.rm(join(packsDir, fan, f), { force: true });
    }
  }
  return out;
}

/**
 * Removes what dead dv processes left in the temp directory (pack temp files, push outboxes,
 * index temp files), and nothing else: a push runs without the writer lock and may be using
 * it right now, and a configured cache.dir may point at a directory holding other files.
 * `mine`: whether this process's own temp files are done with (gc, under the writer lock) or
 * may be in use (a command opening the repository while the library runs another one).
 * `minAgeMs`: only files untouched that long (a shared cache on a network file system may be
 * written by a process on another host, whose pid means nothing here).
 */
export async function removeDeadTemps(
  tmpDir: string,
  remove: boolean,
  o: { mine?: 'done' | 'in-use'; minAgeMs?: number } = {},
): Promise<Leftovers> {
  const out: Leftovers = { files: 0, bytes: 0 };
  for (const name of await fsp.readdir(tmpDir).catch(() => [] as string[])) {
    const pid = tempWriterPid(name);
    if (pid === undefined || !writerGone(pid, o.mine ?? 'done')) continue;
    if (o.minAgeMs) {
      const st = await fsp.lstat(join(tmpDir, name)).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < o.minAgeMs) continue;
    }
    const n = await sizeOf(join(tmpDir, name));
    out.files += n.files;
    out.bytes += n.bytes;
    if (remove) await fsp.rm(join(tmpDir, name), { recursive: true, force: true });
  }
  return out;
}

/**
 * When a command opens the repository: removes dead processes' temp files from each temp
 * directory (`minAgeMs` as above), and notes the directories as this process's (Ctrl-C removes
 * its own temp files there). Never fails a command: a read-only repository keeps its leftovers.
 */
export async function sweepDeadTemps(dirs: { dir: string; minAgeMs: number }[]): Promise<void> {
  for (const { dir, minAgeMs } of dirs) {
    useTempDir(dir);
    await removeDeadTemps(dir, true, { mine: 'in-use', minAgeMs }).catch(() => undefined);
  }
}

export interface Leftovers {
  files: number;
  bytes: number;
}

/** Files and bytes of a file, or of everything under a directory (a push outbox). */
async function sizeOf(p: string): Promise<Leftovers> {
  const out: Leftovers = { files: 0, bytes: 0 };
  // Iterative (a directory may nest as deep as whoever made it chose); links are counted, not followed.
  const todo = [p];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const st = await fsp.lstat(next).catch(() => undefined);
    if (!st) continue;
    if (!st.isDirectory()) {
      out.files += 1;
      out.bytes += st.size;
      continue;
    }
    for (const name of await fsp.readdir(next).catch(() => [] as string[])) todo.push(join(next, name));
  }
  return out;
}

/**
 * The writer lock: `.dv/lock`, created exclusively, holding the owner's pid, host and command.
 * Readers never take it. A lock whose process is gone (same host) is stale and cleared.
 */
import { promises as fsp, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { DvError, fsError } from '../errors.js';
import { processAlive } from '../store/atomic.js';
import { lstatControlFile, readControlFile } from './control-file.js';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

type LockState = { state: 'held'; info: LockInfo } | { state: 'gone' } | { state: 'unreadable'; ageMs: number };

async function readLock(file: string): Promise<LockState> {
  let text: string;
  let ageMs: number;
  try {
    // Never through a link or from a FIFO: `.dv/lock` may have come with a clone.
    const st = await lstatControlFile(file, { code: 'BAD_CONFIG' });
    if (!st) return { state: 'gone' };
    ageMs = Date.now() - st.mtimeMs;
    const read = await readControlFile(file, { code: 'BAD_CONFIG', maxBytes: 64 * 1024 });
    if (read === undefined) return { state: 'gone' };
    text = read;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw fsError(e, file);
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    if (info && typeof info.pid === 'number' && typeof info.host === 'string') return { state: 'held', info };
  } catch {
    // fall through: not a lock this version wrote whole
  }
  return { state: 'unreadable', ageMs };
}

/** Locks are created whole (see `create`); one that cannot be read and is this old is a remnant. */
const UNREADABLE_STALE_MS = 5000;

/**
 * Creates `file` holding `text` only if it does not exist, atomically: the content is written to
 * a temp file first and hard-linked into place, so a process killed at any moment never leaves
 * an empty or partial lock behind. Returns false when the lock exists.
 */
async function create(file: string, text: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fsp.writeFile(tmp, text, { flag: 'wx' });
  } catch (e) {
    throw fsError(e, file);
  }
  try {
    await fsp.link(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: exclusive create, with a short window where it is empty.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
      try {
        await fsp.writeFile(file, text, { flag: 'wx' });
        return true;
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fsError(e2, file);
      }
    }
    throw fsError(e, file);
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
  }
}

const held = new Set<string>();

/** Releases every lock this process holds, synchronously: for signal handlers about to exit. */
export function releaseHeldLocksSync(): void {
  for (const f of held) rmSync(f, { force: true });
  held.clear();
}

export class RepoLock {
  private constructor(private readonly file: string) {
    held.add(file);
  }

  /** Takes the lock, waiting up to `waitMs` for another writer; REPO_LOCKED names the holder. */
  static async acquire(file: string, command: string, waitMs: number, onWait?: (holder: LockInfo) => void): Promise<RepoLock> {
    const me: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
    const deadline = Date.now() + waitMs;
    let told = false;
    for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
      if (await create(file, JSON.stringify(me))) return new RepoLock(file);
      const lock = await readLock(file);
      if (lock.state === 'gone') continue;
      const holder = lock.state === 'held' ? lock.info : undefined;
      const stale = holder
        ? holder.host === me.host && !processAlive(holder.pid)
        : lock.state === 'unreadable' && lock.ageMs > UNREADABLE_STALE_MS;
      if (stale) {
        // The owner died. Rename first so two waiters cannot both remove it, then check that
        // what was moved is the stale lock and not a fresh one taken in between.
        const grave = `${file}.stale.${process.pid}`;
        if (
          await fsp.rename(file, grave).then(
            () => true,
            () => false,
          )
        ) {
          const moved = await readLock(grave).catch(() => undefined);
          const fresh =
            moved?.state === 'held' && (holder === undefined || moved.info.pid !== holder.pid || moved.info.since !== holder.since);
          if (fresh) await fsp.link(grave, file).catch(() => undefined);
          await fsp.rm(grave, { force: true });
        }
        continue;
      }
      if (Date.now() >= deadline) {
        const who = holder ? `\`dv ${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : 'another dv process';
        throw new DvError(
          'REPO_LOCKED',
          `the repository is locked by ${who}: wait for it to finish or pass --wait SECONDS; if that process is gone, remove ${file}`,
          { holder },
        );
      }
      if (!told && holder && onWait) {
        onWait(holder);
        told = true;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async release(): Promise<void> {
    held.delete(this.file);
    await fsp.rm(this.file, { force: true });
  }
}

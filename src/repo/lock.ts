/**
 * The writer lock: `.dv/lock`, created exclusively, holding the owner's pid, host and command.
 * Readers never take it. A lock whose process is gone (same host) is stale and cleared.
 */
import { promises as fsp, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { DvError } from '../errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
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
      try {
        await fsp.writeFile(file, JSON.stringify(me), { flag: 'wx' });
        return new RepoLock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readLock(file);
      if (holder && holder.host === me.host && !alive(holder.pid)) {
        // Stale: the owner died. Rename first so two waiters cannot both remove a fresh lock.
        const grave = `${file}.stale.${process.pid}`;
        await fsp.rename(file, grave).then(() => fsp.rm(grave, { force: true }), () => undefined);
        continue;
      }
      if (Date.now() >= deadline) {
        const who = holder ? `\`dv ${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : 'another dv process';
        throw new DvError('REPO_LOCKED', `the repository is locked by ${who}: wait for it to finish or pass --wait SECONDS; if that process is gone, remove ${file}`, { holder });
      }
      if (!told && holder && onWait) { onWait(holder); told = true; }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async release(): Promise<void> {
    held.delete(this.file);
    await fsp.rm(this.file, { force: true });
  }
}

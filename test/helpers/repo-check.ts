/**
 * In-process checks of a repository with dv's own operations (the code `dv fsck`, `dv status`
 * and `dv log` run, without a process start each): for tests that check a repository many times.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { RepoSession } from '../../src/repo/repo.js';
import { fsck, type FsckResult } from '../../src/ops/fsck.js';
import { status, type StatusResult } from '../../src/ops/status.js';
import { log, type LogEntry } from '../../src/ops/log.js';
import { decodePointer, type Pointer } from '../../src/core/pointer.js';

export interface RepoReport {
  fsck: FsckResult;
  status: StatusResult;
  log: LogEntry[];
}

/** Opens `dir` as a writer (as `dv fsck` does) and runs fsck, status and log. */
export async function inspectRepo(dir: string): Promise<RepoReport> {
  const s = await RepoSession.open({ cwd: dir, write: true, waitMs: 5000, command: 'test-inspect' });
  try {
    return { fsck: await fsck(s), status: await status(s, {}), log: await log(s, {}) };
  } finally {
    await s.close();
  }
}

export async function readPointerFile(dir: string, rel: string): Promise<Pointer> {
  return decodePointer(await fsp.readFile(join(dir, `${rel}.dv`), 'utf8'), `${rel}.dv`);
}

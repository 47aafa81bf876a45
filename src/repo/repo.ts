/**
 * Finding and opening a dv repository: its paths, configuration, object store and index.
 * A write session takes the writer lock (`.dv/lock`) for the whole command; a read session takes
 * no lock. Neither holds LevelDB for the whole command: it is opened for each call when closed and
 * let go when idle (store/index-handle.ts), so readers and writers take turns with it, and a
 * reader falls back to an in-memory index only when LevelDB stays held (store/reader-index.ts).
 */
import { promises as fsp } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { DvError } from '../errors.js';
import { initHash } from '../core/hash.js';
import { ObjectStore } from '../store/object-store.js';
import { LevelIndex, type Index } from '../store/index-db.js';
import { describeHolder } from '../store/index-handle.js';
import { ReaderIndex } from '../store/reader-index.js';
import { type Config, getKey, loadRepoConfig } from './config.js';
import { git } from './git.js';
import { RepoLock, type LockInfo } from './lock.js';
import { ORPHAN_AGE_MS, sweepDeadTemps } from '../store/leftovers.js';
import { DV_DIR, repoPaths, type RepoPaths } from './paths.js';
import { registerRepo } from './shared-cache.js';
import type { RetryOptions } from '../backend/retry.js';

export { DV_DIR, repoPaths, type RepoPaths } from './paths.js';
import { checkControlDir, checkControlTree, lstatControlFile } from './control-file.js';
import { configuredCacheDir, markStore, STORE_MARKER } from './store-trust.js';

export const VERSION = '0.1.0';
/** The on-disk format this version reads and writes (`core.format` in `.dv/config`). */
export const FORMAT = '1';

/** The nearest directory at or above `cwd` holding `.dv/`. */
export async function findRoot(cwd: string): Promise<string> {
  let dir = resolve(cwd);
  for (;;) {
    try {
      // lstat: a `.dv/config` that is a link or a FIFO still marks the repository, and opening it
      // then refuses that file by name instead of silently using a parent repository.
      if (!(await fsp.lstat(join(dir, DV_DIR, 'config'))).isDirectory()) return dir;
    } catch {
      // keep looking upwards
    }
    const up = dirname(dir);
    if (up === dir)
      throw new DvError('NOT_A_REPO', `not a dv repository (no ${DV_DIR}/ here or in any parent of ${cwd}): run \`dv init\` first`);
    dir = up;
  }
}

/**
 * `.dv` and what dv keeps in it (and in a cache inside the repository) must be real directories
 * and regular files: any of them may arrive by `git clone` as a symlink to somewhere else (another
 * store, a secret, a device), and dv never follows one for its own files.
 */
export async function checkLayout(paths: RepoPaths): Promise<void> {
  const o = { root: paths.root, code: 'BAD_CONFIG' as const };
  await checkControlDir(paths.dvDir, o);
  for (const d of ['cache', 'tmp']) await checkControlDir(join(paths.dvDir, d), o);
  // What dv reads there it reads whole: a link to /dev/zero or a FIFO must not be among it.
  await checkControlTree(paths.indexDir, 1, o);
  await checkControlTree(join(paths.dvDir, 'remotes'), 2, o);
  for (const f of ['config', 'config.local', 'lock', 'lock.index', 'lock.index.want', 'snapshots.log', '.gitignore'])
    await lstatControlFile(join(paths.dvDir, f), o);
  const rel = relative(paths.root, paths.cacheDir);
  if (rel.startsWith('..') || isAbsolute(rel)) return;
  // A cache inside the work tree may have come with the clone, down to its files.
  await checkControlDir(paths.cacheDir, o);
  await checkControlDir(join(paths.cacheDir, 'tmp'), o);
  for (const [d, depth] of [
    ['packs', 2],
    ['repos', 1],
    ['runs', 1],
  ] as const)
    await checkControlTree(join(paths.cacheDir, d), depth, o);
  await lstatControlFile(join(paths.cacheDir, STORE_MARKER), o);
}

/**
 * The files that hold this clone's own trust (`.dv/config.local`, the remote trust records, the
 * remote it last used) are
 * git-ignored; one that git tracks came with the clone (`git add -f` by whoever made it) and
 * would let the repository choose its own trusted config: refused, naming the way out.
 */
async function refuseCommittedTrust(paths: RepoPaths): Promise<void> {
  const files = [paths.localConfig, join(paths.dvDir, 'remotes', 'trusted.json'), join(paths.dvDir, 'remotes', 'last-used.json')];
  const present: string[] = [];
  for (const f of files)
    if (
      await fsp.lstat(f).then(
        () => true,
        () => false,
      )
    )
      present.push(relative(paths.root, f).split(sep).join('/'));
  if (present.length === 0) return;
  const r = await git(paths.root, ['ls-files', '-z', '--', ...present]);
  const tracked = r.code === 0 ? r.stdout.split('\0').filter(Boolean) : [];
  if (tracked.length === 0) return;
  const msg =
    `${tracked[0]} is committed to git: this clone's own settings cannot come from the repository;` +
    ` run \`git rm --cached ${tracked[0]}\` (and commit) if you made it, else remove it and check the commit that added it`;
  throw new DvError('BAD_CONFIG', msg, { file: tracked[0] });
}

/** A reader waits this long at most for LevelDB (holders take turns within a second) before working without it. */
const READER_WAIT_MS = 5000;
/** A writer midway through its work waits at least this long for a reader's turn with LevelDB to end. */
const WRITER_LATER_WAIT_MS = 5000;
/**
 * Turns with LevelDB when another process waits: a reader (status, diff: short, and a person
 * waits for it) keeps it up to 2 s, a writer (add, commit, gc: long) lets go after 0.2 s. So a
 * `dv status` of 20,000 files beside a `dv add` hashing is not cut into turns of the add.
 */
const READER_HOLD_MS = 2000;
const WRITER_HOLD_MS = 200;

/**
 * The index of a session: LevelDB, opened on demand and let go when idle (store/index-handle.ts),
 * with `.dv/lock.index` naming its holder and `.dv/lock.index.want` its waiter. A writer uses it
 * whole; a reader through a ReaderIndex, which keeps object locations in memory and falls back
 * to the pack indexes (one warning) when LevelDB stays held for READER_WAIT_MS.
 */
function sessionIndex(paths: RepoPaths, opts: OpenOptions, waitMs: number): Index {
  const common = {
    dir: paths.indexDir,
    command: opts.command ?? (opts.write ? 'write' : 'read'),
    holderFile: join(paths.dvDir, 'lock.index'),
    wantFile: join(paths.dvDir, 'lock.index.want'),
  };
  // A writer says whom it waits for (as for the writer lock); a reader's wait is short, and if it
  // ends without the index, its one warning line says who held it.
  if (opts.write) {
    const laterWaitMs = Math.max(waitMs, WRITER_LATER_WAIT_MS);
    return new LevelIndex({ ...common, waitMs, laterWaitMs, holdMs: WRITER_HOLD_MS, onWait: opts.onWait });
  }
  const readerWait = Math.min(waitMs, READER_WAIT_MS);
  const level = new LevelIndex({ ...common, waitMs: readerWait, holdMs: READER_HOLD_MS });
  const load = async (into: Index): Promise<void> => {
    await new ObjectStore(paths.packsDir, paths.tmpDir, into).syncPacks();
  };
  return new ReaderIndex(level, load, (h) => {
    const who = h ? describeHolder(h) : 'another dv process';
    opts.onWarning?.(
      `the index is held by ${who} for more than ${readerWait / 1000} s: working without it,` +
        ' so every file is read and hashed again (slower, same result)',
    );
  });
}

export interface OpenOptions {
  cwd: string;
  /** Takes the writer lock and the persistent index. */
  write: boolean;
  /** How long to wait for another process, in milliseconds. */
  waitMs?: number;
  command?: string;
  onWait?: (holder: LockInfo) => void;
  /** Told of something the user should know that is no error (one line: the CLI prints it on stderr). */
  onWarning?: (text: string) => void;
  /** Told of each retry of a remote request (the CLI prints a line). */
  onRetry?: RetryOptions['onRetry'];
}

export class RepoSession {
  private constructor(
    readonly paths: RepoPaths,
    readonly config: Config,
    readonly store: ObjectStore,
    readonly index: Index,
    private lock: RepoLock | undefined,
    private readonly opts: OpenOptions,
  ) {}

  get root(): string {
    return this.paths.root;
  }

  static async open(opts: OpenOptions): Promise<RepoSession> {
    await initHash();
    const root = await findRoot(opts.cwd);
    const base = repoPaths(root);
    await refuseCommittedTrust(base);
    const config = await loadRepoConfig(base);
    const format = getKey(config.levels.repo, 'core.format');
    if (format !== undefined && format !== FORMAT) {
      throw new DvError(
        'BAD_CONFIG',
        `${base.config} says core.format ${JSON.stringify(format)}, and this dv (${VERSION}) reads format ${FORMAT} only: upgrade dv, or fix the file`,
        { file: base.config },
      );
    }
    const paths = repoPaths(root, await configuredCacheDir(config, root));
    await checkLayout(paths);
    const waitMs = opts.waitMs ?? 10_000;
    const lock = opts.write ? await RepoLock.acquire(paths.lock, opts.command ?? 'write', waitMs, opts.onWait) : undefined;
    const index = sessionIndex(paths, opts, waitMs);
    const store = new ObjectStore(paths.packsDir, paths.tmpDir, index);
    try {
      if (lock) await markStore(paths.cacheDir, config, root);
      if (config.get('cache.dir') !== undefined) {
        // A writer into a shared cache makes itself known, so gc elsewhere keeps what it names;
        // packs that gc (run from another repository) deleted or rewrote are forgotten here.
        if (lock) await registerRepo(paths);
        await store.forgetLostPacks();
      }
      await store.syncPacks();
      // Temp files of killed dv processes go now, not at the next gc (in a shared cache only old ones: see leftovers.ts).
      const shared = config.get('cache.dir') !== undefined;
      await sweepDeadTemps([
        { dir: paths.tmpDir, minAgeMs: shared ? ORPHAN_AGE_MS : 0 },
        { dir: join(paths.dvDir, 'tmp'), minAgeMs: 0 },
      ]);
    } catch (e) {
      await index.close().catch(() => undefined);
      await lock?.release();
      throw e;
    }
    return new RepoSession(paths, config, store, index, lock, opts);
  }

  get onRetry(): RetryOptions['onRetry'] {
    return this.opts.onRetry;
  }

  get writable(): boolean {
    return this.lock !== undefined;
  }

  /**
   * Runs `fn` with the writer lock and the index let go, so that other dv processes (a stage
   * command calling `dv add` or `dv status`) can work meanwhile; takes the lock back after it,
   * waiting as `open` does, and registers the packs others wrote. What was read before `fn` may
   * be stale after it: callers re-check what they rely on. (The index is let go when idle
   * anyway; closing it here only makes that immediate.)
   */
  async unlocked<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.lock || !(this.index instanceof LevelIndex)) return fn();
    await this.store.close();
    await this.index.pause();
    await this.lock.release();
    this.lock = undefined;
    try {
      return await fn();
    } finally {
      const waitMs = this.opts.waitMs ?? 10_000;
      this.lock = await RepoLock.acquire(this.paths.lock, this.opts.command ?? 'write', waitMs, this.opts.onWait);
      await this.store.syncPacks();
    }
  }

  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      await this.index.close();
      await this.lock?.release();
    }
  }
}

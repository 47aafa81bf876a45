/**
 * Finding and opening a dv repository: its paths, configuration, object store and index.
 * A write session takes the writer lock and the LevelDB index; a read session takes no lock
 * and falls back to an in-memory index when a writer holds LevelDB.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { DvError } from '../errors.js';
import { initHash } from '../core/hash.js';
import { ObjectStore } from '../store/object-store.js';
import { LevelIndex, MemoryIndex, type Index } from '../store/index-db.js';
import { type Config, getKey, loadRepoConfig } from './config.js';
import { git } from './git.js';
import { RepoLock, type LockInfo } from './lock.js';
import { processAlive } from '../store/atomic.js';
import { ORPHAN_AGE_MS, sweepDeadTemps } from '../store/leftovers.js';
import { DV_DIR, repoPaths, type RepoPaths } from './paths.js';
import { registerRepo } from './shared-cache.js';
import type { RetryOptions } from '../backend/retry.js';

export { DV_DIR, repoPaths, type RepoPaths } from './paths.js';
import { checkControlDir, checkControlTree, lstatControlFile, readControlFile } from './control-file.js';
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
  for (const f of ['config', 'config.local', 'lock', 'lock.index', 'snapshots.log', '.gitignore'])
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

/**
 * Who holds the LevelDB index (a reader holds it too, for its whole command): `.dv/lock.index`,
 * written by the holder, read only to name it when another process finds the index busy. A
 * hint, never a lock: failures to write or read it change nothing.
 */
const holderFile = (paths: RepoPaths): string => join(paths.dvDir, 'lock.index');

async function noteIndexHolder(paths: RepoPaths, command: string): Promise<void> {
  const me: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  // A hint on every command, readers too: no temp file, no fsync (a torn note is just ignored),
  // and never through a link or into a FIFO.
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0);
  const fh = await fsp.open(holderFile(paths), flags, 0o644).catch(() => undefined);
  if (!fh) return;
  try {
    if ((await fh.stat()).isFile()) await fh.writeFile(JSON.stringify(me));
  } catch {
    // a hint only
  } finally {
    await fh.close();
  }
}

async function forgetIndexHolder(paths: RepoPaths): Promise<void> {
  const held = await readControlFile(holderFile(paths), { root: paths.root }).catch(() => undefined);
  if (held && (JSON.parse(held) as Partial<LockInfo>).pid === process.pid)
    await fsp.rm(holderFile(paths), { force: true }).catch(() => undefined);
}

/** REPO_LOCKED from a busy index, with the holder named when it is known and alive. */
async function nameIndexHolder(paths: RepoPaths, e: unknown): Promise<unknown> {
  if (!(e instanceof DvError) || e.code !== 'REPO_LOCKED') return e;
  const text = await readControlFile(holderFile(paths), { root: paths.root }).catch(() => undefined);
  let h: Partial<LockInfo> | undefined;
  try {
    h = text ? (JSON.parse(text) as Partial<LockInfo>) : undefined;
  } catch {
    h = undefined;
  }
  if (!h || typeof h.pid !== 'number' || typeof h.command !== 'string' || (h.host === hostname() && !processAlive(h.pid))) return e;
  const who = `\`dv ${h.command}\` (pid ${h.pid} on ${h.host}, since ${h.since})`;
  return new DvError('REPO_LOCKED', `the index is in use by ${who}: wait for it to finish, or pass --wait SECONDS`, {
    ...e.data,
    holder: h,
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
    let lock: RepoLock | undefined;
    let index: Index;
    if (opts.write) {
      lock = await RepoLock.acquire(paths.lock, opts.command ?? 'write', waitMs, opts.onWait);
      try {
        index = await LevelIndex.open(paths.indexDir, waitMs);
      } catch (e) {
        await lock.release();
        throw await nameIndexHolder(paths, e);
      }
      await noteIndexHolder(paths, opts.command ?? 'write');
    } else {
      try {
        index = await LevelIndex.open(paths.indexDir, Math.min(waitMs, 1000));
        await noteIndexHolder(paths, opts.command ?? 'read');
      } catch {
        // Held by a writer, or not openable here (a read-only repository, a full disk): the
        // index is a cache, and a reader can work from the pack indexes alone.
        index = new MemoryIndex();
      }
    }
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
      await index.close();
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
   * command calling `dv add` or `dv status`) can work meanwhile; takes both back after it,
   * waiting as `open` does, and registers the packs others wrote. What was read before `fn` may
   * be stale after it: callers re-check what they rely on.
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
      await this.index.reopen(waitMs);
      await this.store.syncPacks();
    }
  }

  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      if (this.index instanceof LevelIndex) await forgetIndexHolder(this.paths);
      await this.index.close();
      await this.lock?.release();
    }
  }
}

/**
 * Writes many files from the store on all cores: the main thread resolves each file to its
 * chunks and their pack locations (batched index lookups), worker threads read, verify and
 * write them. A corrupt chunk stops the checkout with OBJECT_CORRUPT and is forgotten by the
 * index, so the next pull fetches a good copy. Workers name each file through its directory's
 * verified open handle (write-dir.ts), pinned open while the job that writes into it runs.
 * In a pull, a file its fetch staged whole (write-through.ts) is renamed into place instead: its
 * chunks are neither located nor read, its bytes do not count towards a job's, and a checkout with
 * only such files places them on the main thread, no worker started (place-staged.ts); a staged
 * file that cannot be used is written as always.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { decodeManifest } from '../core/manifest.js';
import type { FileEntry } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { packPaths } from '../store/pack.js';
import type { FromWriter, WriteJobFile, WriterData, WrittenFile } from './write-worker.js';
import { newWriteControl, releaseWriteControl, RUN_TOKEN, stopWrites } from './write-temp.js';
import { PROC_FD, type DirCache } from './write-dir.js';
import type { WriteThrough } from './write-through.js';
import { placeStaged } from './place-staged.js';

const JOB_BYTES = 32 * 1024 * 1024;
const JOB_FILES = 256;

/** The chunk ids of a file, in order (walking its manifest tree). */
async function chunksOf(store: ObjectStore, e: FileEntry): Promise<string[]> {
  if (!e.chunked) return [e.id];
  const out: string[] = [];
  const walk = async (id: string): Promise<void> => {
    const node = decodeManifest(await store.get(id), id);
    for (const c of node.children) {
      if (node.level > 0) await walk(c.id);
      else out.push(c.id);
    }
  };
  await walk(e.id);
  return out;
}

/** A file to write: its repository path (its directory is entered through `dirs`), its path for messages, its entry. */
export interface FileToWrite {
  rel: string;
  path: string;
  entry: FileEntry;
  /** Its directory is staged (write-stage.ts): created under its own name, no temp file. */
  inPlace?: boolean;
}

const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
const nameOf = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1);

/**
 * Owns cutting the files a source yields into jobs (at most JOB_FILES / JOB_BYTES each), one job
 * at a time (workers ask concurrently; the source is pulled in order), and knowing which file
 * each job index names until its worker reports it.
 */
class JobSource {
  private readonly it: AsyncIterator<FileToWrite> | Iterator<FileToWrite>;
  private peeked: FileToWrite | undefined;
  /** The source has ended (nothing peeked may remain). */
  ended = false;
  /** Files to write again (their job stopped at a copy located through a distrusted pack), first. */
  private readonly retry: FileToWrite[] = [];
  /** Files handed to a worker and not yet reported, by job index. */
  readonly inflight = new Map<number, FileToWrite>();
  private seq = 0;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly dirs: DirCache,
    source: AsyncIterable<FileToWrite> | Iterable<FileToWrite>,
    private readonly stage?: WriteThrough,
  ) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  /** Whether more files may come after the jobs taken so far. */
  get more(): boolean {
    return !this.ended || this.peeked !== undefined || this.retry.length > 0;
  }

  /** Hands the files of `job` not written back, to be taken again before any other. */
  requeue(job: WriteJobFile[], written: Set<number>): void {
    for (const f of job) {
      if (written.has(f.i)) continue;
      const back = this.done(f.i);
      if (back) this.retry.push(back);
    }
  }

  /** The next job (its directories pinned into `pinned`), or undefined once the source is done. */
  next(pinned: string[]): Promise<WriteJobFile[] | undefined> {
    const job = this.turn.then(() => this.assemble(pinned));
    this.turn = job.catch(() => undefined);
    return job;
  }

  /** The file job index `i` named, forgotten. */
  done(i: number): FileToWrite | undefined {
    const f = this.inflight.get(i);
    this.inflight.delete(i);
    return f;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }

  private async take(): Promise<FileToWrite | undefined> {
    const again = this.retry.shift();
    if (again) return again;
    const p = this.peeked;
    this.peeked = undefined;
    if (p || this.ended) return p;
    const r = await this.it.next();
    if (r.done) this.ended = true;
    return r.done ? undefined : r.value;
  }

  private async assemble(pinned: string[]): Promise<WriteJobFile[] | undefined> {
    const picked: { k: number; rel: string; path: string; entry: FileEntry; inPlace?: boolean; ids: string[] }[] = [];
    let bytes = 0;
    // Ids of the files this job will rename: a second path of the same content is written from the store.
    const renamed = new Set<string>();
    while (picked.length < JOB_FILES) {
      const f = await this.take();
      if (!f) break;
      // A file staged whole is renamed, not written (only into a directory on the staging's file
      // system): it does not count towards the job's bytes.
      const stage = this.stage;
      const free =
        stage !== undefined &&
        !renamed.has(f.entry.id) &&
        stage.complete(f.entry.id, f.entry.size) &&
        this.dirs.get(parentOf(f.rel), true)?.dev === stage.dev;
      const cost = free ? 0 : f.entry.size;
      if (picked.length > 0 && bytes + cost > JOB_BYTES) {
        this.peeked = f;
        break;
      }
      const k = this.seq++;
      this.inflight.set(k, f);
      if (free) renamed.add(f.entry.id);
      bytes += cost;
      picked.push({ k, ...f, ids: [] });
    }
    if (picked.length === 0) return undefined;
    const handles = picked.map((p) => {
      const dir = parentOf(p.rel);
      const h = this.dirs.pin(dir, true)!;
      pinned.push(dir);
      return h;
    });
    // A file a pull's fetch already wrote whole is renamed into place: neither its chunks nor their locations are needed.
    const staged = picked.map((p, k) => this.stage?.claim(p.entry.id, p.entry.size, handles[k].dev));
    for (const [k, p] of picked.entries()) if (!staged[k]) p.ids = await chunksOf(this.store, p.entry);
    // One index lookup for the whole job.
    const locs = await this.store.locations(picked.flatMap((p) => p.ids));
    let at = 0;
    return picked.map((p, k) => {
      const chunks = p.ids.map((id) => {
        const l = locs[at++];
        if (!l) throw new DvError('OBJECT_MISSING', `chunk ${id} of ${p.path} is not in the local store: run \`dv pull\``, { id });
        return { id, ...l };
      });
      const h = handles[k];
      // Without /proc the worker names the directory by path: it checks it is still the one verified.
      const check = PROC_FD ? undefined : { dev: h.dev, ino: h.ino };
      const file: WriteJobFile = {
        i: p.k,
        path: p.path,
        dir: h.path,
        check,
        name: nameOf(p.rel),
        exec: p.entry.exec,
        size: p.entry.size,
        chunks,
      };
      if (p.inPlace) file.inPlace = true;
      return staged[k] ? { ...file, staged: staged[k] } : file;
    });
  }
}

/**
 * Whether a corrupt copy the worker met was located through a pack index (store/pack-locator.ts)
 * while the index no longer has it there (dropped as corrupt before packs were marked for it): its
 * pack is distrusted from now on and the files are written again from the copies the index names.
 * False for a copy the index itself names: that one is corrupt, and dropped.
 */
async function servedStale(store: ObjectStore, f: { id?: string; pack?: string }): Promise<boolean> {
  const locator = store.packLocator;
  if (!locator || !f.id || !f.pack) return false;
  const current = (await store.index.getLocations([f.id]))[0];
  if (current?.pack === f.pack) return false;
  locator.distrust(f.pack);
  return true;
}

/**
 * A checkout whose only job is files a pull staged whole (write-through.ts) renames them here: a
 * worker would spend ~60 ms starting for a few renames. Answers the files left for the workers:
 * none, or the first that could not be placed and those after it (a worker tries it again and
 * reports what went wrong as always: a staged file that cannot be used is written from the store).
 */
function placedHere(
  job: WriteJobFile[],
  pinned: string[],
  jobs: JobSource,
  dirs: DirCache,
  onWritten?: (f: FileToWrite, w: WrittenFile) => void,
): WriteJobFile[] | undefined {
  if (jobs.more || !job.every((f) => f.staged)) return job;
  const control = newWriteControl();
  let left: WriteJobFile[] | undefined;
  try {
    for (const [k, f] of job.entries()) {
      let w: WrittenFile;
      try {
        w = placeStaged(f, f.staged!, control);
      } catch {
        left = job.slice(k);
        return left;
      }
      onWritten?.(jobs.done(f.i)!, w);
    }
    // DV_POOL_STATS=1: who wrote the files (test/transfer/write-through.test.ts).
    if (process.env.DV_POOL_STATS) process.stderr.write(`dv write pool stats: 0 workers, ${job.length} staged files placed here\n`);
    return undefined;
  } finally {
    releaseWriteControl(control);
    // The job's directories stay open for the worker that writes what is left.
    if (!left) for (const d of pinned) dirs.unpin(d);
  }
}

/**
 * Writes the files `source` yields, in jobs, as workers ask for them: the source is pulled only as
 * fast as the workers write, so a caller that plans while it yields (materialize.ts) never holds
 * more than the jobs in flight. `onWritten` hears of each file written (its stat data), in no
 * particular order.
 */
export async function writeFiles(
  store: ObjectStore,
  dirs: DirCache,
  source: AsyncIterable<FileToWrite> | Iterable<FileToWrite>,
  stage: WriteThrough | undefined,
  onWritten?: (f: FileToWrite, w: WrittenFile) => void,
): Promise<void> {
  const jobs = new JobSource(store, dirs, source, stage);
  await store.flush();
  // The first job is assembled before any worker starts: one file needs one worker, none needs none.
  const firstPinned: string[] = [];
  let first: WriteJobFile[] | undefined;
  try {
    first = await jobs.next(firstPinned);
  } catch (e) {
    for (const d of firstPinned) dirs.unpin(d);
    await jobs.close();
    throw e;
  }
  if (!first) return;
  first = placedHere(first, firstPinned, jobs, dirs, onWritten);
  if (!first) return;
  const threads = !jobs.more ? 1 : Math.max(1, Math.min(availableParallelism(), 8));
  if (process.env.DV_POOL_STATS) process.stderr.write(`dv write pool stats: ${threads} workers\n`);
  const takeFirst = (): WriteJobFile[] | undefined => {
    const f = first;
    first = undefined;
    return f;
  };
  const workers: Worker[] = [];
  const control = newWriteControl();
  try {
    await Promise.all(
      Array.from({ length: threads }, async () => {
        const w = new Worker(new URL('./write-worker.js', import.meta.url), {
          workerData: { control, token: RUN_TOKEN } satisfies WriterData,
          // A worker's garbage is buffers of one job at a time: a small young generation keeps its heap small.
          resourceLimits: { maxYoungGenerationSizeMb: 6 },
        });
        workers.push(w);
        for (let own = takeFirst(); ; own = undefined) {
          const pinned: string[] = own ? firstPinned : [];
          let reply: FromWriter;
          let job: WriteJobFile[] | undefined;
          try {
            job = own ?? (await jobs.next(pinned));
            if (!job) break;
            reply = await new Promise<FromWriter>((resolve, reject) => {
              w.once('message', resolve);
              w.once('error', reject);
              w.postMessage({ type: 'job', packsDir: store.packsDir, files: job! });
            });
          } finally {
            // A job that failed to start or failed in the worker: its temp files are gone before the
            // directories close (stopWrites below waits for the other workers; this one is done).
            for (const d of pinned) dirs.unpin(d);
          }
          w.removeAllListeners('error');
          if (reply.type === 'fatal') throw new Error(reply.message);
          for (const r of reply.written) {
            const f = jobs.done(r.i)!;
            onWritten?.(f, r);
          }
          if (reply.failed) {
            const f = reply.failed;
            const path = jobs.inflight.get(f.i)?.path ?? '?';
            // A staged file that could not be used (write-through.ts): claimed once, so it is written from the store now.
            if (f.code === 'STAGED' || (f.code === 'OBJECT_CORRUPT' && (await servedStale(store, f)))) {
              jobs.requeue(job, new Set(reply.written.map((r) => r.i)));
              continue;
            }
            if (f.code === 'OBJECT_CORRUPT') {
              if (f.id) await store.index.dropObjects([f.id]);
              const where = f.pack ? ` in ${packPaths(store.packsDir, f.pack).pack}` : '';
              throw new DvError(
                'OBJECT_CORRUPT',
                `${f.message}${where} (needed for ${path}): run \`dv pull\` to fetch a good copy, and \`dv fsck\` to check the rest`,
                { id: f.id, file: path },
              );
            }
            if (f.code === 'UNSAFE_PATH') throw new DvError('UNSAFE_PATH', f.message, { path });
            // Its directory was open and verified: gone or replaced now means another process changed it.
            if (f.code === 'ENOENT' || f.code === 'ELOOP' || f.code === 'ENOTDIR') {
              const msg = `${path} could not be written: its directory changed while dv wrote into it (moved, or replaced by a link): run the checkout again`;
              throw new DvError('UNSAFE_PATH', msg, { path });
            }
            throw fsError(Object.assign(new Error(`${f.message}`), { code: f.code }), path);
          }
        }
      }),
    );
  } finally {
    // After a failure the other workers are mid-file: each deletes its temp file before it goes.
    await stopWrites(control);
    await Promise.all(workers.map((w) => w.terminate()));
    releaseWriteControl(control);
    await jobs.close();
  }
}

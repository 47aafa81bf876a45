/**
 * The LevelDB handle of the index, opened on demand and let go when idle. LevelDB admits one
 * process at a time (a lock on its folder), so no dv command keeps it for the whole command:
 * a push waiting on the network, a long `dv add` hashing, a gc, would otherwise make every other
 * dv wait for it or work without it (a `dv status` re-hashing every file).
 *
 * Invariants:
 * - Every use of LevelDB is one `use(fn)` call; `fn` runs while this process holds the handle,
 *   so whatever `fn` does (a read-then-write, an iteration) is atomic against other processes.
 *   No `fn` calls `use` again (the handle would wait for itself).
 * - The handle stays open while a call is in flight, and is closed IDLE_MS after the last one
 *   ended, or sooner when another process wants it (below), or at `pause`/`close`.
 * - A process that finds LevelDB locked waits (backoff, up to `waitMs`) and says so in the want
 *   note (`.dv/lock.index.want`: pid, host, command, a token). A holder that sees a fresh want
 *   note of another handle lets go as soon as no call is in flight, once it has held the index
 *   `holdMs` (so two busy processes take turns of at least that instead of thrashing), then
 *   keeps away until the waiter took it (its note is gone) or YIELD_MAX_MS passed.
 * - The holder note (`.dv/lock.index`) is written right after each opening and removed right
 *   before each closing, while LevelDB's lock is held: only the holder ever writes it, so it
 *   names the current holder (or nobody). Both notes are hints, never locks: a note that cannot
 *   be written or read changes nothing but the wording of REPO_LOCKED.
 * - REPO_LOCKED from here names the holder (pid, host, command, since) whenever its note does.
 *
 * The cost of an open/close cycle, measured on the 2-core test machine with 100,000 stat entries
 * (/tmp benchmark, classic-level 1.x): open 1.2 ms (median) when the last closing left no log,
 * 6-10 ms (p90 12-23 ms) when it must replay a log and write a level-0 table; close 0.1-1.3 ms.
 * A fast loop of tiny-write cycles costs 2-3.5 ms each, and the small level-0 tables it leaves
 * make a full read of the stat cache up to 3x slower until LevelDB compacts them (it does, in
 * the background of later openings). So the handle is reopened only after a pause of IDLE_MS:
 * at most 1000/IDLE_MS = 4 reopenings a second, under 10 ms each, whatever the file count. A
 * `dv status` or `dv commit` of 100,000 files calls the index every few milliseconds while it
 * walks (one call per directory or per 4,096 files) and keeps the handle throughout; it lets go
 * only while its hashing pool works on a batch (seconds) or while it waits on the network.
 * Measured on 100,000 files in 1,000 directories (`stats.opens`): `dv add` 16 s, 6 openings;
 * `dv status` unchanged 1.9 s, 1 opening; with 1% edited 2.4 s, 2; `dv commit` of them 3.4 s, 1.
 */
import { ClassicLevel } from 'classic-level';
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { DvError, fsError } from '../errors.js';
import { processAlive } from './atomic.js';

/** Closed after this long without a call in flight (see the figures above). */
export const IDLE_MS = 250;
/** A holder asked to let go keeps the index at least this long after opening it (default of `holdMs`). */
const HOLD_MS = 500;
/** How often a holder looks for a want note while it works. */
const WANT_CHECK_MS = 100;
/** A want note older than this is from a waiter that gave up or died. */
const WANT_FRESH_MS = 1000;
/** How long a holder that let go keeps away, waiting for the waiter to take the index. */
const YIELD_MAX_MS = 500;
/** After this long waiting, `onWait` is told who holds the index. */
const TELL_AFTER_MS = 1000;

/** Who holds (or wants) the index. */
export interface HolderNote {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export type Db = ClassicLevel<string, Buffer>;

export interface HandleOptions {
  /** The LevelDB folder. */
  dir: string;
  /** How long one opening waits for another process before REPO_LOCKED. */
  waitMs: number;
  /** The same for openings after the first one (a writer midway should outwait a reader's turn). */
  laterWaitMs?: number;
  /** The dv command, named in the notes. */
  command: string;
  /** A holder asked to let go keeps the index at least this long after opening it (default 500 ms). */
  holdMs?: number;
  /** `.dv/lock.index`: the holder note. */
  holderFile?: string;
  /** `.dv/lock.index.want`: the want note. */
  wantFile?: string;
  /** Called once when an opening has waited TELL_AFTER_MS for a known holder. */
  onWait?: (holder: HolderNote) => void;
}

const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fsc.O_NONBLOCK ?? 0;
/**
 * LevelDB keeps a table file mapped while it is in its table cache (max_open_files less 10 slots),
 * and every page a lookup or compaction touched stays resident: at 1,000,000 files the index is
 * ~110 tables of 2 MB, and with LevelDB's default of 1000 a pull's peak held 69 MB of them.
 * 64 bounds that whatever the dataset (measured at 1 M files: status 133 -> 119 MB, fetch
 * 272 -> 258 MB, same times within noise).
 */
const MAX_OPEN_TABLES = 64;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes a note (never through a link or into a FIFO; no temp file: a torn note is ignored). */
async function writeNote(file: string, note: object): Promise<void> {
  const fh = await fsp.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | O_NOFOLLOW | O_NONBLOCK, 0o644).catch(() => undefined);
  if (!fh) return;
  try {
    if ((await fh.stat()).isFile()) await fh.writeFile(JSON.stringify(note));
  } catch {
    // a hint only
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A note and its age, or undefined (absent, not a regular file, torn, too large). */
async function readNote(file: string): Promise<{ note: HolderNote & { token?: string }; ageMs: number } | undefined> {
  const fh = await fsp.open(file, fsc.O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > 4096) return undefined;
    const note = JSON.parse(await fh.readFile('utf8')) as HolderNote & { token?: string };
    if (typeof note?.pid !== 'number' || typeof note.host !== 'string' || typeof note.command !== 'string') return undefined;
    return { note, ageMs: Date.now() - st.mtimeMs };
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The holder named by `.dv/lock.index`, unless the note is gone or its process is (same host). */
export async function readHolder(file: string | undefined): Promise<HolderNote | undefined> {
  const n = file ? await readNote(file) : undefined;
  if (!n || (n.note.host === hostname() && !processAlive(n.note.pid))) return undefined;
  const { pid, host, command, since } = n.note;
  return { pid, host, command, since: String(since) };
}

export const describeHolder = (h: HolderNote): string => `\`dv ${h.command}\` (pid ${h.pid} on ${h.host}, since ${h.since})`;

export class IndexHandle {
  private db: Db | undefined;
  private opening: Promise<Db> | undefined;
  /** A closing in progress (idle, yield, pause): calls wait for it, then reopen. */
  private gate: Promise<void> | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private openedAt = 0;
  /** Another handle's fresh want note was seen since this opening. */
  private wanted = false;
  private lastWantCheck = 0;
  private told = false;
  private closed = false;
  private readonly token = randomBytes(8).toString('hex');
  private readonly me: HolderNote;
  /** How many times LevelDB was opened, and how long openings waited for another process (ms). */
  readonly stats = { opens: 0, waitedMs: 0 };

  get dir(): string {
    return this.o.dir;
  }

  constructor(private readonly o: HandleOptions) {
    this.me = { pid: process.pid, host: hostname(), command: o.command, since: new Date().toISOString() };
  }

  /** Runs `fn` with LevelDB open (opening it, waiting for another process, if need be). */
  async use<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.closed) throw new Error(`the index ${this.o.dir} was used after it was closed`);
      if (this.gate) await this.gate;
      else if (this.db && this.wanted && Date.now() - this.openedAt >= (this.o.holdMs ?? HOLD_MS)) this.gate = this.letGo(true);
      else break;
    }
    this.inFlight++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    try {
      if (!this.db && !this.opening) this.opening = this.openDb();
      const db = this.db ?? (await this.opening!);
      this.checkWant();
      return await fn(db);
    } finally {
      if (--this.inFlight === 0) this.settle();
    }
  }

  /** Closes LevelDB now (after the calls in flight); the next call opens it again. */
  async pause(): Promise<void> {
    while (this.gate) await this.gate;
    if (this.db || this.opening) {
      this.gate = this.letGo(false);
      await this.gate;
    }
  }

  async close(): Promise<void> {
    await this.pause();
    this.closed = true;
  }

  /** No call in flight: let go at once for a waiter, else after IDLE_MS. */
  private settle(): void {
    if (this.drained) {
      this.drained();
      return;
    }
    if (!this.db || this.gate || this.closed) return;
    if (this.wanted && Date.now() - this.openedAt >= (this.o.holdMs ?? HOLD_MS)) {
      this.gate = this.letGo(true);
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.inFlight === 0 && this.db && !this.gate) this.gate = this.letGo(false);
    }, IDLE_MS);
    this.idleTimer.unref();
  }

  /** Closes LevelDB once no call is in flight; after a yield, keeps away while the waiter takes it. */
  private letGo(yielding: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      await this.opening?.catch(() => undefined);
      if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
      this.drained = undefined;
      const db = this.db;
      this.db = undefined;
      if (!db) return;
      // The note goes first, while LevelDB's lock is still ours: never a note of the next holder.
      if (this.o.holderFile) await fsp.rm(this.o.holderFile, { force: true }).catch(() => undefined);
      await db.close().catch(() => undefined);
      if (!yielding || !this.o.wantFile) return;
      for (const end = Date.now() + YIELD_MAX_MS; Date.now() < end; await sleep(10)) {
        const w = await readNote(this.o.wantFile);
        if (!w || w.ageMs > WANT_FRESH_MS || w.note.token === this.token) return;
      }
    };
    return run().finally(() => {
      this.gate = undefined;
    });
  }

  /** Looks for another handle's want note, at most every WANT_CHECK_MS (without delaying the call). */
  private checkWant(): void {
    const file = this.o.wantFile;
    if (!file || this.wanted || Date.now() - this.lastWantCheck < WANT_CHECK_MS) return;
    this.lastWantCheck = Date.now();
    void readNote(file).then((w) => {
      if (!w || w.ageMs > WANT_FRESH_MS || w.note.token === this.token || !this.db) return;
      this.wanted = true;
      if (this.inFlight === 0) this.settle();
    });
  }

  private async openDb(): Promise<Db> {
    try {
      await fsp.mkdir(this.o.dir, { recursive: true }).catch((e) => {
        throw fsError(e, this.o.dir);
      });
      const start = Date.now();
      const deadline = start + (this.stats.opens > 0 ? (this.o.laterWaitMs ?? this.o.waitMs) : this.o.waitMs);
      for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
        const db = new ClassicLevel<string, Buffer>(this.o.dir, {
          keyEncoding: 'utf8',
          valueEncoding: 'buffer',
          maxOpenFiles: MAX_OPEN_TABLES,
        });
        try {
          await db.open();
        } catch (e) {
          if ((e as { cause?: { code?: string } }).cause?.code !== 'LEVEL_LOCKED') throw openError(this.o.dir, e);
          if (Date.now() >= deadline) {
            this.stats.waitedMs += Date.now() - start;
            throw await this.busy(deadline);
          }
          if (this.o.wantFile) await writeNote(this.o.wantFile, { ...this.me, token: this.token });
          // Told only when it will still wait (a wait about to give up says so in its error instead).
          if (!this.told && this.o.onWait && Date.now() - start >= TELL_AFTER_MS && deadline - Date.now() > delay) {
            const h = await readHolder(this.o.holderFile);
            if (h) {
              this.told = true;
              this.o.onWait(h);
            }
          }
          await sleep(delay);
          continue;
        }
        this.stats.waitedMs += Date.now() - start;
        this.stats.opens++;
        this.db = db;
        this.openedAt = Date.now();
        this.wanted = false;
        if (this.o.holderFile) await writeNote(this.o.holderFile, this.me);
        if (this.o.wantFile && (await readNote(this.o.wantFile))?.note.token === this.token)
          await fsp.rm(this.o.wantFile, { force: true }).catch(() => undefined);
        return db;
      }
    } finally {
      this.opening = undefined;
    }
  }

  /** REPO_LOCKED naming the holder; a holder that opened a moment ago gets 300 ms to write its note. */
  private async busy(deadline: number): Promise<DvError> {
    let h = await readHolder(this.o.holderFile);
    for (let i = 0; !h && i < 3 && Date.now() - deadline < 300; i++) {
      await sleep(100);
      h = await readHolder(this.o.holderFile);
    }
    const who = h ? describeHolder(h) : 'another dv process';
    return new DvError(
      'REPO_LOCKED',
      `the index ${this.o.dir} is in use by ${who}: wait for it to finish, or pass --wait SECONDS`,
      h ? { dir: this.o.dir, holder: h } : { dir: this.o.dir },
    );
  }
}

/** The DvError for a LevelDB that cannot be opened for another reason than a lock (its data names `dir`, as REPO_LOCKED's does). */
function openError(dir: string, e: unknown): DvError {
  const cause = (e as { cause?: { message?: string } }).cause;
  const text = `${(e as Error).message} ${cause?.message ?? ''}`;
  if (/No space left/i.test(text))
    return new DvError(
      'NO_SPACE',
      `no space left on device for the index ${dir}: free some space and run the command again`,
      { dir },
      { cause: e },
    );
  if (/Permission denied|Read-only file system/i.test(text))
    return new DvError('PERMISSION_DENIED', `cannot write the index ${dir}: check its owner and mode`, { dir }, { cause: e });
  return new DvError(
    'ERROR',
    `cannot open the index ${dir}: ${(e as Error).message}; run \`dv fsck --rebuild-index\``,
    { dir },
    { cause: e },
  );
}

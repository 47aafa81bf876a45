/**
 * Reachability: the roots a repository keeps (pointer files in the workspace and on every git
 * ref, with their snapshot history) and every object reachable from them.
 */
import pLimit from 'p-limit';
import { DeclaredLedger } from '../core/declared.js';
import { decodeManifest } from '../core/manifest.js';
import { decodePointer } from '../core/pointer.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import { isPointerPath } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';

export interface Problem {
  code: 'OBJECT_MISSING' | 'OBJECT_CORRUPT' | 'BAD_OBJECT' | 'BAD_POINTER' | 'UNSAFE_PATH';
  id?: string;
  message: string;
}

/** Snapshot ids named by pointer files in the workspace and in every git ref (branches, tags). */
export async function rootSnapshots(s: RepoSession, opts: { gitRefs?: boolean } = {}): Promise<{ roots: string[]; problems: Problem[] }> {
  return rootSnapshotsAt(s.root, opts);
}

/** rootSnapshots of the repository at `root` (another one sharing this cache, for gc). */
export async function rootSnapshotsAt(root: string, opts: { gitRefs?: boolean } = {}): Promise<{ roots: string[]; problems: Problem[] }> {
  const roots = new Set<string>();
  const problems: Problem[] = [];
  const s = { root };
  try {
    for (const t of await findTracked(s.root)) roots.add(t.pointer.snapshot);
  } catch (e) {
    if (e instanceof DvError && e.code === 'BAD_POINTER') problems.push({ code: 'BAD_POINTER', message: e.message });
    else throw e;
  }
  if (opts.gitRefs !== false) {
    // refs/exps: experiments (dv exp run) keep their data as branches do.
    const refs = await git(s.root, ['for-each-ref', '--format=%(objectname)', 'refs/heads', 'refs/tags', 'refs/remotes', 'refs/exps']);
    const head = await git(s.root, ['rev-parse', '-q', '--verify', 'HEAD']);
    const commits = new Set([...refs.stdout.split('\n'), head.stdout.trim()].filter((x) => /^[0-9a-f]{40,64}$/.test(x)));
    const blobs = new Set<string>();
    for (const c of commits) {
      const lt = await git(s.root, ['ls-tree', '-r', '-z', c]);
      for (const rec of lt.stdout.split('\0')) {
        const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/s.exec(rec);
        if (m && isPointerPath(m[2])) blobs.add(m[1]);
      }
    }
    if (blobs.size > 0) {
      const r = await git(s.root, ['cat-file', '--batch'], [...blobs].join('\n') + '\n');
      const out = Buffer.from(r.stdout, 'utf8');
      let pos = 0;
      while (pos < out.length) {
        const nl = out.indexOf(10, pos);
        if (nl < 0) break;
        const header = out.toString('utf8', pos, nl).split(' ');
        const size = Number(header[2]);
        if (!Number.isSafeInteger(size)) break;
        const body = out.toString('utf8', nl + 1, nl + 1 + size);
        pos = nl + 1 + size + 1;
        try {
          roots.add(decodePointer(body, `git blob ${header[0]}`).snapshot);
        } catch {
          /* not a pointer file */
        }
      }
    }
  }
  return { roots: [...roots].sort(), problems };
}

/** One batch of reachable ids in walk order; `meta` marks structured objects (snapshots, trees, manifests). */
export interface ReachBatch {
  ids: string[];
  meta: boolean;
}

/**
 * Every object reachable from `roots` (snapshots with their parents, trees, manifests, chunks).
 * Ids come out grouped by directory, a file's chunks in order. Every object is visited once
 * however often it is named; a tree whose declared size or file count is not what its entries
 * hold is reported as BAD_OBJECT. Problems are never fatal. Holds every id: for a walk whose
 * memory must not grow with the file count, use `walkReachable`.
 */
export async function reachable(
  s: RepoSession,
  roots: string[],
  opts: { history?: boolean } = {},
): Promise<{ ids: Set<string>; meta: Set<string>; problems: Problem[]; shallow: string[] }> {
  const ids = new Set<string>();
  const meta = new Set<string>();
  const { problems, shallow } = await walkReachable(s, roots, opts, (b) => {
    for (const id of b.ids) ids.add(id);
    if (b.meta) for (const id of b.ids) meta.add(id);
  });
  return { ids, meta, problems, shallow };
}

/**
 * Visits what `reachable` collects, batch by batch, holding only the structured ids seen (one per
 * snapshot, directory and chunked file) and a slice of the walk: trees are read SLICE at a time,
 * level by level, and the manifests of a slice's files walked before the next slice. A structured
 * object is visited once; a chunk once per slice that names it (a chunk two directories share may
 * be visited twice, so a caller counting distinct chunks keeps its own set). `visit` is awaited
 * before the walk goes on (it may page what it is given to disk or to a remote's index).
 */
export async function walkReachable(
  s: RepoSession,
  roots: string[],
  /**
   * `present`: chunks known to be held elsewhere (a push: on the remote), visited without asking
   * the store whether it has them (each ask reads the index, which for a whole dataset maps it
   * all into memory), so never reported missing.
   */
  opts: { history?: boolean; present?: (id: string) => boolean },
  visit: (b: ReachBatch) => Promise<void> | void,
): Promise<{ problems: Problem[]; shallow: string[] }> {
  const walk = new ReachWalk(s, visit, opts.present);
  const { trees, shallow } = await walk.snapshots(roots, opts.history !== false);
  await walk.trees(trees);
  return { problems: walk.problems, shallow };
}

/** Trees read and decoded at once (each up to a few MB with its entries). */
const SLICE = 32;
/** Ids per store lookup. */
const LOOKUP = 8192;

/** Owns one reachability walk: the structured ids seen, the problems found, declared sizes. */
class ReachWalk {
  /** Structured objects (snapshots, trees, manifests) visited. */
  private readonly seen = new Set<string>();
  /** Chunks reported missing (each once). */
  private readonly reported = new Set<string>();
  readonly problems: Problem[] = [];
  private readonly limit = pLimit(16);
  /** Each tree's declared size and file count against its entries, memoised by id. */
  private readonly ledger = new DeclaredLedger({ files: false });

  constructor(
    private readonly s: RepoSession,
    private readonly visit: (b: ReachBatch) => Promise<void> | void,
    private readonly present?: (id: string) => boolean,
  ) {}

  /**
   * Walks snapshots (with their parents when `history`) and returns their trees. History that was
   * never fetched (a clone pulls only what its pointers name) is not damage: it comes back as `shallow`.
   */
  async snapshots(roots: string[], history: boolean): Promise<{ trees: string[]; shallow: string[] }> {
    const rootSet = new Set(roots);
    const shallow: string[] = [];
    const trees: string[] = [];
    const queue = [...roots];
    while (queue.length > 0) {
      const id = queue.pop()!;
      if (this.seen.has(id)) continue;
      if (!rootSet.has(id) && !(await this.s.store.has(id))) {
        shallow.push(id);
        continue;
      }
      await this.fresh([id]);
      const [bytes] = await this.readAll([id], 'snapshot');
      const snap = bytes && this.decodeOr(() => decodeSnapshot(bytes, id), id, 'snapshot');
      if (!snap) continue;
      const claim = `snapshot ${id.slice(0, 12)}`;
      this.decodeOr(() => this.ledger.claim(snap.tree, 'tree', { size: snap.size, files: snap.files }, claim), id, 'snapshot');
      trees.push(snap.tree);
      if (history) queue.push(...snap.parents);
    }
    return { trees, shallow };
  }

  /** Walks trees level by level, SLICE trees at a time: their single-chunk files, then the manifests of the others. */
  async trees(trees: string[]): Promise<void> {
    for (let level = trees; level.length > 0; ) {
      const next: string[] = [];
      for (let at = 0; at < level.length; at += SLICE) {
        const todo = await this.fresh(level.slice(at, at + SLICE));
        const bytes = await this.readAll(todo, 'tree');
        const chunks: string[] = [];
        const manifests: string[] = [];
        todo.forEach((id, k) => {
          const b = bytes[k];
          const t = b && this.decodeOr(() => decodeTree(b, id), id, 'tree');
          if (!t) return;
          // Declared sizes must hold. A lie is reported, and still walked (once, memoised): gc must
          // not collect what a damaged tree names, and fsck reports what lies below it too.
          this.decodeOr(() => this.ledger.tree(id, t), id, 'tree');
          for (const e of t.entries) {
            if (e.type === 'dir') next.push(e.id);
            else if (e.type === 'file') (e.chunked ? manifests : chunks).push(e.id);
          }
        });
        await this.leaves(chunks, (id) => `chunk ${id}`);
        await this.manifests(manifests);
      }
      level = next;
    }
  }

  /** Walks file manifests level by level down to their chunks. */
  private async manifests(manifests: string[]): Promise<void> {
    for (let level = manifests; level.length > 0; ) {
      const next: string[] = [];
      for (let at = 0; at < level.length; at += SLICE) {
        const todo = await this.fresh(level.slice(at, at + SLICE));
        const bytes = await this.readAll(todo, 'file manifest');
        const chunks: string[] = [];
        const owner = new Map<string, string>();
        todo.forEach((id, k) => {
          const b = bytes[k];
          const node = b && this.decodeOr(() => decodeManifest(b, id), id, 'file manifest');
          if (!node) return;
          for (const c of node.children) {
            if (node.level > 0) next.push(c.id);
            else {
              chunks.push(c.id);
              owner.set(c.id, id);
            }
          }
        });
        await this.leaves(chunks, (id) => `chunk ${id} of file ${owner.get(id)?.slice(0, 12)}`);
      }
      level = next;
    }
  }

  // Reads objects 16 at a time; a missing or corrupt one is a problem (and undefined), not a failure.
  private readAll(list: string[], what: string): Promise<(Buffer | undefined)[]> {
    return Promise.all(
      list.map((id) =>
        this.limit(async () => {
          try {
            return await this.s.store.get(id);
          } catch (e) {
            if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'OBJECT_CORRUPT')) {
              this.problems.push({ code: e.code, id, message: `${what} ${id}: ${e.code === 'OBJECT_MISSING' ? 'missing' : 'corrupt'}` });
              return undefined;
            }
            throw e;
          }
        }),
      ),
    );
  }

  // Runs a decode or check; a DvError it throws is a problem (and undefined), not a failure.
  private decodeOr<T>(f: () => T, id: string, what: string): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof DvError) {
        this.problems.push({ code: e.code === 'UNSAFE_PATH' ? 'UNSAFE_PATH' : 'BAD_OBJECT', id, message: `${what} ${id}: ${e.message}` });
        return undefined;
      }
      throw e;
    }
  }

  /** Marks new structured objects seen, visits them, and returns them. */
  private async fresh(list: string[]): Promise<string[]> {
    const out = list.filter((id) => {
      if (this.seen.has(id)) return false;
      this.seen.add(id);
      return true;
    });
    if (out.length > 0) await this.visit({ ids: out, meta: true });
    return out;
  }

  /** Visits chunks (each once per call), checking LOOKUP at a time that the store has them. */
  private async leaves(list: string[], of: (id: string) => string): Promise<void> {
    const todo = [...new Set(list)];
    for (let at = 0; at < todo.length; at += LOOKUP) {
      const part = todo.slice(at, at + LOOKUP);
      const ask = this.present ? part.filter((id) => !this.present!(id)) : part;
      const have = ask.length > 0 ? await this.s.store.hasMany(ask) : [];
      ask.forEach((id, k) => {
        if (have[k] || this.reported.has(id)) return;
        this.reported.add(id);
        this.problems.push({ code: 'OBJECT_MISSING', id, message: `${of(id)}: missing` });
      });
      await this.visit({ ids: part, meta: false });
    }
  }
}

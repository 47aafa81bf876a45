/**
 * Write-through of a pull: the large files of the trees a fetch brings are rebuilt by the fetch
 * workers as their chunks arrive, each verified chunk written at its offsets into a staged file of
 * the pull's own (`.dv/tmp/co-<pid>-<token>/<file id>`), so that checkout renames a complete file
 * into place instead of reading every byte back from the store, hashing it again and writing it a
 * second time. The store still gets every chunk (the workers write the packs as before).
 *
 * Invariants: a staged file is handed to checkout (`claim`) only when every place of its manifest
 * tree was written by a worker with a chunk that verified against its id and had the length its
 * manifest declares, and the places tile the file (offsets are the sums of declared child sizes,
 * which the fetch's ledger holds to each node's claim), so its bytes are the file's; anything
 * else (a chunk already here, one in a frame, a subtree shared with a file seen earlier, a failed
 * write) leaves it incomplete and checkout writes that file from the store as always. A staged
 * file is claimed at most once. Places waiting are bounded (MAX_PLACES), and so are the places
 * one chunk is written at (MAX_COPIES: staged bytes stay within a few times the bytes downloaded,
 * whatever checkout then does): beyond, files are not staged. The staging directory is removed by `dispose`, by Ctrl-C (its name carries the pid:
 * store/atomic.ts) or by the next command after a kill (store/leftovers.ts).
 */
import { lstatSync, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { ManifestNode } from '../core/manifest.js';
import { RUN_TOKEN } from './write-temp.js';

/** Where a fetch worker writes a verified chunk: its staged file, the offset, and the length it must have. */
export interface StagePlace {
  path: string;
  offset: number;
  length: number;
}

/** Files smaller than this are written by checkout as before (a rename per small file from another directory costs more than it saves). */
export const STAGE_MIN = 1024 * 1024;
/** Places waiting at once (a level's worth of chunks): ~100 bytes each, so some 13 MB at most. */
const MAX_PLACES = 1 << 17;
/**
 * Places one downloaded chunk may be written at. Staging happens before checkout's refusals (an
 * unsaved change): one 1 MiB chunk named 2048 times would put 2 GiB on the disk of a pull that
 * then writes nothing. Beyond this, the files naming it are written by checkout, from the store.
 */
const MAX_COPIES = 8;

interface Staged {
  path: string;
  size: number;
  /** Places (manifest nodes and chunks) not yet expanded or written. */
  pending: number;
  dead: boolean;
}
type Place = { file: Staged; offset: number; length: number };

export class WriteThrough {
  private readonly files = new Map<string, Staged>();
  /** Places of manifest nodes not decoded yet, and of chunks not written yet, by id (kept apart: a chunk's bytes may spell a manifest). */
  private readonly nodes = new Map<string, Place[]>();
  private readonly chunks = new Map<string, Place[]>();
  /** Places handed to a worker and not answered yet, by chunk id. */
  private readonly routed = new Map<string, Place[]>();
  private waiting = 0;
  private claimed = 0;

  private constructor(
    readonly dir: string,
    /** The staging directory's file system: a staged file is renamed only into a directory on it. */
    readonly dev: number,
    private readonly minSize: number,
    private readonly maxPlaces: number,
  ) {}

  /**
   * A staging directory of this process under `tmp` (the repository's `.dv/tmp`: the workspace's
   * file system, as a rename needs); undefined (nothing staged) where `tmp` is no plain directory
   * (never through a link a clone planted) or cannot be written.
   */
  static create(tmp: string, o: { minSize?: number; maxPlaces?: number } = {}): WriteThrough | undefined {
    try {
      mkdirSync(tmp, { recursive: true });
      if (!lstatSync(tmp).isDirectory()) return undefined;
      const dir = join(tmp, `co-${process.pid}-${RUN_TOKEN}-${Date.now().toString(36)}`);
      mkdirSync(dir, { mode: 0o700 });
      const st = lstatSync(dir);
      return new WriteThrough(dir, st.dev, o.minSize ?? STAGE_MIN, o.maxPlaces ?? MAX_PLACES);
    } catch {
      return undefined;
    }
  }

  /** How many staged files checkout took. */
  get used(): number {
    return this.claimed;
  }

  /** A file entry of a tree the fetch decoded: a chunked file large enough is staged from its root manifest. */
  file(id: string, size: number, chunked: boolean): void {
    if (!chunked || size < this.minSize || this.files.has(id) || this.waiting >= this.maxPlaces) return;
    const file: Staged = { path: join(this.dir, id), size, pending: 0, dead: false };
    this.files.set(id, file);
    this.add(this.nodes, id, { file, offset: 0, length: size });
  }

  /** A manifest node the fetch decoded and checked against its claim: its children take its places. */
  manifest(id: string, node: ManifestNode): void {
    const list = this.nodes.get(id);
    if (!list) return;
    this.nodes.delete(id);
    for (const p of list) {
      this.waiting--;
      p.file.pending--;
      if (p.file.dead) continue;
      if (this.waiting + node.children.length > this.maxPlaces) {
        p.file.dead = true;
        continue;
      }
      let at = p.offset;
      for (const ch of node.children) {
        this.add(node.level > 0 ? this.nodes : this.chunks, ch.id, { file: p.file, offset: at, length: ch.size });
        at += ch.size;
      }
    }
  }

  /** The places a worker is to write chunk `id` at (handed over until `settle`), or undefined. */
  route(id: string): StagePlace[] | undefined {
    const list = this.chunks.get(id);
    if (!list) return undefined;
    this.chunks.delete(id);
    let live = list.filter((p) => !p.file.dead);
    this.routed.set(id, list);
    if (live.length > MAX_COPIES) {
      for (const p of live) p.file.dead = true;
      live = [];
    }
    return live.length > 0 ? live.map((p) => ({ path: p.file.path, offset: p.offset, length: p.length })) : undefined;
  }

  /** A worker's answer for chunk `id`: written at its places (`ok`), not verified (places wait for another copy), or verified but not staged. */
  settle(id: string, outcome: 'ok' | 'bad' | 'unstaged'): void {
    const list = this.routed.get(id);
    if (!list) return;
    this.routed.delete(id);
    if (outcome === 'bad') {
      for (const p of list) this.add(this.chunks, id, p, false);
      return;
    }
    for (const p of list) {
      this.waiting--;
      p.file.pending--;
      if (outcome === 'unstaged') p.file.dead = true;
    }
  }

  /**
   * Whether file `id` is staged complete at `size` bytes: what `claim` takes into a directory on
   * `dev`, short of its checks on the disk.
   */
  complete(id: string, size: number): boolean {
    const f = this.files.get(id);
    return f !== undefined && !f.dead && f.pending === 0 && f.size === size;
  }

  /**
   * The staged file of file `id` when it is complete, of `size` bytes and on file system `dev`
   * (the directory it goes to): checkout renames it into place. Each is handed out once.
   */
  claim(id: string, size: number, dev: number): string | undefined {
    if (dev !== this.dev || !this.complete(id, size)) return undefined;
    const f = this.files.get(id)!;
    const st = lstatSync(f.path, { throwIfNoEntry: false });
    if (!st || !st.isFile() || st.size !== size || st.nlink !== 1) return undefined;
    this.files.delete(id);
    this.claimed++;
    return f.path;
  }

  /** Removes the staging directory and what checkout did not take. */
  async dispose(): Promise<void> {
    this.files.clear();
    this.nodes.clear();
    this.chunks.clear();
    this.routed.clear();
    await fsp.rm(this.dir, { recursive: true, force: true });
  }

  private add(map: Map<string, Place[]>, id: string, p: Place, fresh = true): void {
    if (fresh) {
      this.waiting++;
      p.file.pending++;
    }
    const list = map.get(id);
    if (list) list.push(p);
    else map.set(id, [p]);
  }
}

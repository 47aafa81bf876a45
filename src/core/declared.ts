/**
 * Declared sizes, checked: every directory entry states the size and file count below it, every
 * file entry its size, every manifest child the bytes it covers. Objects from a remote may lie;
 * this ledger holds each object to what its parents declared, so an honest root bounds the work
 * of every walk below it (a tree naming one subtree 1,000 times per level, or a manifest whose
 * chunks outgrow its file, is refused the moment the lie is seen, before anything is written).
 *
 * Invariants: one record per object id (memoised: a subtree named a million times costs one
 * entry), kept off the JS heap (claim-table.ts) for the whole walk, since a claim made after its
 * object was checked (the same chunk in a file further down) is still held to what was checked;
 * sums stay safe integers; a lie throws BAD_OBJECT naming the object and what it claims. A ledger
 * made with `chunks: false` keeps no chunk records: its caller holds every naming of a chunk to the
 * chunk's real size (`checkChunk`), which is as strict and costs nothing per chunk.
 * The ledger is pure: callers feed it what they decode, in any order.
 */
import { DvError } from '../errors.js';
import type { ManifestNode } from './manifest.js';
import { type Tree, treeStats } from './tree.js';
import { ClaimTable } from './claim-table.js';

export interface Totals {
  size: number;
  files: number;
}

const short = (id: string): string => id.slice(0, 12);

/** Size and file count of a tree from its entries; BAD_OBJECT when the sums are not safe integers. */
export function declaredTotals(tree: Tree, id: string): Totals {
  const { size, files } = treeStats(tree);
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(files)) {
    throw new DvError('BAD_OBJECT', `tree ${short(id)} declares more data than can be counted: refusing it`, { id });
  }
  return { size, files };
}

/** Record flags: a claim is recorded; the object itself was checked against it; a walk took it (`visit`). */
const CLAIMED = 1;
const SEEN = 2;
const VISITED = 4;

export class DeclaredLedger {
  /** One record per object id, off the JS heap (claim-table.ts): a fetch of a million objects keeps a million. */
  private readonly claims = new ClaimTable();

  /**
   * `files: false` records directory claims only (a walk that never reads file contents);
   * `chunks: false` records no claim on a chunk (a fetch, which checks each naming of a chunk
   * against its real size itself: `checkChunk`), so the records grow with trees and manifests only.
   */
  constructor(private readonly opts: { files: boolean; chunks?: boolean } = { files: true }) {}

  private get chunks(): boolean {
    return this.opts.chunks !== false;
  }

  /** What `by` says object `id` holds; a second, different claim on one id is a lie. */
  claim(id: string, kind: 'tree' | 'manifest' | 'chunk', c: { size: number; files?: number; level?: number }, by: string): void {
    const t = this.claims;
    const r = t.add(id);
    const f = t.flags(r);
    if (!(f & CLAIMED)) {
      t.setClaim(r, c, by);
      t.setFlags(r, f | CLAIMED);
      return;
    }
    const old = { size: t.claimedSize(r), files: t.files(r) };
    if (old.size !== c.size || (c.files !== undefined && old.files !== undefined && old.files !== c.files)) {
      throw lie(id, kind, `${by} says ${describe(c)}, ${t.by(r)} says ${describe(old)}`);
    }
    const level = t.level(r);
    if (c.level !== undefined && level !== undefined && c.level !== level)
      throw lie(id, kind, `${by} and ${t.by(r)} give it different levels`);
  }

  /** Checks a decoded tree against its claim and records the claims of its entries. */
  tree(id: string, tree: Tree): Totals {
    const t = declaredTotals(tree, id);
    const c = this.record(id);
    if (c && (c.size !== t.size || (c.files !== undefined && c.files !== t.files))) {
      throw lie(id, 'tree', `${c.by()} says ${describe(c)}, its entries hold ${describe(t)}`);
    }
    if (c?.seen) return t;
    this.mark(id, t.size, t.files);
    const by = `tree ${short(id)}`;
    for (const e of tree.entries) {
      if (e.type === 'dir') this.claim(e.id, 'tree', { size: e.size, files: e.files }, by);
      else if (e.type === 'file' && this.opts.files && (e.chunked || this.chunks))
        this.claim(e.id, e.chunked ? 'manifest' : 'chunk', { size: e.size }, by);
    }
    return t;
  }

  /** Checks a decoded manifest node: its children add up to its claim, and sit one level below it. */
  manifest(id: string, node: ManifestNode): void {
    let sum = 0;
    for (const ch of node.children) {
      // An empty child would let a node name a chunk any number of times at no declared cost.
      if (ch.size === 0) throw lie(id, 'manifest', 'it names an empty child');
      sum += ch.size;
    }
    const c = this.record(id);
    if (c && c.size !== sum) throw lie(id, 'manifest', `${c.by()} says ${c.size} bytes, its children add up to ${sum}`);
    if (c?.level !== undefined && c.level !== node.level)
      throw lie(id, 'manifest', `it is level ${node.level}, ${c.by()} expects level ${c.level}`);
    if (c?.seen) return;
    this.mark(id, sum);
    const by = `file manifest ${short(id)}`;
    for (const ch of node.children) {
      if (node.level > 0) this.claim(ch.id, 'manifest', { size: ch.size, level: node.level - 1 }, by);
      else if (this.chunks) this.claim(ch.id, 'chunk', { size: ch.size }, by);
    }
  }

  /**
   * A naming of `id` as a chunk of `size` bytes in a ledger that keeps no chunk records: when the
   * id has a record (a tree or manifest claimed under it), the two claims must agree, as two claims
   * on one id must.
   */
  namedChunk(id: string, size: number, by: string): void {
    const t = this.claims;
    const r = t.find(id);
    if (r < 0 || !(t.flags(r) & CLAIMED)) return;
    const old = t.claimedSize(r);
    if (old !== size) throw lie(id, 'chunk', `${by} says ${size} bytes, ${t.by(r)} says ${old} bytes`);
  }

  /** Checks a chunk's real size (from a verified copy or an index entry) against its claim. */
  chunk(id: string, size: number): void {
    const r = this.claims.find(id);
    if (r < 0 || !(this.claims.flags(r) & CLAIMED)) return;
    const claimed = this.claims.claimedSize(r);
    if (claimed !== size) throw lie(id, 'chunk', `${this.claims.by(r)} says ${claimed} bytes, it holds ${size}`);
  }

  /** The size claimed for `id` (or the object of record number `id`: `ref`), if anything named it. */
  claimed(id: string | number): number | undefined {
    const r = typeof id === 'number' ? id : this.claims.find(id);
    return r >= 0 && this.claims.flags(r) & CLAIMED ? this.claims.claimedSize(r) : undefined;
  }

  /**
   * The number of `id`'s record, made when there is none (a snapshot, a root): a walk's lists of
   * wants hold these 4 bytes instead of the id, which the ledger holds once already.
   */
  ref(id: string): number {
    return this.claims.add(id);
  }

  /** The id of record number `ref`. */
  id(ref: number): string {
    return this.claims.id(ref);
  }

  /**
   * Records that a walk takes the object of record number `ref` now: true the first time, false
   * after (a shared subtree, a repeated chunk), so a walk keeps no set of its own beside the records.
   */
  visit(ref: number): boolean {
    const f = this.claims.flags(ref);
    if (f & VISITED) return false;
    this.claims.setFlags(ref, f | VISITED);
    return true;
  }

  /** The claim on `id`, if any, read out of the table. */
  private record(id: string): { size: number; files?: number; level?: number; seen: boolean; by: () => string } | undefined {
    const t = this.claims;
    const r = t.find(id);
    if (r < 0) return undefined;
    const f = t.flags(r);
    if (!(f & CLAIMED)) return undefined;
    return { size: t.claimedSize(r), files: t.files(r), level: t.level(r), seen: (f & SEEN) !== 0, by: () => t.by(r) };
  }

  private mark(id: string, size: number, files?: number): void {
    const t = this.claims;
    const r = t.add(id);
    const f = t.flags(r);
    if (f & CLAIMED) {
      if (t.files(r) === undefined) t.setFiles(r, files);
    } else t.setClaim(r, { size, files }, 'the root');
    t.setFlags(r, f | CLAIMED | SEEN);
  }
}

/**
 * Holds one naming of a chunk to its real size (from the store, or a verified copy): BAD_OBJECT
 * when `by` declared another size. `other` names where `size` comes from when it is another claim
 * (the same chunk named twice in one batch), else the chunk itself.
 */
export function checkChunk(id: string, claimed: number | undefined, by: string, size: number, other?: string): void {
  if (claimed === undefined || claimed === size) return;
  throw lie(
    id,
    'chunk',
    other ? `${by} says ${claimed} bytes, ${other} says ${size} bytes` : `${by} says ${claimed} bytes, it holds ${size}`,
  );
}

function describe(c: { size: number; files?: number }): string {
  return `${c.size} bytes${c.files !== undefined ? ` in ${c.files} files` : ''}`;
}

function lie(id: string, kind: string, why: string): DvError {
  return new DvError(
    'BAD_OBJECT',
    `${kind === 'manifest' ? 'file manifest' : kind} ${short(id)} does not match its declared size (${why}): refusing data whose sizes lie`,
    { id },
  );
}

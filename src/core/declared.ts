/**
 * Declared sizes, checked: every directory entry states the size and file count below it, every
 * file entry its size, every manifest child the bytes it covers. Objects from a remote may lie;
 * this ledger holds each object to what its parents declared, so an honest root bounds the work
 * of every walk below it (a tree naming one subtree 1,000 times per level, or a manifest whose
 * chunks outgrow its file, is refused the moment the lie is seen, before anything is written).
 *
 * Invariants: one record per object id (memoised: a subtree named a million times costs one
 * entry); sums stay safe integers; a lie throws BAD_OBJECT naming the object and what it claims.
 * The ledger is pure: callers feed it what they decode, in any order.
 */
import { DvError } from '../errors.js';
import type { ManifestNode } from './manifest.js';
import { type Tree, treeStats } from './tree.js';

export interface Totals {
  size: number;
  files: number;
}

interface Claim {
  size: number;
  files?: number;
  level?: number;
  by: string;
  seen: boolean;
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

export class DeclaredLedger {
  private readonly claims = new Map<string, Claim>();

  /** `files: false` records directory claims only (a walk that never reads file contents). */
  constructor(private readonly opts: { files: boolean } = { files: true }) {}

  /** What `by` says object `id` holds; a second, different claim on one id is a lie. */
  claim(id: string, kind: 'tree' | 'manifest' | 'chunk', c: { size: number; files?: number; level?: number }, by: string): void {
    const old = this.claims.get(id);
    if (!old) {
      this.claims.set(id, { ...c, by, seen: false });
      return;
    }
    if (old.size !== c.size || (c.files !== undefined && old.files !== undefined && old.files !== c.files)) {
      throw lie(id, kind, `${by} says ${describe(c)}, ${old.by} says ${describe(old)}`);
    }
    if (c.level !== undefined && old.level !== undefined && c.level !== old.level)
      throw lie(id, kind, `${by} and ${old.by} give it different levels`);
  }

  /** Checks a decoded tree against its claim and records the claims of its entries. */
  tree(id: string, tree: Tree): Totals {
    const t = declaredTotals(tree, id);
    const c = this.claims.get(id);
    if (c && (c.size !== t.size || (c.files !== undefined && c.files !== t.files))) {
      throw lie(id, 'tree', `${c.by} says ${describe(c)}, its entries hold ${describe(t)}`);
    }
    if (c?.seen) return t;
    this.mark(id, t.size, t.files);
    const by = `tree ${short(id)}`;
    for (const e of tree.entries) {
      if (e.type === 'dir') this.claim(e.id, 'tree', { size: e.size, files: e.files }, by);
      else if (e.type === 'file' && this.opts.files) this.claim(e.id, e.chunked ? 'manifest' : 'chunk', { size: e.size }, by);
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
    const c = this.claims.get(id);
    if (c && c.size !== sum) throw lie(id, 'manifest', `${c.by} says ${c.size} bytes, its children add up to ${sum}`);
    if (c?.level !== undefined && c.level !== node.level)
      throw lie(id, 'manifest', `it is level ${node.level}, ${c.by} expects level ${c.level}`);
    if (c?.seen) return;
    this.mark(id, sum);
    const by = `file manifest ${short(id)}`;
    for (const ch of node.children) {
      if (node.level > 0) this.claim(ch.id, 'manifest', { size: ch.size, level: node.level - 1 }, by);
      else this.claim(ch.id, 'chunk', { size: ch.size }, by);
    }
  }

  /** Checks a chunk's real size (from a verified copy or an index entry) against its claim. */
  chunk(id: string, size: number): void {
    const c = this.claims.get(id);
    if (c && c.size !== size) throw lie(id, 'chunk', `${c.by} says ${c.size} bytes, it holds ${size}`);
  }

  /** The size claimed for `id`, if anything named it. */
  claimed(id: string): number | undefined {
    return this.claims.get(id)?.size;
  }

  private mark(id: string, size: number, files?: number): void {
    const c = this.claims.get(id);
    if (c) {
      c.seen = true;
      c.files ??= files;
    } else this.claims.set(id, { size, files, by: 'the root', seen: true });
  }
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

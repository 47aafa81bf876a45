/**
 * The chunks of one file, in file order, walking its manifest tree depth first with an explicit
 * stack: at most one node per level is held, and one read ahead (levels are at most 8, each node
 * at most 1,024 children), so memory does not grow with the file.
 *
 * Every node is held to what its parent declared, as core/declared.ts does for fetch but without
 * a memo (a memo would grow with the file): its level is one below its parent's, its children
 * add up to the bytes its parent says it covers, and no child is empty. So the chunk sizes yielded
 * add up to the file's declared size, and the work is bounded by that size.
 *
 * From an offset (an HTTP Range), subtrees that end before it are skipped by their declared size
 * without being read, so the work is bounded by the depth plus what is read after the offset.
 */
import type { ManifestNode } from '../core/manifest.js';
import { decodeManifest } from '../core/manifest.js';
import type { FileEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { ObjectSource } from './source.js';

export interface ChunkRef {
  id: string;
  /** The size the file's manifest declares for this chunk. */
  size: number;
}

const lie = (id: string, why: string): DvError =>
  new DvError('BAD_OBJECT', `file manifest ${id.slice(0, 12)} does not match its declared size (${why}): refusing data whose sizes lie`, {
    id,
  });

/** Decodes a manifest node and checks it against its parent's claim. */
async function node(src: ObjectSource, id: string, size: number, level: number | undefined, by: string): Promise<ManifestNode> {
  const n = decodeManifest(await src.object(id, 'manifest'), id);
  if (level !== undefined && n.level !== level) throw lie(id, `it is level ${n.level}, ${by} expects level ${level}`);
  let sum = 0;
  for (const c of n.children) {
    if (c.size === 0) throw lie(id, 'it names an empty child');
    sum += c.size;
  }
  if (sum !== size) throw lie(id, `${by} says ${size} bytes, its children add up to ${sum}`);
  return n;
}

/** A run of chunks of a leaf node, and the file offset of its first chunk. */
export interface ChunkRun {
  chunks: ChunkRef[];
  offset: number;
}

/**
 * The file's chunks in order, one leaf node's worth (at most 1,024) at a time, starting with the
 * chunk that holds byte `from` (0: the whole file).
 */
export async function* fileChunks(src: ObjectSource, entry: FileEntry, from = 0): AsyncGenerator<ChunkRun> {
  if (!entry.chunked) {
    yield { chunks: [{ id: entry.id, size: entry.size }], offset: 0 };
    return;
  }
  const stack: { node: ManifestNode; next: number; id: string; pos: number }[] = [
    { node: await node(src, entry.id, entry.size, undefined, 'its tree entry'), next: 0, id: entry.id, pos: 0 },
  ];
  let ahead: { id: string; node: Promise<ManifestNode> } | undefined;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.node.level === 0) {
      let k = 0;
      let offset = top.pos;
      while (k < top.node.children.length - 1 && offset + top.node.children[k].size <= from) offset += top.node.children[k++].size;
      yield { chunks: k === 0 ? top.node.children : top.node.children.slice(k), offset };
      stack.pop();
      continue;
    }
    if (top.next >= top.node.children.length) {
      stack.pop();
      continue;
    }
    const c = top.node.children[top.next++];
    const pos = top.pos;
    top.pos += c.size;
    // Wholly before the offset: skipped by its declared size, never read.
    if (pos + c.size <= from && top.next < top.node.children.length) continue;
    const by = `file manifest ${top.id.slice(0, 12)}`;
    const child = await (ahead?.id === c.id ? ahead.node : node(src, c.id, c.size, top.node.level - 1, by));
    // The next sibling is read while this one's chunks stream (one node ahead: a remote's latency hides behind the data).
    const n = top.node.children[top.next];
    ahead = n ? { id: n.id, node: node(src, n.id, n.size, top.node.level - 1, by) } : undefined;
    ahead?.node.catch(() => undefined);
    stack.push({ node: child, next: 0, id: c.id, pos });
  }
}

/**
 * `dv cat <rev>:<path>` and `dv ls <rev>:<path>`: read one file (or list one directory) of any
 * version without checking it out, from the local store or, for what it lacks, the remote
 * (src/read/). Returns data: a stream of verified bytes, or entries; prints nothing. Takes no
 * lock and writes nothing to the store or the workspace.
 */
import buffer from 'node:buffer';
import type { Readable } from 'node:stream';
import type { TreeEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { locate, type Located } from '../read/locate.js';
import { connectRemote } from '../read/remote.js';
import { ObjectSource, type ReadStats } from '../read/source.js';
import { openFile } from '../read/stream.js';
import type { LsEntry } from './ls.js';

export interface CatOptions {
  /** `<rev>:<path>`: a git revision, snapshot or tree id, or nothing (the workspace's pointer files), then a path. */
  spec: string;
  /** The remote to read what the local store lacks from (default: the default remote). */
  remote?: string;
  cwd?: string;
}

/** A file's bytes, verified chunk by chunk, with its declared size, its id and what reading it cost on the remote. */
export type FileStream = Readable & { readonly size: number; readonly id: string; readonly stats: ReadStats };

export interface CatResult {
  /** The file's bytes; read it to the end or destroy it. */
  stream: FileStream;
  path: string;
  /** The file's size as its tree declares it (the stream fails unless it delivers exactly this). */
  size: number;
  /** The file object's id. */
  id: string;
  commit?: string;
  snapshot?: string;
  /** What the read cost on the remote so far (updated as the stream flows). */
  stats: ReadStats;
}

function source(s: RepoSession, remote?: string): ObjectSource {
  return new ObjectSource(s.store, () => connectRemote(s, remote));
}

async function located(s: RepoSession, src: ObjectSource, o: CatOptions): Promise<Located> {
  try {
    return await locate(src, { root: s.root, cwd: o.cwd ?? s.root, spec: o.spec });
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** Opens one file of a version as a stream; `onClose` runs once the stream is done with (ended, failed or destroyed). */
export async function cat(s: RepoSession, o: CatOptions & { onClose?: () => Promise<void> }): Promise<CatResult> {
  const src = source(s, o.remote);
  const l = await located(s, src, o);
  const f = l.found;
  if (f.type !== 'file') {
    await src.close();
    const what =
      f.type === 'dir'
        ? `is a directory: list it with \`dv ls ${o.spec}\``
        : f.type === 'link'
          ? `is a symbolic link (to ${f.target}): name the file it points to`
          : 'names no file: give a path after the colon (`dv ls <rev>:` lists the tracked paths)';
    throw new DvError('USAGE', `${o.spec} ${what}`, { arg: o.spec });
  }
  const stream = openFile(src, f.entry, async () => {
    await src.close();
    await o.onClose?.();
  });
  return {
    stream: Object.assign(stream, { size: f.entry.size, id: f.entry.id, stats: src.stats }),
    path: l.path,
    size: f.entry.size,
    id: f.entry.id,
    ...(l.commit ? { commit: l.commit } : {}),
    ...(l.snapshot ? { snapshot: l.snapshot } : {}),
    stats: src.stats,
  };
}

/** A whole file in memory (`Repo#readFile`): refused when larger than a Buffer can be. */
export async function readAll(stream: FileStream): Promise<Buffer> {
  if (stream.size > buffer.constants.MAX_LENGTH) {
    stream.destroy();
    throw new DvError('USAGE', `the file is ${stream.size} bytes, more than one Buffer holds: stream it with open() instead`);
  }
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts, stream.size);
}

export interface LsAtOptions extends CatOptions {
  recursive?: boolean;
}

/** The entries of a directory of a version (a file: its own entry; `<rev>:`: the tracked paths). */
export async function lsAt(s: RepoSession, o: LsAtOptions): Promise<LsEntry[]> {
  const src = source(s, o.remote);
  const l = await located(s, src, o);
  try {
    const f = l.found;
    if (f.type === 'tracked')
      return f.pointers.map((p) => ({
        path: p.rel,
        type: p.pointer.kind,
        size: p.pointer.size,
        id: p.pointer.snapshot,
        ...(p.pointer.kind === 'dir' ? { files: p.pointer.files } : {}),
      }));
    const name = l.path.split('/').pop() ?? '';
    if (f.type === 'file') return [toLs(f.entry, name || f.entry.name)];
    if (f.type === 'link') return [{ path: name, type: 'link', target: f.target }];
    const out: LsEntry[] = [];
    // Depth first with an explicit stack (no recursion the data could deepen); parents before children.
    const stack: { entries: TreeEntry[]; next: number; prefix: string }[] = [
      { entries: (await l.load!(f.id)).entries, next: 0, prefix: '' },
    ];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const e = top.entries[top.next++];
      if (!e) {
        stack.pop();
        continue;
      }
      const path = top.prefix ? `${top.prefix}/${e.name}` : e.name;
      out.push(toLs(e, path));
      if (o.recursive && e.type === 'dir') stack.push({ entries: (await l.load!(e.id)).entries, next: 0, prefix: path });
    }
    return out;
  } finally {
    await src.close();
  }
}

function toLs(e: TreeEntry, path: string): LsEntry {
  if (e.type === 'file') return { path, type: 'file', size: e.size, id: e.id, exec: e.exec };
  if (e.type === 'dir') return { path, type: 'dir', size: e.size, id: e.id, files: e.files };
  return { path, type: 'link', target: e.target };
}

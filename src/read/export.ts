/**
 * Writes a file or directory of any version to a new place outside dv's control (`dv get -o OUT`):
 * into a fresh temp directory beside the target, renamed onto it at the end, so a failure leaves
 * nothing behind and an existing path is never touched.
 *
 * Invariants: names come from trees decodeTree checked (no `/`, `..`, `.git`, `.dv`); the walk is
 * iterative and bounded by the sizes the trees declare (the loader holds each to its parent's
 * claim); every chunk is verified as it is streamed (read/stream.ts); a symlink that would lead
 * outside what is written is refused (UNSAFE_PATH), as checkout refuses it.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FileEntry, Tree } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import { checkLinks } from '../history/tree-check.js';
import { linkEscapes } from '../workspace/scan.js';
import type { ObjectSource } from './source.js';
import { openFile } from './stream.js';

export interface Exported {
  files: number;
  bytes: number;
}

async function writeOne(src: ObjectSource, e: FileEntry, path: string): Promise<void> {
  // 'wx': a new file of dv's own, never one that a link put there.
  await pipeline(openFile(src, e), createWriteStream(path, { flags: 'wx', mode: e.exec ? 0o755 : 0o644 }));
}

/** Writes `what` (a file entry, or a directory tree through `load`) to `out`, which must not exist. */
export async function exportTo(
  src: ObjectSource,
  what: { file: FileEntry } | { tree: string; load: (id: string) => Promise<Tree> },
  out: string,
): Promise<Exported> {
  if (
    await fsp.lstat(out).then(
      () => true,
      () => false,
    )
  )
    throw new DvError('UNSAVED_CHANGES', `${out} exists: dv get never overwrites; remove it or give another -o`, { path: out });
  const tmp = await fsp.mkdtemp(join(dirname(out), '.dv-get-')).catch((e) => {
    throw fsError(e, dirname(out));
  });
  const done: Exported = { files: 0, bytes: 0 };
  try {
    const staged = join(tmp, 'out');
    if ('file' in what) {
      await writeOne(src, what.file, staged);
      done.files = 1;
      done.bytes = what.file.size;
    } else {
      await fsp.mkdir(staged);
      const links: { rel: string; target: string }[] = [];
      const stack: { id: string; rel: string }[] = [{ id: what.tree, rel: '' }];
      while (stack.length > 0) {
        const d = stack.pop()!;
        for (const e of (await what.load(d.id)).entries) {
          const rel = d.rel ? `${d.rel}/${e.name}` : e.name;
          const abs = join(staged, ...rel.split('/'));
          if (e.type === 'dir') {
            await fsp.mkdir(abs);
            stack.push({ id: e.id, rel });
          } else if (e.type === 'file') {
            await writeOne(src, e, abs);
            done.files++;
            done.bytes += e.size;
          } else {
            if (linkEscapes(rel, e.target))
              throw new DvError('UNSAFE_PATH', `refusing symlink ${rel} -> ${e.target}: it points outside what is written`, { path: rel });
            await fsp.symlink(e.target, abs);
            links.push({ rel, target: e.target });
          }
        }
      }
      // Followed through the tree's other symlinks too, before anything is in place.
      await checkLinks(what.tree, links, what.load);
    }
    await fsp.rename(staged, out).catch((e) => {
      throw fsError(e, out);
    });
    return done;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

export const baseName = (p: string): string => posix.basename(p.replace(/\/+$/, ''));

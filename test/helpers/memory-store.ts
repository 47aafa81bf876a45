/**
 * A fresh object store for a test: packs and tmp in a new temp directory, an in-memory index.
 * The directory is `dir` (a fetch keeps its remote index cache under it).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MemoryIndex } from '../../src/store/index-db.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { tempDir } from './cli.js';

export async function memoryStore(prefix?: string): Promise<{ dir: string; store: ObjectStore }> {
  const dir = tempDir(prefix);
  await fsp.mkdir(join(dir, 'packs'), { recursive: true });
  await fsp.mkdir(join(dir, 'tmp'), { recursive: true });
  return { dir, store: new ObjectStore(join(dir, 'packs'), join(dir, 'tmp'), new MemoryIndex()) };
}

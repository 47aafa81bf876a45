/**
 * The local snapshot log, like git's reflog: every snapshot this clone records is appended to
 * `.dv/snapshots.log` (time, id, path). `dv gc` keeps recent entries alive, so a snapshot that
 * no pointer names any more (e.g. after `dv checkout <old>`, before git has it) is not lost.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { DvError, fsError } from '../errors.js';
import { readControlFile } from './control-file.js';

const FILE = 'snapshots.log';

/** Appends one line; a line cut short by a killed process is ended first, so it cannot swallow this one. */
export async function logSnapshot(dvDir: string, id: string, path: string): Promise<void> {
  // Never appended through a link (a clone may carry `.dv/snapshots.log -> ~/.bashrc`) nor to a FIFO.
  const file = join(dvDir, FILE);
  const fh = await fsp
    .open(file, fsc.O_RDWR | fsc.O_APPEND | fsc.O_CREAT | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0), 0o666)
    .catch((e) => {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP')
        throw new DvError('BAD_CONFIG', `${file} is a symbolic link: dv never writes its own files through links; remove it`, { file });
      throw fsError(e, file);
    });
  try {
    if (!(await fh.stat()).isFile()) throw new DvError('BAD_CONFIG', `${file} is not a regular file: remove it`, { file });
    const { size } = await fh.stat();
    const last = Buffer.alloc(1);
    if (size > 0) await fh.read(last, 0, 1, size - 1);
    const lead = size > 0 && last[0] !== 10 ? '\n' : '';
    await fh.write(`${lead}${new Date().toISOString()} ${id} ${JSON.stringify(path)}\n`);
  } finally {
    await fh.close();
  }
}

/** Snapshot ids logged at or after `since` (all of them when omitted). */
export async function loggedSnapshots(dvDir: string, since?: Date): Promise<string[]> {
  let text = '';
  try {
    text = (await readControlFile(join(dvDir, FILE), { code: 'BAD_CONFIG' })) ?? '';
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [time, id] = line.split(' ');
    if (!isId(id)) continue;
    if (since && !(new Date(time) >= since)) continue;
    out.add(id);
  }
  return [...out];
}

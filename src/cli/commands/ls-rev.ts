/**
 * `dv ls <rev>:<path>`: the entries of a directory of any version (a git revision, a snapshot or
 * tree id, or nothing for the pointer files now), from the local store or the remote, without
 * checking anything out. `dv ls` hands a target holding a colon here (a path with a colon in its
 * name is written `./a:b`).
 */
import { RepoSession } from '../../repo/repo.js';
import * as render from '../render.js';

export interface LsRevGlobals {
  json?: boolean;
  quiet?: boolean;
  cwd: string;
  waitMs: number;
}

/** Whether `dv ls` was given `<rev>:<path>` rather than a path or an id. */
export const isRevPath = (target: string): boolean => target.includes(':') && !/^\.{0,2}\//.test(target);

export async function lsRev(target: string, o: { recursive?: boolean; remote?: string }, g: LsRevGlobals): Promise<void> {
  const { lsAt } = await import('../../ops/cat.js');
  const s = await RepoSession.open({ cwd: g.cwd, write: false, waitMs: g.waitMs, command: 'ls' });
  let entries;
  try {
    entries = await lsAt(s, { spec: target, recursive: o.recursive, remote: o.remote, cwd: g.cwd });
  } finally {
    await s.close();
  }
  if (g.quiet && !g.json) return;
  const text = render.printable(g.json ? JSON.stringify(entries, null, 2) : render.ls(entries));
  if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** `dv init`: create `.dv/` (config committed; cache, index, locks and temp ignored by git). */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { CHUNKER_V1 } from '../core/chunker.js';
import { DvError, fsError } from '../errors.js';
import { checkControlDir, readControlFile, writeControlFile } from '../repo/control-file.js';
import { DV_DIR } from '../repo/repo.js';
import { gitTopLevel } from '../repo/git.js';

export interface InitOptions {
  cwd: string;
  /** Allow a directory that is not a git work tree. */
  noGit?: boolean;
}

export interface InitResult {
  root: string;
  git: boolean;
}

const DV_GITIGNORE = [
  '# dv: everything here is local except the config',
  '/cache/',
  '/index/',
  '/remotes/',
  '/tmp/',
  '/lock',
  '/lock.*',
  '/config.local',
  '/snapshots.log',
  '',
].join('\n');

const UNION = '.gitignore merge=union';

/**
 * `dv add` appends a line to a .gitignore; two branches that each add a path would conflict on
 * it. git's union merge keeps both lines, so such merges are clean (as are the pointer files,
 * one per tracked path).
 */
async function unionMergeGitignores(root: string): Promise<void> {
  const file = join(root, '.gitattributes');
  const o = { root, show: '.gitattributes' };
  const text = (await readControlFile(file, o)) ?? '';
  if (text.split('\n').some((l) => l.trim() === UNION)) return;
  await writeControlFile(
    file,
    text +
      (text === '' || text.endsWith('\n') ? '' : '\n') +
      `# dv: two branches that track different paths both add to .gitignore\n${UNION}\n`,
    o,
  );
}

/**
 * Creates a dv repository at the git work tree's top level (or at `cwd` with `noGit`).
 * Fails with ALREADY_INITIALIZED when `.dv/config` exists.
 */
export async function init(opts: InitOptions): Promise<InitResult> {
  const top = await gitTopLevel(opts.cwd);
  if (!top && !opts.noGit)
    throw new DvError(
      'USAGE',
      `${resolve(opts.cwd)} is not in a git work tree: run \`git init\` first, or \`dv init --no-git\` for a plain directory`,
    );
  const root = top && !opts.noGit ? top : resolve(opts.cwd);
  const dv = join(root, DV_DIR);
  const exists = await fsp.stat(join(dv, 'config')).then(
    () => true,
    () => false,
  );
  if (exists) throw new DvError('ALREADY_INITIALIZED', `${dv} already exists: this is a dv repository already`, { root });
  try {
    await checkControlDir(dv, { root, code: 'BAD_CONFIG' });
    await fsp.mkdir(dv, { recursive: true });
    // --no-git is remembered: dv then writes no .gitignore and suggests no git command.
    const config = {
      core: {
        ...(opts.noGit ? { git: 'false' } : {}),
        format: '1',
        hash: 'blake3',
        chunker: CHUNKER_V1.name,
        chunkMin: String(CHUNKER_V1.min),
        chunkAvg: String(CHUNKER_V1.avg),
        chunkMax: String(CHUNKER_V1.max),
      },
    };
    await writeControlFile(join(dv, '.gitignore'), DV_GITIGNORE, { root, code: 'BAD_CONFIG' });
    await writeControlFile(join(dv, 'config'), JSON.stringify(config, null, 2) + '\n', { root, code: 'BAD_CONFIG' });
    if (top && !opts.noGit) await unionMergeGitignores(root);
  } catch (e) {
    throw fsError(e, dv);
  }
  return { root, git: Boolean(top) && !opts.noGit };
}

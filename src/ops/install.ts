/**
 * `dv install`: git hooks that keep data in step with code. post-checkout runs `dv checkout`
 * after a branch switch, post-merge after a `git pull`/`git merge` (both fetching with `dv pull`
 * what the new pointer files name and this clone lacks), pre-push runs `dv push --pre-push`
 * (the data of the commits being pushed; it stops the git push if it fails), pre-commit warns
 * when tracked data has changes dv has not recorded. Existing hooks are never replaced: dv's
 * lines go in one delimited block that `--uninstall` removes again, leaving the file as it was,
 * and that a later `dv install` replaces in place.
 */
import { promises as fsp } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DvError, fsError } from '../errors.js';
import {
  callsDv,
  foreignInterpreter,
  hookBlock,
  hooksDir,
  HOOKS,
  insertBlock,
  manualStep,
  SHEBANG,
  stripBlocks,
  type HookName,
} from '../repo/git-hooks.js';
import { findRoot } from '../repo/repo.js';
import { writeFileAtomic } from '../store/atomic.js';
import { readControlFile } from '../repo/control-file.js';

/**
 * created: new file; added: block put into an existing hook; kept: a hook in another language
 * that calls dv itself; deleted: file removed (only dv's block was left).
 */
export type HookAction = 'created' | 'added' | 'updated' | 'unchanged' | 'kept' | 'disabled' | 'removed' | 'deleted' | 'absent';

export interface InstallOptions {
  cwd: string;
  uninstall?: boolean;
  /** How hooks start dv; default: this Node binary running this package's bin/dv. */
  dv?: { node: string; script: string };
}

export interface InstallResult {
  hooksDir: string;
  uninstall: boolean;
  hooks: { hook: HookName; file: string; action: HookAction }[];
}

export function defaultDvCommand(): { node: string; script: string } {
  return { node: process.execPath, script: fileURLToPath(new URL('../../../bin/dv', import.meta.url)) };
}

/** Installs (or with `uninstall` removes) dv's block in each hook. Refuses before writing anything if a hook is not a shell script. */
export async function install(opts: InstallOptions): Promise<InstallResult> {
  const root = await findRoot(opts.cwd);
  const dir = await hooksDir(root);
  const { node, script } = opts.dv ?? defaultDvCommand();
  const plan: { hook: HookName; file: string; action: HookAction; text?: string; mode: number }[] = [];
  for (const hook of HOOKS) {
    const file = resolve(dir, hook);
    // A hook is edited in place, never through a link: the hooks directory may be one the
    // repository commits (core.hooksPath), and a link there could name any file of the user's.
    const st = await fsp.lstat(file).catch(() => undefined);
    if (st && !st.isFile()) {
      throw new DvError(
        'UNSAFE_PATH',
        `${file} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}, so dv will not edit it (no hook was changed): edit the file it stands for yourself: ${manualStep(hook, node, script)}`,
        { hook, file },
      );
    }
    const old = st ? await readControlFile(file, { maxBytes: 16 * 1024 * 1024 }) : undefined;
    const stripped = old === undefined ? { text: '', found: false, at: -1 } : stripBlocks(old);
    const mode = st ? st.mode & 0o7777 : 0o755;
    if (opts.uninstall) {
      const action = !stripped.found ? 'absent' : stripped.text.trim() === SHEBANG.trim() ? 'deleted' : 'removed';
      plan.push({ hook, file, action, text: stripped.text, mode });
      continue;
    }
    const block = hookBlock(hook, node, script);
    if (old === undefined || old.trim() === '') {
      plan.push({ hook, file, action: 'created', text: SHEBANG + block, mode });
      continue;
    }
    // A hook without the x bit is one git skips: the user switched it off. Making it executable
    // to add dv's block would switch their code back on; it is left as it is.
    if (st && (mode & 0o111) === 0 && !stripped.found) {
      plan.push({ hook, file, action: 'disabled', mode });
      continue;
    }
    const foreign = foreignInterpreter(old);
    // Once the user has added the call by hand, a rerun accepts the hook as it is.
    if (foreign && callsDv(hook, old)) {
      plan.push({ hook, file, action: 'kept', mode });
      continue;
    }
    if (foreign) {
      throw new DvError(
        'USAGE',
        `${file} is a ${foreign} program, not a shell script, so dv will not edit it (no hook was changed): add to it yourself: ${manualStep(hook, node, script)}; then run \`dv install\` again`,
        { hook, file },
      );
    }
    // A block from an older dv is replaced where it is; a new one goes after the shebang.
    const next = stripped.found
      ? stripped.text.slice(0, stripped.at) + block + stripped.text.slice(stripped.at)
      : insertBlock(stripped.text, block);
    plan.push({ hook, file, action: next === old ? 'unchanged' : stripped.found ? 'updated' : 'added', text: next, mode });
  }
  if (!opts.uninstall)
    await fsp.mkdir(dir, { recursive: true }).catch((e) => {
      throw fsError(e, dir);
    });
  for (const p of plan) {
    if (p.action === 'absent' || p.action === 'unchanged' || p.action === 'kept' || p.action === 'disabled') continue;
    if (p.action === 'deleted') {
      await fsp.rm(p.file, { force: true });
      continue;
    }
    // Executable wherever readable: git silently skips a hook without the x bit.
    const mode = p.mode | ((p.mode & 0o444) >> 2);
    await writeFileAtomic(p.file, p.text!, undefined, mode);
    await fsp.chmod(p.file, mode).catch((e) => {
      throw fsError(e, p.file);
    });
  }
  const shown = (f: string): string => {
    const r = relative(root, f);
    return r.startsWith('..') || isAbsolute(r) ? f : r;
  };
  return {
    hooksDir: dir,
    uninstall: Boolean(opts.uninstall),
    hooks: plan.map((p) => ({ hook: p.hook, file: shown(p.file), action: p.action })),
  };
}

/**
 * The git hooks dv writes: which hooks, the block of shell dv puts in each (between BEGIN and END
 * lines, so that it can be found, replaced in place and removed again), and how to tell a shell
 * hook from one in another language. `dv install` (ops/install.ts) decides what to do with each file.
 *
 * Invariant: the block is plain POSIX sh; every path in it is single-quoted (`shellQuote`), and
 * the hook's own arguments are passed on untouched.
 */
import { resolve } from 'node:path';
import { shellQuote } from '../core/shell.js';
import { DvError } from '../errors.js';
import { git } from './git.js';

export const HOOKS = ['post-checkout', 'post-merge', 'pre-push', 'pre-commit', 'post-rewrite'] as const;
export type HookName = (typeof HOOKS)[number];
const BEGIN = '# >>> dv hook: added by `dv install`; `dv install --uninstall` removes it >>>';
const END = '# <<< dv hook <<<';
export const SHEBANG = '#!/bin/sh\n';

const sq = (s: string): string => shellQuote(s, { always: true });

/**
 * `dv_hook_sync WHAT FROM [TO]`: `dv checkout` of the tracked paths whose pointer files differ
 * between commit FROM and commit TO (or the work tree), and `dv pull` of them when this clone
 * lacks the objects (exit 22), as git-lfs fetches on checkout. Other paths are left alone, so
 * data edits there survive a branch switch as git's own local changes do. When FROM is no
 * commit (a clone's first checkout) or very many pointer files changed, every path is checked
 * out. The checkout's stderr is held back so that a missing-object error the pull then repairs
 * is not shown; 10 (no dv repository on this commit) is no failure. A function, so that the
 * paths are its own arguments and the hook's stay as git gave them.
 */
const SYNC = `dv_hook_sync() {
  dv_hook_what=$1 dv_hook_from=$2 dv_hook_to=$3
  set --
  if [ -n "$dv_hook_from" ] && git rev-parse -q --verify "$dv_hook_from^{commit}" >/dev/null 2>&1; then
    dv_hook_list=$(git diff --name-only -z --no-renames --no-ext-diff "$dv_hook_from" \${dv_hook_to:+"$dv_hook_to"} -- '*.dv' 2>/dev/null | tr '\\000' '\\n')
    dv_hook_ifs=$IFS
    IFS='
'
    set -f
    # A pointer file gone from the work tree: that path is no longer tracked, nothing to check out.
    for dv_hook_p in $dv_hook_list; do [ -f "$dv_hook_p" ] && set -- "$@" "$dv_hook_p"; done
    set +f
    IFS=$dv_hook_ifs
    unset dv_hook_list dv_hook_ifs dv_hook_p
    if [ "$#" -eq 0 ]; then
      unset dv_hook_what dv_hook_from dv_hook_to
      return 0
    fi
    if [ "$#" -gt 1000 ]; then set --; else set -- -- "$@"; fi
  fi
  dv_hook_cmd=checkout
  { dv_hook_err=$(dv_hook_run checkout "$@" </dev/null 2>&1 1>&3 3>&-); } 3>&1 && dv_hook_status=0 || dv_hook_status=$?
  if [ "$dv_hook_status" -eq 22 ] || [ "$dv_hook_status" -eq 3 ]; then
    dv_hook_cmd=pull
    echo "dv: fetching the data this $dv_hook_what needs (dv pull)" >&2
    dv_hook_run pull "$@" </dev/null && dv_hook_status=0 || dv_hook_status=$?
  elif [ "$dv_hook_status" -ne 0 ] && [ "$dv_hook_status" -ne 10 ]; then
    printf '%s\\n' "$dv_hook_err" >&2
  fi
  if [ "$dv_hook_status" -ne 0 ] && [ "$dv_hook_status" -ne 10 ]; then
    echo "dv hook: updating the data after the $dv_hook_what failed (see above); git's $dv_hook_what itself succeeded: fix the problem, then run \\\`dv $dv_hook_cmd\\\`" >&2
  fi
  unset dv_hook_status dv_hook_err dv_hook_cmd dv_hook_what dv_hook_from dv_hook_to
}`;
const SYNCS = new Set<HookName>(['post-checkout', 'post-merge', 'post-rewrite']);

/** What each hook does, as POSIX sh that is safe under \`set -e\` and leaves stdin to the user's hook. */
const BODIES: Record<HookName, string> = {
  // While a rebase runs, post-checkout sees it switch to the upstream before the local commits
  // are replayed (without hooks): post-rewrite then updates the data once, unless the rebase
  // only fast-forwards ($1 is an ancestor of $2), which has no post-rewrite.
  'post-checkout': `# Only a branch switch ($3 = 1) moves pointer files; a failure must not fail the checkout.
if [ "$3" = 1 ] && [ "$1" != "$2" ]; then
  if { [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; } && ! git merge-base --is-ancestor "$1" "$2" 2>/dev/null; then
    : # a rebase replaying commits: post-rewrite updates the data when it is done
  else
    dv_hook_sync checkout "$1" "$2"
  fi
fi`,
  // Against the work tree rather than HEAD: a squash merge changes the pointer files, not HEAD.
  'post-merge': `# A merge or pull may move pointer files; a failure must not undo the merge.
dv_hook_sync merge ORIG_HEAD`,
  'post-rewrite': `# A rebase (git pull --rebase) replays commits without running post-checkout; a failure must not fail it.
if [ "$1" = rebase ]; then
  dv_hook_sync rebase ORIG_HEAD HEAD
fi`,
  // The data of the commits being pushed, from git's lines on stdin, which the rest of the hook
  // then reads again.
  'pre-push': `dv_hook_stdin=$(cat)
printf '%s\\n' "$dv_hook_stdin" | dv_hook_run push --pre-push "$1" && dv_hook_status=0 || dv_hook_status=$?
if [ -n "$dv_hook_stdin" ]; then
exec <<dv_hook_eof
$dv_hook_stdin
dv_hook_eof
else
exec </dev/null
fi
# 10: no dv repository in this checkout, so nothing to push.
if [ "$dv_hook_status" -ne 0 ] && [ "$dv_hook_status" -ne 10 ]; then
  echo "dv hook: \\\`dv push\\\` failed (see above), so the git push stops here: fix it and push again (\\\`git push --no-verify\\\` skips the data)" >&2
  exit 1
fi
unset dv_hook_status dv_hook_stdin`,
  'pre-commit': `dv_hook_out=$(dv_hook_run status --json </dev/null 2>/dev/null) || dv_hook_out=
if printf '%s' "$dv_hook_out" | grep -q '"state": *"modified"'; then
  echo "dv hook: warning: tracked data has changes dv has not recorded (record them with \\\`dv commit\\\`):" >&2
  dv_hook_run status </dev/null >&2 || :
fi
unset dv_hook_out`,
};

/** What to tell a user whose hook dv cannot edit. */
const VERB: Record<HookName, string> = {
  'post-checkout': 'checkout',
  'post-merge': 'checkout',
  'pre-push': 'push',
  'pre-commit': 'status',
  'post-rewrite': 'checkout',
};
const MANUAL: Record<HookName, string> = {
  'post-checkout':
    'when its third argument is 1 and no rebase is in progress, run: DV checkout, then DV pull when it exits with 22 or 3 (and ignore their exit status)',
  'post-merge': 'run: DV checkout, then DV pull when it exits with 22 or 3 (and ignore their exit status)',
  'pre-push':
    "run: DV push --pre-push REMOTE (the hook's first argument) with the hook's stdin (the lines git gives it), and exit 1 when it fails",
  'pre-commit': 'run: DV status, and warn when it reports changes',
  'post-rewrite':
    'when its first argument is rebase, run: DV checkout, then DV pull when it exits with 22 or 3 (and ignore their exit status)',
};

export function hookBlock(hook: HookName, node: string, script: string): string {
  const run = `dv_hook_run() {
  if [ -x ${sq(node)} ] && [ -f ${sq(script)} ]; then ${sq(node)} ${sq(script)} "$@"
  elif command -v dv >/dev/null 2>&1; then dv "$@"
  else echo "dv hook: dv is not installed at ${script.replace(/["`$\\']/g, '')} nor on PATH: run \\\`dv install\\\` again" >&2; return 127
  fi
}`;
  const sync = SYNCS.has(hook);
  return `${BEGIN}\n${run}\n${sync ? `${SYNC}\n` : ''}${BODIES[hook]}\nunset -f dv_hook_run${sync ? ' dv_hook_sync' : ''}\n${END}\n`;
}

/**
 * The text with every dv block taken out, whether there was one, and where the first one was
 * (so that `dv install` replaces an older version of its block in place).
 */
export function stripBlocks(text: string): { text: string; found: boolean; at: number } {
  let out = text;
  let at = -1;
  for (;;) {
    const b = out.indexOf(BEGIN);
    const e = b < 0 ? -1 : out.indexOf(END, b);
    if (b < 0 || e < 0) return { text: out, found: at >= 0, at };
    const lineStart = out.lastIndexOf('\n', b - 1) + 1;
    const nl = out.indexOf('\n', e);
    out = out.slice(0, lineStart) + out.slice(nl < 0 ? out.length : nl + 1);
    if (at < 0) at = lineStart;
  }
}

/** Undefined for a shell script (or text without a shebang, which git runs with sh); else the interpreter. */
export function foreignInterpreter(text: string): string | undefined {
  if (text.includes('\0')) return 'binary';
  if (!text.startsWith('#!')) return undefined;
  const words = text
    .slice(2, (text.indexOf('\n') + 1 || text.length + 1) - 1)
    .trim()
    .split(/\s+/);
  let prog = (words[0] ?? '').split('/').pop() ?? '';
  if (prog === 'env') prog = words.slice(1).find((w) => !w.startsWith('-') && !w.includes('=')) ?? '';
  return /^(ba|da|z|k|mk|a)?sh$/.test(prog) ? undefined : prog || 'unknown';
}

/** Puts the block right after the shebang, so a hook ending in `exit` or `exec` still runs it. */
export function insertBlock(text: string, block: string): string {
  if (!text.startsWith('#!')) return block + text;
  const nl = text.indexOf('\n');
  return nl < 0 ? `${text}\n${block}` : text.slice(0, nl + 1) + block + text.slice(nl + 1);
}

/** Whether a hook in another language calls dv for `hook` itself (added by hand, as `manualStep` says). */
export function callsDv(hook: HookName, text: string): boolean {
  return new RegExp(`\\bdv\\b.*\\b${VERB[hook]}\\b`).test(text);
}

/** What a user adds to a hook dv will not edit, to start dv (`node script`) as dv's block would. */
export function manualStep(hook: HookName, node: string, script: string): string {
  const cmd = `${sq(node)} ${sq(script)}`;
  return MANUAL[hook].replaceAll('DV', () => cmd);
}

export async function hooksDir(root: string): Promise<string> {
  const r = await git(root, ['rev-parse', '--git-path', 'hooks']);
  if (r.code !== 0) throw new DvError('USAGE', `${root} is not in a git work tree: git hooks need git (run \`git init\` first)`, { root });
  return resolve(root, r.stdout.trim());
}

/**
 * The pointer files in git commits: which snapshots a set of commits names, for `dv push --rev`
 * and the pre-push hook (as git-lfs pushes the objects of the commits being pushed). A fixed
 * number of git processes reads them whatever the number of commits: one `git log --raw` for
 * the pointer blobs the commits add or change, one `git diff-tree --stdin` for the tip trees,
 * and `git cat-file --batch` for the blobs.
 */
import { execFile } from 'node:child_process';
import { decodePointer, type Pointer } from '../core/pointer.js';
import { DvError } from '../errors.js';
import { gitEnv } from './git.js';

/** A snapshot named by the pointer file `path` in `commit`. */
export interface CommitPointer {
  snapshot: string;
  path: string;
  commit: string;
}

export interface CommitPointers {
  /** What the selected commits add or change: each snapshot once, from the newest commit naming it. */
  changed: CommitPointer[];
  /** What the trees of the tip commits name (committed there or earlier): each snapshot once. */
  tips: CommitPointer[];
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO = /^0+$/;
/** A line git gives the pre-push hook: `<local ref> <local sha> <remote ref> <remote sha>`. */
const LINE = /^(.+) ([0-9a-f]{40}|[0-9a-f]{64}) (\S+) ([0-9a-f]{40}|[0-9a-f]{64})$/;
/** The empty tree, to diff a tip's whole tree against (sha1 and sha256 repositories). */
const EMPTY_TREE: Record<number, string> = {
  40: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  64: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};
/** A pointer file is a few hundred bytes; a larger *.dv blob is something else and is not read. */
const MAX_POINTER = 64 * 1024;
/** rev-list selectors `--rev` accepts besides revisions; any other option is refused. */
const SELECTOR = /^--(?:all|not|(?:branches|tags|remotes)(?:=.+)?|(?:glob|exclude)=.+)$/;

/** Runs git with `input` on stdin; its stdout, or a DvError naming the git command (USAGE for rev-parse). */
export async function gitOut(cwd: string, args: string[], input?: string): Promise<Buffer> {
  const r = await new Promise<{ code: number; stdout: Buffer; stderr: string }>((resolve) => {
    const child = execFile(
      'git',
      args,
      { cwd, env: gitEnv(), maxBuffer: 1024 * 1024 * 1024, encoding: 'buffer' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
        resolve({ code, stdout, stderr: stderr.toString('utf8') });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').pop() ?? '';
    throw new DvError(args[0] === 'rev-parse' ? 'USAGE' : 'ERROR', `git ${args[0]} failed (exit ${r.code})${why ? `: ${why}` : ''}`, {
      git: args.slice(0, 3),
      stderr: r.stderr.slice(0, 2000),
    });
  }
  return r.stdout;
}

/**
 * Revisions (git rev-list syntax: `main`, `^origin/main`, `v1..v2`, `--all`, `--not`,
 * `--remotes=origin`) resolved to commit ids, `^id` for an excluded one.
 */
export async function resolveRevs(root: string, revs: string[]): Promise<string[]> {
  for (const r of revs) {
    if (r === '' || (r.startsWith('-') && !SELECTOR.test(r)))
      throw new DvError(
        'USAGE',
        `--rev ${JSON.stringify(r)}: give a revision (main, ^origin/main, v1..v2) or one of --all, --branches, --tags, --remotes, --not`,
      );
  }
  if (revs.length === 0) return [];
  const out = (await gitOut(root, ['rev-parse', '--no-flags', ...revs, '--'])).toString('utf8');
  return out.split('\n').filter((l) => SHA.test(l.replace(/^\^/, '')));
}

/**
 * The commits a `git push` sends, from the lines git gives the pre-push hook on stdin
 * (`<local ref> <local sha> <remote ref> <remote sha>`), as `resolveRevs` gives them (for
 * `commitPointers`): each pushed commit (a pushed tag peeled to its commit), then `^id` for what
 * the remote has (its old value where this clone knows it, and what `remote`'s tracking refs
 * hold). Deletions (local sha all zeros) push nothing. The ids go to git on stdin, never on its
 * command line, so a push of tens of thousands of refs works.
 */
export async function prePushRevs(root: string, stdin: string, remote: string): Promise<string[]> {
  const local: string[] = [];
  const theirs: string[] = [];
  for (const raw of stdin.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    // Read from the right: <local ref> is the source expression as the user typed it
    // (`HEAD^{/fix bug}`), which may contain spaces; the other three fields cannot.
    const f = LINE.exec(line);
    if (!f)
      throw new DvError(
        'USAGE',
        `--pre-push: ${JSON.stringify(line.slice(0, 200))} is not a line git gives the pre-push hook (<local ref> <local sha> <remote ref> <remote sha>)`,
      );
    if (ZERO.test(f[2])) continue;
    local.push(f[2]);
    if (!ZERO.test(f[4])) theirs.push(f[4]);
  }
  if (local.length === 0) return [];
  // What the remote's tracking refs hold (a pattern ending in / matches that prefix literally).
  const tracking = (await gitOut(root, ['for-each-ref', '--format=%(objectname)', `refs/remotes/${remote}/`]))
    .toString('utf8')
    .split('\n')
    .filter((l) => SHA.test(l));
  // Peeled to commits: the remote's old value may be a commit this clone never fetched (then the
  // tracking refs say what it has), and a pushed blob or tree has no commits to send.
  const wanted = [...new Set(local)];
  const not = [...new Set([...theirs, ...tracking])];
  const ids = [...wanted, ...not];
  const check = (
    await gitOut(root, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], ids.map((id) => `${id}^{commit}`).join('\n') + '\n')
  )
    .toString('utf8')
    .split('\n');
  const commit = (k: number): string | undefined => {
    const m = /^([0-9a-f]+) commit$/.exec(check[k] ?? '');
    return m ? m[1] : undefined;
  };
  const tips = new Set<string>();
  const have = new Set<string>();
  ids.forEach((_, k) => {
    const c = commit(k);
    if (c) (k < wanted.length ? tips : have).add(c);
  });
  if (tips.size === 0) return [];
  return [...tips, ...[...have].map((c) => `^${c}`)];
}

/**
 * Parses the NUL-separated raw diff output of `git log -z --raw` / `git diff-tree -z --stdin`:
 * (commit, blob, path) per added or changed file. Headers (a commit id, or the input line
 * diff-tree echoes) never contain a newline, but git ends diff-tree's echoed line with `\n`, not
 * NUL, so the first entry after it comes in the same token: a header ends at its first newline.
 */
function rawBlobs(out: Buffer, commitOf: (header: string) => string | undefined): { commit: string; blob: string; path: string }[] {
  const found: { commit: string; blob: string; path: string }[] = [];
  const tokens = out.toString('utf8').split('\0');
  let commit = '';
  for (let k = 0; k < tokens.length; k++) {
    let t = tokens[k].replace(/^\n+/, '');
    while (!t.startsWith(':') && t.includes('\n')) {
      const nl = t.indexOf('\n');
      commit = commitOf(t.slice(0, nl)) ?? commit;
      t = t.slice(nl + 1).replace(/^\n+/, '');
    }
    if (t.startsWith(':')) {
      const path = tokens[++k] ?? '';
      // `:mode.. id.. STATUS`; with -c a merge has one id per parent, then the result's id.
      const words = t.split(' ');
      const blob = words[words.length - 2];
      const mode = words[words.length - 2 - (words.length - 1) / 2];
      if (SHA.test(blob) && !ZERO.test(blob) && /^100[67]/.test(mode ?? '')) found.push({ commit, blob, path });
    } else if (t !== '') {
      commit = commitOf(t) ?? commit;
    }
  }
  return found;
}

/** The snapshot each blob that is a pointer file names; others (not a pointer, too large) are left out. */
async function readPointers(root: string, blobs: string[]): Promise<Map<string, string>> {
  const pointers = await readPointerBlobs(root, blobs);
  return new Map([...pointers].map(([blob, p]) => [blob, p.snapshot]));
}

/** Reads the blobs that are pointer files; others (not a pointer, too large) are left out. */
export async function readPointerBlobs(root: string, blobs: string[]): Promise<Map<string, Pointer>> {
  const snapshots = new Map<string, Pointer>();
  if (blobs.length === 0) return snapshots;
  const check = (await gitOut(root, ['cat-file', '--batch-check'], blobs.join('\n') + '\n')).toString('utf8').split('\n');
  const small = blobs.filter((_, k) => {
    const m = / blob (\d+)$/.exec(check[k] ?? '');
    return m !== null && Number(m[1]) <= MAX_POINTER;
  });
  if (small.length === 0) return snapshots;
  const out = await gitOut(root, ['cat-file', '--batch'], small.join('\n') + '\n');
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(10, pos);
    if (nl < 0) break;
    const [id, type, sizeText] = out.toString('utf8', pos, nl).split(' ');
    const size = type === 'missing' || sizeText === undefined ? 0 : Number(sizeText);
    if (!Number.isSafeInteger(size)) break;
    if (type === 'blob') {
      try {
        snapshots.set(id, decodePointer(out.toString('utf8', nl + 1, nl + 1 + size), `git blob ${id}`));
      } catch {
        /* a *.dv file that is not a pointer */
      }
    }
    pos = type === 'missing' ? nl + 1 : nl + 1 + size + 1;
  }
  return snapshots;
}

/** The snapshots the pointer files of the commits `revs` (as `resolveRevs` gives them) name. */
export async function commitPointers(root: string, revs: string[]): Promise<CommitPointers> {
  const tips = [...new Set(revs.filter((r) => !r.startsWith('^')))];
  if (tips.length === 0) return { changed: [], tips: [] };
  // --full-history: a merge must not hide the side branch's commits; -c: a merge's own
  // resolution (a blob in none of its parents) is listed, what it took from a parent is not.
  const log = await gitOut(
    root,
    [
      'log',
      '--stdin',
      '--format=%x01%H',
      '--raw',
      '-z',
      '-c',
      '--root',
      '--no-abbrev',
      '--no-renames',
      '--full-history',
      '--no-color',
      '--no-show-signature',
      '--',
      '*.dv',
    ],
    revs.join('\n') + '\n',
  );
  const changed = rawBlobs(log, (h) => (h.startsWith('\x01') ? h.slice(1) : undefined));

  // The tips' whole trees: what a clone checking a pushed ref out needs, even when the commits
  // that brought it are on the remote already (pushed before the dv remote existed).
  const trees = (await gitOut(root, ['cat-file', '--batch-check'], tips.map((t) => `${t}^{tree}`).join('\n') + '\n'))
    .toString('utf8')
    .split('\n');
  const treeOf = new Map<string, string>();
  tips.forEach((t, k) => {
    const m = /^([0-9a-f]+) tree /.exec(trees[k] ?? '');
    if (m) treeOf.set(m[1], t);
  });
  let whole: { commit: string; blob: string; path: string }[] = [];
  if (treeOf.size > 0) {
    const lines = [...treeOf.keys()].map((tree) => `${EMPTY_TREE[tree.length]} ${tree}`).join('\n') + '\n';
    const diff = await gitOut(root, ['diff-tree', '--stdin', '-r', '-z', '--no-abbrev', '--no-renames', '--no-color', '--', '*.dv'], lines);
    // diff-tree echoes each input line ("<empty> <tree>") before its entries.
    whole = rawBlobs(diff, (h) => treeOf.get(h.trim().split(' ')[1] ?? ''));
  }

  const snapshots = await readPointers(root, [...new Set([...changed, ...whole].map((b) => b.blob))]);
  const named = (list: typeof changed): CommitPointer[] => {
    const seen = new Set<string>();
    const res: CommitPointer[] = [];
    for (const b of list) {
      const snapshot = snapshots.get(b.blob);
      if (snapshot && !seen.has(snapshot)) {
        seen.add(snapshot);
        res.push({ snapshot, path: b.path, commit: b.commit });
      }
    }
    return res;
  };
  return { changed: named(changed), tips: named(whole) };
}

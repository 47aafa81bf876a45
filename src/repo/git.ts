/** The few git facts dv needs, from the real `git` binary. Every call tolerates a missing git. */
import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { relative, sep } from 'node:path';

/**
 * The environment for dv's git calls: the user's, without the variables that change how git
 * reads pathspecs (GIT_LITERAL_PATHSPECS=1 would make `*.dv` match no pointer file, so status
 * would see nothing tracked and gc would count no pointer as a root). Calls that want literal
 * paths say so with --literal-pathspecs.
 */
export function gitEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['GIT_LITERAL_PATHSPECS', 'GIT_GLOB_PATHSPECS', 'GIT_NOGLOB_PATHSPECS', 'GIT_ICASE_PATHSPECS']) delete env[k];
  return env;
}

export async function git(cwd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('git', args, { cwd, env: gitEnv(), maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export async function gitTopLevel(cwd: string): Promise<string | undefined> {
  const r = await git(cwd, ['rev-parse', '--show-toplevel']);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export interface GitState {
  commit: string | null;
  branch: string | null;
  dirty: boolean;
}

/** HEAD commit, branch, and whether tracked code has uncommitted changes (data pointers aside). */
export async function gitState(root: string): Promise<GitState | null> {
  const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD']);
  const top = await gitTopLevel(root);
  if (!top) return null;
  const branch = await git(root, ['symbolic-ref', '--short', '-q', 'HEAD']);
  const status = await git(root, ['status', '--porcelain', '--untracked-files=no']);
  const dirty = status.stdout
    .split('\n')
    .some((l) => l.trim() !== '' && !l.trimEnd().endsWith('.dv') && !l.trimEnd().endsWith('.gitignore'));
  return { commit: head.code === 0 ? head.stdout.trim() : null, branch: branch.code === 0 ? branch.stdout.trim() : null, dirty };
}

/** "Name <email>" as git would record it (GIT_AUTHOR_* variables, then config), else the OS user. */
export async function gitAuthor(root: string): Promise<string> {
  const ident = await git(root, ['var', 'GIT_AUTHOR_IDENT']);
  const m = /^(.*<[^>]*>)\s+\d+\s+[-+]\d{4}\s*$/.exec(ident.stdout.trim());
  if (ident.code === 0 && m) return m[1];
  const name = (await git(root, ['config', 'user.name'])).stdout.trim();
  const email = (await git(root, ['config', 'user.email'])).stdout.trim();
  const user = name || process.env.USER || process.env.USERNAME || 'unknown';
  return email ? `${user} <${email}>` : user;
}

/**
 * The contents of many `<rev>:<path>` objects from one `git cat-file --batch` (not a `git show`
 * each): blobs of at most `maxSize` bytes, in a map by spec; missing ones, other types and larger
 * blobs are left out, and so is everything when git fails or says more than `maxOutput` bytes.
 */
export async function gitCatBlobs(
  cwd: string,
  specs: string[],
  maxSize: number,
  maxOutput = 64 * 1024 * 1024,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  // One spec a line: a name with a newline cannot be asked for (and no pointer file has one).
  const asked = [...new Set(specs)].filter((x) => !x.includes('\n'));
  if (asked.length === 0) return out;
  const stdout = await new Promise<Buffer | undefined>((resolve) => {
    const child = execFile('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), maxBuffer: maxOutput, encoding: 'buffer' }, (err, so) =>
      resolve(err ? undefined : so),
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(asked.map((x) => `${x}\n`).join(''));
  });
  if (!stdout) return out;
  let pos = 0;
  // Answers come in the order asked: `<oid> <type> <size>\n<content>\n`, or `<spec> missing\n`.
  for (const spec of asked) {
    const nl = stdout.indexOf(10, pos);
    if (nl < 0) break;
    const m = /^[0-9a-f]{40,64} (\S+) (\d+)$/.exec(stdout.subarray(pos, nl).toString('latin1'));
    pos = nl + 1;
    if (!m) continue;
    const size = Number(m[2]);
    if (m[1] === 'blob' && size <= maxSize && pos + size <= stdout.length) out.set(spec, stdout.subarray(pos, pos + size));
    pos += size + 1;
  }
  return out;
}

/**
 * Of `paths` (relative to `root`), those a `git add` would change: modified or new to git
 * (`git status`), in their order. On any git failure, all of them (a hint naming too much is
 * harmless; one naming too little loses a file from the commit).
 */
export async function changedForGit(root: string, paths: string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const top = await gitTopLevel(root);
  const r = await git(root, ['--literal-pathspecs', 'status', '--porcelain', '-z', '--untracked-files=all', '--', ...paths]);
  if (top === undefined || r.code !== 0) return paths;
  // git names paths from its top level, as the real path: dv's root may be reached through a link.
  const prefix = relative(top, await realpath(root).catch(() => root))
    .split(sep)
    .join('/');
  if (prefix.startsWith('..')) return paths;
  const seen = new Set<string>();
  for (const e of r.stdout.split('\0')) {
    const p = /^[ MADRCU?!]{2} /.test(e) ? e.slice(3) : e;
    seen.add(prefix && p.startsWith(prefix + '/') ? p.slice(prefix.length + 1) : p);
  }
  return paths.filter((p) => seen.has(p));
}

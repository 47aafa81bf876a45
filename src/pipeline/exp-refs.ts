/**
 * Experiments as git refs (as DVC keeps them): an experiment is a commit whose parent is its
 * baseline commit, under `refs/exps/<baseline>/<name>`; a queued one, not yet run, is a commit
 * of its inputs (the workspace with the `-S` values set) under `refs/exps/queue/<name>`. git
 * moves and keeps them (`git push/fetch` of those refs, `git rev-list --all` makes them gc roots)
 * and nothing the user sees changes: no branch, no HEAD, no index, no file.
 *
 * Invariants: every name is checked (`checkExpName`: a git ref component of at most MAX_NAME
 * characters) before it becomes part of a ref; refs read back (local, or listed by a remote) are
 * parsed by `parseExpRef` and anything else is ignored; a listing stops at MAX_EXPS refs. git
 * runs with dv's environment (repo/git.ts gitEnv) plus only what a call adds (GIT_INDEX_FILE).
 */
import { execFile } from 'node:child_process';
import { DvError } from '../errors.js';
import { gitEnv } from '../repo/git.js';

export const EXP_REFS = 'refs/exps/';
export const QUEUE_REFS = 'refs/exps/queue/';
/** The longest experiment name (a git ref component; DVC's names are shorter). */
export const MAX_NAME = 64;
/** At most this many experiment refs are listed or fetched at once. */
export const MAX_EXPS = 10_000;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Why `name` cannot name an experiment, or undefined when it can. */
export function badExpName(name: string): string | undefined {
  if (typeof name !== 'string' || name === '') return 'is empty';
  if (name.length > MAX_NAME) return `is longer than ${MAX_NAME} characters`;
  if (!NAME_RE.test(name)) return "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'";
  if (name.includes('..') || name.endsWith('.') || name.endsWith('.lock')) return "may not hold '..' or end in '.' or '.lock'";
  if (SHA_RE.test(name) || name === 'queue') return 'is reserved';
  return undefined;
}

/** `name` when it can name an experiment; USAGE naming `what` (`-n`, `exp apply`) otherwise. */
export function checkExpName(name: string, what: string): string {
  const why = badExpName(name);
  if (why) throw new DvError('USAGE', `${what} ${JSON.stringify(String(name).slice(0, 80))}: an experiment name ${why}`, { name });
  return name;
}

export interface ExpRef {
  ref: string;
  name: string;
  /** The commit it was run from; absent for a queued experiment. */
  baseline?: string;
  queued: boolean;
  commit: string;
}

/** A ref of refs/exps/ as dv writes them, or undefined for anything else (a hostile or foreign ref). */
export function parseExpRef(ref: string, commit: string): ExpRef | undefined {
  if (!ref.startsWith(EXP_REFS) || !SHA_RE.test(commit)) return undefined;
  const parts = ref.slice(EXP_REFS.length).split('/');
  if (parts.length !== 2 || badExpName(parts[1])) return undefined;
  if (parts[0] === 'queue') return { ref, name: parts[1], queued: true, commit };
  if (!SHA_RE.test(parts[0])) return undefined;
  return { ref, name: parts[1], baseline: parts[0], queued: false, commit };
}

export const expRef = (baseline: string, name: string): string => `${EXP_REFS}${baseline}/${name}`;
export const queueRef = (name: string): string => `${QUEUE_REFS}${name}`;

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git in `cwd` with dv's environment and `env` added; never throws (the exit code says). */
export function gitx(cwd: string, args: string[], o: { env?: Record<string, string>; input?: string } = {}): Promise<GitRun> {
  return new Promise((resolve) => {
    const child = execFile(
      'git',
      args,
      { cwd, env: { ...gitEnv(), ...o.env }, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input ?? '');
  });
}

/** Like gitx, but a failure is a DvError naming the git command and its last line of stderr. */
export async function gitOk(cwd: string, args: string[], o: { env?: Record<string, string>; input?: string } = {}): Promise<string> {
  const r = await gitx(cwd, args, o);
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').pop() ?? '';
    throw new DvError('ERROR', `git ${args[0]} failed (exit ${r.code})${why ? `: ${why}` : ''}`, { git: args[0] });
  }
  return r.stdout;
}

/** HEAD's commit; USAGE when the repository has none yet (an experiment needs a baseline). */
export async function headCommit(root: string): Promise<string> {
  const r = await gitx(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  const sha = r.stdout.trim();
  if (r.code !== 0 || !SHA_RE.test(sha))
    throw new DvError('USAGE', 'experiments need a git commit to start from: commit your code (`git commit`) first');
  return sha;
}

/** The experiment refs of this repository (at most MAX_EXPS), in ref order; malformed ones left out. */
export async function listExpRefs(root: string): Promise<ExpRef[]> {
  const r = await gitx(root, ['for-each-ref', `--count=${MAX_EXPS}`, '--format=%(objectname) %(refname)', EXP_REFS]);
  if (r.code !== 0) return [];
  return parseRefLines(r.stdout);
}

/** `<sha> <ref>` lines (for-each-ref, or ls-remote's tab) as experiment refs, at most MAX_EXPS. */
export function parseRefLines(text: string): ExpRef[] {
  const out: ExpRef[] = [];
  for (const line of text.split('\n')) {
    if (out.length >= MAX_EXPS) break;
    const m = /^(\S+)[ \t](\S+)$/.exec(line.trim());
    const e = m ? parseExpRef(m[2], m[1]) : undefined;
    if (e) out.push(e);
  }
  return out;
}

/** The experiments called `name`: the one of `baseline` when there is one, else all of that name. */
export async function findExp(root: string, name: string, baseline?: string): Promise<ExpRef> {
  const all = (await listExpRefs(root)).filter((e) => !e.queued && (e.name === name || `${e.baseline}/${e.name}` === name));
  const mine = all.filter((e) => e.baseline === baseline);
  const hits = mine.length > 0 ? mine : all;
  if (hits.length === 0)
    throw new DvError('UNKNOWN_EXPERIMENT', `no experiment named ${JSON.stringify(name.slice(0, 80))}: see \`dv exp show -A\``, { name });
  if (hits.length > 1) {
    const which = hits.map((e) => `${e.baseline!.slice(0, 7)}/${e.name}`).join(', ');
    throw new DvError('USAGE', `${name} names experiments of several baselines (${which}): give BASELINE/NAME with the full baseline id`, {
      name,
    });
  }
  return hits[0];
}

/** What dv writes into an experiment commit's message, after its first line. */
export interface ExpMeta {
  name: string;
  /** The `-S` arguments as given. */
  set: string[];
  /** Stages whose command ran (not restored from a recorded run). */
  ran?: string[];
  /** When it was made, in milliseconds (git's commit time has seconds only: this orders experiments). */
  at?: number;
}

export function expMessage(kind: 'run' | 'queued', m: ExpMeta): string {
  return `dv exp ${kind === 'run' ? '' : 'queued: '}${m.name}\n\n${JSON.stringify({ dvExp: 1, at: Date.now(), ...m })}\n`;
}

/** The metadata of an experiment commit's message (bounded, untrusted: bad parts dropped). */
export function parseExpMessage(msg: string): Partial<ExpMeta> {
  const line = msg
    .split('\n')
    .slice(0, 64)
    .find((l) => l.startsWith('{"dvExp":'));
  if (!line || line.length > 64 * 1024) return {};
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const strings = (v: unknown): string[] | undefined =>
      Array.isArray(v) && v.length <= 1000 && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
    return {
      set: strings(o.set) ?? [],
      ...(strings(o.ran) ? { ran: strings(o.ran) } : {}),
      ...(Number.isSafeInteger(o.at) ? { at: o.at as number } : {}),
    };
  } catch {
    return {};
  }
}

/** A commit of `tree` with parent `parent` (dv's identity when git has none configured). */
export async function commitTree(root: string, tree: string, parent: string, message: string): Promise<string> {
  const ident = await gitx(root, ['var', 'GIT_COMMITTER_IDENT']);
  const dv = { GIT_AUTHOR_NAME: 'dv', GIT_AUTHOR_EMAIL: 'dv@localhost', GIT_COMMITTER_NAME: 'dv', GIT_COMMITTER_EMAIL: 'dv@localhost' };
  return (await gitOk(root, ['commit-tree', tree, '-p', parent, '-F', '-'], { env: ident.code === 0 ? {} : dv, input: message })).trim();
}

/** Points `ref` at `commit`; unless `replace`, only when `ref` does not exist yet (atomically: git checks). */
export async function setRef(root: string, ref: string, commit: string, replace: boolean): Promise<void> {
  await gitOk(root, ['update-ref', '-m', 'dv exp', ref, commit, ...(replace ? [] : [''])]);
}

/** Removes `ref` if it still points at `commit`. */
export async function deleteRef(root: string, ref: string, commit: string): Promise<void> {
  await gitOk(root, ['update-ref', '-d', ref, commit]);
}

/** A git remote name or URL from the command line: never an option to git. */
export function checkGitRemote(r: string): string {
  if (typeof r !== 'string' || r === '' || r.startsWith('-') || r.includes('\n'))
    throw new DvError('USAGE', `${JSON.stringify(String(r))} is not a git remote: give a remote name (origin) or URL`);
  return r;
}

/** The experiments named (of HEAD's baseline first), or all of them. */
export async function selectExps(root: string, names: string[] | undefined, all: boolean | undefined): Promise<ExpRef[]> {
  if ((names?.length ?? 0) === 0 && !all) throw new DvError('USAGE', 'name the experiments to share, or pass --all');
  if (all) return (await listExpRefs(root)).filter((e) => !e.queued);
  const head = await headCommit(root).catch(() => undefined);
  const out: ExpRef[] = [];
  for (const n of names ?? []) out.push(await findExp(root, n, head));
  return out;
}

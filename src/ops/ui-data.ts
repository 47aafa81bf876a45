/**
 * The history views of `dv ui` as JSON: commits with the snapshot each pointer file names and
 * what changed since the parent, revisions for the page's selects, a dataset diff between two
 * revisions (the `dv diff` op), and metrics per commit (`dv metrics show`'s reader, metricsAt).
 *
 * Invariants: every list is a page (offset, limit; `more` says whether another follows), so
 * 100k commits or 1M changed files never make one response or one git call unbounded; the
 * revisions come validated (ui/guard.ts) and reach git through resolveCommit (after
 * `--end-of-options`); answers about a commit are cached (bounded LRUs) since a commit id names
 * fixed content. A diff is computed whole by the diff op (its memory grows with the changes of
 * that one diff) and then served by pages from the cache, not recomputed per page.
 */
import { basename } from 'node:path';
import pLimit from 'p-limit';
import type { Change } from '../core/diff.js';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import { resolveCommit } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { Lru } from '../ui/cache.js';
import { pagePointers } from '../ui/pointer-page.js';
import { listExperiments } from '../pipeline/exp-list.js';
import { diff } from './diff.js';
import { type MetricsFile, metricsAt } from './metrics.js';

/** Tracked paths listed per commit, at most. */
const MAX_PATHS = 200;
/** Commits whose metrics are read at once. */
const METRICS_JOBS = 4;
/** The experiments the Metrics view lists (the latest; `dv exp show -A` lists them all). */
const MAX_EXPERIMENTS = 200;
/** Branches and tags listed, at most (each). */
const MAX_REFS = 200;

export interface CommitInfo {
  commit: string;
  parents: string[];
  time: string;
  author: string;
  subject: string;
}

export interface PathAtCommit {
  path: string;
  /** Against the first parent (added: no pointer there; deleted: no pointer here). */
  status: 'added' | 'modified' | 'deleted' | 'unchanged';
  snapshot?: string;
  files?: number;
  size?: number;
  before?: { snapshot: string; files: number; size: number };
}

export interface Page<T> {
  items: T[];
  offset: number;
  more: boolean;
}

/** Per-repository caches of answers about commits (their content never changes). */
export class UiCaches {
  readonly metrics = new Lru<MetricsFile[]>(2000);
  readonly diffs = new Lru<DiffSummary>(2);
}

async function commitOf(s: RepoSession, rev: string): Promise<string> {
  const c = await resolveCommit(s.root, rev);
  if (!c) throw new DvError('USAGE', `${rev} is no git revision here: give a commit, branch or tag`, { rev });
  return c;
}

/** Commits reachable from `rev`, newest first: one page. */
export async function logPage(s: RepoSession, rev: string, offset: number, limit: number): Promise<Page<CommitInfo>> {
  // A repository without commits yet has an empty history, not a bad revision.
  if (rev === 'HEAD' && !(await resolveCommit(s.root, rev))) return { items: [], offset, more: false };
  const commit = await commitOf(s, rev);
  const r = await git(s.root, [
    'log',
    '-z',
    '--format=%H%x1f%P%x1f%aI%x1f%an%x1f%s',
    `--skip=${offset}`,
    `--max-count=${limit + 1}`,
    '--end-of-options',
    commit,
    '--',
  ]);
  if (r.code !== 0) throw new DvError('ERROR', `git log ${rev} failed: ${r.stderr.trim().split('\n')[0]}`);
  const items = r.stdout
    .split('\0')
    .filter((rec) => rec.trim() !== '')
    .map((rec) => {
      const [c, parents, time, author, ...subject] = rec.replace(/^\n/, '').split('\x1f');
      return { commit: c, parents: parents ? parents.split(' ') : [], time, author, subject: subject.join(' ') };
    });
  return { items: items.slice(0, limit), offset, more: items.length > limit };
}

export interface CommitRow extends CommitInfo {
  paths: PathAtCommit[];
  pathsTruncated: boolean;
}

/** The Commits view: a page of commits, each with its pointer files and how they changed. */
export async function commitsPage(s: RepoSession, rev: string, offset: number, limit: number): Promise<Page<CommitRow>> {
  const page = await logPage(s, rev, offset, limit);
  const states = await pagePointers(s.root, page.items);
  const items: CommitRow[] = [];
  page.items.forEach((ci, k) => {
    const { now, before } = states[k];
    const paths: PathAtCommit[] = [];
    for (const path of [...new Set([...now.keys(), ...before.keys()])].sort()) {
      const p = now.get(path);
      const b = before.get(path);
      const status = !b ? 'added' : !p ? 'deleted' : b.snapshot === p.snapshot ? 'unchanged' : 'modified';
      paths.push({
        path,
        status,
        ...(p ? { snapshot: p.snapshot, files: p.files, size: p.size } : {}),
        ...(b && status !== 'unchanged' ? { before: { snapshot: b.snapshot, files: b.files, size: b.size } } : {}),
      });
    }
    items.push({ ...ci, paths: paths.slice(0, MAX_PATHS), pathsTruncated: paths.length > MAX_PATHS });
  });
  return { ...page, items };
}

async function refs(s: RepoSession, prefix: string): Promise<{ name: string; commit: string }[]> {
  const r = await git(s.root, ['for-each-ref', `--count=${MAX_REFS}`, '--format=%(refname)%09%(objectname)%09%(objecttype)', prefix]);
  if (r.code !== 0) return [];
  const out: { name: string; commit: string }[] = [];
  for (const line of r.stdout.split('\n')) {
    const [ref, id, type] = line.split('\t');
    // An annotated tag is peeled by resolveCommit when it is used; a tag of a tree or blob is no revision.
    if (ref && (type === 'commit' || type === 'tag')) out.push({ name: ref.slice(prefix.length), commit: id });
  }
  return out;
}

export interface RevsResult {
  repo: string;
  head?: string;
  branch?: string;
  branches: string[];
  tags: string[];
  recent: CommitInfo[];
}

/** What the page offers in its revision selects: branches, tags and the latest commits. */
export async function revs(s: RepoSession): Promise<RevsResult> {
  const head = await resolveCommit(s.root, 'HEAD');
  const branch = (await git(s.root, ['symbolic-ref', '--short', '-q', 'HEAD'])).stdout.trim();
  return {
    repo: basename(s.root),
    ...(head ? { head } : {}),
    ...(branch ? { branch } : {}),
    branches: (await refs(s, 'refs/heads/')).map((r) => r.name),
    tags: (await refs(s, 'refs/tags/')).map((r) => r.name),
    recent: head ? (await logPage(s, head, 0, 100)).items : [],
  };
}

interface DiffSummary {
  from: string;
  to: string;
  counts: Record<Change['type'], number>;
  changes: Change[];
}

export interface DiffPage extends Page<Change> {
  from: string;
  to: string;
  total: number;
  counts: Record<Change['type'], number>;
}

/** The Dataset diff view: files added, modified and deleted between the data two revisions name. */
export async function diffPage(s: RepoSession, c: UiCaches, a: string, b: string, offset: number, limit: number): Promise<DiffPage> {
  const [ca, cb] = [await commitOf(s, a), await commitOf(s, b)];
  const d = await c.diffs.get(`${ca}..${cb}`, async () => {
    const r = await diff(s, { a: ca, b: cb });
    const counts = { added: 0, modified: 0, deleted: 0 };
    for (const ch of r.changes) counts[ch.type]++;
    return { from: ca, to: cb, counts, changes: r.changes };
  });
  const items = d.changes.slice(offset, offset + limit);
  return { from: d.from, to: d.to, total: d.changes.length, counts: d.counts, items, offset, more: offset + limit < d.changes.length };
}

export interface MetricsPoint extends CommitInfo {
  files: MetricsFile[];
}

export interface MetricsResult extends Page<MetricsPoint> {
  /** Experiments (refs under refs/exps/), each with its metrics. */
  experiments: { name: string; commit: string; files: MetricsFile[] }[];
}

/** The Metrics view: the metrics files dv.yaml declares, at each commit of one page of history. */
export async function metricsPage(s: RepoSession, c: UiCaches, rev: string, offset: number, limit: number): Promise<MetricsResult> {
  const page = await logPage(s, rev, offset, limit);
  const at = (commit: string): Promise<MetricsFile[]> => c.metrics.get(commit, () => metricsAt(s, { rev: commit.slice(0, 7), commit }));
  // A few commits at a time: each read is a handful of short git processes.
  const limitRun = pLimit(METRICS_JOBS);
  const items: MetricsPoint[] = await Promise.all(page.items.map((ci) => limitRun(async () => ({ ...ci, files: await at(ci.commit) }))));
  // Experiments through the one reader of refs/exps (`dv exp show` uses it too): the latest
  // MAX_EXPERIMENTS of every baseline, run ones only (a queued one has no metrics yet).
  const all = await listExperiments(s, { all: true, queued: false });
  const experiments: MetricsResult['experiments'] = all.slice(-MAX_EXPERIMENTS).map((e) => ({
    name: e.name,
    commit: e.commit,
    files: Object.entries(e.metrics).map(([path, values]) => ({ path, stage: '', values })),
  }));
  return { ...page, items, experiments };
}

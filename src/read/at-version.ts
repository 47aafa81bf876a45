/**
 * Small text files (metrics, params, dv.yaml) as a git revision or the workspace holds them, for
 * `dv metrics` and `dv params`. At a revision a file is read from git when the commit holds it,
 * else through its pointer file, as `dv cat REV:PATH` reads (store first, then the remote).
 *
 * Invariants: files from a clone are untrusted, so none is read past MAX_FILE bytes (git's size
 * is asked before the blob is read; a pointer's declared size before its stream is); paths come
 * from dv.yaml, already checked to stay inside the repository (pipeline/spec.ts normalizeRel);
 * a file that cannot be read is an `error` string for one line, never an exception.
 */
import { join } from 'node:path';
import { DvError } from '../errors.js';
import type { Version } from '../pipeline/metrics.js';
import { type PipelineSpec, parseSpec, SPEC_FILE } from '../pipeline/spec.js';
import { readControlFile } from '../repo/control-file.js';
import { git } from '../repo/git.js';
import { resolveCommit } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { locate } from './locate.js';
import { connectRemote } from './remote.js';
import { ObjectSource } from './source.js';
import { openFile } from './stream.js';

/** A metrics or params file larger than this is not read. */
export const MAX_FILE = 16 * 1024 * 1024;

/** A version's text of one file: its text, that it is absent, or why it cannot be read. */
export type FileText = { text: string } | { missing: true } | { error: string };

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const tooLarge = (n: number): FileText => ({ error: `is ${mib(n)}, over the ${mib(MAX_FILE)} dv reads of a metrics or params file` });
const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** `rev` as a version: the workspace when undefined or `workspace`; a revision git does not know is refused. */
export async function versionOf(s: RepoSession, rev: string | undefined): Promise<Version> {
  if (rev === undefined || rev === 'workspace') return { rev: 'workspace' };
  const commit = await resolveCommit(s.root, rev);
  if (!commit)
    throw new DvError('USAGE', `${rev} is no git revision here: give a commit, branch or tag (or omit it for the workspace)`, { rev });
  return { rev, commit };
}

async function readFromGit(s: RepoSession, commit: string, path: string): Promise<FileText | undefined> {
  const obj = `${commit}:${path}`;
  const type = await git(s.root, ['cat-file', '-t', obj]);
  if (type.code !== 0) return undefined;
  if (type.stdout.trim() !== 'blob') return { error: `is a ${type.stdout.trim()} in git, not a file` };
  const size = Number((await git(s.root, ['cat-file', '-s', obj])).stdout.trim());
  if (!(size <= MAX_FILE)) return tooLarge(size);
  const r = await git(s.root, ['cat-file', 'blob', obj]);
  return r.code === 0 ? { text: r.stdout } : { error: `git cat-file failed: ${r.stderr.trim().split('\n')[0]}` };
}

/** A dv-tracked file of `commit` through its pointer (store, then the default remote), up to MAX_FILE bytes. */
async function readThroughPointer(s: RepoSession, commit: string, path: string): Promise<FileText> {
  const src = new ObjectSource(s.store, () => connectRemote(s, undefined));
  try {
    const f = (await locate(src, { root: s.root, cwd: s.root, spec: `${commit}:${path}` })).found;
    if (f.type !== 'file') return f.type === 'dir' ? { error: 'is a directory, not a file' } : { missing: true };
    if (f.entry.size > MAX_FILE) return tooLarge(f.entry.size);
    const chunks: Buffer[] = [];
    for await (const c of openFile(src, f.entry)) chunks.push(c as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    if (e instanceof DvError && (e.code === 'NOT_TRACKED' || e.code === 'PATH_NOT_FOUND')) return { missing: true };
    return { error: firstLine(e) };
  } finally {
    await src.close();
  }
}

/** The text of repository-relative `path` at `v`; `viaPointer` false: only what git holds (params, dv.yaml). */
export async function readAt(s: RepoSession, v: Version, path: string, viaPointer = true): Promise<FileText> {
  if (!v.commit) {
    try {
      // Named by dv.yaml, which comes with a clone: a regular file (perhaps behind a link), never a FIFO or device.
      const text = await readControlFile(join(s.root, path), { followLinks: true, maxBytes: MAX_FILE });
      return text === undefined ? { missing: true } : { text };
    } catch (e) {
      return { error: firstLine(e) };
    }
  }
  const inGit = await readFromGit(s, v.commit, path);
  if (inGit) return inGit;
  return viaPointer ? readThroughPointer(s, v.commit, path) : { missing: true };
}

/** dv.yaml at `v` (no stages when it has none); a malformed or unreadable one is refused naming the revision. */
export async function specAt(s: RepoSession, v: Version): Promise<PipelineSpec> {
  const f = await readAt(s, v, SPEC_FILE, false);
  if ('missing' in f) return { stages: [] };
  const where = v.commit ? `${v.rev}:${SPEC_FILE}` : SPEC_FILE;
  if ('error' in f) throw new DvError('PIPELINE_INVALID', `${where} ${f.error}`, { rev: v.rev });
  return parseSpec(f.text, where);
}

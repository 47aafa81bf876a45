/**
 * What each experiment is: its name, baseline, commit, the `-S` values it was run with, and the
 * parameters and metrics its commit holds, flattened as `dv params diff` and `dv metrics show`
 * flatten them. `listExperiments` is the one reader of refs/exps for every consumer (`dv exp
 * show`, the web page); `valuesAt` reads the same for any commit or the workspace.
 *
 * Parameters: every key of params.yaml and the keys dv.yaml's stages declare in other files.
 * Metrics: the files dv.yaml declares, from git (`-M`, kept in git) or, for a metrics file dv
 * tracks (`-m`), through its pointer from the local store (`dv exp pull` brings the objects).
 *
 * Invariants: commits may come from another clone (`dv exp pull`): every file is read with a
 * size cap (MAX_FILE), through one `git cat-file --batch` per commit, parsed with the caps of
 * pipeline/metrics.ts; a file that cannot be read is one `errors` line, never a failure.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { decodeManifest } from '../core/manifest.js';
import { decodePointer } from '../core/pointer.js';
import { gitCatBlobs } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { treeLoader } from '../history/objects.js';
import { flatten, type MetricValues, metricValues, parseDoc } from './metrics.js';
import { lookupParam } from './run.js';
import { DEFAULT_PARAMS_FILE, parseSpec, SPEC_FILE } from './spec.js';
import { type ExpRef, gitx, headCommit, listExpRefs, parseExpMessage } from './exp-refs.js';

/** A params or metrics file larger than this is not read. */
export const MAX_FILE = 16 * 1024 * 1024;

export interface Values {
  /** By file, then flattened key. */
  params: Record<string, MetricValues>;
  metrics: Record<string, MetricValues>;
  /** Files that could not be read or parsed. */
  errors: { path: string; error: string }[];
}

export interface Experiment extends Values {
  name: string;
  ref: string;
  /** The commit it ran from (for a queued one: the commit it was queued at). */
  baseline: string;
  commit: string;
  queued: boolean;
  /** The `-S` arguments it was run with. */
  set: string[];
  /** When its commit was made (ISO 8601). */
  created: string;
  /** When it was made, in milliseconds, when its commit says. */
  at?: number;
}

/** Reads a file of one version: its text, undefined when absent, or an error line. */
type Reader = (path: string) => Promise<string | undefined | { error: string }>;

/** The parameters and metrics dv.yaml (as `read` gives it) declares. */
async function readValues(read: Reader): Promise<Values> {
  const out: Values = { params: {}, metrics: {}, errors: [] };
  const text = async (path: string): Promise<string | undefined> => {
    const t = await read(path);
    if (t !== undefined && typeof t !== 'string') out.errors.push({ path, error: t.error });
    return typeof t === 'string' ? t : undefined;
  };
  const specText = await text(SPEC_FILE);
  let spec: ReturnType<typeof parseSpec> = { stages: [] };
  try {
    if (specText !== undefined) spec = parseSpec(specText);
  } catch (e) {
    out.errors.push({ path: SPEC_FILE, error: (e as Error).message.split('\n')[0] });
  }
  const keys = new Map<string, Set<string>>([[DEFAULT_PARAMS_FILE, new Set()]]);
  for (const st of spec.stages) for (const p of st.params) keys.set(p.file, (keys.get(p.file) ?? new Set()).add(p.key));
  for (const [file, ks] of keys) {
    const t = await text(file);
    if (t === undefined) continue;
    const doc = parseDoc(t, file);
    if (doc === undefined) {
      out.errors.push({ path: file, error: 'is not valid JSON, YAML or TOML' });
      continue;
    }
    const values: MetricValues = file === DEFAULT_PARAMS_FILE && doc && typeof doc === 'object' && !Array.isArray(doc) ? flatten(doc) : {};
    for (const key of [...ks].sort()) {
      const x = lookupParam(doc, key);
      if (x === undefined) continue;
      if (x !== null && typeof x === 'object') for (const [k, y] of Object.entries(flatten(x))) values[`${key}.${k}`] = y;
      else values[key] = flatten({ v: x }).v;
    }
    out.params[file] = values;
  }
  for (const path of new Set(spec.stages.flatMap((st) => st.metrics ?? []))) {
    const t = await text(path);
    if (t === undefined) continue;
    const v = metricValues(t, path);
    if (v) out.metrics[path] = v;
    else out.errors.push({ path, error: 'is not valid JSON, YAML, TOML or CSV' });
  }
  return out;
}

/** The bytes of a file object in the local store, at most MAX_FILE (a manifest walked with a stack, not recursion). */
async function storeFile(s: RepoSession, entry: { id: string; size: number; chunked: boolean }): Promise<Buffer> {
  if (entry.size > MAX_FILE) throw new Error(`is over ${MAX_FILE / 1024 / 1024} MiB`);
  if (!entry.chunked) return s.store.get(entry.id);
  const parts: Buffer[] = [];
  let total = 0;
  const stack: { id: string; manifest: boolean }[] = [{ id: entry.id, manifest: true }];
  while (stack.length > 0) {
    const x = stack.pop()!;
    const bytes = await s.store.get(x.id);
    if (!x.manifest) {
      total += bytes.length;
      if (total > MAX_FILE) throw new Error(`is over ${MAX_FILE / 1024 / 1024} MiB`);
      parts.push(bytes);
      continue;
    }
    const node = decodeManifest(bytes, x.id);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push({ id: node.children[i].id, manifest: node.level > 0 });
  }
  return Buffer.concat(parts);
}

/** Reads files of git commit `commit`: from git, or through the pointer of the tracked path holding them. */
function commitReader(s: RepoSession, commit: string): Reader {
  return async (path) => {
    const chain = [path];
    for (let d = posix.dirname(path); d !== '.'; d = posix.dirname(d)) chain.push(d);
    const specs = [`${commit}:./${path}`, ...chain.map((p) => `${commit}:./${p}.dv`)];
    const blobs = await gitCatBlobs(s.root, specs, MAX_FILE);
    const direct = blobs.get(specs[0]);
    if (direct) return direct.toString('utf8');
    const at = chain.findIndex((p) => blobs.has(`${commit}:./${p}.dv`));
    if (at < 0) return undefined;
    try {
      const ptr = decodePointer(blobs.get(`${commit}:./${chain[at]}.dv`)!.toString('utf8'), `${chain[at]}.dv`);
      const load = treeLoader(s.store);
      let tree = await load(ptr.tree);
      const rest = ptr.kind === 'file' ? [posix.basename(path)] : path.slice(chain[at].length + 1).split('/');
      for (let i = 0; i < rest.length; i++) {
        const e = tree.entries.find((x) => x.name === rest[i]);
        if (!e || e.type === 'link') return undefined;
        if (i === rest.length - 1) return e.type === 'file' ? (await storeFile(s, e)).toString('utf8') : { error: 'is a directory' };
        if (e.type !== 'dir') return undefined;
        tree = await load(e.id);
      }
      return undefined;
    } catch (e) {
      return { error: `${(e as Error).message.split('\n')[0]} (\`dv exp pull\` or \`dv pull\` brings the data)` };
    }
  };
}

/** The workspace's files (a regular file, at most MAX_FILE). */
function workspaceReader(s: RepoSession): Reader {
  return async (path) => {
    const st = await fsp.stat(join(s.root, path)).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isFile()) return { error: 'is not a regular file' };
    if (st.size > MAX_FILE) return { error: `is over ${MAX_FILE / 1024 / 1024} MiB` };
    return fsp.readFile(join(s.root, path), 'utf8');
  };
}

/** Parameters and metrics of a git commit, or of the workspace (`commit` undefined). */
export function valuesAt(s: RepoSession, commit: string | undefined): Promise<Values> {
  return readValues(commit ? commitReader(s, commit) : workspaceReader(s));
}

export interface ListOptions {
  /** Experiments of every baseline (default: those run from HEAD). */
  all?: boolean;
  /** Also the queued ones (default true). */
  queued?: boolean;
}

/** The experiments of this repository with their parameters and metrics, oldest first. */
export async function listExperiments(s: RepoSession, o: ListOptions = {}): Promise<Experiment[]> {
  const head = o.all ? undefined : await headCommit(s.root).catch(() => undefined);
  const refs = (await listExpRefs(s.root)).filter((e) => (e.queued ? o.queued !== false : o.all || e.baseline === head));
  const out: Experiment[] = [];
  for (const e of refs) {
    const info = await commitInfo(s, e);
    if (!info || (e.queued && !o.all && info.parent !== head)) continue;
    const values = await valuesAt(s, e.commit);
    out.push({
      name: e.name,
      ref: e.ref,
      baseline: info.parent,
      commit: e.commit,
      queued: e.queued,
      set: info.set,
      created: info.created,
      ...values,
    });
  }
  const key = (e: Experiment): string => `${String(e.at ?? Date.parse(e.created)).padStart(16, '0')}\0${e.name}`;
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** An experiment commit's parent, time and `-S` values; undefined when git cannot read it. */
async function commitInfo(s: RepoSession, e: ExpRef): Promise<{ parent: string; created: string; set: string[]; at?: number } | undefined> {
  const r = await gitx(s.root, ['log', '-1', '--format=%P%n%cI%n%B', e.commit]);
  if (r.code !== 0) return undefined;
  const [parents, created, ...msg] = r.stdout.split('\n');
  const parent = parents.split(' ')[0];
  if (!/^[0-9a-f]{40,64}$/.test(parent) || (e.baseline && parent !== e.baseline)) return undefined;
  const meta = parseExpMessage(msg.join('\n'));
  return { parent, created, set: meta.set ?? [], ...(meta.at ? { at: meta.at } : {}) };
}

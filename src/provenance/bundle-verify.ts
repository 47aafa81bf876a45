/**
 * Checking an audit bundle (provenance/bundle.ts) with nothing but its bytes: the attestation's
 * signature by a trusted key; every object's BLAKE3 against its name; the chain from the signed
 * statement to the objects (the artifact's snapshot names its tree, each material's snapshot
 * names its tree, every tree and file manifest under them is present); no object the statement
 * does not reach; dv.lock and lineage.json agree with the statement; and, with a data directory,
 * each input file's bytes against the id its tree names.
 *
 * Invariants: nothing of the statement is read before a trusted signature verified; names from
 * the statement and trees are checked before any is joined to the data directory (no `..`, no
 * absolute path, no `.git`/`.dv`), and files there are opened without following links; walks
 * are iterative and bounded by the objects present; failures are capped at MAX_FAILURES lines.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex } from '../core/hash.js';
import { decodeManifest, MANIFEST_MAGIC } from '../core/manifest.js';
import { decodeSnapshot, type Snapshot } from '../core/snapshot.js';
import { badEntryName, decodeTree, type Tree } from '../core/tree.js';
import { parseLock } from '../pipeline/lockfile.js';
import { BUNDLE_FORMAT, type BundleEntries, FIXED } from './bundle.js';
import { compareStage } from './compare.js';
import { checkEnvelope, parseEnvelope } from './dsse.js';
import { fileIdOf } from './file-id.js';
import { parsePublicKeys } from './keys.js';
import { DV_SNAPSHOT, DV_TREE, INTOTO_PAYLOAD_TYPE, parseStatement, type Statement } from './statement.js';
import { checkReceipt, type ReceiptReport, receiptName } from './receipt.js';

const MAX_FAILURES = 1000;

export interface BundleVerifyResult {
  ok: boolean;
  artifact?: string;
  snapshot?: string;
  /** Key ids whose signature verified. */
  signedBy: string[];
  /** file: the keys of --trusted-keys; bundle: the bundle's own keys.pub (compare their ids with the team's published ones). */
  keysFrom: 'file' | 'bundle';
  /** The code commits the statement names (check them in the team's git repository). */
  codeCommits: string[];
  /** artifactFiles: the artifact's files found under --data, checked against their sha256 subjects. */
  checked: { objects: number; snapshots: number; trees: number; stages: number; dataFiles: number; artifactFiles: number };
  /** With --data: the artifact's files (sha256 subjects) not found there, so not checked (not a failure: it may hold only inputs). */
  artifactNotFound?: string[];
  /** The bundle's rebuild receipts of the artifact, each verified (a mismatch it records is reported, not a failure). */
  receipts: ReceiptReport[];
  failures: string[];
}

class Failures {
  readonly lines: string[] = [];
  private more = 0;
  add(line: string): void {
    if (this.lines.length < MAX_FAILURES) this.lines.push(line);
    else this.more++;
  }
  done(): string[] {
    return this.more ? [...this.lines, `${this.more} more problems`] : this.lines;
  }
}

const short = (id: string): string => id.slice(0, 12);

/** A path from the statement that may be joined under a data directory, or why not. */
function badRelPath(p: string): string | undefined {
  if (p === '' || p.startsWith('/') || p.includes('\\')) return 'not a relative path';
  for (const part of p.split('/')) {
    const why = badEntryName(part);
    if (why) return why;
  }
  return undefined;
}

export async function verifyBundle(
  entries: BundleEntries,
  opts: { trusted?: Map<string, KeyObject>; dataDir?: string },
): Promise<BundleVerifyResult> {
  const f = new Failures();
  for (const p of entries.problems) f.add(p);
  for (const n of FIXED) if (!entries.fixed.has(n)) f.add(`${n} is missing from the bundle`);
  const text = (n: (typeof FIXED)[number]): string => entries.fixed.get(n)?.toString('utf8') ?? '';
  const result: BundleVerifyResult = {
    ok: false,
    signedBy: [],
    keysFrom: opts.trusted ? 'file' : 'bundle',
    codeCommits: [],
    checked: { objects: 0, snapshots: 0, trees: 0, stages: 0, dataFiles: 0, artifactFiles: 0 },
    receipts: [],
    failures: [],
  };
  let bundleKeys = new Map<string, KeyObject>();
  try {
    bundleKeys = parsePublicKeys(text('keys.pub'), 'keys.pub');
  } catch (e) {
    f.add((e as Error).message);
  }
  const manifest = parseManifest(text('manifest.json'), f);
  if (manifest && [...bundleKeys.keys()].sort().join(',') !== [...manifest.keys].sort().join(','))
    f.add(
      `manifest.json names keys ${manifest.keys.join(', ') || '(none)'}, but keys.pub holds ${[...bundleKeys.keys()].join(', ') || '(none)'}`,
    );
  // Every object is named by the BLAKE3 of its bytes: one changed byte is a changed name.
  const corrupt = new Set<string>();
  for (const [id, bytes] of entries.objects) {
    if (blake3Hex(bytes) !== id) {
      corrupt.add(id);
      f.add(`object ${short(id)}: its bytes do not hash to its name (the object was changed)`);
    }
  }
  result.checked.objects = entries.objects.size;
  const statement = signedStatement(text('attestation.json'), opts.trusted ?? bundleKeys, f, result);
  if (statement) {
    const b = statement.predicate.buildDefinition;
    result.artifact = b.externalParameters.artifact;
    result.snapshot = b.internalParameters.snapshot;
    result.codeCommits = [...new Set(b.resolvedDependencies.map((d) => d.digest?.gitCommit).filter((c): c is string => !!c))];
    if (manifest) compareManifest(manifest, statement, result.codeCommits, f);
    const chain = new Chain(entries.objects, corrupt, f);
    checkChain(statement, chain, result);
    for (const id of entries.objects.keys())
      if (!chain.reached.has(id)) f.add(`object ${short(id)} is not named by the attestation (an extra file in the bundle)`);
    checkRecords(statement, text('dv.lock'), text('lineage.json'), f);
    result.receipts = checkReceipts(entries.receipts, opts.trusted ?? bundleKeys, statement, f);
    result.checked.stages = b.internalParameters.stages.length;
    if (opts.dataDir !== undefined) {
      result.checked.dataFiles = await checkData(statement, chain, opts.dataDir, f);
      const subjects = await checkSubjects(statement, opts.dataDir, f);
      result.checked.artifactFiles = subjects.checked;
      result.artifactNotFound = subjects.notFound;
    }
  }
  result.failures = f.done();
  result.ok = result.failures.length === 0;
  return result;
}

/** Each receipt: named by its sha256, signed by a trusted key, about the attested snapshot. */
function checkReceipts(receipts: Map<string, Buffer>, trusted: Map<string, KeyObject>, st: Statement, f: Failures): ReceiptReport[] {
  const about = {
    snapshot: st.predicate.buildDefinition.internalParameters.snapshot,
    path: st.predicate.buildDefinition.externalParameters.artifact,
  };
  const out: ReceiptReport[] = [];
  for (const [name, bytes] of receipts) {
    const what = `receipts/${name}`;
    if (receiptName(bytes) !== name) {
      f.add(`${what}: its bytes do not hash to its name (the receipt was changed)`);
      continue;
    }
    const c = checkReceipt(bytes.toString('utf8'), what, trusted, about);
    if (c.ok) out.push(c.report);
    else for (const p of c.problems) f.add(p);
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

interface Manifest {
  artifact: string;
  snapshot: string;
  tree: string;
  codeCommits: string[];
  keys: string[];
}

function parseManifest(text: string, f: Failures): Manifest | undefined {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch {
    if (text) f.add('manifest.json is not JSON');
    return undefined;
  }
  const strs = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!m || m.format !== BUNDLE_FORMAT || typeof m.artifact !== 'string' || typeof m.snapshot !== 'string' || typeof m.tree !== 'string') {
    f.add(`manifest.json is not a ${BUNDLE_FORMAT} manifest`);
    return undefined;
  }
  if (!strs(m.codeCommits) || !strs(m.keys)) {
    f.add('manifest.json: codeCommits or keys is not a list of strings');
    return undefined;
  }
  return m as Manifest;
}

/** The statement, only when a trusted key's signature over it verified; failures otherwise. */
function signedStatement(text: string, trusted: Map<string, KeyObject>, f: Failures, r: BundleVerifyResult): Statement | undefined {
  if (!text) return undefined;
  try {
    const env = parseEnvelope(text, 'attestation.json');
    if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
      f.add(`attestation.json: payloadType is ${JSON.stringify(env.payloadType)}, not ${INTOTO_PAYLOAD_TYPE}`);
      return undefined;
    }
    const check = checkEnvelope(env, trusted);
    r.signedBy = check.trustedBy;
    if (check.trustedBy.length === 0) {
      for (const p of check.problems) f.add(`attestation.json: ${p}`);
      return undefined;
    }
    return parseStatement(env.payloadBytes, 'attestation.json');
  } catch (e) {
    f.add((e as Error).message);
    return undefined;
  }
}

function compareManifest(m: Manifest, st: Statement, commits: string[], f: Failures): void {
  const b = st.predicate.buildDefinition;
  if (m.artifact !== b.externalParameters.artifact)
    f.add(`manifest.json names artifact ${m.artifact}, the attestation ${b.externalParameters.artifact}`);
  if (m.snapshot !== b.internalParameters.snapshot)
    f.add(`manifest.json names snapshot ${short(m.snapshot)}, the attestation ${short(b.internalParameters.snapshot)}`);
  if (m.tree !== b.internalParameters.tree)
    f.add(`manifest.json names tree ${short(m.tree)}, the attestation ${short(b.internalParameters.tree)}`);
  if ([...m.codeCommits].sort().join(',') !== [...commits].sort().join(','))
    f.add(`manifest.json names code commits ${m.codeCommits.join(', ')}, the attestation ${commits.join(', ')}`);
}

/** The bundle's objects as a store: what was reached, decoded once. */
class Chain {
  readonly reached = new Set<string>();
  private readonly trees = new Map<string, Tree>();
  constructor(
    readonly objects: Map<string, Buffer>,
    private readonly corrupt: Set<string>,
    readonly f: Failures,
  ) {}

  private bytes(id: string, what: string): Buffer | undefined {
    this.reached.add(id);
    const b = this.objects.get(id);
    if (!b) this.f.add(`${what} ${short(id)} is not in the bundle`);
    return b && !this.corrupt.has(id) ? b : undefined;
  }

  snapshot(id: string, label: string): Snapshot | undefined {
    const b = this.bytes(id, `snapshot of ${label}:`);
    if (!b) return undefined;
    try {
      return decodeSnapshot(b, id);
    } catch (e) {
      this.f.add(`snapshot ${short(id)} of ${label}: ${(e as Error).message}`);
      return undefined;
    }
  }

  tree(id: string, label: string): Tree | undefined {
    const had = this.trees.get(id);
    if (had) return had;
    const b = this.bytes(id, `tree of ${label}:`);
    if (!b) return undefined;
    try {
      const t = decodeTree(b, id);
      this.trees.set(id, t);
      return t;
    } catch (e) {
      this.f.add(`tree ${short(id)} of ${label}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Every tree and file manifest under `root` (breadth first; each object once); the files with their paths. */
  closure(root: string, label: string): { path: string; id: string; size: number }[] {
    const files: { path: string; id: string; size: number }[] = [];
    const queue: { id: string; path: string }[] = [{ id: root, path: '' }];
    const seen = new Set<string>();
    for (let next = 0; next < queue.length; next++) {
      const { id, path } = queue[next];
      const t = this.tree(id, label);
      for (const e of t?.entries ?? []) {
        const at = path ? `${path}/${e.name}` : e.name;
        if (e.type === 'dir' && !seen.has(e.id)) {
          seen.add(e.id);
          queue.push({ id: e.id, path: at });
        } else if (e.type === 'file') {
          files.push({ path: at, id: e.id, size: e.size });
          if (e.chunked) this.manifest(e.id, `${label}/${at}`);
        }
      }
    }
    return files;
  }

  /** A chunked file's manifest nodes down to the chunk lists (chunks themselves are data, not in a bundle). */
  private manifest(root: string, label: string): void {
    const queue = [root];
    for (let next = 0; next < queue.length; next++) {
      const b = this.bytes(queue[next], `file manifest of ${label}:`);
      if (!b) continue;
      try {
        if (!b.subarray(0, MANIFEST_MAGIC.length).equals(MANIFEST_MAGIC)) throw new Error('not a file manifest');
        const m = decodeManifest(b, queue[next]);
        if (m.level > 0) for (const c of m.children) if (!this.reached.has(c.id)) queue.push(c.id);
      } catch (e) {
        this.f.add(`file manifest ${short(queue[next])} of ${label}: ${(e as Error).message}`);
      }
    }
  }
}

/** The artifact's snapshot and tree, and each material's, down to every tree and manifest. */
function checkChain(st: Statement, chain: Chain, r: BundleVerifyResult): void {
  const b = st.predicate.buildDefinition;
  const { snapshot, tree } = b.internalParameters;
  const artifact = b.externalParameters.artifact;
  const snapshots = new Set<string>();
  const trees = new Set<string>();
  const expect = (snapId: string, treeId: string | undefined, label: string): void => {
    snapshots.add(snapId);
    const snap = chain.snapshot(snapId, label);
    if (!snap || treeId === undefined) return;
    if (snap.path === label && snap.tree !== treeId)
      chain.f.add(`snapshot ${short(snapId)} of ${label} names tree ${short(snap.tree)}, the attestation ${short(treeId)}`);
  };
  expect(snapshot, tree, artifact);
  trees.add(tree);
  chain.closure(tree, artifact);
  for (const d of b.resolvedDependencies) {
    const name = d.name ?? '?';
    const snap = d.digest?.[DV_SNAPSHOT];
    const t = d.digest?.[DV_TREE];
    if (snap) expect(snap, t, name);
    // A plain file's one-entry tree is not stored by dv: its content is the code commit's.
    if (t && (d.annotations?.kind !== 'file' || chain.objects.has(t))) {
      trees.add(t);
      chain.closure(t, name);
    }
  }
  for (const stage of b.internalParameters.stages)
    for (const d of stage.deps)
      if (d.snapshot && !snapshots.has(d.snapshot))
        chain.f.add(`stage ${stage.name} reads snapshot ${short(d.snapshot)} of ${d.path}, which the attestation's materials do not name`);
  r.checked.snapshots = snapshots.size;
  r.checked.trees = trees.size;
}

/** dv.lock and lineage.json are context; they must still agree with what was signed. */
function checkRecords(st: Statement, lockText: string, lineageText: string, f: Failures): void {
  const stages = st.predicate.buildDefinition.internalParameters.stages;
  if (lockText) {
    try {
      const lock = parseLock(lockText, 'dv.lock in the bundle');
      for (const s of stages) for (const line of compareStage(s, lock.stages[s.name])) f.add(`dv.lock: ${line}`);
    } catch (e) {
      f.add((e as Error).message);
    }
  }
  if (lineageText) {
    let lin: any;
    try {
      lin = JSON.parse(lineageText);
    } catch {
      f.add('lineage.json is not JSON');
      return;
    }
    const snapshot = st.predicate.buildDefinition.internalParameters.snapshot;
    if (lin?.target?.snapshot !== snapshot)
      f.add(`lineage.json is the lineage of snapshot ${String(lin?.target?.snapshot).slice(0, 12)}, not ${short(snapshot)}`);
    const names = (xs: unknown): string => (Array.isArray(xs) ? xs.map((x) => `${x?.name}@${x?.key}`).join(',') : '');
    if (names(lin?.stages) !== names(stages)) f.add('lineage.json lists other stage runs than the attestation');
  }
}

/** Each raw input file under `dir` against the id its tree names. Returns how many were checked. */
async function checkData(st: Statement, chain: Chain, dir: string, f: Failures): Promise<number> {
  let n = 0;
  for (const d of st.predicate.buildDefinition.resolvedDependencies) {
    const t = d.digest?.[DV_TREE];
    if (d.annotations?.kind !== 'raw' || !t || d.name === undefined) continue;
    const why = badRelPath(d.name);
    if (why) {
      f.add(`material ${JSON.stringify(d.name)}: ${why}`);
      continue;
    }
    const snapId = d.digest?.[DV_SNAPSHOT];
    const snap = snapId ? chain.snapshot(snapId, d.name) : undefined;
    const files = chain.closure(t, d.name);
    // A tracked file is a tree of that one entry: the file is the material's path itself.
    const single = snap?.kind === 'file' && snap.path === d.name && files.length === 1;
    for (const file of files) {
      const rel = single ? d.name : `${d.name}/${file.path}`;
      const at = join(dir, ...rel.split('/'));
      const got = await fileIdOf(at);
      n++;
      if ('problem' in got) f.add(`data ${rel}: ${got.problem} (${at}; --data names the directory that holds ${d.name})`);
      else if (got.id !== file.id)
        f.add(`data ${rel}: its bytes differ from the attested input (id ${short(file.id)}, found ${short(got.id)})`);
    }
  }
  return n;
}

/** The artifact's files found under `dir` against the sha256 subjects (absent ones are not required). */
async function checkSubjects(st: Statement, dir: string, f: Failures): Promise<{ checked: number; notFound: string[] }> {
  let checked = 0;
  const notFound: string[] = [];
  for (const sub of st.subject) {
    const sha = sub.digest?.sha256;
    if (!sha || sub.name === undefined || badRelPath(sub.name)) continue;
    const at = join(dir, ...sub.name.split('/'));
    const got = await sha256Of(at);
    if (got === undefined) {
      notFound.push(sub.name);
      continue;
    }
    checked++;
    if (got !== sha) f.add(`artifact ${sub.name}: its sha256 ${got.slice(0, 12)} is not the attested ${sha.slice(0, 12)}`);
  }
  return { checked, notFound };
}

/** SHA-256 of a regular file opened without following a link; undefined when there is none. */
async function sha256Of(path: string): Promise<string | undefined> {
  const fh = await fsp.open(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0)).catch(() => undefined);
  if (!fh) return undefined;
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    const h = createHash('sha256');
    const buf = Buffer.alloc(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}

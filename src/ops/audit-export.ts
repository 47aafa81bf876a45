/**
 * `dv audit export <artifact> -o bundle.tar [--attestation FILE]`: everything an auditor needs to
 * check an artifact's provenance on a machine with no repository and no network, in one tar
 * (provenance/bundle.ts): the signed attestation (the one given, or one made now with
 * `attest.key`), the lineage, dv.lock, the signers' public keys, and the snapshot, tree and file
 * manifest objects that name every input and output file's hash. No data bytes: an auditor with
 * a copy of the data checks it with `dv audit verify --data DIR`.
 *
 * Invariants: objects come from the local store (verified as read); the walk over trees and
 * manifests is iterative and bounded (MAX_ENTRIES objects); the tar is written to a temp file
 * beside the output and renamed, so a failed export leaves no half bundle.
 */
import { promises as fsp } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { decodeManifest } from '../core/manifest.js';
import { kindOf } from '../history/objects.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { tempPathFor } from '../store/atomic.js';
import { encodeLock } from '../pipeline/lockfile.js';
import { loadPipeline } from '../pipeline/state.js';
import { BUNDLE_FORMAT, type BundleManifest, type FixedName, MAX_ENTRIES, writeBundle } from '../provenance/bundle.js';
import { compareStage } from '../provenance/compare.js';
import { checkEnvelope, type Envelope, MAX_ENVELOPE_BYTES, parseEnvelope, signEnvelope } from '../provenance/dsse.js';
import { DV_SNAPSHOT, DV_TREE, INTOTO_PAYLOAD_TYPE, parseStatement, type Statement } from '../provenance/statement.js';
import { ATTEST_KEY, configuredSigner, trustedKeys } from '../provenance/trust.js';
import { checkReceipt, receiptName } from '../provenance/receipt.js';
import { loadReceipts } from '../provenance/evidence-store.js';
import { buildStatement } from './attest.js';
import { lineage } from './lineage.js';

export interface AuditExportOptions {
  /** The artifact: a stage out or tracked path (or a file inside one), or a snapshot id. */
  target: string;
  /** The tar to write. */
  output: string;
  /** An attestation `dv attest` wrote; absent: one is made now with `attest.key`. */
  attestation?: string;
  cwd?: string;
}

export interface AuditExportResult {
  artifact: string;
  snapshot: string;
  file: string;
  objects: number;
  /** Rebuild receipts of the artifact included (those `attest.key` or a trusted key signed). */
  receipts: number;
  bytes: number;
  keys: string[];
  codeCommits: string[];
  attestation: 'given' | 'made';
}

const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();

export async function auditExport(s: RepoSession, opts: AuditExportOptions): Promise<AuditExportResult> {
  const cwd = opts.cwd ?? s.root;
  const { envelope, statement, keys } =
    opts.attestation !== undefined ? await givenAttestation(s, opts.attestation) : await madeAttestation(s, opts.target, cwd);
  const b = statement.predicate.buildDefinition;
  const { snapshot, tree } = b.internalParameters;
  if (opts.attestation !== undefined) {
    const mine = await lineage(s, { target: opts.target, cwd });
    if (mine.target.snapshot !== snapshot)
      throw new DvError(
        'USAGE',
        `${opts.attestation} attests ${b.externalParameters.artifact} snapshot ${snapshot.slice(0, 12)}, not ${opts.target}: give its attestation`,
      );
  }
  // The bundle's dv.lock must record the attested runs, or the bundle could never verify.
  const lock = (await loadPipeline(s.root)).lock;
  const stale = b.internalParameters.stages.flatMap((st) => compareStage(st, lock.stages[st.name]));
  if (stale.length > 0)
    throw new DvError(
      'USAGE',
      `dv.lock does not record the runs that made ${b.externalParameters.artifact} (${stale[0]}): ` +
        'check out the commit that recorded it (`git checkout REV && dv checkout`), then export',
    );
  const objects = await collectObjects(s, statement);
  const receipts = await collectReceipts(s, snapshot, b.externalParameters.artifact, keys);
  const codeCommits = [...new Set(b.resolvedDependencies.map((d) => d.digest?.gitCommit).filter((c): c is string => !!c))];
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    artifact: b.externalParameters.artifact,
    snapshot,
    tree,
    createdAt: new Date().toISOString(),
    dv: VERSION,
    codeCommits,
    keys: [...keys.keys()],
    objects: objects.size,
  };
  const lin = await lineage(s, { target: snapshot });
  const fixed = new Map<FixedName, Buffer>([
    ['manifest.json', Buffer.from(JSON.stringify(manifest, null, 2) + '\n')],
    ['attestation.json', Buffer.from(JSON.stringify(envelope, null, 2) + '\n')],
    ['lineage.json', Buffer.from(JSON.stringify(lin, null, 2) + '\n')],
    ['dv.lock', Buffer.from(encodeLock(lock))],
    ['keys.pub', Buffer.from([...keys.values()].map(pem).join(''))],
  ]);
  const tmp = tempPathFor(opts.output);
  try {
    await writeBundle(tmp, fixed, objects, receipts);
    await fsp.rename(tmp, opts.output);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  const bytes = (await fsp.stat(opts.output)).size;
  return {
    artifact: manifest.artifact,
    snapshot,
    file: opts.output,
    objects: objects.size,
    receipts: receipts.size,
    bytes,
    keys: manifest.keys,
    codeCommits,
    attestation: opts.attestation !== undefined ? 'given' : 'made',
  };
}

interface Attestation {
  envelope: Envelope;
  statement: Statement;
  /** The public keys whose signature on the envelope verified, by key id. */
  keys: Map<string, KeyObject>;
}

async function madeAttestation(s: RepoSession, target: string, cwd: string): Promise<Attestation> {
  const signer = await configuredSigner(s.config, s.root);
  if (!signer)
    throw new DvError(
      'USAGE',
      `no signing key: set one with \`dv config --local ${ATTEST_KEY} PATH\` (\`dv key gen PATH\` makes one), or give --attestation FILE`,
    );
  const statement = await buildStatement(s, target, cwd);
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), signer);
  return { envelope, statement, keys: new Map([[signer.keyid, signer.publicKey]]) };
}

/** A given attestation, signed by this user's key or a trusted key (whose public keys go into the bundle). */
async function givenAttestation(s: RepoSession, file: string): Promise<Attestation> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new DvError('USAGE', `--attestation ${file}: no such file`, { file });
  if (st.size > MAX_ENVELOPE_BYTES)
    throw new DvError('ATTESTATION_INVALID', `--attestation ${file}: larger than ${MAX_ENVELOPE_BYTES} bytes`);
  const text = await fsp.readFile(file, 'utf8');
  const env = parseEnvelope(text, file);
  const candidates = new Map<string, KeyObject>();
  const signer = await configuredSigner(s.config, s.root);
  if (signer) candidates.set(signer.keyid, signer.publicKey);
  for (const [id, k] of (await trustedKeys(s.config, s.root))?.keys ?? []) candidates.set(id, k);
  const { trustedBy } = checkEnvelope(env, candidates);
  if (trustedBy.length === 0)
    throw new DvError(
      'ATTESTATION_INVALID',
      `${file} is not signed by ${ATTEST_KEY} or a key of attest.trustedKeys: the bundle would carry no key that verifies it`,
      { file },
    );
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE)
    throw new DvError('ATTESTATION_INVALID', `${file}: payloadType is not ${INTOTO_PAYLOAD_TYPE}`);
  const statement = parseStatement(env.payloadBytes, file);
  const { payloadBytes: _p, ...envelope } = env;
  return { envelope, statement, keys: new Map(trustedBy.map((id) => [id, candidates.get(id)!])) };
}

/**
 * The kept rebuild receipts of the artifact's snapshot that this user's key or a trusted key
 * signed, by file name; their signers' keys join `keys` (keys.pub), so the bundle verifies them.
 */
async function collectReceipts(s: RepoSession, snapshot: string, path: string, keys: Map<string, KeyObject>): Promise<Map<string, Buffer>> {
  const candidates = new Map<string, KeyObject>();
  const signer = await configuredSigner(s.config, s.root);
  if (signer) candidates.set(signer.keyid, signer.publicKey);
  for (const [id, k] of (await trustedKeys(s.config, s.root))?.keys ?? []) candidates.set(id, k);
  const out = new Map<string, Buffer>();
  for (const r of await loadReceipts(s, snapshot)) {
    const c = checkReceipt(r.bytes.toString('utf8'), r.file, candidates, { snapshot, path });
    if (!c.ok) continue;
    out.set(receiptName(r.bytes), r.bytes);
    for (const id of c.signedBy) keys.set(id, candidates.get(id)!);
  }
  return out;
}

/** The snapshots, trees and manifests the statement names, from the store: breadth first, bounded. */
async function collectObjects(s: RepoSession, st: Statement): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  const b = st.predicate.buildDefinition;
  const snapshots = new Set<string>([b.internalParameters.snapshot]);
  // Trees that must be here (the artifact's, data and outs) and those that may be absent (a plain file's one-entry tree).
  const trees = new Map<string, boolean>([[b.internalParameters.tree, true]]);
  for (const d of b.resolvedDependencies) {
    const snap = d.digest?.[DV_SNAPSHOT];
    const tree = d.digest?.[DV_TREE];
    if (snap) snapshots.add(snap);
    if (tree) trees.set(tree, (trees.get(tree) ?? false) || d.annotations?.kind !== 'file');
  }
  for (const id of snapshots) objects.set(id, await s.store.get(id));
  const queue: string[] = [];
  for (const [id, required] of trees) if (required || (await s.store.has(id))) queue.push(id);
  const seen = new Set(queue);
  for (let next = 0; next < queue.length; next++) {
    const id = queue[next];
    const bytes = await s.store.get(id);
    objects.set(id, bytes);
    if (objects.size > MAX_ENTRIES)
      throw new DvError('USAGE', `the provenance names more than ${MAX_ENTRIES} objects: export a part of it`);
    const add = (child: string): void => {
      if (seen.has(child)) return;
      seen.add(child);
      queue.push(child);
    };
    if (kindOf(bytes) === 'manifest') {
      const m = decodeManifest(bytes, id);
      if (m.level > 0) for (const c of m.children) add(c.id);
      continue;
    }
    for (const e of decodeTree(bytes, id).entries) {
      if (e.type === 'dir' || (e.type === 'file' && e.chunked)) add(e.id);
    }
  }
  return objects;
}

/**
 * The attestation dv writes: an in-toto Statement v1 (github.com/in-toto/attestation, spec/v1)
 * whose predicate follows SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance): subjects are the
 * artifact's files (sha256, what any tool can recompute) and its dv tree and snapshot; the build
 * definition carries the stage's command and params (external), its run key, environment and
 * every stage back to raw data (internal), and as resolved dependencies every input snapshot,
 * file and the code commit. Pure: building and strict parsing, no I/O.
 *
 * Invariant: `parseStatement` accepts only what `verify` then reads, with every field typed, so
 * verification never walks an unexpected shape (the payload is signed, but the signer may err).
 */
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import type { DepRecord, ParamValues, RunEnv } from '../pipeline/run.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const DV_BUILD_TYPE = 'urn:dv:build-type:pipeline-stage:v1';
export const DV_BUILDER_ID = 'urn:dv:builder:repro';
/** Digest names for dv's own ids (BLAKE3 Merkle ids), in the style of in-toto's gitCommit/gitTree. */
export const DV_TREE = 'dvTree';
export const DV_SNAPSHOT = 'dvSnapshot';
/** The subject naming the artifact as dv stores it (beside the per-file sha256 subjects). */
export const SNAPSHOT_SUBJECT_PREFIX = 'dv-snapshot:';
const MAX_ENTRIES = 1_000_000;

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

/** What a run of a stage recorded (dv.lock, a snapshot's lineage): attestations and lineage diffs are made of these. */
export interface StageRecord {
  name: string;
  cmd: string;
  wdir?: string;
  key: string;
  params: ParamValues;
  env: RunEnv;
  deps: DepRecord[];
  outs: { path: string; id: string }[];
}

/** A stage of a lineage (ops/lineage.ts) as a StageRecord: its inputs are the deps, its outputs the outs. */
export function stageRecord(st: Omit<StageRecord, 'deps' | 'outs'> & { inputs: DepRecord[]; outputs: StageRecord['outs'] }): StageRecord {
  const { name, cmd, wdir, key, params, env, inputs, outputs } = st;
  return { name, cmd, ...(wdir ? { wdir } : {}), key, params, env, deps: inputs, outs: outputs };
}

/** One stage run in the artifact's history, as recorded in its out's snapshot. */
export interface AttestedStage extends StageRecord {
  ranAt: string;
}

export interface DvPredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: { artifact: string; stage?: string; cmd?: string; wdir?: string; params?: ParamValues };
    internalParameters: { snapshot: string; tree: string; runKey?: string; env?: RunEnv; stages: AttestedStage[] };
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { invocationId?: string; finishedOn?: string };
  };
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: DvPredicate;
}

const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses a signed payload into a Statement dv can verify; ATTESTATION_INVALID names the field. */
export function parseStatement(payload: Buffer, what: string): Statement {
  const bad = (why: string): DvError => new DvError('ATTESTATION_INVALID', `${what}: the statement ${why}`, { file: what });
  let o: any;
  try {
    o = JSON.parse(payload.toString('utf8'));
  } catch {
    throw bad('is not JSON');
  }
  if (!obj(o) || o._type !== STATEMENT_TYPE) throw bad(`is not an in-toto Statement v1 (_type ${JSON.stringify(o?._type)})`);
  if (o.predicateType !== SLSA_PROVENANCE_V1) throw bad(`has predicateType ${JSON.stringify(o.predicateType)}, not ${SLSA_PROVENANCE_V1}`);
  if (!Array.isArray(o.subject) || o.subject.length === 0 || o.subject.length > MAX_ENTRIES) throw bad('has no subject list');
  for (const s of o.subject)
    if (!obj(s) || typeof s.name !== 'string' || !obj(s.digest) || !Object.values(s.digest).every((d) => typeof d === 'string'))
      throw bad('has a subject without a name and digests');
  const p: any = (o as any).predicate;
  const b = p?.buildDefinition;
  if (!obj(p) || !obj(b) || b.buildType !== DV_BUILD_TYPE) throw bad(`is not dv provenance (buildType ${JSON.stringify(b?.buildType)})`);
  const ext = b.externalParameters;
  const int = b.internalParameters;
  if (!obj(ext) || typeof ext.artifact !== 'string') throw bad('lacks externalParameters.artifact');
  if (!obj(int) || !isId(int.snapshot) || !isId(int.tree) || !Array.isArray(int.stages) || int.stages.length > MAX_ENTRIES)
    throw bad('lacks internalParameters (snapshot, tree, stages)');
  for (const st of int.stages) {
    const ok =
      obj(st) &&
      typeof st.name === 'string' &&
      typeof st.cmd === 'string' &&
      (st.wdir === undefined || typeof st.wdir === 'string') &&
      isId(st.key) &&
      obj(st.params) &&
      obj(st.env) &&
      typeof st.ranAt === 'string' &&
      Array.isArray(st.deps) &&
      st.deps.every((d: any) => obj(d) && typeof d.path === 'string' && isId(d.id) && (d.snapshot === undefined || isId(d.snapshot))) &&
      Array.isArray(st.outs) &&
      st.outs.every((d: any) => obj(d) && typeof d.path === 'string' && isId(d.id));
    if (!ok) throw bad('has a malformed stage in internalParameters.stages');
  }
  if (!Array.isArray(b.resolvedDependencies) || b.resolvedDependencies.length > MAX_ENTRIES) throw bad('lacks resolvedDependencies');
  for (const r of b.resolvedDependencies)
    if (!obj(r) || (r.name !== undefined && typeof r.name !== 'string') || (r.digest !== undefined && !obj(r.digest)))
      throw bad('has a malformed resolved dependency');
  return o as unknown as Statement;
}

/**
 * Rebuild receipts (`dv repro --verify --rebuild`): a signed record that a stage was rerun from
 * its recorded inputs in a clean workspace and whether each out came out bit-identical. Like an
 * attestation it is an in-toto Statement v1 in a DSSE envelope (payloadType in-toto), so the same
 * tools read it; its predicate is dv's own (REBUILD_PREDICATE):
 *
 *   subject:   one `dv-snapshot:<path>` per out of the stage, digests dvTree + dvSnapshot (what
 *              dv.lock recorded: the artifact the rebuild is about)
 *   predicate: reproduced  the stage, its run key and run record id, when the recorded run ran
 *              rebuild      when, by which key, the environment of the rebuild, its exit code
 *              outs         per out: recorded tree, rebuilt tree (null: not written), matched
 *              matched      every out matched and the command succeeded
 *
 * Pure: building, strict parsing, the check against trusted keys that `dv attest verify` and
 * `dv audit verify` share, and the report; signing is rebuild.ts, storage evidence-store.ts.
 * Invariants: `parseReceipt` accepts only the typed shape `reportReceipt` reads, so a signed but
 * malformed receipt is ATTESTATION_INVALID naming the field, never a crash; nothing of a payload
 * is read before a trusted key's signature over it verified.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import type { RunEnv } from '../pipeline/run.js';
import { checkEnvelope, parseEnvelope } from './dsse.js';
import {
  DV_SNAPSHOT,
  DV_TREE,
  INTOTO_PAYLOAD_TYPE,
  type ResourceDescriptor,
  SNAPSHOT_SUBJECT_PREFIX,
  STATEMENT_TYPE,
} from './statement.js';

export const REBUILD_PREDICATE = 'https://dv.dev/rebuild-receipt/v1';
const MAX_OUTS = 10_000;

export interface ReceiptOut {
  path: string;
  /** The tree and snapshot dv.lock recorded for the out. */
  tree: string;
  snapshot: string;
  /** The tree the rebuild wrote; null when it wrote none. */
  rebuilt: string | null;
  matched: boolean;
}

export interface RebuildPredicate {
  reproduced: { stage: string; runKey: string; run: string; ranAt: string; cmd: string };
  rebuild: { at: string; signer: string; dv: string; env: RunEnv; exitCode: number; seconds: number };
  outs: ReceiptOut[];
  matched: boolean;
}

export interface ReceiptStatement {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: typeof REBUILD_PREDICATE;
  predicate: RebuildPredicate;
}

/** The receipt statement of one rebuilt stage (unsigned). */
export function buildReceipt(p: RebuildPredicate): ReceiptStatement {
  return {
    _type: STATEMENT_TYPE,
    subject: p.outs.map((o) => ({ name: SNAPSHOT_SUBJECT_PREFIX + o.path, digest: { [DV_TREE]: o.tree, [DV_SNAPSHOT]: o.snapshot } })),
    predicateType: REBUILD_PREDICATE,
    predicate: { ...p, matched: p.rebuild.exitCode === 0 && p.outs.every((o) => o.matched) },
  };
}

const obj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === 'string';

/** The predicateType of a statement payload, or undefined when it is not a JSON object (no other check). */
export function predicateTypeOf(payload: Buffer): string | undefined {
  try {
    const o = JSON.parse(payload.toString('utf8'));
    return obj(o) && str(o.predicateType) ? o.predicateType : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a signed receipt payload; ATTESTATION_INVALID names what is malformed. */
export function parseReceipt(payload: Buffer, what: string): ReceiptStatement {
  const bad = (why: string): DvError => new DvError('ATTESTATION_INVALID', `${what}: the rebuild receipt ${why}`, { file: what });
  let o: any;
  try {
    o = JSON.parse(payload.toString('utf8'));
  } catch {
    throw bad('is not JSON');
  }
  if (!obj(o) || o._type !== STATEMENT_TYPE) throw bad('is not an in-toto Statement v1');
  if (o.predicateType !== REBUILD_PREDICATE) throw bad(`has predicateType ${JSON.stringify(o.predicateType)}`);
  const p = o.predicate;
  if (!obj(p) || !obj(p.reproduced) || !obj(p.rebuild) || !Array.isArray(p.outs) || typeof p.matched !== 'boolean')
    throw bad('lacks reproduced, rebuild, outs or matched');
  const r = p.reproduced;
  if (!str(r.stage) || !isId(r.runKey) || !isId(r.run) || !str(r.ranAt) || !str(r.cmd)) throw bad('has a malformed reproduced run');
  const b = p.rebuild;
  if (!str(b.at) || !str(b.signer) || !str(b.dv) || !obj(b.env) || !Number.isInteger(b.exitCode) || typeof b.seconds !== 'number')
    throw bad('has a malformed rebuild');
  if (p.outs.length === 0 || p.outs.length > MAX_OUTS) throw bad('has no outs');
  for (const x of p.outs)
    if (
      !obj(x) ||
      !str(x.path) ||
      !isId(x.tree) ||
      !isId(x.snapshot) ||
      !(x.rebuilt === null || isId(x.rebuilt)) ||
      typeof x.matched !== 'boolean'
    )
      throw bad('has a malformed out');
  if (!Array.isArray(o.subject) || o.subject.length !== p.outs.length) throw bad('subjects do not list its outs');
  for (let i = 0; i < p.outs.length; i++) {
    const s = o.subject[i];
    const x = p.outs[i];
    if (
      !obj(s) ||
      s.name !== SNAPSHOT_SUBJECT_PREFIX + x.path ||
      !obj(s.digest) ||
      s.digest[DV_TREE] !== x.tree ||
      s.digest[DV_SNAPSHOT] !== x.snapshot
    )
      throw bad(`subject ${i + 1} is not its out ${x.path}`);
  }
  // `matched` is derived: a receipt claiming a match its outs deny is malformed, not a match.
  if (p.matched !== (b.exitCode === 0 && p.outs.every((x: ReceiptOut) => x.matched)))
    throw bad('says matched, but its outs or exit code do not');
  return o as ReceiptStatement;
}

/** What a verified receipt says, for `attest verify` and `audit verify`. */
export interface ReceiptReport {
  stage: string;
  artifacts: string[];
  signer: string;
  at: string;
  matched: boolean;
  /** One line per out that did not reproduce (and a failed command). */
  mismatches: string[];
  /** The rebuild's environment in one line (os, arch, dv, container when in one). */
  env: string;
}

export function reportReceipt(st: ReceiptStatement): ReceiptReport {
  const p = st.predicate;
  const mismatches: string[] = [];
  if (p.rebuild.exitCode !== 0) mismatches.push(`stage ${p.reproduced.stage}: the rebuild's command exited ${p.rebuild.exitCode}`);
  for (const o of p.outs)
    if (!o.matched)
      mismatches.push(
        o.rebuilt === null
          ? `out ${o.path}: the rebuild did not write it`
          : `out ${o.path}: rebuilt as tree ${o.rebuilt.slice(0, 12)}, recorded ${o.tree.slice(0, 12)} (not bit-identical)`,
      );
  const e = p.rebuild.env;
  const env = [e.os, e.arch, `dv ${e.dv}`, ...(e.container ? [`container ${String(e.container).slice(0, 12)}`] : [])]
    .filter(Boolean)
    .join(', ');
  return {
    stage: p.reproduced.stage,
    artifacts: p.outs.map((o) => o.path),
    signer: p.rebuild.signer,
    at: p.rebuild.at,
    matched: p.matched,
    mismatches,
    env,
  };
}

/** A verified receipt in one line: "rebuilt and matched by <key> at <time> (stage S; env)". */
export function receiptLine(x: ReceiptReport): string {
  const how = x.matched ? 'rebuilt and matched' : `rebuilt, NOT reproduced (${x.mismatches.join('; ')}),`;
  return `${how} by ${x.signer} at ${x.at} (stage ${x.stage}; ${x.env})`;
}

/** The receipt's out for `path` (an out or a file inside one), when it names it. */
export function receiptOut(st: ReceiptStatement, path: string): ReceiptOut | undefined {
  return st.predicate.outs.find((o) => o.path === path || path.startsWith(o.path + '/'));
}

/** The name a receipt is kept and bundled under: the sha256 of its bytes. */
export function receiptName(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex') + '.json';
}

export type ReceiptCheck =
  | { ok: true; statement: ReceiptStatement; report: ReceiptReport; signedBy: string[] }
  | { ok: false; problems: string[] };

/**
 * A receipt envelope checked against trusted keys; `about` (a snapshot id, and the path for
 * messages) must be one of its subjects, or the receipt is of another artifact.
 */
export function checkReceipt(
  text: string,
  what: string,
  trusted: Map<string, KeyObject>,
  about?: { snapshot: string; path: string },
): ReceiptCheck {
  let env: ReturnType<typeof parseEnvelope>;
  try {
    env = parseEnvelope(text, what);
  } catch (e) {
    return { ok: false, problems: [(e as Error).message] };
  }
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE)
    return { ok: false, problems: [`${what}: payloadType is ${JSON.stringify(env.payloadType)}, not ${INTOTO_PAYLOAD_TYPE}`] };
  const sig = checkEnvelope(env, trusted);
  if (sig.trustedBy.length === 0) return { ok: false, problems: sig.problems.map((p) => `${what}: ${p}`) };
  let statement: ReceiptStatement;
  try {
    statement = parseReceipt(env.payloadBytes, what);
  } catch (e) {
    return { ok: false, problems: [(e as Error).message] };
  }
  if (about && !statement.predicate.outs.some((o) => o.snapshot === about.snapshot)) {
    const names = statement.predicate.outs.map((o) => `${o.path} snapshot ${o.snapshot.slice(0, 12)}`).join(', ');
    return {
      ok: false,
      problems: [`${what}: a receipt of another artifact: it is about ${names}, not ${about.path} snapshot ${about.snapshot.slice(0, 12)}`],
    };
  }
  return { ok: true, statement, report: reportReceipt(statement), signedBy: sig.trustedBy };
}

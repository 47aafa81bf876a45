/**
 * What differs between an attested stage run and dv.lock's record of that stage: one line per
 * difference, naming the field and both values, so an auditor reads the cause and not "hash
 * mismatch". Pure. Values are shown as JSON, cut at SHOW characters (a line stays a line).
 */
import type { LockStage } from '../pipeline/lockfile.js';
import { canonicalJson, type ParamValues, type RunEnv } from '../pipeline/run.js';
import { packagesDigest } from '../pipeline/packages-digest.js';
import type { AttestedStage } from './statement.js';

const SHOW = 80;
const show = (v: unknown): string => {
  const t = v === undefined ? 'absent' : JSON.stringify(v);
  return t.length > SHOW ? t.slice(0, SHOW - 3) + '...' : t;
};
const same = (a: unknown, b: unknown): boolean => canonicalJson(a ?? null) === canonicalJson(b ?? null);
const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function flatParams(p: ParamValues): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const [file, kv] of Object.entries(p)) if (obj(kv)) for (const [k, v] of Object.entries(kv)) m.set(`${file}:${k}`, v);
  return m;
}

/** Differences of two records, a level of nesting deep (env.tools.python3, env.git.commit). */
function fieldDiffs(prefix: string, attested: Record<string, unknown>, locked: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(attested), ...Object.keys(locked)])].sort()) {
    const a = attested[k];
    const l = locked[k];
    if (same(a, l)) continue;
    if (obj(a) && obj(l)) out.push(...fieldDiffs(`${prefix}.${k}`, a, l));
    else out.push(`${prefix}.${k} is ${show(l)} in dv.lock, attested ${show(a)}`);
  }
  return out;
}

/** The environment with its package set as the digest dv.lock keeps (the list is in the run record). */
function digested(env: RunEnv): Record<string, unknown> {
  const e = { ...(env as unknown as Record<string, unknown>) };
  if (e.pythonPackages !== undefined && e.pythonPackages !== null)
    e.pythonPackages = packagesDigest(e.pythonPackages as Record<string, string> | string);
  return e;
}

export function compareStage(a: AttestedStage, l: LockStage | undefined): string[] {
  const at = `stage ${a.name}`;
  if (!l) return [`${at}: not in dv.lock (attested run ${a.key.slice(0, 12)})`];
  const out: string[] = [];
  if (a.cmd !== l.cmd) out.push(`${at}: cmd is ${show(l.cmd)} in dv.lock, attested ${show(a.cmd)}`);
  if ((a.wdir ?? '') !== (l.wdir ?? '')) out.push(`${at}: wdir is ${show(l.wdir)} in dv.lock, attested ${show(a.wdir)}`);
  const ap = flatParams(a.params);
  const lp = flatParams(l.params);
  for (const k of [...new Set([...ap.keys(), ...lp.keys()])].sort())
    if (!same(ap.get(k), lp.get(k))) out.push(`${at}: param ${k} is ${show(lp.get(k))} in dv.lock, attested ${show(ap.get(k))}`);
  for (const d of fieldDiffs('env', digested(a.env), digested(l.env))) out.push(`${at}: ${d}`);
  const deps = new Map(l.deps.map((d) => [d.path, d]));
  for (const d of a.deps) {
    const x = deps.get(d.path);
    if (!x) out.push(`${at}: dep ${d.path} is not in dv.lock`);
    else if ((d.snapshot ?? '') !== (x.snapshot ?? ''))
      out.push(`${at}: dep ${d.path} is snapshot ${show(x.snapshot)} in dv.lock, attested ${show(d.snapshot)}`);
    else if (d.id !== x.id) out.push(`${at}: dep ${d.path} is tree ${x.id.slice(0, 12)} in dv.lock, attested ${d.id.slice(0, 12)}`);
  }
  for (const x of l.deps) if (!a.deps.some((d) => d.path === x.path)) out.push(`${at}: dep ${x.path} is in dv.lock, not attested`);
  const outs = new Map(l.outs.map((o) => [o.path, o]));
  for (const o of a.outs) {
    const x = outs.get(o.path);
    if (!x) out.push(`${at}: out ${o.path} is not in dv.lock`);
    else if (o.id !== x.id) out.push(`${at}: out ${o.path} is tree ${x.id.slice(0, 12)} in dv.lock, attested ${o.id.slice(0, 12)}`);
  }
  // The key sums up cmd, deps, params and outs: a difference the lines above do not name.
  if (out.length === 0 && a.key !== l.key) out.push(`${at}: run key is ${l.key.slice(0, 12)} in dv.lock, attested ${a.key.slice(0, 12)}`);
  return out;
}

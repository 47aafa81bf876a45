/**
 * `dv repro --verify`: proves (or disproves) that stages are deterministic. Each selected stage
 * is rerun in a clean temporary workspace holding the code (the files git sees) and a copy of
 * the exact inputs dv.lock records; every out is hashed there and compared with dv.lock, and a
 * differing out is diffed file by file against the recorded tree. The repository is not touched.
 */
import type { StdioOptions } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { diffTrees, type Change } from '../core/diff.js';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { MemoryIndex } from '../store/index-db.js';
import { scanPath } from '../workspace/scan.js';
import { overlaps } from '../pipeline/dag.js';
import { treeLoader } from '../history/objects.js';
import { checkStageNames, describeChange, loadPipeline, outOfDate, requireStages } from '../pipeline/state.js';
import { runShell, stageDir } from '../pipeline/shell.js';
import { type RebuildReceipt, rebuildSigner, writeRebuildReceipts } from '../provenance/rebuild.js';

export interface VerifyOptions {
  /** Stages to verify; all when empty. */
  stages?: string[];
  stdio?: StdioOptions;
  onStage?: (e: { stage: string; cmd: string }) => void;
  /** Keep the temporary workspace (its path is in the result). */
  keep?: boolean;
  /** Sign a rebuild receipt per stage with `attest.key` (provenance/rebuild.ts); refused before anything runs without a key. */
  rebuild?: boolean;
}

export interface VerifyOut {
  path: string;
  /** The id dv.lock records. */
  expected: string;
  /** The id of the rebuilt out; null when the rerun did not write it. */
  actual: string | null;
  ok: boolean;
  /** Files that differ, relative to the repository root. */
  changes: Change[];
}

export interface VerifyStage {
  name: string;
  ok: boolean;
  /** Exit code of the rerun when it failed. */
  exitCode?: number;
  outs: VerifyOut[];
  seconds: number;
}

export interface VerifyResult {
  ok: boolean;
  stages: VerifyStage[];
  /** The temporary workspace, when kept. */
  workspace?: string;
  /** The signed rebuild receipts (with `rebuild`). */
  receipts?: RebuildReceipt[];
}

async function copyPath(from: string, to: string): Promise<void> {
  await fsp.rm(to, { recursive: true, force: true });
  await fsp.mkdir(dirname(to), { recursive: true });
  await fsp.cp(from, to, { recursive: true, verbatimSymlinks: true, mode: fsp.constants.COPYFILE_FICLONE });
}

export async function verify(s: RepoSession, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const p = await loadPipeline(s.root);
  checkStageNames(p, opts.stages ?? []);
  requireStages(p);
  const targets = opts.stages && opts.stages.length > 0 ? p.dag.order.filter((n) => opts.stages!.includes(n)) : p.dag.order;
  const stale = (await outOfDate(s, p, targets)).filter((x) => x.changes.some((c) => c.type !== 'upstream'));
  if (stale.length > 0) {
    const st = stale[0];
    throw new DvError(
      'USAGE',
      `stage ${st.name} is out of date (${describeChange(st.changes[0])}): run \`dv repro\` first; --verify checks recorded runs`,
      { stage: st.name },
    );
  }
  const signer = opts.rebuild ? await rebuildSigner(s) : undefined;
  const allOuts = p.spec.stages.flatMap((x) => x.outs);
  const ws = await fsp.mkdtemp(join(tmpdir(), 'dv-verify-'));
  const result: VerifyStage[] = [];
  try {
    // The code: every file git sees (tracked, or untracked and not ignored), outs aside.
    const ls = await git(s.root, ['ls-files', '-z', '-c', '-o', '--exclude-standard']);
    const files = ls.code === 0 ? ls.stdout.split('\0').filter(Boolean) : [];
    for (const f of files) {
      if (f.startsWith('.dv/') || allOuts.some((o) => overlaps(o, f))) continue;
      const st = await fsp.lstat(join(s.root, f)).catch(() => undefined);
      if (!st || (!st.isFile() && !st.isSymbolicLink())) continue;
      await copyPath(join(s.root, f), join(ws, f));
    }
    for (const name of targets) {
      const stage = p.dag.stages.get(name)!;
      const locked = p.lock.stages[name]!;
      // The recorded inputs: dv.lock's ids match the workspace (checked above), so copy them.
      for (const d of locked.deps) await copyPath(join(s.root, d.path), join(ws, d.path));
      for (const pf of new Set(stage.params.map((x) => x.file))) await copyPath(join(s.root, pf), join(ws, pf)).catch(() => undefined);
      for (const o of stage.outs) await fsp.rm(join(ws, o), { recursive: true, force: true });
      if (stage.wdir) await fsp.mkdir(join(ws, stage.wdir), { recursive: true });
      opts.onStage?.({ stage: name, cmd: stage.cmd });
      const t0 = Date.now();
      const code = await runShell(stage.cmd, stageDir(ws, stage), opts.stdio ?? ['ignore', 'inherit', 'inherit'], {
        DV_STAGE: name,
        DV_VERIFY: '1',
      });
      const seconds = (Date.now() - t0) / 1000;
      const outs: VerifyOut[] = [];
      const index = new MemoryIndex();
      for (const o of locked.outs) {
        const scan = await scanPath({ root: ws, rel: o.path, index }).catch((e) => {
          if (e instanceof DvError && e.code === 'PATH_NOT_FOUND') return undefined;
          throw e;
        });
        if (!scan) {
          outs.push({ path: o.path, expected: o.id, actual: null, ok: false, changes: [] });
          continue;
        }
        if (scan.tree === o.id) {
          outs.push({ path: o.path, expected: o.id, actual: scan.tree, ok: true, changes: [] });
          continue;
        }
        let changes: Change[] = [];
        try {
          const raw = await diffTrees(o.id, scan.tree, treeLoader(s.store, scan.trees));
          // A single-file out is a tree of one entry: its change is the out itself.
          changes = raw.map((c) => ({ ...c, path: scan.kind === 'file' ? o.path : `${o.path}/${c.path}` }));
        } catch (e) {
          if (!(e instanceof DvError)) throw e; // the recorded tree is not in the local store: ids still differ
        }
        outs.push({ path: o.path, expected: o.id, actual: scan.tree, ok: false, changes });
      }
      result.push({ name, ok: code === 0 && outs.every((x) => x.ok), ...(code !== 0 ? { exitCode: code } : {}), outs, seconds });
    }
  } finally {
    if (!opts.keep) await fsp.rm(ws, { recursive: true, force: true });
  }
  const receipts = signer ? await writeRebuildReceipts(s, signer, p.lock, result) : undefined;
  return { ok: result.every((x) => x.ok), stages: result, ...(opts.keep ? { workspace: ws } : {}), ...(receipts ? { receipts } : {}) };
}

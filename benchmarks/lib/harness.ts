// One benchmark round per (dataset, tool): fresh store, add, status, checkout into an empty
// workspace, dv's push/pull, then each edit and a commit. Every timed command gets the same
// page-cache preparation, and its store growth is counted the same way.
import { mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Dataset } from './datasets.js';
import { dropCaches, exec, measure, tally, warm, type Cmd, type Measured } from './measure.js';
import { BASELINE_OP, fmtBytes, fmtSeconds, type Sample } from './report.js';
import type { S3rver } from './s3rver.js';
import { baselines, type dvCommand, type Peer, type Workspace } from './tools.js';

export type BaselineName = 'cat' | 'cp' | 'b3sum' | 'zstd' | 'aws';
export type Availability = 'ok' | 'skipped' | 'not installed';

export interface HarnessOptions {
  tmp: string;
  env: NodeJS.ProcessEnv;
  dv: ReturnType<typeof dvCommand>;
  s3: S3rver | undefined;
  /** Whether this dv build has `push`/`pull`. */
  remotes: boolean;
  cold: boolean;
  timeoutSeconds: number;
  statusRuns: number;
}

interface Timed {
  /** Files read right before the run (warm page cache). */
  warm: string[];
  /** Directory (or file) whose growth is the new storage bytes. */
  store?: string;
  /** Counts s3rver's CPU as part of the measured work. */
  s3?: boolean;
  /** Checks the result; a string is shown as a note in the table. */
  check?: (m: Measured) => string | undefined;
}

type Tag = Omit<Sample, 'seconds' | 'rss' | 'newBytes' | 'otherCores' | 'load1' | 'error' | 'note'>;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Removes a directory tree; a failure (a straggling process still writing) is reported, not fatal. */
function remove(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    process.stderr.write(`[bench] could not remove ${path}: ${message(e)}\n`);
  }
}

export class Harness {
  readonly samples: Sample[] = [];
  round = '';
  private readonly t0 = Date.now();

  constructor(private readonly o: HarnessOptions) {}

  log(line: string): void {
    const s = Math.floor((Date.now() - this.t0) / 1000);
    const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    process.stderr.write(`[bench ${clock}${this.round ? ` ${this.round}` : ''}] ${line}\n`);
  }

  private async timed(tag: Tag, cmd: Cmd, t: Timed): Promise<Measured> {
    if (this.o.cold) dropCaches();
    else {
      // Dirty pages left by the set-up (copies, removed workspaces) are written back first, so
      // that no tool's run pays for the writeback of what ran before it.
      spawnSync('sync');
      warm(t.warm);
    }
    const before = t.store ? tally(t.store).bytes : 0;
    try {
      const m = await measure(cmd, {
        timeoutSeconds: this.o.timeoutSeconds,
        scratch: this.o.tmp,
        helperPid: t.s3 ? this.o.s3?.pid : undefined,
      });
      const newBytes = t.store ? tally(t.store).bytes - before : null;
      const note = t.check?.(m);
      this.samples.push({ ...tag, seconds: m.seconds, rss: m.rss, newBytes, otherCores: m.otherCores, load1: m.load1, note });
      const rss = m.rss === null ? '' : `, RSS ${fmtBytes(m.rss)}`;
      this.log(
        `${tag.label} (${tag.op}): ${fmtSeconds(m.seconds)}${rss}${newBytes !== null ? `, +${fmtBytes(newBytes)}` : ''}${note ? ` — ${note}` : ''}`,
      );
      return m;
    } catch (e) {
      this.samples.push({ ...tag, error: `failed: ${message(e)}` });
      this.log(`${tag.label} (${tag.op}) FAILED: ${message(e)}`);
      throw e;
    }
  }

  /** Notes a checkout/pull whose files differ in number or bytes from the dataset. */
  private verify(dir: string, ds: Dataset): () => string | undefined {
    return () => {
      const t = tally(dir);
      return t.files === ds.files && t.bytes === ds.bytes
        ? undefined
        : `WRONG RESULT: ${t.files} files, ${t.bytes} bytes; expected ${ds.files}, ${ds.bytes}`;
    };
  }

  /** cat, b3sum, cp -r, zstd and aws s3 sync over the dataset as generated. */
  async baselines(ds: Dataset, round: number, avail: Record<BaselineName, Availability>): Promise<void> {
    const env = this.o.env;
    const tag = (tool: string, label = tool): Tag => ({ dataset: ds.name, op: BASELINE_OP, tool, label, round, bytes: ds.bytes });
    // A baseline that is not installed gets a row saying so; a skipped one gets none.
    const have = (name: BaselineName, ...tools: string[]): boolean => {
      if (avail[name] === 'not installed' && round === 1) for (const t of tools) this.samples.push({ ...tag(t), error: 'not installed' });
      return avail[name] === 'ok';
    };
    const attempt = async (f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch {
        // recorded as a failed sample; the other baselines still run
      }
    };
    const scratch = join(this.o.tmp, 'work', `${ds.name}-baseline`);
    remove(scratch);
    mkdirSync(scratch, { recursive: true });
    try {
      if (have('cat', 'cat'))
        await attempt(() => this.timed(tag('cat', 'cat (read all)'), baselines.cat(ds.dataDir, env), { warm: [ds.dataDir] }));
      if (have('b3sum', 'b3sum')) await attempt(() => this.timed(tag('b3sum'), baselines.b3sum(ds.dataDir, env), { warm: [ds.dataDir] }));
      if (have('cp', 'cp -r')) {
        const to = join(scratch, 'copy');
        await attempt(() => this.timed(tag('cp -r'), baselines.cp(ds.dataDir, to, env), { warm: [ds.dataDir], store: to }));
        remove(to);
      }
      if (ds.name === 'csv' && have('zstd', 'zstd -3')) {
        const to = join(scratch, 'table.csv.zst');
        await attempt(() =>
          this.timed(tag('zstd -3', 'zstd -3 (one stream)'), baselines.zstd(join(ds.dataDir, 'table.csv'), to, env), {
            warm: [ds.dataDir],
            store: to,
          }),
        );
      }
      const s3 = this.o.s3;
      if (ds.name !== 'csv' && have('aws', 'aws s3 sync (up)', 'aws s3 sync (down)') && s3) {
        const bucket = `aws-${ds.name}-r${round}`;
        const url = `s3://${bucket}/data`;
        await attempt(async () => {
          await s3.createBucket(bucket).catch((e: unknown) => {
            this.samples.push({ ...tag('aws s3 sync (up)'), error: `set-up failed: ${message(e)}` });
            throw e;
          });
          await this.timed(tag('aws s3 sync (up)'), baselines.awsUp(ds.dataDir, s3.endpoint, url, env), {
            warm: [ds.dataDir],
            store: s3.bucketDir(bucket),
            s3: true,
          });
          const to = join(scratch, 'down');
          mkdirSync(to);
          await this.timed(tag('aws s3 sync (down)'), baselines.awsDown(url, s3.endpoint, to, env), {
            warm: [s3.bucketDir(bucket)],
            store: to,
            s3: true,
            check: this.verify(to, ds),
          });
        });
        s3.dropBucket(bucket);
      }
    } finally {
      remove(scratch);
    }
  }

  /** One round of one tool on one dataset, in a fresh workspace that is removed afterwards. */
  async peer(ds: Dataset, peer: Peer, round: number): Promise<void> {
    const tag = (op: string, label: string): Tag => ({ dataset: ds.name, op, tool: peer.name, label, round, bytes: ds.bytes });
    const whyNot = peer.missing();
    if (whyNot) {
      if (round === 1) {
        const ops: [string, string | undefined][] = [
          ['add', peer.labels.add],
          ['status', ds.name === 'csv' ? undefined : peer.labels.status],
          ['checkout', ds.name === 'csv' ? undefined : peer.labels.checkout],
          ...ds.edits.map((e): [string, string] => [e.op, peer.labels.commit]),
        ];
        for (const [op, label] of ops) if (label) this.samples.push({ ...tag(op, label), error: whyNot });
      }
      return;
    }
    const root = join(this.o.tmp, 'work', `${ds.name}-${peer.name}-r${round}`);
    const copy = peer.dataInWorkspace || ds.edits.length > 0;
    const ws: Workspace = { root, data: copy ? join(root, 'data') : ds.dataDir, env: this.o.env, saves: 0 };
    const started = Date.now();
    let timed = this.samples.length;
    remove(root);
    mkdirSync(root, { recursive: true });
    try {
      try {
        // Only mtimes are kept: xattrs and owners cost a syscall per file and matter to no tool here.
        if (copy) exec({ cmd: 'cp', args: ['-r', '--preserve=timestamps', ds.dataDir, ws.data], cwd: root });
        peer.setup(ws);
      } catch (e) {
        this.samples.push({ ...tag('add', peer.labels.add), error: `set-up failed: ${message(e)}` });
        throw e;
      }
      await this.timed(tag('add', peer.labels.add), peer.add(ws), { warm: [ws.data, ...peer.state(ws)], store: peer.store(ws) });
      if (ds.name !== 'csv') {
        if (peer.status) {
          for (let i = 0; i < this.o.statusRuns; i++) {
            await this.timed(tag('status', peer.labels.status ?? 'status'), peer.status(ws), {
              warm: [ws.data, ...peer.state(ws)],
              check: (m) => statusNote(peer.name, m.stdout),
            });
          }
        }
        const co = peer.checkout(ws);
        co.prepare();
        await this.timed(tag('checkout', peer.labels.checkout), co.cmd, { warm: peer.state(ws), check: this.verify(co.out, ds) });
        co.finish();
        if (peer.name === 'dv') await this.dvRemotes(ds, ws, round);
      }
      for (const edit of ds.edits) {
        edit.apply(ws.data);
        await this.timed(tag(edit.op, peer.labels.commit), peer.commit(ws), { warm: [ws.data, ...peer.state(ws)], store: peer.store(ws) });
      }
    } catch (e) {
      this.log(`${peer.name} on ${ds.name}: the rest of this round is skipped (${message(e)})`);
    } finally {
      remove(root);
      timed = this.samples.slice(timed).reduce((n, x) => n + (x.seconds ?? 0), 0);
      this.log(`${peer.name}: round took ${((Date.now() - started) / 1000).toFixed(1)} s, ${timed.toFixed(1)} s of it measured`);
    }
  }

  /** dv push to a local directory and to s3rver, then dv pull of each into a fresh git clone. */
  private async dvRemotes(ds: Dataset, ws: Workspace, round: number): Promise<void> {
    const tag = (op: string, label: string): Tag => ({ dataset: ds.name, op, tool: 'dv', label, round, bytes: ds.bytes });
    const ops: [string, string][] = [
      ['push local', 'dv push'],
      ['push s3', 'dv push'],
      ['pull local', 'dv pull'],
      ['pull s3', 'dv pull'],
    ];
    if (!this.o.remotes) {
      if (round === 1) for (const [op, label] of ops) this.samples.push({ ...tag(op, label), error: 'n/a (not implemented)' });
      return;
    }
    const dv = (cwd: string, ...args: string[]): Cmd => this.o.dv(cwd, ws.env, ...args);
    const s3 = this.o.s3;
    const localRemote = join(this.o.tmp, 'remotes', `${ds.name}-r${round}`);
    const bucket = `dv-${ds.name}-r${round}`;
    const state = [join(ws.root, '.dv')];
    const remotes: { name: string; dir: string }[] = [];
    try {
      exec(dv(ws.root, 'remote', 'add', 'local', localRemote));
      remotes.push({ name: 'local', dir: localRemote });
      if (s3) {
        await s3.createBucket(bucket);
        exec(dv(ws.root, 'remote', 'add', 's3', `s3://${bucket}/dv`, '--endpoint', s3.endpoint));
        remotes.push({ name: 's3', dir: s3.bucketDir(bucket) });
      }
      for (const r of remotes) {
        await this.timed(tag(`push ${r.name}`, 'dv push'), dv(ws.root, 'push', '-r', r.name), {
          warm: state,
          store: r.dir,
          s3: r.name === 's3',
        }).catch(() => undefined);
      }
      exec({ cmd: 'git', args: ['add', 'data.dv', '.gitignore', '.dv/config', '.dv/.gitignore'], cwd: ws.root, env: ws.env });
      exec({ cmd: 'git', args: ['commit', '-q', '-m', 'track data'], cwd: ws.root, env: ws.env });
      for (const r of remotes) {
        const clone = join(this.o.tmp, 'work', `${ds.name}-dv-clone`);
        remove(clone);
        exec({ cmd: 'git', args: ['clone', '-q', ws.root, clone], cwd: this.o.tmp, env: ws.env });
        await this.timed(tag(`pull ${r.name}`, 'dv pull'), dv(clone, 'pull', '-r', r.name), {
          warm: [r.dir],
          store: join(clone, '.dv', 'cache', 'packs'),
          s3: r.name === 's3',
          check: this.verify(join(clone, 'data'), ds),
        }).catch(() => undefined);
        remove(clone);
      }
    } catch (e) {
      this.log(`dv remotes on ${ds.name}: ${message(e)}`);
    } finally {
      remove(localRemote);
      s3?.dropBucket(bucket);
    }
  }
}

/** dv status must say clean and hash nothing; git status must print nothing. */
function statusNote(tool: string, stdout: string): string | undefined {
  if (tool === 'dv') {
    try {
      const j = JSON.parse(stdout) as { clean?: boolean; paths?: { filesHashed?: number }[] };
      const hashed = (j.paths ?? []).reduce((a, p) => a + (p.filesHashed ?? 0), 0);
      if (j.clean !== true) return 'NOT CLEAN';
      return hashed ? `re-hashed ${hashed} files` : undefined;
    } catch {
      return 'unreadable --json output';
    }
  }
  if (tool === 'git-lfs' && stdout.trim()) return 'NOT CLEAN';
  return undefined;
}

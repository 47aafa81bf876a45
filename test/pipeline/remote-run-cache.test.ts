/**
 * The remote run cache: clone A runs the pipeline and pushes; clone B (same code, params and
 * data, no dv.lock) gets every stage from the remote without running a command, over a
 * directory remote and over S3 (s3rver). Offline and hostile remotes fall back to running.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dv, dvJson, dvOk, tempDir } from '../helpers/cli.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { pipelineRepo, type Fixture } from './fixture.js';

const actions = (r: any): string[] => r.stages.map((s: any) => `${s.name}:${s.action}${s.from ? `:${s.from}` : ''}`);

async function outsOf(repo: string): Promise<Record<string, unknown>> {
  const m: Record<string, unknown> = {};
  m['data/prepared'] = await describeTree(join(repo, 'data', 'prepared'));
  for (const f of ['model.json', 'metrics.json']) m[f] = await fsp.readFile(join(repo, f), 'utf8');
  return m;
}

const lockKeys = async (repo: string): Promise<Record<string, string>> => {
  const text = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  const keys: Record<string, string> = {};
  for (const m of text.matchAll(/^ {2}(\w+):\n {4}cmd: .*\n {4}key: ([0-9a-f]{64})$/gm)) keys[m[1]] = m[2];
  return keys;
};

/** Clone A: runs the three stages and pushes to `remote`. */
async function runAndPush(remoteArgs: string[], env: Record<string, string> = {}): Promise<Fixture> {
  const a = await pipelineRepo();
  await dvOk(a.repo, ['remote', 'add', 'origin', ...remoteArgs, '--default'], env);
  await dvOk(a.repo, ['repro'], a.env);
  assert.deepEqual(await a.ran(), ['prepare', 'train', 'evaluate']);
  const pushed = await dvJson(a.repo, ['push'], env);
  assert.equal(pushed.runsSent, 3, 'one run record per stage');
  assert.equal((await dvJson(a.repo, ['push'], env)).runsSent, 0, 'a second push sends none');
  return a;
}

/** Clone B: the same code, params and data, no dv.lock; repro restores every stage from the remote. */
async function reproFromRemote(a: Fixture, remoteArgs: string[], env: Record<string, string> = {}): Promise<Fixture> {
  const b = await pipelineRepo();
  await assert.rejects(fsp.access(join(b.repo, 'dv.lock')));
  await dvOk(b.repo, ['remote', 'add', 'origin', ...remoteArgs, '--default'], env);
  const r = await dv(b.repo, ['repro'], { ...b.env, ...env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(await b.ran(), [], 'no stage command ran');
  for (const st of ['prepare', 'train', 'evaluate'])
    assert.match(r.stdout, new RegExp(`^${st}: restored from the remote run cache \\(origin\\)`, 'm'));
  assert.equal(r.stderr, '');
  assert.deepEqual(await outsOf(b.repo), await outsOf(a.repo), "outs byte-identical to A's");
  assert.deepEqual(await lockKeys(b.repo), await lockKeys(a.repo));
  assert.deepEqual(actions(await dvJson(b.repo, ['repro'], { ...b.env, ...env })), [
    'prepare:up-to-date',
    'train:up-to-date',
    'evaluate:up-to-date',
  ]);
  assert.deepEqual((await dvJson(b.repo, ['status'], env)).stages, []);
  const lin = await dvJson(b.repo, ['lineage', 'metrics.json'], env);
  assert.deepEqual(
    lin.stages.map((s: any) => s.name),
    ['evaluate', 'train', 'prepare'],
  );
  const raw = lin.artifacts.find((x: any) => x.path === 'data/raw');
  assert.deepEqual([raw.kind, raw.inStore, raw.message], ['raw', true, 'raw import'], "the raw data snapshot A's run read came along");
  assert.deepEqual(await b.ran(), []);
  return b;
}

test('directory remote: push uploads run records under runs/; a clone without dv.lock restores every stage, runs nothing', async () => {
  const store = join(tempDir(), 'store');
  const a = await runAndPush([store]);
  const keys = await lockKeys(a.repo);
  assert.equal(Object.keys(keys).length, 3);
  for (const k of Object.values(keys))
    assert.match(await fsp.readFile(join(store, 'runs', k.slice(0, 2), k), 'utf8'), new RegExp(`^dvrun 1\\n\\{.*"key":"${k}"`));
  const b = await reproFromRemote(a, [store]);
  const j = await dvJson(b.repo, ['repro', '--force', 'prepare'], b.env);
  assert.deepEqual(actions(j).slice(0, 1), ['prepare:ran']);
  assert.deepEqual(await b.ran(), ['prepare']);

  // --no-run-cache and --offline run the commands.
  const c = await pipelineRepo();
  await dvOk(c.repo, ['remote', 'add', 'origin', store, '--default']);
  assert.deepEqual(actions(await dvJson(c.repo, ['repro', '--offline'], c.env)), ['prepare:ran', 'train:ran', 'evaluate:ran']);
  assert.deepEqual(await c.ran(), ['prepare', 'train', 'evaluate']);
  await fsp.rm(join(c.repo, 'dv.lock'));
  await fsp.rm(join(c.repo, '.dv', 'cache', 'runs'), { recursive: true });
  assert.deepEqual(actions(await dvJson(c.repo, ['repro', '--no-run-cache'], c.env)), ['prepare:ran', 'train:ran', 'evaluate:ran']);
  assert.deepEqual(await c.ran(), ['prepare', 'train', 'evaluate']);

  // `dv push --run-cache` also sends runs dv.lock no longer names, with their outs.
  await fsp.writeFile(join(a.repo, 'params.json'), JSON.stringify({ train: { lr: 0.125 } }));
  await dvOk(a.repo, ['repro'], a.env);
  await fsp.writeFile(join(a.repo, 'params.json'), JSON.stringify({ train: { lr: 0.5 } }));
  await dvOk(a.repo, ['repro'], a.env);
  await a.ran();
  assert.equal((await dvJson(a.repo, ['push'])).runsSent, 0, 'dv.lock names the runs pushed already');
  assert.equal((await dvJson(a.repo, ['push', '--no-run-cache'])).runsSent, 0);
  assert.equal((await dvJson(a.repo, ['push', '--run-cache'])).runsSent, 2, 'train and evaluate with lr 0.125');
  const d = await pipelineRepo();
  await fsp.writeFile(join(d.repo, 'params.json'), JSON.stringify({ train: { lr: 0.125 } }));
  await dvOk(d.repo, ['remote', 'add', 'origin', store, '--default']);
  assert.deepEqual(actions(await dvJson(d.repo, ['repro', '--json'], d.env)), [
    'prepare:restored:remote',
    'train:restored:remote',
    'evaluate:restored:remote',
  ]);
  assert.deepEqual(await d.ran(), []);
  assert.deepEqual(JSON.parse(await fsp.readFile(join(d.repo, 'model.json'), 'utf8')), { w: 0.125 * 2 * (1 + 11 + 2 + 12 + 3 + 13) });
});

test('an unreachable remote does not fail repro: one notice, then the stages run', async () => {
  const f = await pipelineRepo();
  await dvOk(f.repo, ['remote', 'add', 'origin', join(tempDir(), 'never-created'), '--default']);
  const r = await dv(f.repo, ['repro'], f.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^dv: remote origin \(.*never-created\) does not exist yet \(a first push makes it\): no run cache to read\n$/);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate']);
});

test('hostile run records (malformed, wrong key, out ids that do not match, another snapshot) are refused: the stage runs, never a wrong out', async () => {
  const store = join(tempDir(), 'store');
  const a = await runAndPush([store]);
  const keys = await lockKeys(a.repo);
  const file = (k: string): string => join(store, 'runs', k.slice(0, 2), k);
  const good = await fsp.readFile(file(keys.prepare), 'utf8');
  const record = (): any => JSON.parse(good.slice('dvrun 1\n'.length));
  const encode = (o: any): string => `dvrun 1\n${JSON.stringify(o)}\n`;
  const modelTree = /tree: ([0-9a-f]{64})/.exec(await fsp.readFile(join(a.repo, 'model.json.dv'), 'utf8'))![1];
  const raw = await fsp.readFile(join(a.repo, 'data', 'raw.dv'), 'utf8');
  const rawSnap = /snapshot: ([0-9a-f]{64})/.exec(raw)![1];
  const rawTree = /tree: ([0-9a-f]{64})/.exec(raw)![1];
  const cases: [string, string, RegExp][] = [
    ['malformed JSON', 'dvrun 1\n{"key": "', /is malformed/],
    ['the record of another key', await fsp.readFile(file(keys.train), 'utf8'), /does not match its key/],
    [
      'an out id that does not match its snapshot',
      encode({ ...record(), outs: [{ ...record().outs[0], id: modelTree }] }),
      /names for out data\/prepared a snapshot that does not hold it/,
    ],
    [
      'another snapshot (raw data) for the out',
      encode({ ...record(), outs: [{ path: 'data/prepared', id: rawTree, snapshot: rawSnap }] }),
      /names for out data\/prepared a snapshot that does not hold it/,
    ],
    [
      'a snapshot the remote does not hold',
      encode({ ...record(), outs: [{ ...record().outs[0], snapshot: 'ab'.repeat(32) }] }),
      /names outs that cannot be fetched \(OBJECT_MISSING/,
    ],
  ];
  for (const [what, text, why] of cases) {
    await fsp.writeFile(file(keys.prepare), text);
    const b = await pipelineRepo();
    await dvOk(b.repo, ['remote', 'add', 'origin', store, '--default']);
    const r = await dv(b.repo, ['repro', 'prepare'], b.env);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `^dv: run record runs/${keys.prepare.slice(0, 2)}/${keys.prepare} on remote origin .*: ignoring it, stage prepare runs instead\\n$`,
      ),
      what,
    );
    assert.match(r.stderr, why, what);
    assert.deepEqual(await b.ran(), ['prepare'], `${what}: the stage ran`);
    assert.deepEqual(await describeTree(join(b.repo, 'data', 'prepared')), await describeTree(join(a.repo, 'data', 'prepared')), what);
  }
  // The good record restores again.
  await fsp.writeFile(file(keys.prepare), good);
  const b = await pipelineRepo();
  await dvOk(b.repo, ['remote', 'add', 'origin', store, '--default']);
  assert.deepEqual(actions(await dvJson(b.repo, ['repro', 'prepare'], b.env)), ['prepare:restored:remote']);
  assert.deepEqual(await b.ran(), []);
});

let srv: S3TestServer;
before(async () => {
  srv = await startS3rver();
});
after(async () => {
  await srv?.stop();
});

test('S3 remote (s3rver): a clone without dv.lock restores every stage from the remote run cache; a stopped server means running', async () => {
  await srv.createBucket('runs');
  const env = credsEnv(srv);
  const remote = ['s3://runs/team/project', '--endpoint', srv.endpoint];
  const a = await runAndPush(remote, env);
  await reproFromRemote(a, remote, env);
  await srv.stop();
  const c = await pipelineRepo();
  await dvOk(c.repo, ['remote', 'add', 'origin', ...remote, '--default'], env);
  const r = await dv(c.repo, ['repro'], { ...c.env, ...env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^dv: remote origin \(s3:\/\/runs\/team\/project\) is out of reach \(REMOTE_UNREACHABLE\): stages not recorded here will run/m,
  );
  assert.deepEqual(await c.ran(), ['prepare', 'train', 'evaluate']);
});

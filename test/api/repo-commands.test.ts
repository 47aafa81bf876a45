/**
 * One front door: `Repo` covers every command of the CLI (the table of src/ops/commands.ts), and
 * the methods beyond the first release's (remove, move, git log, checkout of a revision, fsck of
 * a remote, install, config, the default remote) do what their command does.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo, DvError, type ERROR_CODES } from '../../src/index.js';
import { COMMANDS } from '../../src/ops/commands.js';
import { git, makeRepo, tempDir } from '../helpers/cli.js';

before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-api-xdg-');
});

async function rejectsWith(p: Promise<unknown>, code: keyof typeof ERROR_CODES): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DvError, `expected a DvError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

// The Repo method of each command of the table; a new command without one fails here.
const METHOD: Record<keyof typeof COMMANDS, string> = {
  init: 'static init',
  install: 'install',
  add: 'add',
  remove: 'remove',
  move: 'move',
  commit: 'commit',
  status: 'status',
  remoteStatus: 'remoteStatus',
  checkout: 'checkout',
  log: 'log',
  gitLog: 'gitLog',
  diff: 'diff',
  ls: 'ls',
  lsAt: 'list',
  serve: 'serve',
  ui: 'ui',
  gc: 'gc',
  gcRemote: 'gcRemote',
  fsck: 'fsck',
  fsckRemote: 'fsckRemote',
  push: 'push',
  fetch: 'fetch',
  pull: 'pull',
  get: 'get',
  import: 'importData',
  update: 'update',
  stageAdd: 'stageAdd',
  stageList: 'stages',
  stageRemove: 'stageRemove',
  repro: 'repro',
  verify: 'verify',
  lineage: 'lineage',
  lineageDiff: 'lineageDiff',
  usedBy: 'usedBy',
  expRun: 'expRun',
  expShow: 'expShow',
  expApply: 'expApply',
  expRemove: 'expRemove',
  expPush: 'expPush',
  expPull: 'expPull',
  metricsShow: 'metricsShow',
  metricsDiff: 'metricsDiff',
  paramsDiff: 'paramsDiff',
  plotsShow: 'plotsShow',
  plotsDiff: 'plotsDiff',
  dag: 'dag',
  attest: 'attest',
  attestVerify: 'verifyAttestation',
  keyGen: 'static keyGen',
  auditExport: 'auditExport',
  auditVerify: 'static auditVerify',
  configList: 'listConfig',
  configGet: 'getConfig',
  configSet: 'setConfig',
  configUnset: 'unsetConfig',
  remoteAdd: 'addRemote',
  remoteList: 'listRemotes',
  remoteRemove: 'removeRemote',
  remoteDefault: 'defaultRemote',
  remoteTrust: 'trustRemote',
};

test('API: Repo has a method for every command, and every command declares its lock mode', () => {
  assert.deepEqual(Object.keys(METHOD).sort(), Object.keys(COMMANDS).sort());
  for (const [name, method] of Object.entries(METHOD)) {
    const fn = method.startsWith('static ')
      ? (Repo as unknown as Record<string, unknown>)[method.slice(7)]
      : (Repo.prototype as unknown as Record<string, unknown>)[method];
    assert.equal(typeof fn, 'function', `${name}: Repo.${method}`);
    assert.ok(['read', 'write', 'none'].includes(COMMANDS[name as keyof typeof COMMANDS].lock), name);
  }
  // Readers never take the writer lock; what changes the store or the workspace does.
  assert.deepEqual(
    ['status', 'log', 'diff', 'ls', 'push', 'verify'].map((n) => COMMANDS[n as keyof typeof COMMANDS].lock),
    ['read', 'read', 'read', 'read', 'read', 'read'],
  );
  assert.deepEqual(
    ['add', 'commit', 'checkout', 'remove', 'move', 'gc', 'fetch', 'pull', 'repro'].map((n) => COMMANDS[n as keyof typeof COMMANDS].lock),
    Array(9).fill('write'),
  );
});

test('API: remove, move, gitLog and checkout of a git revision', async () => {
  const dir = await makeRepo({ init: false });
  const repo = await Repo.init(dir);
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'one\n');
  await fsp.mkdir(join(dir, 'old'));
  await fsp.writeFile(join(dir, 'old', 'x.txt'), 'x\n');
  await repo.add({ paths: ['data', 'old'] });
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-qm', 'v1']);
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'two\n');
  await repo.commit({ message: 'v2' });
  git(dir, ['commit', '-qam', 'v2']);

  // gitLog: the commits that changed data.dv, newest first; checkout of HEAD~1 restores v1.
  const history = await repo.gitLog({ paths: ['data'] });
  assert.deepEqual(
    history.map((c) => c.subject),
    ['v2', 'v1'],
  );
  assert.equal((await repo.gitLog({ paths: ['data'], limit: 1, rev: 'HEAD~1' }))[0].subject, 'v1');
  await rejectsWith(repo.gitLog({ rev: 'no-such-branch' }), 'USAGE');
  const back = await repo.checkout({ target: 'HEAD~1', paths: ['data'] });
  assert.equal(back.commit, git(dir, ['rev-parse', 'HEAD~1']).trim());
  assert.equal(await fsp.readFile(join(dir, 'data', 'a.txt'), 'utf8'), 'one\n');
  await repo.checkout({ target: 'HEAD', paths: ['data'] });
  assert.equal(await fsp.readFile(join(dir, 'data', 'a.txt'), 'utf8'), 'two\n');
  await rejectsWith(repo.checkout({ target: 'abc' }), 'USAGE');

  const moved = await repo.move({ from: 'data', to: 'renamed' });
  assert.deepEqual([moved.from, moved.to, moved.dataMoved], ['data', 'renamed', true]);
  assert.equal(await fsp.readFile(join(dir, 'renamed', 'a.txt'), 'utf8'), 'two\n');
  await assert.rejects(fsp.stat(join(dir, 'data.dv')));
  assert.ok(moved.gitAdd.includes('renamed.dv'));
  await rejectsWith(repo.move({ from: 'nothing', to: 'x' }), 'NOT_TRACKED');
  await rejectsWith(repo.move({ from: '', to: 'x' }), 'USAGE');

  const removed = await repo.remove({ paths: ['old'] });
  assert.deepEqual(
    removed.removed.map((r) => [r.path, r.dataRemoved]),
    [['old', false]],
  );
  assert.equal(await fsp.readFile(join(dir, 'old', 'x.txt'), 'utf8'), 'x\n', 'the data stays');
  await assert.rejects(fsp.stat(join(dir, 'old.dv')));
  await rejectsWith(repo.remove({ paths: [] }), 'USAGE');
  assert.deepEqual(
    (await repo.status()).paths.map((p) => p.path),
    ['renamed'],
  );
});

test('API: config get/set/unset/list by level, default remote, fsck of a remote, install', async () => {
  const dir = await makeRepo({ init: false });
  const repo = await Repo.init(dir);
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.bin'), 'payload');
  await repo.add({ paths: ['data'] });

  await repo.addRemote('origin', join(tempDir(), 'store'));
  await repo.addRemote('backup', join(tempDir(), 'backup'));
  assert.deepEqual(await repo.defaultRemote(), { default: 'origin' });
  assert.deepEqual(await repo.defaultRemote('backup'), { default: 'backup' });
  assert.equal(await repo.getConfig('core.remote'), 'backup');
  await rejectsWith(repo.defaultRemote('nosuch'), 'NO_REMOTE');

  await repo.setConfig('remote.origin.jobs', '4', { level: 'local' });
  await repo.setConfig('pipeline.env', 'CUDA_VISIBLE_DEVICES', { level: 'global' });
  assert.deepEqual(await repo.listConfig({ level: 'local' }), { 'remote.origin.jobs': '4' });
  assert.deepEqual(await repo.listConfig({ level: 'global' }), { 'pipeline.env': 'CUDA_VISIBLE_DEVICES' });
  const merged = await repo.listConfig();
  assert.equal(merged['remote.origin.jobs'], '4');
  assert.equal(merged['pipeline.env'], 'CUDA_VISIBLE_DEVICES');
  assert.equal(await repo.getConfig('remote.origin.jobs'), '4');
  assert.equal(await repo.getConfig('remote.origin.jobs', { level: 'repo' }), undefined);
  assert.match(await fsp.readFile(join(dir, '.dv', 'config.local'), 'utf8'), /"jobs": "4"/);
  await rejectsWith(repo.setConfig('remote.origin.jobs', 'many'), 'USAGE');
  await rejectsWith(repo.setConfig('core.remotes', 'origin'), 'USAGE');
  await repo.unsetConfig('remote.origin.jobs', { level: 'local' });
  assert.equal(await repo.getConfig('remote.origin.jobs'), undefined);
  await rejectsWith(repo.unsetConfig('remote.origin.jobs', { level: 'local' }), 'USAGE');

  // fsck of a remote: what was pushed reads back and verifies.
  await repo.push({ remote: 'origin' });
  const checked = await repo.fsckRemote({ remote: 'origin' });
  assert.deepEqual([checked.remote, checked.ok, checked.bad], ['origin', true, []]);
  assert.ok(checked.objects >= 3, `${checked.objects} objects`);
  await rejectsWith(repo.fsckRemote({ remote: 'nosuch' }), 'NO_REMOTE');

  const installed = await repo.install();
  assert.ok(installed.hooks.length > 0);
  assert.ok(
    installed.hooks.every((h) => h.action === 'created'),
    JSON.stringify(installed.hooks),
  );
  assert.match(await fsp.readFile(join(dir, installed.hooks[0].file), 'utf8'), /dv hook/);
  const removed = await repo.install({ uninstall: true });
  assert.ok(
    removed.hooks.every((h) => h.action === 'deleted'),
    JSON.stringify(removed.hooks),
  );
});

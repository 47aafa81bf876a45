/**
 * dv config: levels are read alone with --global/--local; values dv would ignore or misread are
 * refused on set (USAGE, file unchanged) and stop every command when found in a file (BAD_CONFIG
 * naming the file and key), never silently ignored or replaced by a fallback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo, tempDir, type RunResult } from '../helpers/cli.js';

const files = (dir: string): string[] => [
  join(dir, '.dv', 'config'),
  join(dir, '.dv', 'config.local'),
  join(dir, '.xdg-test', 'dv', 'config'),
];
const snapshot = async (dir: string): Promise<(string | null)[]> =>
  Promise.all(files(dir).map((f) => fsp.readFile(f, 'utf8').catch(() => null)));

function assertError(r: RunResult, code: 'USAGE' | 'BAD_CONFIG', what: string, pattern: RegExp): void {
  assert.equal(r.code, code === 'USAGE' ? 2 : 17, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: \\S[^\\n]*\\n$`), `${what}: one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, pattern, what);
}

test('--global -l and --local -l list that file alone; -l alone lists the merged view', async () => {
  const dir = await makeRepo();
  await dvOk(dir, ['remote', 'add', 'origin', join(tempDir(), 'store')]);
  await dvOk(dir, ['config', '--global', 'pipeline.env', 'HOME_VAR']);
  await dvOk(dir, ['config', '--local', 'remote.origin.jobs', '4']);
  assert.deepEqual(await dvJson(dir, ['config', '--global', '-l']), { 'pipeline.env': 'HOME_VAR' });
  assert.deepEqual(await dvJson(dir, ['config', '--local', '-l']), { 'remote.origin.jobs': '4' });
  assert.equal(await dvOk(dir, ['config', '--local', '-l']), 'remote.origin.jobs=4\n');
  const merged = await dvJson<Record<string, string>>(dir, ['config', '-l']);
  assert.equal(merged['pipeline.env'], 'HOME_VAR');
  assert.equal(merged['remote.origin.jobs'], '4');
  assert.equal(merged['core.remote'], 'origin');
  // A key read at one level is that file's value, or nothing.
  assert.equal((await dv(dir, ['config', '--global', 'core.remote'])).code, 1);
  assert.equal(await dvOk(dir, ['config', 'core.remote']), 'origin\n');
  assertError(await dv(dir, ['config', '--global', '--local', '-l']), 'USAGE', '--global --local', /--global and --local/);
});

test('set: keys dv does not read and values it cannot use are refused, naming the key and what it accepts', async () => {
  const dir = await makeRepo();
  await dvOk(dir, ['remote', 'add', 'origin', join(tempDir(), 'store')]);
  const before = await snapshot(dir);
  const cases: [string[], RegExp][] = [
    [['core.chunkAvg', '1000'], /core\.chunkAvg 1000: give 65536 /],
    [['core.chunkMin', '0'], /core\.chunkMin 0: give 32768 /],
    [['core.chunkMax', '1'], /core\.chunkMax 1: give 262144 /],
    [['core.hash', 'sha256'], /core\.hash sha256: give blake3 /],
    [['core.chunker', 'foo'], /core\.chunker foo: give fastcdc-gear32-v1 /],
    [['core.format', '2'], /core\.format 2: give 1 /],
    [['core.remote', 'nosuch'], /core\.remote nosuch: no remote has that name \(remotes: origin\)/],
    [['--global', 'core.remote', 'nosuch'], /core\.remote nosuch: no remote has that name/],
    [['remote.origin.jobs', 'abc'], /remote\.origin\.jobs abc: give a whole number from 1 to 256$/m],
    [['remote.origin.jobs', '0'], /remote\.origin\.jobs 0: give a whole number from 1 to 256$/m],
    // A committed config must not make every wait on a hung server last a day.
    [['remote.origin.timeout', '100000'], /remote\.origin\.timeout 100000: give a number from 1 to 600 \(seconds\)$/m],
    [['--local', 'remote.origin.timeout', '-5'], /remote\.origin\.timeout -5: give a number from 1 to 600 \(seconds\)$/m],
    [['remote.origin.checksum', 'md5'], /give when_required or when_supported$/m],
    [['remote.origin.pathStyle', 'maybe'], /give true or false$/m],
    [['remote.origin.endpoint', 'minio:9000'], /give an http:\/\/ or https:\/\/ URL$/m],
    [['remote.origin.url', 'ftp://host/x'], /remote\.origin\.url ftp:\/\/host\/x: give a directory path/],
    [
      ['remote.origin.regoin', 'eu-west-1'],
      /unknown config key remote\.origin\.regoin: a remote takes remote\.origin\.url, .*remote\.origin\.region/,
    ],
    [
      ['core.remotes', 'origin'],
      /unknown config key core\.remotes: dv reads core\.remote, core\.git, cache\.dir, gc\.protect, pipeline\.env, attest\.signCommits and remote\.NAME/,
    ],
    [['pipeline.env', 'A B'], /pipeline\.env "A B": give names of environment variables/],
    [['cache.dir', ' '], /cache\.dir " ": give a directory path/],
  ];
  for (const [args, pattern] of cases) assertError(await dv(dir, ['config', ...args]), 'USAGE', `dv config ${args.join(' ')}`, pattern);
  assertError(
    await dv(dir, ['remote', 'add', 'other', join(tempDir(), 'o'), '--endpoint', 'nohttp']),
    'USAGE',
    'remote add --endpoint',
    /remote\.other\.endpoint nohttp: give an http/,
  );
  assert.deepEqual(await snapshot(dir), before, 'no file changed');

  // What dv reads is accepted, including the S3 options of a remote.
  await dvOk(dir, [
    'remote',
    'add',
    's3',
    's3://bucket/prefix',
    '--endpoint',
    'http://127.0.0.1:9000',
    '--region',
    'eu-west-1',
    '--profile',
    'ml',
    '--path-style',
    '--checksum',
    'when_supported',
    '-j',
    '3',
  ]);
  for (const [k, v] of [
    ['remote.s3.timeout', '2.5'],
    ['remote.s3.pathStyle', 'false'],
    ['core.remote', 's3'],
    ['core.chunkAvg', '65536'],
    ['pipeline.env', 'A, B_2'],
    ['--local', 'remote.origin.jobs'],
    ['cache.dir', join(dir, '.dv', 'cache')],
  ]) {
    await dvOk(dir, ['config', ...(k === '--local' ? [k, v, '16'] : [k, v])]);
  }
  assert.equal((await dvJson<{ name: string; isDefault: boolean }[]>(dir, ['remote', 'list'])).find((r) => r.isDefault)?.name, 's3');
});

test('read: a value dv cannot use in any file is BAD_CONFIG naming the file and key; dv config still fixes it', async () => {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'a');
  await dvOk(dir, ['add', '-q', 'data']);
  const store = join(tempDir(), 'store');
  await dvOk(dir, ['remote', 'add', 'origin', store]);
  const [repoFile, localFile, globalFile] = files(dir);
  const config = JSON.parse(await fsp.readFile(repoFile, 'utf8'));
  await fsp.mkdir(join(globalFile, '..'), { recursive: true });
  const variants: [string, string, unknown, string][] = [
    [repoFile, '.dv/config', { ...config, core: { ...config.core, chunkAvg: '1000' } }, 'core.chunkAvg'],
    [repoFile, '.dv/config', { ...config, core: { ...config.core, hash: 'sha256' } }, 'core.hash'],
    [localFile, '.dv/config.local', { remote: { origin: { jobs: 'abc' } } }, 'remote.origin.jobs'],
    [localFile, '.dv/config.local', { remote: { origin: { timeout: '-5' } } }, 'remote.origin.timeout'],
    [globalFile, '.xdg-test/dv/config', { remote: { origin: { checksum: 'md5' } } }, 'remote.origin.checksum'],
  ];
  for (const [file, name, tree, key] of variants) {
    const text = JSON.stringify(tree, null, 2) + '\n';
    const saved = await fsp.readFile(file, 'utf8').catch(() => null);
    await fsp.writeFile(file, text);
    for (const cmd of [['status'], ['push'], ['checkout']]) {
      const r = await dv(dir, cmd);
      assertError(
        r,
        'BAD_CONFIG',
        `${name} ${key}: dv ${cmd[0]}`,
        new RegExp(`${name.replace(/\./g, '\\.')}: ${key.replace(/\./g, '\\.')} is `),
      );
    }
    // dv config shows the bad value, and can replace it.
    assert.equal((await dvJson<Record<string, string>>(dir, ['config', '-l']))[key] !== undefined, true, `${name}: dv config -l works`);
    const level = file === localFile ? ['--local'] : file === globalFile ? ['--global'] : [];
    await dvOk(dir, ['config', ...level, '--unset', key]);
    await dvOk(dir, ['status', '-q']);
    if (saved === null) await fsp.rm(file);
    else await fsp.writeFile(file, saved);
  }
  await assert.rejects(fsp.stat(store), 'nothing was pushed');

  // core.remote naming no remote: no fallback to the only remote there is.
  await fsp.writeFile(localFile, JSON.stringify({ core: { remote: 'nosuch' } }));
  const r = await dv(dir, ['push']);
  assertError(
    r,
    'BAD_CONFIG',
    'core.remote nosuch',
    /config\.local: core\.remote is nosuch, which dv cannot use: no remote has that name \(remotes: origin\); fix it with `dv config --local core\.remote VALUE`/,
  );
  await assert.rejects(fsp.stat(store), 'nothing was pushed');
  await dvOk(dir, ['push', '-q', '-r', 'origin']);
  await fsp.rm(localFile);

  // Keys dv does not know are left alone (a newer dv may have written them).
  await fsp.writeFile(localFile, JSON.stringify({ remote: { origin: { futureOption: 'x' } }, newsection: { key: 'v' } }));
  assert.match(await dvOk(dir, ['push']), /everything up to date/);
});

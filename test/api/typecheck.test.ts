/**
 * The package as a user sees it: a small TypeScript program imports `dv` through node_modules
 * (a symlink to this repository, so package.json "exports" and "types" are what resolve),
 * compiles under --strict with the repository's tsc, and its JavaScript runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { REPO_DIR, tempDir } from '../helpers/cli.js';

const TSC = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');

const PROGRAM = `import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo, DvError, ERROR_CODES, type StatusResult, type LogEntry, type Change, type ErrorCode } from 'dv';

const dir = process.argv[2];
const repo: Repo = await Repo.init(dir, { noGit: true });
await fsp.mkdir(join(dir, 'data'));
await fsp.writeFile(join(dir, 'data', 'a.csv'), 'x,y\\n1,2\\n');
const added = await repo.add({ paths: ['data'], message: 'first' });
const snapshot: string = added.added[0].snapshot;
await fsp.appendFile(join(dir, 'data', 'a.csv'), '3,4\\n');
const st: StatusResult = await repo.status();
const modified: string[] = st.paths.flatMap((p) => p.modified);
await repo.commit({ message: 'second', meta: { by: 'typecheck' } });
const log: LogEntry[] = await repo.log();
const changes: Change[] = (await repo.diff({ a: snapshot, b: log[0].id })).changes;
let code: ErrorCode | undefined;
try {
  await repo.push();
} catch (e) {
  if (e instanceof DvError) code = e.code;
}
const remotes = (await (await Repo.open(join(dir, 'data'))).listRemotes()).length;
console.log(JSON.stringify({
  modified, remotes, code,
  messages: log.map((e) => e.message),
  changes: changes.map((c) => c.type + ' ' + c.path),
  exit: code ? ERROR_CODES[code].exit : 0,
}));
`;

/** Mistakes the types must catch. */
const WRONG = `import { Repo } from 'dv';
const repo = await Repo.open('.');
await repo.add({ path: 'data' });
const n: number = (await repo.status()).clean;
await repo.checkout({ target: 42 });
`;

function tsc(dir: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(
    process.execPath,
    [
      TSC,
      '--strict',
      '--target',
      'ES2022',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--types',
      'node',
      '--typeRoots',
      join(REPO_DIR, 'node_modules', '@types'),
      ...args,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

test('a strict TypeScript program using the dv package compiles, and its JavaScript runs', async () => {
  const dir = tempDir('dv-typecheck-');
  await fsp.mkdir(join(dir, 'node_modules'));
  await fsp.symlink(REPO_DIR, join(dir, 'node_modules', 'dv'), 'dir');
  await fsp.writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'user-program', private: true, type: 'module' }));
  await fsp.writeFile(join(dir, 'main.ts'), PROGRAM);
  await fsp.writeFile(join(dir, 'wrong.ts'), WRONG);

  const check = tsc(dir, ['--noEmit', 'main.ts']);
  assert.equal(check.code, 0, `tsc --noEmit --strict failed:\n${check.out}`);

  const wrong = tsc(dir, ['--noEmit', 'wrong.ts']);
  assert.notEqual(wrong.code, 0, 'the types accepted a wrong program');
  assert.match(wrong.out, /wrong\.ts\(3,\d+\): error TS\d+: .*'path' does not exist/, wrong.out);
  assert.match(wrong.out, /wrong\.ts\(4,\d+\): error TS2322/, wrong.out);
  assert.match(wrong.out, /wrong\.ts\(5,\d+\): error TS2322/, wrong.out);

  const emit = tsc(dir, ['--outDir', 'out', 'main.ts']);
  assert.equal(emit.code, 0, emit.out);
  const work = join(dir, 'work');
  await fsp.mkdir(work);
  const run = spawnSync(process.execPath, [join(dir, 'out', 'main.js'), work], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg') },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '', 'the library wrote to stderr');
  // The program's one line is all there is: the library itself prints nothing.
  assert.equal(run.stdout.split('\n').filter(Boolean).length, 1, run.stdout);
  assert.deepEqual(JSON.parse(run.stdout), {
    modified: ['data/a.csv'],
    remotes: 0,
    code: 'NO_REMOTE',
    messages: ['second', 'first'],
    changes: ['modified a.csv'],
    exit: 30,
  });
});

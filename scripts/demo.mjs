#!/usr/bin/env node
// `npm run demo`: dv end to end on a generated dataset in a temporary git repository, printing
// every command and its output, then checking that a fresh clone got byte-identical data.
// Needs only Node, git and a built dv (npm run build); leaves nothing behind (DV_DEMO_KEEP=1 keeps it).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DV = fileURLToPath(new URL('../bin/dv', import.meta.url));
// Piped into `head`, the reader may go away: keep going quietly so the clean-up still runs.
let muted = false;
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') muted = true;
  else throw e;
});
const write = (s) => {
  if (!muted) process.stdout.write(s);
};
const color = process.stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
const bold = (s) => (color ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (color ? `\x1b[2m${s}\x1b[0m` : s);
const say = (s) => write(`\n${bold(s)}\n`);

const root = mkdtempSync(join(tmpdir(), 'dv-demo-'));
process.once('SIGINT', () => {
  rmSync(root, { recursive: true, force: true });
  process.exit(130);
});
// The user's own git and dv configuration (identity, hooks, signing, cache dir) stay out of it.
const env = { ...process.env, XDG_CONFIG_HOME: join(root, 'xdg'), GIT_CONFIG_NOSYSTEM: '1', HOME: root };

class DemoError extends Error {}

const shown = (args) => args.map((a) => (/^[\w./@:=,+-]+$/.test(a) ? a : `"${a}"`)).join(' ');

/** Runs a command in `cwd`, printing it and its output; fails the demo when it fails. */
function run(cwd, cmd, args, { quiet = false } = {}) {
  const where = cwd === root ? '' : dim(`${cwd.slice(root.length + 1)}`) + ' ';
  if (!quiet) write(`${where}$ ${cmd} ${shown(args)}\n`);
  const argv = cmd === 'dv' ? [process.execPath, [DV, ...args]] : [cmd, args];
  const r = spawnSync(argv[0], argv[1], { cwd, env, encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd();
  if (!quiet && out)
    write(
      out
        .split('\n')
        .map((l) => (l.trim() ? `  ${l}` : ''))
        .join('\n') + '\n',
    );
  if (r.status !== 0) throw new DemoError(`\`${cmd} ${shown(args)}\` exited ${r.status ?? r.signal}${quiet ? `:\n${out}` : ''}`);
  return out;
}

/** Deterministic bytes (xorshift32): the demo shows the same numbers on every run. */
function bytes(seed, size) {
  const b = Buffer.alloc(size + 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b.writeUInt32LE(s, i);
  }
  return b.subarray(0, size);
}

function csvRows(from, to) {
  const lines = [];
  for (let i = from; i < to; i++) lines.push(`${i},${((i * 7919) % 1000) / 10},${['cat', 'dog', 'bird'][i % 3]}`);
  return lines.join('\n') + '\n';
}

async function makeDataset(dir) {
  await fsp.mkdir(join(dir, 'images'), { recursive: true });
  await fsp.writeFile(join(dir, 'train.csv'), 'id,score,label\n' + csvRows(0, 20_000));
  for (let i = 0; i < 50; i++)
    await fsp.writeFile(join(dir, 'images', `img_${String(i).padStart(3, '0')}.jpg`), bytes(i + 1, 4000 + i * 100));
  await fsp.writeFile(join(dir, 'model.bin'), bytes(999, 4 * 1024 * 1024));
  await fsp.writeFile(join(dir, 'labels.json'), JSON.stringify({ cat: 0, dog: 1, bird: 2 }, null, 2) + '\n');
}

/** Every file's kind, mode and SHA-256: equal maps mean byte-identical trees. */
async function describe(dir, rel = '', out = {}) {
  for (const d of (await fsp.readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    const st = await fsp.lstat(join(dir, r));
    if (st.isSymbolicLink()) out[r] = `link ${await fsp.readlink(join(dir, r))}`;
    else if (st.isDirectory()) await describe(dir, r, out);
    else
      out[r] = `${st.mode & 0o111 ? 'x' : '-'} ${createHash('sha256')
        .update(await fsp.readFile(join(dir, r)))
        .digest('hex')}`;
  }
  return out;
}

function sameTree(a, b) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]);
}

const snapshotIn = (out) => {
  const m = /snapshot ([0-9a-f]{12})/.exec(out);
  if (!m) throw new DemoError(`no snapshot id in:\n${out}`);
  return m[1];
};

async function demo() {
  const project = join(root, 'project');
  const remote = join(root, 'shared-storage');
  const clone = join(root, 'teammate');
  write(`${bold('dv demo')}: a dataset versioned beside git, pushed, cloned and restored\n${dim(`(in ${root}; removed at the end)`)}\n`);

  say('1. A git project gets a dataset: a 20,000-row CSV, 50 images and a 4 MiB model.');
  await fsp.writeFile(join(root, '.gitconfig'), '[user]\n\tname = Ada Demo\n\temail = ada@example.com\n[commit]\n\tgpgsign = false\n');
  run(root, 'git', ['-c', 'init.defaultBranch=main', 'init', '-q', 'project']);
  run(project, 'dv', ['init']);
  await makeDataset(join(project, 'data'));
  const first = run(project, 'dv', ['add', 'data', '-m', 'first import']);
  const v1 = snapshotIn(first);
  const v1Tree = await describe(join(project, 'data'));
  run(project, 'git', ['add', 'data.dv', '.gitignore', '.gitattributes', '.dv/config', '.dv/.gitignore']);
  run(project, 'git', ['commit', '-q', '-m', 'track the dataset']);
  write(dim('git now tracks data.dv, a few lines naming the snapshot; data/ itself is in .gitignore.\n'));

  say('2. The data changes: new rows, one image relabelled, one removed, one added.');
  await fsp.appendFile(join(project, 'data', 'train.csv'), csvRows(20_000, 21_000));
  await fsp.writeFile(join(project, 'data', 'images', 'img_007.jpg'), bytes(4242, 4700));
  await fsp.rm(join(project, 'data', 'images', 'img_013.jpg'));
  await fsp.writeFile(join(project, 'data', 'images', 'img_050.jpg'), bytes(50_000, 5000));
  run(project, 'dv', ['status']);
  const v2 = snapshotIn(run(project, 'dv', ['commit', '-m', 'more rows, fix img_007', '--meta', 'ticket=DATA-42']));
  write(dim('Only the changed chunks were stored: the 4 MiB model and the unchanged images cost nothing.\n'));
  run(project, 'git', ['commit', '-q', '-am', 'data v2']);
  run(project, 'dv', ['log', '-n', '2']);
  run(project, 'dv', ['diff', v1, v2]);

  say('3. Share it: push every snapshot to a directory remote (an s3:// URL works the same way).');
  run(project, 'dv', ['remote', 'add', 'origin', remote, '--default']);
  run(project, 'git', ['commit', '-q', '-am', 'dv remote']);
  run(project, 'dv', ['push', '--all-history']);
  run(project, 'dv', ['status', '--remote']);

  say('4. A teammate clones the code and pulls the data.');
  run(root, 'git', ['clone', '-q', 'project', 'teammate']);
  run(clone, 'dv', ['pull', '--all-history']);
  run(clone, 'dv', ['status']);
  const pulled = sameTree(await describe(join(project, 'data')), await describe(join(clone, 'data')));
  if (pulled.length > 0) throw new DemoError(`the clone's data differs from the original: ${pulled.slice(0, 5).join(', ')}`);

  say('5. Back in time: restore the first snapshot, then return with git.');
  run(clone, 'dv', ['checkout', v1]);
  const restored = sameTree(v1Tree, await describe(join(clone, 'data')));
  if (restored.length > 0) throw new DemoError(`the restored snapshot differs from the first version: ${restored.slice(0, 5).join(', ')}`);
  write(dim('data/ is the first import again, byte for byte; data.dv names that snapshot.\n'));
  run(clone, 'git', ['checkout', '--', 'data.dv']);
  run(clone, 'dv', ['checkout']);
  run(clone, 'dv', ['fsck']);

  const original = await describe(join(project, 'data'));
  const final = sameTree(original, await describe(join(clone, 'data')));
  if (final.length > 0) throw new DemoError(`the clone's data differs from the original: ${final.slice(0, 5).join(', ')}`);
  write(`\n${bold('ok')}: the teammate's data/ is byte-identical to the original (${Object.keys(original).length} files compared).\n`);
}

let code = 0;
try {
  if (!existsSync(fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url))))
    throw new DemoError('dv is not built: run `npm run build` (or `npm install`) first');
  if (spawnSync('git', ['--version']).status !== 0)
    throw new DemoError('git is not installed: dv versions data beside git, install it first');
  await demo();
} catch (e) {
  code = 1;
  process.stderr.write(`\ndemo failed: ${e instanceof DemoError ? e.message : (e?.stack ?? e)}\n`);
} finally {
  if (process.env.DV_DEMO_KEEP) write(dim(`kept ${root}\n`));
  else await fsp.rm(root, { recursive: true, force: true });
}
process.exit(code);

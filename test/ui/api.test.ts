/**
 * `dv ui`'s JSON through `Repo#ui` (the library's front door, same op as the CLI): commits,
 * dataset diff and metrics come in pages that add up to the whole; experiments `dv exp run` made;
 * a stage that is not there is 404, HEAD has no body. And through the CLI: a bad --port is one
 * USAGE line, a port in use says so, `--open` hands the URL to the desktop's opener.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { dvInProcess as dvIn } from '../helpers/in-process.js';
import { DvError, Repo } from '../../src/index.js';
import { dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';
import { type UiRepo, uiRepo } from './fixture.js';
import { startUi } from './server.js';

let fx: UiRepo;
before(async () => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-ui-xdg-');
  fx = await uiRepo();
});

/** Runs `repo.ui` of `dir` (the fixture by default) until `body` is done with its URL; returns what `ui` resolved to. */
async function withUi(body: (url: string) => Promise<void>, dir = fx.repo): Promise<{ url: string; requests: number }> {
  const repo = await Repo.open(dir);
  const stop = new AbortController();
  let listening!: (url: string) => void;
  const url = new Promise<string>((r) => (listening = r));
  const done = repo.ui({ port: 0, onListening: listening, signal: stop.signal });
  try {
    await body(await Promise.race([url, done.then(() => Promise.reject(new Error('ui ended before listening')))]));
  } finally {
    stop.abort();
  }
  return done;
}

async function get(url: string, path: string): Promise<any> {
  const r = await fetch(new URL(path, url));
  assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
  assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  return r.json();
}

test('Repo#ui: commits, diff and metrics in pages that add up to the whole; experiments; 404 and HEAD', async () => {
  const [c1, c2, c3] = fx.commits;
  // A real experiment (dv exp run), read back through the same reader `dv exp show` uses.
  await dvOk(fx.repo, ['exp', 'run', '-S', 'train.lr=0.1', '-n', 'lr-0.1']);
  const shown = await dvJson(fx.repo, ['exp', 'show', '--json']);
  const exp = shown.rows.find((r: any) => r.name === 'lr-0.1');
  assert.ok(exp?.commit && typeof exp.metrics['metrics.json'].score === 'number', JSON.stringify(shown));
  const r = await withUi(async (url) => {
    // Commits, newest first, one per page.
    const pages = [];
    for (let offset = 0; offset < 3; offset++) pages.push(await get(url, `/api/commits?limit=1&offset=${offset}`));
    assert.deepEqual(
      pages.map((p) => [p.items[0].commit, p.more]),
      [
        [c3, true],
        [c2, true],
        [c1, false],
      ],
    );
    assert.ok(
      pages[2].items[0].paths.every((p: any) => p.status === 'added'),
      'the first commit adds every tracked path',
    );
    const raw = pages[0].items[0].paths.find((p: any) => p.path === 'data/raw');
    assert.deepEqual([raw.status, raw.before.files, raw.files], ['modified', 2, 3]);
    assert.equal((await get(url, `/api/commits?rev=${c2}`)).items.length, 2, 'from another revision');

    // The dataset diff in pages of two: the pages are the whole list, in order.
    const whole = await get(url, `/api/diff?a=${c1}&b=${c3}`);
    assert.equal(whole.total, 6);
    assert.deepEqual(whole.counts, { added: 1, modified: 5, deleted: 0 });
    const paged = [];
    for (let offset = 0; offset < 6; offset += 2) {
      const p = await get(url, `/api/diff?a=${c1}&b=${c3}&offset=${offset}&limit=2`);
      assert.equal(p.more, offset + 2 < 6);
      paged.push(...p.items);
    }
    assert.deepEqual(paged, whole.items);
    assert.deepEqual(
      whole.items.find((x: any) => x.path === 'data/raw/c.csv'),
      { type: 'added', path: 'data/raw/c.csv', kind: 'file', size: 4 },
    );
    assert.deepEqual((await get(url, `/api/diff?a=HEAD&b=HEAD`)).items, [], 'a revision against itself');

    // Metrics per commit, newest first, and the experiment ref.
    const m = await get(url, '/api/metrics');
    assert.deepEqual(
      m.items.map((i: any) => i.files[0].values.score),
      [...fx.scores].reverse(),
    );
    assert.deepEqual(
      m.experiments.map((x: any) => [x.name, x.commit, x.files[0].values.score]),
      [['lr-0.1', exp.commit, exp.metrics['metrics.json'].score]],
    );

    // The DAG and a stage that is not there; HEAD answers without a body.
    assert.deepEqual(
      (await get(url, '/api/dag')).nodes.map((n: any) => n.id),
      ['prepare', 'featurize', 'train', 'evaluate'],
    );
    const missing = await fetch(new URL('/api/stage?name=nope', url));
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /no stage "nope" in dv\.yaml/);
    const head = await fetch(new URL('/api/dag', url), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.ok(Number(head.headers.get('content-length')) > 100, 'HEAD says how long the answer is');
  });
  assert.equal(r.requests, 13, 'every request counted');
  await dvOk(fx.repo, ['exp', 'remove', 'lr-0.1']);
});

test('dv ui: a bad --port is USAGE, a port in use says so, --open hands the URL to the opener', async () => {
  for (const port of ['abc', '-1', '70000', '1.5']) {
    const r = await dvIn(fx.repo, ['ui', '--port', port]);
    assert.equal(r.code, 2, `--port ${port}: ${r.stderr}`);
    assert.match(r.stderr, /^dv: error USAGE: -p 70000|^dv: error USAGE: .*(--port|-p)/);
  }
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  try {
    const repo = await Repo.open(fx.repo);
    await assert.rejects(repo.ui({ port }), (e: unknown) => e instanceof DvError && e.code === 'USAGE' && /in use/.test(e.message));
  } finally {
    taken.close();
  }

  // --open: a fake xdg-open (first on PATH) records the URL it was given.
  const bin = tempDir('dv-ui-open-');
  const seen = join(bin, 'opened.txt');
  await fsp.writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > '${seen}'\n`, { mode: 0o755 });
  const { url, child } = await startUi(fx.repo, ['--open'], { PATH: `${bin}:${process.env.PATH}` });
  try {
    for (let i = 0; i < 100 && !(await fsp.stat(seen).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await fsp.readFile(seen, 'utf8'), url);
  } finally {
    child.kill('SIGINT');
  }
});

/** The pointers a commit holds, as git itself lists them: tracked path to snapshot. */
function pointersByGit(repo: string, commit: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!commit) return m;
  for (const path of git(repo, ['ls-tree', '-r', '--name-only', commit])
    .split('\n')
    .filter((p) => p.endsWith('.dv')))
    m.set(path.slice(0, -3), /snapshot: (\S+)/.exec(git(repo, ['show', `${commit}:${path}`]))![1]);
  return m;
}

test('the Commits view across merges: each commit shows the snapshots git holds there and its first parent holds', async () => {
  const repo = await makeRepo();
  const write = async (path: string, text: string): Promise<void> => {
    await fsp.mkdir(join(repo, path, '..'), { recursive: true });
    await fsp.writeFile(join(repo, path), text);
  };
  const commit = (m: string): void => {
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', m]);
  };
  await write('a/x.txt', '1');
  await write('b/y.txt', '1');
  await dvOk(repo, ['add', 'a', 'b']);
  commit('base');
  git(repo, ['checkout', '-qb', 'side']);
  for (const v of ['2', '3']) {
    await write('a/x.txt', v);
    await dvOk(repo, ['commit', 'a']);
    commit(`side ${v}`);
  }
  git(repo, ['checkout', '-q', 'main']);
  await write('b/y.txt', '2');
  await dvOk(repo, ['commit', 'b']);
  commit('main 2');
  git(repo, ['merge', '-q', '--no-edit', 'side']);
  await dvOk(repo, ['remove', 'b']);
  commit('b no longer tracked');
  const log = git(repo, ['log', '--format=%H %P'])
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  await withUi(async (base) => {
    // Pages of two: a page may start anywhere, and in git's order a merge's parents are not neighbours.
    const rows = [];
    for (let offset = 0; offset < log.length; offset += 2) rows.push(...(await get(base, `/api/commits?limit=2&offset=${offset}`)).items);
    assert.deepEqual(
      rows.map((c: any) => c.commit),
      log.map((l) => l[0]),
    );
    for (const [k, [c, parent]] of log.entries()) {
      const now = pointersByGit(repo, c);
      const then = pointersByGit(repo, parent);
      const expect = [...new Set([...now.keys(), ...then.keys()])].sort().map((path) => {
        const status = !then.has(path) ? 'added' : !now.has(path) ? 'deleted' : then.get(path) === now.get(path) ? 'unchanged' : 'modified';
        return [path, status, now.get(path) ?? then.get(path)];
      });
      assert.deepEqual(
        rows[k].paths.map((p: any) => [p.path, p.status, p.snapshot ?? p.before.snapshot]),
        expect,
        `commit ${k}: ${rows[k].subject}`,
      );
    }
    assert.ok(
      rows[0].paths.some((p: any) => p.path === 'b' && p.status === 'deleted'),
      'an untracked path shows as deleted',
    );
  }, repo);
});

test('a repository without commits: empty pages, an empty DAG', async () => {
  const repo = await makeRepo();
  await withUi(async (base) => {
    assert.deepEqual(await get(base, '/api/commits'), { items: [], offset: 0, more: false });
    assert.deepEqual((await get(base, '/api/metrics')).items, []);
    assert.deepEqual((await get(base, '/api/dag')).nodes, []);
    assert.deepEqual((await get(base, '/api/revs')).recent, []);
  }, repo);
});

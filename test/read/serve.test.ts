/**
 * `dv serve` as a real process in a fresh clone that fetched nothing (every byte comes from the
 * directory remote, verified): listings, whole files and ranges byte-identical (node's fetch and
 * real curl), any revision by `/@rev/`, refusals (traversal, encoded slash, writes, a foreign
 * Host), and WebDAV read by a real client (the `webdav` package; rclone too where installed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createClient, type FileStat } from 'webdav';
import { run, tempDir } from '../helpers/cli.js';
import { type LocalServer, rawRequest, startServer } from '../helpers/local-server.js';
import { twoVersionsPushed } from './setup.js';

/** Starts `dv serve args` in `cwd`; resolves with its URL once it prints the line. */
const startServe = (cwd: string, args: string[]): Promise<LocalServer> => startServer('serve', /^serving (http:\/\/\S+\/)/m, cwd, args);

/** A raw request with the path exactly as given (fetch would normalise `..`) and an optional Host. */
const rawGet = (url: string, path: string, headers: Record<string, string> = {}, method = 'GET') => rawRequest(url, path, method, headers);

test('dv serve: listings, files and ranges byte-identical from a clone that fetched nothing, any revision, refusals, WebDAV', async () => {
  const remote = join(tempDir(), 'remote');
  const { a, b, v1 } = await twoVersionsPushed(remote);
  const v2 = await fsp.readFile(join(a, 'data', 'large0.bin'));
  const large1 = await fsp.readFile(join(a, 'data', 'large1.bin'));
  const { url, child } = await startServe(b, ['--webdav']);
  try {
    const root = await (await fetch(url)).text();
    assert.match(root, /<a href="\/data\/">data\/<\/a>/);
    const listing = await fetch(`${url}data/`);
    assert.equal(listing.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await listing.text(), /href="\/data\/large0\.bin">large0\.bin</);

    const whole = await fetch(`${url}data/large1.bin`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.equal(whole.headers.get('content-length'), String(large1.length));
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(large1), 'whole file byte-identical');
    assert.ok(Buffer.from(await (await fetch(`${url}@v1/data/large0.bin`)).arrayBuffer()).equals(v1), '/@v1/ is tag v1');

    // Ranges: inside one chunk, across many (a range deep in a 12 MB file), a suffix, past the end.
    for (const [h, start, end] of [
      ['bytes=10-19', 10, 20],
      ['bytes=5000000-9999999', 5_000_000, 10_000_000],
      ['bytes=11999000-', 11_999_000, large1.length],
    ] as const) {
      const r = await fetch(`${url}data/large1.bin`, { headers: { Range: h } });
      assert.equal(r.status, 206, h);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/${large1.length}`);
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(large1.subarray(start, end)), h);
    }
    const suffix = await fetch(`${url}data/large0.bin`, { headers: { Range: 'bytes=-100' } });
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(v2.subarray(v2.length - 100)));
    const past = await fetch(`${url}data/large0.bin`, { headers: { Range: `bytes=${v2.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${v2.length}`);
    // Real curl with -r.
    const curl = spawnSync('curl', ['-sf', '-r', '100-299', `${url}data/large0.bin`]);
    assert.equal(curl.status, 0, String(curl.stderr));
    assert.ok(curl.stdout.equals(v2.subarray(100, 300)), 'curl -r 100-299');

    // Refusals: traversal, an encoded slash, writes, a name that is not there, a foreign Host.
    assert.equal((await rawGet(url, '/data/%2e%2e/secret')).status, 400);
    assert.equal((await rawGet(url, '/data/a%2Fb')).status, 400);
    assert.equal((await rawGet(url, '/data/large0.bin', {}, 'PUT')).status, 405);
    assert.equal((await rawGet(url, '/data/large0.bin', {}, 'DELETE')).status, 405);
    assert.equal((await rawGet(url, '/data/no-such-file')).status, 404);
    assert.equal((await rawGet(url, '/.dv/config')).status, 404);
    assert.equal((await rawGet(url, '/data/large0.bin', { Host: 'attacker.example:80' })).status, 403);
    assert.equal((await rawGet(url, '/data/', { Depth: 'infinity' }, 'PROPFIND')).status, 403);

    // WebDAV with a real client.
    const dav = createClient(url);
    const entries = (await dav.getDirectoryContents('/data')) as FileStat[];
    const large = entries.find((e) => e.basename === 'large1.bin');
    assert.equal(large?.type, 'file');
    assert.equal(large?.size, large1.length);
    assert.ok(
      entries.some((e) => e.type === 'directory'),
      'subdirectories are collections',
    );
    assert.ok(Buffer.from((await dav.getFileContents('/data/large1.bin')) as ArrayBuffer).equals(large1), 'WebDAV GET');

    // rclone's WebDAV backend, where Debian's rclone is installed.
    if (spawnSync('rclone', ['version']).status === 0) {
      const dest = join(tempDir(), 'copy');
      const opts = ['--webdav-url', url, '--config', '/dev/null'];
      const lsf = await run('rclone', ['lsf', ':webdav:data', ...opts], b);
      assert.match(lsf.stdout, /^large1\.bin$/m);
      const copied = await run('rclone', ['copy', ':webdav:data', dest, ...opts], b);
      assert.equal(copied.code, 0, copied.stderr);
      assert.ok((await fsp.readFile(join(dest, 'large1.bin'))).equals(large1), 'rclone copy');
      assert.ok((await fsp.readFile(join(dest, 'large0.bin'))).equals(v2), 'rclone copy');
    }
  } finally {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    // Ctrl-C is how a server stops: exit 0, not INTERRUPTED.
    assert.equal(await exited, 0);
  }
});

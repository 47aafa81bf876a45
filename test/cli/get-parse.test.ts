/** `dv get`, `dv import`, `dv update` parsed in-process: missing arguments, unknown options and hostile URLs are one USAGE line, and nothing is cloned. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { dvInProcess as dv } from '../helpers/in-process.js';
import { makeRepo, tempDir } from '../helpers/cli.js';

before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-get-parse-xdg-');
});

test('get/import/update: usage errors before anything runs', async () => {
  const repo = await makeRepo();
  const cases: [string[], RegExp][] = [
    [['get'], /missing required argument 'repo-url'; run `dv get --help`/],
    [['get', '../x'], /missing required argument 'path'/],
    [['import', '../x', 'data', '--bogus'], /unknown option '--bogus'; run `dv import --help`/],
    [['update'], /missing required argument 'path'; run `dv update --help`/],
    [['get', '--', 'ext::sh -c id', 'data'], /"ext::sh -c id" is not a repository dv clones: a remote-helper transport/],
    [['import', '--', '--upload-pack=id', 'data'], /would be read as an option/],
    [['get', '../x', '/etc/passwd'], /give the path inside the source repository from its root/],
  ];
  for (const [args, pattern] of cases) {
    const r = await dv(repo, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^dv: error USAGE: [^\n]*\n$/);
    assert.match(r.stderr, pattern, args.join(' '));
  }
  const names = await fsp.readdir(repo);
  assert.ok(!names.includes('data') && !names.includes('passwd') && !names.includes('data.dv'), names.join(', '));
});

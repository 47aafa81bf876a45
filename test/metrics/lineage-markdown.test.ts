/** `dv lineage --format markdown` and `dv dag --format markdown`: the mermaid graph in a ```mermaid fence, usable as-is in Markdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dv, dvOk } from '../helpers/cli.js';
import { pipelineRepo } from '../pipeline/fixture.js';

test('lineage and dag --format markdown fence the mermaid output; an unknown format names the choices', async () => {
  const { repo, env } = await pipelineRepo();
  await dvOk(repo, ['repro'], env);
  const mermaid = await dvOk(repo, ['lineage', 'metrics.json', '--format', 'mermaid']);
  const md = await dvOk(repo, ['lineage', 'metrics.json', '--format', 'markdown']);
  assert.ok(!mermaid.startsWith('```'), 'plain mermaid stays unfenced');
  assert.equal(md.trimEnd(), `\`\`\`mermaid\n${mermaid.trimEnd()}\n\`\`\``);
  assert.match(md, /^```mermaid\n(flowchart|graph) /);
  const dag = await dvOk(repo, ['dag', '--format', 'markdown']);
  assert.match(dag, /^```mermaid\n[\s\S]*"train"[\s\S]*\n```\n?$/);
  const bad = await dv(repo, ['dag', '--format', 'svg']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--format svg: use text, mermaid, markdown or dot/);
});

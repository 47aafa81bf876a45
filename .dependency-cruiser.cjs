/**
 * The layer order of src/, checked by `npm run check` (dependency-cruiser). Arrows point down
 * only; folders of one rank do not import each other; no import cycle anywhere.
 * Keep ARCHITECTURE.md's table in step with LAYERS.
 */
// Top to bottom. A folder may import its own files and any folder of a lower rank.
const LAYERS = [
  ['cli', 'index.ts'],
  ['ops'],
  ['read', 'ui'],
  ['transfer'],
  ['provenance'],
  ['pipeline'],
  ['history'],
  ['workspace'],
  ['repo'],
  ['store'],
  ['backend'],
  ['core'],
  ['errors.ts'],
];

const path = (name) => (name.endsWith('.ts') ? `^src/${name.replace('.', '\\.')}$` : `^src/${name}/`);
const rules = [];
LAYERS.forEach((rank, i) => {
  const above = LAYERS.slice(0, i).flat();
  for (const name of rank) {
    const forbidden = [...above, ...rank.filter((other) => other !== name)];
    if (forbidden.length === 0) continue;
    rules.push({
      name: `layer-${name.replace('.ts', '')}`,
      comment: `${name} may not import ${forbidden.join(', ')} (layers point down: see ARCHITECTURE.md)`,
      severity: 'error',
      from: { path: path(name) },
      to: { path: forbidden.map(path) },
    });
  }
});

// Ops are use cases; the services they share live in lower folders. An op imports another op
// only to build on it: these ops compose the ones listed, no other op imports an op.
const COMPOSING_OPS = {
  pull: ['checkout', 'fetch'], // pull = fetch + checkout
  'checkout-rev': ['checkout', 'fetch'], // checkout at a git revision = fetch what it names + checkout
  repro: ['checkout'], // a run found in the run cache is checked out instead of run
  stage: ['untrack'], // stage remove --outs = remove of each out
  dag: ['stage'], // the DAG view = the stage list and its edges
  cat: ['ls'], // `dv ls <rev>:<path>` answers in the entries of `dv ls`
  attest: ['lineage'], // an attestation = the lineage of an artifact, signed
  'attest-verify': ['attest'], // verifying recomputes what `attest` states
  import: ['checkout'], // an import (and update) = fetch from another repository's remote + checkout of its snapshot
  'lineage-diff': ['lineage'], // a diff of two versions' lineage
  'audit-export': ['attest', 'lineage'], // a bundle = an attestation, the lineage and the objects they name
  'exp-run': ['repro', 'checkout'], // an experiment = repro in its own worktree, its inputs checked out there
  'exp-apply': ['checkout'], // applying = the experiment's files written, then its outs checked out
  'exp-push': ['push'], // sharing = git push of the refs + dv push of what their commits name
  'exp-pull': ['fetch'], // = git fetch of the refs + dv fetch of what their commits name
  commit: ['attest-commit'], // `dv commit --sign` = the commit, then an attestation of each snapshot
  'attest-commit': ['attest'], // signing at commit = `attest` of each recorded snapshot
  ui: ['ui-data', 'ui-pipeline'], // the web page's server = its JSON views
  'ui-data': ['diff', 'metrics'], // commits, dataset diff and metrics per commit = the diff op and metrics' reader
  'ui-pipeline': ['dag', 'lineage'], // the DAG view and a stage's lineage = the dag and lineage ops
};
const opFile = (names) => `^src/ops/(${names.join('|')})\\.ts$`;
rules.push({
  name: 'ops-compose-only',
  comment: `an op may not import another op (move what they share below ops/); only ${Object.keys(COMPOSING_OPS).join(', ')} compose ops`,
  severity: 'error',
  // commands.ts is the command table (one row per op, loaded lazily): it names every op by design.
  from: { path: '^src/ops/', pathNot: opFile([...Object.keys(COMPOSING_OPS), 'commands']) },
  to: { path: '^src/ops/' },
});
for (const [op, uses] of Object.entries(COMPOSING_OPS)) {
  rules.push({
    name: `ops-compose-${op}`,
    comment: `ops/${op}.ts composes only ${uses.join(', ')} (COMPOSING_OPS in .dependency-cruiser.cjs)`,
    severity: 'error',
    from: { path: opFile([op]) },
    to: { path: '^src/ops/', pathNot: opFile(uses) },
  });
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'import cycles make the layer order meaningless and module start-up order fragile',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-tests',
      comment: 'the package ships src/ alone: it may not import tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|benchmarks|scripts)/' },
    },
    ...rules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^dist/' },
  },
};

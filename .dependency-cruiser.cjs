/**
 * The layer order of src/, checked by `npm run check` (dependency-cruiser). Arrows point down
 * only; folders of one rank do not import each other; no import cycle anywhere.
 * Keep ARCHITECTURE.md's table in step with LAYERS.
 */
// Top to bottom. A folder may import its own files and any folder of a lower rank.
const LAYERS = [
  ['cli', 'index.ts'],
  ['ops'],
  ['transfer'],
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

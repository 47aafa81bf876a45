#!/usr/bin/env node
/**
 * The shape `npm run check` holds src/ to (issue 12, CONTRIBUTING.md): no function longer than
 * MAX_FUNCTION lines, no file of the CLI longer than MAX_CLI_FILE lines. Prints the largest of each
 * and exits 1 naming every file over a bound. Reads the TypeScript sources with the compiler's own
 * parser (no type check: `tsc` does that).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const MAX_FUNCTION = 120;
const MAX_CLI_FILE = 200;

function files(dir) {
  const out = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop();
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  }
  return out.sort();
}

function functionsOf(file) {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const stack = [sf];
  while (stack.length > 0) {
    const node = stack.pop();
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
      found.push({ file, line: start + 1, name, lines: end - start + 1 });
    }
    node.forEachChild((c) => {
      stack.push(c);
    });
  }
  return { lines: text.split('\n').length, found };
}

const failures = [];
let largestFn = { lines: 0 };
let largestCli = { lines: 0 };
for (const f of files('src')) {
  const { lines, found } = functionsOf(f);
  if (f.startsWith(join('src', 'cli')) && lines > largestCli.lines) largestCli = { file: f, lines };
  if (f.startsWith(join('src', 'cli')) && lines > MAX_CLI_FILE)
    failures.push(`${f}: ${lines} lines (the CLI keeps files under ${MAX_CLI_FILE})`);
  for (const fn of found) {
    if (fn.lines > largestFn.lines) largestFn = fn;
    if (fn.lines > MAX_FUNCTION)
      failures.push(`${fn.file}:${fn.line}: function ${fn.name} is ${fn.lines} lines (split it under ${MAX_FUNCTION})`);
  }
}
process.stdout.write(
  `shape: largest function ${largestFn.lines} lines (${largestFn.name}, ${largestFn.file}:${largestFn.line}); largest CLI file ${largestCli.lines} lines (${largestCli.file})\n`,
);
for (const f of failures) console.error(`shape: ${f}`);
process.exit(failures.length > 0 ? 1 : 0);

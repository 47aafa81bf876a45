/**
 * Building blocks of command definitions: the shared help text, the `--json`/`-q` pair every
 * command takes, and option parsers that refuse bad values as USAGE before anything runs.
 */
import { type Command, Option } from 'commander';
import { numberHint, parseNumber, type NumberRule } from '../core/number.js';
import { DvError } from '../errors.js';

export const EXIT_HELP = `
Exit codes:
  0 success; 1 unexpected error; 2 bad usage; 10 not a dv repository; 11 repository locked;
  16 would overwrite uncommitted changes; 20/21 unknown/ambiguous id; 22 object missing;
  23 object corrupt; 26 fsck found problems. \`dv help codes\` lists them all.`;

/** Adds `--json` and `-q`, which every command takes (also before the command name). */
export function common(c: Command): Command {
  return c.option('--json', 'print machine-readable JSON').option('-q, --quiet', 'print only errors');
}

/** A command under `parent` with its summary, an example and the exit codes in its help. */
export function command(parent: Command, name: string, summary: string, example: string): Command {
  return common(parent.command(name).description(summary).addHelpText('after', `\nExample:\n  ${example}\n${EXIT_HELP}`));
}

/** The example and exit codes of a sub-command (`remote add`), after its own options. */
export function example(c: Command, text: string, more = ''): Command {
  return common(c).addHelpText('after', `\nExample:\n  ${text}\n${EXIT_HELP}${more}`);
}

/** For repeatable options: `--meta a=1 --meta b=2`. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `--meta key=value` pairs as a record; a pair without `=` is USAGE. */
export function parseMeta(pairs: string[] | undefined): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i <= 0) throw new DvError('USAGE', `--meta ${JSON.stringify(p)} must be key=value`);
    meta[p.slice(0, i)] = p.slice(i + 1);
  }
  return meta;
}

/**
 * An option taking a number, checked as it is parsed (before anything runs): every numeric
 * option goes through here, so `-j abc`, `-j 0` and `-n -1` all say the same thing.
 */
export function numberOption(flags: string, description: string, rule: NumberRule, def?: number): Option {
  const flag = flags.split(/[\s,]+/)[0];
  const o = new Option(flags, description).argParser((v: string) => {
    const n = parseNumber(v, rule);
    if (n === undefined) throw new DvError('USAGE', `${flag} ${v}: give ${numberHint(rule)}`, { option: flag, value: v });
    return n;
  });
  return def === undefined ? o : o.default(def);
}

export const SECONDS: NumberRule = { min: 0, whole: false };

/** `--format text|mermaid|markdown|dot` of lineage and dag. */
export function checkFormat(format: string): void {
  if (!['text', 'mermaid', 'markdown', 'dot'].includes(format))
    throw new DvError('USAGE', `--format ${format}: use text, mermaid, markdown or dot`);
}

/** `--format markdown`: the mermaid graph in a ```mermaid fence, ready to paste into a Markdown file. */
export const mermaidFence = (mermaid: string): string => `\`\`\`mermaid\n${mermaid.replace(/\n+$/, '')}\n\`\`\``;

/** `-m` and `--meta`, which the commands that record a snapshot (add, commit) take. */
export function snapshotOptions(c: Command): Command {
  return c
    .option('-m, --message <msg>', 'snapshot message')
    .option('--meta <key=value>', 'metadata recorded in the snapshot (repeatable)', collect);
}

/** The message and metadata of `snapshotOptions`, checked, as the add and commit ops take them. */
export function snapshotMeta(o: { message?: string; meta?: string[] }): { message?: string; meta: Record<string, string> } {
  return { message: o.message, meta: parseMeta(o.meta) };
}

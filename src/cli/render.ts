/** Human-readable rendering of operation results. */
import { shellQuote as quote } from '../core/shell.js';
import type { Change } from '../core/diff.js';
import { ERROR_CODES } from '../errors.js';
import type { GitLogEntry, LogEntry } from '../ops/log.js';
import type { LsEntry } from '../ops/ls.js';
import type { StatusResult } from '../ops/status.js';
import type { RemoteStatusResult } from '../ops/remote-status.js';
import type { GcResult } from '../ops/gc.js';
import { count, human } from './progress.js';

/** Set by `main` for each run: colour only on a terminal, never with NO_COLOR or TERM=dumb. */
let color = false;
export function useColor(on: boolean): void {
  color = on;
}
const paint = (code: number, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string): string => paint(32, s);
export const red = (s: string): string => paint(31, s);
export const yellow = (s: string): string => paint(33, s);

/**
 * `text` safe for a terminal: names come from strangers' trees, and a raw ESC, BEL or CR in one
 * could rewrite the screen or the clipboard (OSC 52). Control characters become `\xNN`; the
 * colour codes dv adds itself (ESC [ n m) stay.
 */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: this regex exists to find control characters
    /\x1b(?!\[\d{1,2}m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** One sh word for a command the user pastes (core/shell.ts); one argument, so it can be given to `map`. */
export const shellQuote = (s: string): string => quote(s);

export function status(r: StatusResult): string {
  if (r.paths.length === 0) return 'nothing tracked: run `dv add <path>` to start';
  const lines: string[] = [];
  for (const p of r.paths) {
    if (p.state === 'clean') {
      lines.push(`${p.path}: up to date`);
      continue;
    }
    if (p.state === 'missing') {
      lines.push(`${p.path}: ${yellow('not in the workspace')} (run \`dv checkout\`)`);
      continue;
    }
    if (p.state === 'not-in-cache') {
      lines.push(`${p.path}: ${yellow('data not in the local store')} (run \`dv pull\`)`);
      continue;
    }
    const unfetched = p.notFetched.length > 0 ? `; ${p.notFetched.length} not fetched (\`dv pull\` fetches them)` : '';
    if (p.state === 'partial') {
      lines.push(`${p.path}: up to date${unfetched}`);
      for (const f of p.notFetched.slice(0, 5)) lines.push(`\tnot fetched: ${f}`);
      if (p.notFetched.length > 5) lines.push(`\t... and ${p.notFetched.length - 5} more not fetched`);
      continue;
    }
    const why =
      p.reason === 'pointer-moved'
        ? ` (${yellow('the pointer file moved')}, e.g. by git checkout: run \`dv checkout\` to follow it)`
        : p.reason === 'interrupted-checkout'
          ? ` (${yellow('a checkout was interrupted')}: run \`dv checkout\` to finish it)`
          : '';
    lines.push(`${p.path}: ${p.added.length} added, ${p.modified.length} modified, ${p.deleted.length} deleted${why}${unfetched}`);
    for (const f of p.added) lines.push(`\t${green('added:    ' + f)}`);
    for (const f of p.modified) lines.push(`\t${yellow('modified: ' + f)}`);
    for (const f of p.deleted) lines.push(`\t${red('deleted:  ' + f)}`);
  }
  // Missing and not-in-cache paths carry their own hint (checkout, pull) on their line.
  // Only edits would be lost by a checkout: the other reasons carry their own hint on their line.
  if (r.paths.some((p) => p.state === 'modified' && p.reason === 'edited'))
    lines.push('\nRecord the changes with `dv commit`, or discard them with `dv checkout --force`.');
  return lines.join('\n');
}

export function log(entries: LogEntry[]): string {
  if (entries.length === 0) return 'no snapshots';
  return entries
    .map((e) => {
      const git = e.lineage.git?.commit ? ` (git ${e.lineage.git.commit.slice(0, 10)}${e.lineage.git.dirty ? ', dirty' : ''})` : '';
      const meta = Object.entries(e.lineage.meta)
        .map(([k, v]) => `\n    ${k}=${v}`)
        .join('');
      const head = `${yellow('snapshot ' + e.id)}\npath:   ${e.path}\nauthor: ${e.author}\ndate:   ${e.time}${git}`;
      return `${head}\nfiles:  ${e.files}, ${human(e.size)}\n\n    ${e.message}${meta}\n`;
    })
    .join('\n');
}

export function gitLog(entries: GitLogEntry[]): string {
  if (entries.length === 0) return 'no commit changes a pointer file';
  return entries
    .map((e) => {
      const paths = e.paths
        .map((p) => {
          const where = p.fetched ? '' : yellow(' (not fetched)');
          return `    ${p.path}: snapshot ${p.snapshot.slice(0, 12)}, ${p.files} file${p.files === 1 ? '' : 's'}, ${human(p.size)}${where}`;
        })
        .join('\n');
      return `${yellow('commit ' + e.commit.slice(0, 12))} ${e.time} ${e.author}\n    ${e.subject}\n${paths}\n`;
    })
    .join('\n');
}

export function diff(changes: Change[]): string {
  if (changes.length === 0) return 'no differences';
  const mark = { added: green('A'), modified: yellow('M'), deleted: red('D') };
  return changes.map((c) => `${mark[c.type]}\t${c.path}`).join('\n');
}

export function ls(entries: LsEntry[]): string {
  return entries
    .map((e) => {
      if (e.type === 'link') return `link  ${''.padStart(10)}  ${e.path} -> ${e.target}`;
      const size = human(e.size ?? 0).padStart(10);
      return `${e.type === 'dir' ? 'dir ' : e.exec ? 'exec' : 'file'}  ${size}  ${e.path}${e.type === 'dir' ? '/' : ''}`;
    })
    .join('\n');
}

export function codes(): string {
  return Object.entries(ERROR_CODES)
    .map(([code, { exit, what }]) => `${String(exit).padStart(3)}  ${code.padEnd(20)} ${what}`)
    .join('\n');
}

export function remoteStatus(r: RemoteStatusResult): string {
  // What it compares is the work tree's pointer files: older versions are `dv push --all-history`'s.
  const lines = [`remote ${r.remote} (${r.url}): ${r.upToDate ? "up to date with the work tree's pointer files" : 'differs'}`];
  if (r.notPushed.objects > 0) lines.push(`  not pushed: ${r.notPushed.objects} objects (${human(r.notPushed.bytes)}); run \`dv push\``);
  if (r.notFetched.objects > 0)
    lines.push(`  not fetched: ${r.notFetched.objects} objects (${r.notFetched.onRemote} on the remote); run \`dv fetch\``);
  return lines.join('\n');
}

export function gc(r: GcResult): string {
  const shared =
    r.repositories.length > 1 ? ` in ${r.repositories.length} repositories sharing the cache (${r.repositories.join(', ')})` : '';
  const leftovers =
    r.leftoverFiles > 0 ? `, and ${human(r.leftoverBytes)} of leftovers from interrupted commands (${count(r.leftoverFiles, 'file')})` : '';
  const removed = `${count(r.removedObjects, 'object')} (${human(r.removedBytes)}) from ${count(r.removedPacks, 'pack')}${leftovers}`;
  const kept = `${count(r.reachableObjects, 'reachable object')} kept from ${count(r.roots, 'root')}${shared}`;
  return `${r.dryRun ? 'would remove' : 'removed'} ${removed}; ${kept}`;
}

/** What push, fetch and pull share: their arguments and options, and the "fetched" line. */
import type { Command } from 'commander';
import { COUNT } from '../core/number.js';
import { numberOption } from './options.js';
import { count, human } from './progress.js';

export interface TransferFlags {
  remote?: string;
  jobs?: number;
  allHistory?: boolean;
}

export function transferOptions(c: Command): Command {
  return c
    .argument('[paths...]', 'tracked paths (default: all)')
    .option('-r, --remote <name>', 'remote to use (default: core.remote)')
    .addOption(numberOption('-j, --jobs <n>', 'parallel transfers (default: remote.NAME.jobs, else 8)', COUNT))
    .option('-a, --all-history', 'every snapshot in the history, not only those the pointer files name');
}

/** The options push, fetch and pull take from their common arguments. */
export function transferArgs(paths: string[], cwd: string, o: TransferFlags) {
  return { paths, cwd, remote: o.remote, jobs: o.jobs, allHistory: o.allHistory };
}

export function fetched(r: {
  remote: string;
  objectsFetched: number;
  bytesFetched: number;
  requests: number;
  warnings?: string[];
}): string {
  const warnings = (r.warnings ?? []).map((w) => `warning: ${w}\n`).join('');
  const what = `${count(r.objectsFetched, 'object')} (${human(r.bytesFetched)}) in ${count(r.requests, 'request')}`;
  return `${warnings}${r.remote}: fetched ${what}`;
}

/**
 * Quoting for POSIX sh, the one rule for every command line dv shows the user to paste (`git rm
 * --cached 'my file'`) or writes into a git hook. Pure.
 */

/** Words sh takes as they are: no quoting needed. */
const PLAIN = /^[A-Za-z0-9_./-]+$/;

/** `s` as one sh word: bare when plain, else in single quotes (always quoted with `always`, as hooks are written). */
export function shellQuote(s: string, opts: { always?: boolean } = {}): string {
  return !opts.always && PLAIN.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

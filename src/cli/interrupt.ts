/**
 * Ctrl-C and SIGTERM, for the dv process alone (bin/dv installs it; `main` never touches process
 * signals). Every write dv makes is atomic (temp file + rename, data before the index that names
 * it), so stopping at once is safe: stop the writers, remove this process's temp files (a temp
 * pack of an add is up to ~32 MB per core), release the locks, say how to finish.
 */
import { ERROR_CODES } from '../errors.js';
import { releaseHeldLocksSync } from '../repo/lock.js';
import { removeOwnTempsSync } from '../store/atomic.js';
import { stopWritesSync } from '../workspace/write-temp.js';

/** Commands that write workspace files, and may stop before reaching some. */
const WORKSPACE_WRITERS = new Set(['add', 'commit', 'checkout', 'pull', 'repro']);

/** Installs the handlers; returns what `main` calls (as `Io.onCommand`) with the command it runs. */
export function exitOnInterrupt(): (command: string) => void {
  let running = '';
  const onInterrupt = (): void => {
    if (running === 'serve' || running === 'ui') {
      // Ctrl-C is how a server is stopped: no failure, nothing to finish.
      process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}dv ${running}: stopped\n`);
      process.exit(0);
    }
    const workspace = WORKSPACE_WRITERS.has(running) ? ', and the workspace files it had not reached are untouched' : '';
    // On a terminal, end the line a progress bar (or the echoed ^C) was on; a pipe gets one line.
    const nl = process.stderr.isTTY ? '\n' : '';
    const command = `dv${running ? ` ${running}` : ''}`;
    process.stderr.write(
      `${nl}dv: error INTERRUPTED: \`${command}\` stopped; what it wrote so far is complete and kept (nothing half-written)` +
        `${workspace}: run the same command again to finish\n`,
    );
    stopWritesSync();
    // After the write workers stopped: temp packs, temp indexes and atomic writes of this process.
    removeOwnTempsSync();
    releaseHeldLocksSync();
    process.exit(ERROR_CODES.INTERRUPTED.exit);
  };
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  return (command) => {
    running = command;
  };
}

/**
 * Every failure dv reports is a DvError with a stable UPPER_SNAKE code, a message
 * that says what to do, and the process exit code the CLI uses for it.
 * Messages may improve over time; codes and exit codes stay.
 */

export const ERROR_CODES = {
  ERROR: { exit: 1, what: 'unexpected failure' },
  USAGE: { exit: 2, what: 'bad command-line argument or option' },
  PARTIAL: { exit: 3, what: 'some items failed, the rest succeeded' },
  NOT_A_REPO: { exit: 10, what: 'no .dv directory here or above' },
  REPO_LOCKED: { exit: 11, what: 'another dv process holds the repository lock' },
  ALREADY_INITIALIZED: { exit: 12, what: 'dv init in a repository that has .dv already' },
  NOT_TRACKED: { exit: 13, what: 'the path is not tracked by dv' },
  PATH_OUTSIDE_REPO: { exit: 14, what: 'the path is outside the repository' },
  PATH_NOT_FOUND: { exit: 15, what: 'the path does not exist' },
  UNSAVED_CHANGES: { exit: 16, what: 'the operation would overwrite uncommitted changes' },
  BAD_CONFIG: { exit: 17, what: 'a configuration file or value is malformed' },
  BAD_POINTER: { exit: 18, what: 'a pointer file (.dv) is malformed' },
  UNKNOWN_ID: { exit: 20, what: 'no object has this id or prefix' },
  AMBIGUOUS_ID: { exit: 21, what: 'the id prefix matches several objects' },
  OBJECT_MISSING: { exit: 22, what: 'a referenced object is in no store' },
  OBJECT_CORRUPT: { exit: 23, what: 'an object does not match its id' },
  BAD_OBJECT: { exit: 24, what: 'an object cannot be decoded' },
  UNSAFE_PATH: { exit: 25, what: 'a tree entry or symlink would escape the workspace' },
  FSCK_FAILED: { exit: 26, what: 'dv fsck found problems' },
  NO_SPACE: { exit: 27, what: 'the disk is full' },
  PERMISSION_DENIED: { exit: 28, what: 'the file system refused access' },
  PATH_TOO_LONG: { exit: 29, what: 'a path is longer than the file system allows' },
  NO_REMOTE: { exit: 30, what: 'no such remote, or no default remote' },
  REMOTE_UNREACHABLE: { exit: 31, what: 'the remote cannot be reached' },
  AUTH_FAILED: { exit: 32, what: 'the remote refused the credentials' },
  REMOTE_NOT_FOUND: { exit: 33, what: 'the bucket or directory of the remote does not exist' },
  REMOTE_ERROR: { exit: 34, what: 'the remote failed the request' },
  REMOTE_UNTRUSTED: { exit: 35, what: 'a committed remote URL changed since this clone last used it (confirm: dv remote trust NAME)' },
  STAGE_FAILED: { exit: 40, what: "a pipeline stage failed (exit code: the stage's own when it has one)" },
  PIPELINE_INVALID: { exit: 41, what: 'dv.yaml or dv.lock is malformed, or the stages form a cycle' },
  NOT_REPRODUCIBLE: { exit: 42, what: 'dv repro --verify rebuilt outputs that differ from dv.lock' },
  ATTESTATION_INVALID: { exit: 43, what: 'an attestation does not verify: a signature, the artifact or a material does not match' },
  PLOT_DATA_INVALID: { exit: 45, what: "a plot's data file is unreadable, too large, malformed, or lacks a field dv.yaml names" },
  UNKNOWN_EXPERIMENT: { exit: 44, what: 'no experiment has this name (dv exp show -A lists them)' },
  INTERRUPTED: { exit: 130, what: 'stopped by a signal (Ctrl-C)' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class DvError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DvError';
    this.code = code;
    this.data = data;
  }
  get exitCode(): number {
    // A failed stage exits with the stage's own code, as `make` and DVC do.
    const own = this.data.exitCode;
    if (this.code === 'STAGE_FAILED' && typeof own === 'number' && Number.isInteger(own) && own > 0 && own < 256) return own;
    return ERROR_CODES[this.code].exit;
  }
}

export function isDvError(e: unknown, code?: ErrorCode): e is DvError {
  return e instanceof DvError && (code === undefined || e.code === code);
}

/** Linux's PATH_MAX and NAME_MAX, in bytes: the longest path (with its NUL) and name the kernel takes. */
export const PATH_MAX = 4096;
export const NAME_MAX = 255;

/**
 * A path for a one-line message: a long one shows its first three and last two parts with …
 * between (and how many were left out), each long part shortened the same way.
 */
export function shortPath(p: string): string {
  const part = (n: string): string => (n.length > 32 ? `${n.slice(0, 14)}…${n.slice(-14)}` : n);
  const parts = p.split('/');
  if (parts.length <= 6) return parts.map(part).join('/');
  return [...parts.slice(0, 3).map(part), `…${parts.length - 5} more…`, ...parts.slice(-2).map(part)].join('/');
}

/**
 * PATH_TOO_LONG for `path` (as the file system sees it): one line naming the path shortened and
 * what to do, never the 4 KB path itself (which stays in `data.path` for scripts).
 */
export function pathTooLong(
  path: string,
  cause?: unknown,
  todo = 'rename or move it to a shorter path, or out of the tracked path, and run the command again',
): DvError {
  const longest = Math.max(...path.split('/').map((n) => Buffer.byteLength(n)));
  const why =
    longest > NAME_MAX
      ? `has a name of ${longest} bytes (file systems take ${NAME_MAX})`
      : `is ${Buffer.byteLength(path)} bytes long (file systems take ${PATH_MAX - 1})`;
  return new DvError('PATH_TOO_LONG', `path too long: ${shortPath(path)} ${why}: ${todo}`, { path }, { cause });
}

/** An error as it crosses from a worker thread to its pool: its text and errno code (postMessage keeps no Error's own fields). */
export interface WorkerFault {
  message: string;
  code?: string;
}

/** `e` as a worker sends it: its stack or its message, and its errno code where it has one. */
export function workerFault(e: unknown, text: 'stack' | 'message'): WorkerFault {
  const err = e as NodeJS.ErrnoException | undefined;
  const message = text === 'stack' ? String(err?.stack ?? e) : (err?.message ?? String(e));
  return err?.code ? { message, code: err.code } : { message };
}

/** The Error a worker's fault stands for, its errno code kept (so `fsError` can say what failed). */
export function faultError(f: WorkerFault): Error {
  return Object.assign(new Error(f.message), f.code ? { code: f.code } : {});
}

/** Turns a Node file-system error into a DvError naming the file, where it has a clear meaning. */
export function fsError(e: unknown, file: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENAMETOOLONG') return pathTooLong(file, e);
  if (code === 'ENOSPC')
    return new DvError(
      'NO_SPACE',
      `no space left on device while writing ${file}: free some space and run the command again`,
      { file },
      { cause: e },
    );
  if (code === 'EACCES' || code === 'EPERM')
    return new DvError('PERMISSION_DENIED', `permission denied: ${file}: check its owner and mode`, { file }, { cause: e });
  if (code === 'EROFS') return new DvError('PERMISSION_DENIED', `read-only file system: ${file}`, { file }, { cause: e });
  return e;
}

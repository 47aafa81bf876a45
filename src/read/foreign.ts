/**
 * Another git repository as a source of data (`dv get`, `dv import`, `dv update`): cloned bare
 * into a temp directory, its committed `.dv/config` naming the remote its pointer files' data is
 * on, read with this user's global config for credentials and options, as `dv pull` reads.
 *
 * Invariants: the URL reaches git after `--`, never as an option, and no transport that runs a
 * program (`ext::`, any `<helper>::`) is accepted; git runs with `protocol.ext.allow=never` and
 * no hooks; the clone is bare, so nothing of it is checked out. Everything in the clone is
 * untrusted as SECURITY.md says for a clone: its `.dv/config` is size-capped and checked, and a
 * remote it names on the local disk must lie inside the source directory the user named (a source
 * from a network URL may name no local remote), so a stranger's repository cannot make dv read
 * the user's own files. The temp directory is removed whatever happens (`close`).
 */
import { promises as fsp, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseRemoteUrl } from '../backend/open.js';
import { DvError } from '../errors.js';
import { Config } from '../repo/config.js';
import { git } from '../repo/git.js';
import { resolveCommit } from '../repo/git-revision.js';
import { openRemote, resolveRemote, type RemoteConfig } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { RemoteIndex } from '../transfer/remote-index.js';
import type { RemoteHandle } from './source.js';

/** Where data came from, as an imported path's pointer file records it. */
export interface SourceRef {
  url: string;
  /** The revision asked for (absent: the source's default branch). */
  rev?: string;
  /** The git commit it resolved to. */
  commit: string;
  /** The path inside the source repository. */
  path: string;
}

export interface ForeignRepo {
  url: string;
  commit: string;
  /** The bare clone (a git directory; `locate` reads its pointer files at `commit`). */
  dir: string;
  remote: RemoteConfig;
  connect(): Promise<RemoteHandle>;
  close(): Promise<void>;
}

const MAX_CONFIG = 64 * 1024;
/** git options every call on a foreign repository carries: no program-running transport, no hooks. */
const SAFE = ['-c', 'protocol.ext.allow=never', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'];

/** USAGE for a URL dv will not hand to git: an option, a program-running transport, control characters. */
export function checkRepoUrl(url: string): void {
  const bad = (why: string): DvError =>
    new DvError(
      'USAGE',
      `${JSON.stringify(url)} is not a repository dv clones: ${why}; give a path, https://, ssh:// or git@host:path URL`,
      {
        url,
      },
    );
  if (url === '' || url.startsWith('-')) throw bad('it would be read as an option');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(url)) throw bad('it holds control characters');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) throw bad('a remote-helper transport (such as ext::) could run a program');
  if (/^ext:/i.test(url)) throw bad('the ext transport runs a program');
}

/**
 * The local directory the user named, when the URL is one (a path, or file://), through links.
 * As git decides: a colon before the first slash makes `host:path` (scp-like) or a scheme, not a path.
 */
function localSource(url: string, cwd: string): string | undefined {
  let p: string | undefined;
  if (/^file:\/\//i.test(url)) {
    const t = parseRemoteUrl(url);
    p = t.kind === 'local' ? t.path : undefined;
  } else if (isAbsolute(url) || url.startsWith('.') || !/^[^/]*:/.test(url)) p = resolve(cwd, url);
  if (p === undefined) return undefined;
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

const inside = (dir: string, p: string): boolean => {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r) && !r.startsWith(`..${sep}`));
};

/**
 * Clones `url` bare into a temp directory and reads its remote. `rev`: a branch, tag or commit
 * (default: the source's default branch).
 */
export async function openForeign(s: RepoSession, url: string, rev: string | undefined, cwd: string): Promise<ForeignRepo> {
  checkRepoUrl(url);
  const tmp = await fsp.mkdtemp(join(tmpdir(), 'dv-source-'));
  const close = (): Promise<void> => fsp.rm(tmp, { recursive: true, force: true });
  try {
    const dir = join(tmp, 'repo.git');
    const local = localSource(url, cwd);
    const r = await git(tmp, [...SAFE, 'clone', '--bare', '-q', '--', local ?? url, dir]);
    if (r.code !== 0)
      throw new DvError('REMOTE_UNREACHABLE', `git could not clone ${url}: ${r.stderr.trim().split('\n').pop() ?? ''}`, { url });
    const commit = await resolveCommit(dir, rev ?? 'HEAD');
    if (!commit)
      throw new DvError(
        'UNKNOWN_ID',
        `${url} has no ${rev === undefined ? 'default branch' : `revision ${rev}`}: check the branch, tag or commit`,
        {
          url,
          rev,
        },
      );
    const remote = await foreignRemote(s, dir, commit, url, local, tmp);
    const jobs = Number(remote.config.jobs) || 8;
    const connect = async (): Promise<RemoteHandle> => {
      const backend = await openRemote(remote.config, remote.base, { create: false, retry: { onRetry: s.onRetry } });
      try {
        await backend.check();
        const index = await RemoteIndex.load(backend, join(tmp, 'index-cache'), jobs);
        return { name: remote.config.name, backend, index };
      } catch (e) {
        await backend.close?.();
        throw e;
      }
    };
    return { url, commit, dir, remote: remote.config, connect, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The default remote of the source's committed `.dv/config` at `commit`, merged over this user's
 * global config (credentials, profiles, options), as a pull in a clone of it would see it.
 */
async function foreignRemote(
  s: RepoSession,
  dir: string,
  commit: string,
  url: string,
  local: string | undefined,
  tmp: string,
): Promise<{ config: RemoteConfig; base: string }> {
  const size = await git(dir, ['cat-file', '-s', `${commit}:.dv/config`]);
  if (size.code !== 0)
    throw new DvError(
      'NO_REMOTE',
      `${url} has no committed .dv/config at ${commit.slice(0, 10)}: it names no remote to read its data from`,
      {
        url,
      },
    );
  if (Number(size.stdout.trim()) > MAX_CONFIG)
    throw new DvError('BAD_CONFIG', `${url}: its .dv/config is larger than ${MAX_CONFIG} bytes: refusing it`, { url });
  const text = await git(dir, ['cat-file', 'blob', `${commit}:.dv/config`]);
  const file = join(tmp, 'config');
  await fsp.writeFile(file, text.stdout);
  const config = await Config.load({ global: s.config.files.global, repo: file, local: join(tmp, 'no-local-config') });
  let remote: RemoteConfig;
  try {
    remote = resolveRemote(config);
  } catch (e) {
    if (!(e instanceof DvError && e.code === 'NO_REMOTE')) throw e;
    // The source's config, not this repository's: the generic advice (`dv remote add`) would mislead.
    throw new DvError(
      'NO_REMOTE',
      `${url} at ${commit.slice(0, 10)}: its committed .dv/config names no default remote to read the data from: try another revision`,
      { url, rev: commit },
    );
  }
  // A relative directory remote is relative to the source repository; from a network URL there is none.
  const base = local ?? tmp;
  const target = parseRemoteUrl(remote.url, base);
  if (target.kind === 'local') {
    let real: string;
    try {
      real = realpathSync(target.path);
    } catch {
      real = target.path;
    }
    if (!local || !inside(local, real))
      throw new DvError(
        'REMOTE_UNTRUSTED',
        `${url}: its .dv/config names the directory ${target.path} as remote ${remote.name}, ${local ? `outside ${local}` : 'and the source is not on this disk'}: dv reads a source's local remote only inside the directory you named`,
        { url, remote: remote.name },
      );
  }
  return { config: remote, base };
}

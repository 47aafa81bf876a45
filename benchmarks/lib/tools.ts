// The tools measured: dv and its peers (restic, borg, git-lfs) behind one interface, and the
// plain baselines (cat, cp -r, b3sum, zstd, aws s3 sync). Each returns the command to run; the
// harness does the timing, page-cache preparation and byte counting alike for all of them.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { launchEnv, NODE_FLAGS } from '../../src/cli/launch-flags.js';
import { exec, which, type Cmd } from './measure.js';

/** One tool's working copy for one dataset and round: its store under `root`, and the data. */
export interface Workspace {
  root: string;
  /** `root/data`, or the generated data itself for a tool that reads it in place. */
  data: string;
  env: NodeJS.ProcessEnv;
  /** Snapshots/archives made so far (borg names its archives). */
  saves: number;
}

export interface Checkout {
  /** Makes the target empty (not measured). */
  prepare(): void;
  cmd: Cmd;
  /** Where the checked-out files land (their count and bytes are verified). */
  out: string;
  /** Removes what is no longer needed (not measured). */
  finish(): void;
}

export interface Peer {
  name: string;
  /**
   * Whether the tool needs the data inside its own workspace (dv, git). restic and borg read any
   * path, so they read the generated data directly unless edits will change it.
   */
  dataInWorkspace: boolean;
  /** Why it cannot run here, or null. */
  missing(): string | null;
  /** How each operation is called in the table. */
  labels: { add: string; status?: string; checkout: string; commit: string };
  /** Creates the empty store (not measured); the data is already at ws.data. */
  setup(ws: Workspace): void;
  add(ws: Workspace): Cmd;
  status?(ws: Workspace): Cmd;
  checkout(ws: Workspace): Checkout;
  commit(ws: Workspace): Cmd;
  /** The directory whose growth is the tool's new storage bytes. */
  store(ws: Workspace): string;
  /** Everything the tool reads besides the data (store, caches): warmed like the data. */
  state(ws: Workspace): string[];
}

const sh = (ws: Workspace, script: string, ...args: string[]): Cmd => ({
  cmd: 'sh',
  args: ['-c', script, 'sh', ...args],
  cwd: ws.root,
  env: ws.env,
});
const run = (ws: Workspace, cmd: string, ...args: string[]): Cmd => ({ cmd, args, cwd: ws.root, env: ws.env });

/** Empties `ws.data` by moving it aside, for tools that check out in place. */
function inPlace(ws: Workspace, cmd: Cmd): Checkout {
  const aside = join(ws.root, 'data.before-checkout');
  return {
    prepare: () => renameSync(ws.data, aside),
    cmd,
    out: ws.data,
    finish: () => rmSync(aside, { recursive: true, force: true, maxRetries: 5 }),
  };
}

function intoDir(ws: Workspace, dir: string, cmd: (out: string) => Cmd): Checkout {
  const out = join(ws.root, dir);
  return {
    prepare: () => mkdirSync(out, { recursive: true }),
    cmd: cmd(out),
    out,
    finish: () => rmSync(out, { recursive: true, force: true, maxRetries: 5 }),
  };
}

/** How to start dv: this repo's bin/dv under this Node with the flags and environment its first line gives, or any other executable as it is. */
export function dvCommand(dvBin: string, viaNode: boolean): (cwd: string, env: NodeJS.ProcessEnv, ...args: string[]) => Cmd {
  return (cwd, env, ...args) =>
    viaNode
      ? { cmd: process.execPath, args: [...NODE_FLAGS, dvBin, ...args], cwd, env: { ...env, ...launchEnv(env) } }
      : { cmd: dvBin, args, cwd, env };
}

export function dvPeer(dvCmd: ReturnType<typeof dvCommand>): Peer {
  const dv = (ws: Workspace, ...args: string[]): Cmd => dvCmd(ws.root, ws.env, ...args);
  return {
    name: 'dv',
    dataInWorkspace: true,
    missing: () => null,
    labels: { add: 'dv add', status: 'dv status', checkout: 'dv checkout', commit: 'dv commit' },
    setup(ws) {
      exec(run(ws, 'git', 'init', '-q'));
      exec(dv(ws, 'init'));
    },
    add: (ws) => dv(ws, 'add', 'data', '-m', 'add'),
    status: (ws) => dv(ws, 'status', '--json'),
    checkout: (ws) => inPlace(ws, dv(ws, 'checkout')),
    commit: (ws) => dv(ws, 'commit', '-m', `edit ${++ws.saves}`),
    store: (ws) => join(ws.root, '.dv', 'cache', 'packs'),
    state: (ws) => [join(ws.root, '.dv')],
  };
}

export function resticPeer(): Peer {
  const repo = (ws: Workspace): string => join(ws.root, 'restic-repo');
  const restic = (ws: Workspace, ...args: string[]): Cmd => ({
    cmd: 'restic',
    args: ['-r', repo(ws), ...args],
    cwd: ws.root,
    env: { ...ws.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(ws.root, 'restic-cache') },
  });
  return {
    name: 'restic',
    dataInWorkspace: false,
    missing: () => (which('restic') ? null : 'not installed'),
    labels: { add: 'restic backup', checkout: 'restic restore', commit: 'restic backup' },
    setup: (ws) => void exec(restic(ws, 'init')),
    add: (ws) => restic(ws, 'backup', '-q', '--host', 'bench', ws.data),
    checkout: (ws) => intoDir(ws, 'restored', (out) => restic(ws, 'restore', 'latest', '-q', '--target', out)),
    commit: (ws) => restic(ws, 'backup', '-q', '--host', 'bench', ws.data),
    store: repo,
    state: (ws) => [repo(ws), join(ws.root, 'restic-cache')],
  };
}

export function borgPeer(): Peer {
  const repo = (ws: Workspace): string => join(ws.root, 'borg-repo');
  const env = (ws: Workspace): NodeJS.ProcessEnv => ({
    ...ws.env,
    BORG_BASE_DIR: join(ws.root, 'borg-base'),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  });
  const borg = (ws: Workspace, cwd: string, ...args: string[]): Cmd => ({ cmd: 'borg', args, cwd, env: env(ws) });
  const create = (ws: Workspace): Cmd => borg(ws, ws.root, 'create', `${repo(ws)}::v${++ws.saves}`, ws.data);
  return {
    name: 'borg',
    dataInWorkspace: false,
    missing: () => (which('borg') ? null : 'not installed'),
    labels: { add: 'borg create', checkout: 'borg extract', commit: 'borg create' },
    setup: (ws) => void exec(borg(ws, ws.root, 'init', '-e', 'none', repo(ws))),
    add: create,
    checkout: (ws) => intoDir(ws, 'extracted', (out) => borg(ws, out, 'extract', `${repo(ws)}::v${ws.saves}`)),
    commit: create,
    store: repo,
    state: (ws) => [repo(ws), join(ws.root, 'borg-base')],
  };
}

export function gitLfsPeer(): Peer {
  return {
    name: 'git-lfs',
    dataInWorkspace: true,
    missing: () => (!which('git') ? 'git not installed' : spawnOk('git', 'lfs', 'version') ? null : 'not installed'),
    labels: { add: 'git-lfs add+commit', status: 'git status (lfs)', checkout: 'git-lfs checkout', commit: 'git-lfs add+commit' },
    setup(ws) {
      exec(run(ws, 'git', 'init', '-q'));
      exec(run(ws, 'git', 'lfs', 'install', '--local'));
      exec(run(ws, 'git', 'lfs', 'track', 'data/**'));
      exec(run(ws, 'git', 'add', '.gitattributes'));
      exec(run(ws, 'git', 'commit', '-q', '-m', 'lfs'));
    },
    add: (ws) => sh(ws, 'git add data && git commit -q -m add'),
    status: (ws) => run(ws, 'git', 'status', '--porcelain'),
    checkout: (ws) => inPlace(ws, run(ws, 'git', 'checkout', '--', 'data')),
    commit: (ws) => sh(ws, 'git add -A data && git commit -q -m edit'),
    store: (ws) => join(ws.root, '.git'),
    state: (ws) => [join(ws.root, '.git')],
  };
}

function spawnOk(cmd: string, ...args: string[]): boolean {
  try {
    exec({ cmd, args, cwd: '/' });
    return true;
  } catch {
    return false;
  }
}

// --- baselines -------------------------------------------------------------------------------

export const AWS = '/usr/bin/aws';

export const baselines = {
  cat: (dir: string, env: NodeJS.ProcessEnv): Cmd => ({
    cmd: 'sh',
    args: ['-c', 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', 'sh', dir],
    cwd: dir,
    env,
  }),
  b3sum: (dir: string, env: NodeJS.ProcessEnv): Cmd => ({
    cmd: 'sh',
    args: ['-c', 'find "$1" -type f -print0 | xargs -0 b3sum > /dev/null', 'sh', dir],
    cwd: dir,
    env,
  }),
  cp: (dir: string, to: string, env: NodeJS.ProcessEnv): Cmd => ({ cmd: 'cp', args: ['-r', dir, to], cwd: dir, env }),
  zstd: (file: string, to: string, env: NodeJS.ProcessEnv): Cmd => ({
    cmd: 'zstd',
    args: ['-3', '-q', '-f', '-o', to, file],
    cwd: '/',
    env,
  }),
  awsUp: (dir: string, endpoint: string, url: string, env: NodeJS.ProcessEnv): Cmd => ({
    cmd: AWS,
    args: ['--endpoint-url', endpoint, 's3', 'sync', dir, url, '--only-show-errors'],
    cwd: dir,
    env,
  }),
  awsDown: (url: string, endpoint: string, to: string, env: NodeJS.ProcessEnv): Cmd => ({
    cmd: AWS,
    args: ['--endpoint-url', endpoint, 's3', 'sync', url, to, '--only-show-errors'],
    cwd: to,
    env,
  }),
};

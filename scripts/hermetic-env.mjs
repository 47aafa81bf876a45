// The environment every test runs in, whatever machine runs it: no test may depend on the user's
// HOME, global or system git config, locale, time zone, AWS profile or inherited git variables.
//
// scripts/test.mjs calls hermeticEnv() once for the run, and preloads this file (node --import)
// into every test file's process, where it gives that file a HOME of its own: a test that writes
// to HOME (a --global config, a credentials file) cannot be seen by another test file.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Variables that change what git, the AWS SDK or dv do, and that the developer's shell may carry
// (GIT_DIR and GIT_INDEX_FILE when the suite runs from a git hook, GIT_LITERAL_PATHSPECS, AWS_PROFILE).
const DROP = /^(GIT_|AWS_|DV_|XDG_|LC_|LANG|LANGUAGE$|TZ$|NO_COLOR$|FORCE_COLOR$|EDITOR$|VISUAL$|PAGER$)/;

/** A fresh HOME under `root`, with a git config that holds nothing but what tests rely on. */
function freshHome(root) {
  const home = mkdtempSync(join(root, 'home-'));
  mkdirSync(join(home, '.config'), { recursive: true });
  mkdirSync(join(home, '.cache'), { recursive: true });
  // Deliberately no init.defaultBranch: tests name their branch (`git init -b main`).
  writeFileSync(join(home, '.gitconfig'), '[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n');
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    GIT_CONFIG_GLOBAL: join(home, '.gitconfig'),
  };
}

/** The whole environment for a test run: `base` less what leaks from the machine, plus our own. */
export function hermeticEnv(base = process.env) {
  const root = mkdtempSync(join(tmpdir(), 'dv-test-env-'));
  const env = {};
  for (const [k, v] of Object.entries(base)) if (!DROP.test(k) && v !== undefined) env[k] = v;
  return {
    ...env,
    ...freshHome(root),
    DV_TEST_ENV_ROOT: root,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test User',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test User',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

// Preloaded into a test file's process: that file gets a HOME of its own.
const root = process.env.DV_TEST_ENV_ROOT;
if (root && process.env.DV_TEST_FILE_HOME === '1') Object.assign(process.env, freshHome(root));

/**
 * Which keys sign and which keys are trusted, from trusted configuration only. The committed
 * `.dv/config` comes with `git clone`: a repository that chose the signing key could make dv
 * read (and sign with, or leak through a symlink) any file the user can read, and one that
 * chose the trusted keys would trust its own forger. So `attest.key` and `attest.trustedKeys`
 * count only from `.dv/config.local` and the global config (and `--trusted-keys` on the command
 * line); a value in the committed file is ignored, and `dv config` refuses to write one there.
 */
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { type Config, configPath, getKey } from '../repo/config.js';
import type { Signer } from './dsse.js';
import { loadPublicKeys, loadSigner } from './keys.js';

export const ATTEST_KEY = 'attest.key';
export const TRUSTED_KEYS = 'attest.trustedKeys';

/** The value of a key from this clone's local config, else the global one; never the committed one. */
export function trustedValue(config: Config, key: string): string | undefined {
  return getKey(config.levels.local, key) ?? getKey(config.levels.global, key);
}

/** The configured signer, or undefined when no trusted config names a key. */
export async function configuredSigner(config: Config, root: string): Promise<(Signer & { publicKey: KeyObject }) | undefined> {
  const v = trustedValue(config, ATTEST_KEY);
  return v === undefined ? undefined : loadSigner(configPath(v, root), ATTEST_KEY);
}

export interface TrustedKeys {
  file: string;
  keys: Map<string, KeyObject>;
}

/** The trusted keys: `--trusted-keys FILE` when given, else `attest.trustedKeys`; undefined when neither. */
export async function trustedKeys(config: Config, root: string, file?: string): Promise<TrustedKeys | undefined> {
  const path =
    file !== undefined
      ? resolve(file)
      : (() => {
          const v = trustedValue(config, TRUSTED_KEYS);
          return v === undefined ? undefined : configPath(v, root);
        })();
  if (path === undefined) return undefined;
  return { file: path, keys: await loadPublicKeys(path, file !== undefined ? '--trusted-keys' : TRUSTED_KEYS) };
}

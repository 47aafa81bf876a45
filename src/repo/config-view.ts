/**
 * What a service reads of the merged configuration. `Config` (config.ts) implements it; the
 * modules config.ts itself uses (store-trust, remote-trust) take this view, so no import cycle.
 */

/** The three config files, lowest precedence first: global, committed repo, this clone's local. */
export type ConfigLevel = 'global' | 'repo' | 'local';

export interface ConfigView {
  readonly files: Record<ConfigLevel, string>;
  get(key: string): string | undefined;
  /** The level whose value of `key` is in effect. */
  levelOf(key: string): ConfigLevel | undefined;
  /** Every key with its effective value. */
  entries(): [string, string][];
}

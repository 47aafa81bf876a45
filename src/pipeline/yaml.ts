/** The yaml package (70-odd modules), loaded on first use: most commands never read dv.yaml. */
import { createRequire } from 'node:module';
import type * as YamlModule from 'yaml';

let mod: typeof YamlModule | undefined;

export function yaml(): typeof YamlModule {
  mod ??= createRequire(import.meta.url)('yaml') as typeof YamlModule;
  return mod;
}

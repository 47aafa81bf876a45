/**
 * A real LevelDB index that counts the ids it is asked to locate (and forwards every call: the
 * index answers), for tests that a path locates objects without one lookup per object.
 */
import { LevelIndex } from '../../src/store/index-db.js';

export function countingIndex(dir: string, command: string): { index: LevelIndex; lookups: () => number; reset: () => void } {
  const index = new LevelIndex({ dir, waitMs: 5000, command });
  let looked = 0;
  const get = index.getLocations.bind(index);
  index.getLocations = (ids: string[]) => {
    looked += ids.length;
    return get(ids);
  };
  const reset = (): void => {
    looked = 0;
  };
  return { index, lookups: () => looked, reset };
}

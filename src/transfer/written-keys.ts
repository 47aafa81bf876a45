/**
 * A Backend that notes every key written through it, for repairs: a local pack sent whole keeps its
 * name (the hash of its index), so a damaged remote pack of the same name is overwritten in place
 * with verified bytes, and a repair must then not remove it as the bad copy it was.
 */
import type { Backend } from '../backend/backend.js';

export function noteWrites(inner: Backend, written: Set<string>): Backend {
  return {
    location: inner.location,
    put: (key, data) => inner.put(key, data).then(() => void written.add(key)),
    putFile: (key, file) => inner.putFile(key, file).then(() => void written.add(key)),
    get: (key, o) => inner.get(key, o),
    getRange: (key, offset, length, into) => inner.getRange(key, offset, length, into),
    stat: (key) => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    check: () => inner.check(),
  };
}

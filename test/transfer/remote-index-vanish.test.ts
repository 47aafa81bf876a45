/**
 * A pack index listed and then gone before it is read (a remote gc removed it between the LIST and
 * the GET): the load goes on without it, so its objects count as absent and a push sends them
 * again, instead of failing OBJECT_MISSING (as a push racing `dv gc --remote` once did).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/open.js';
import { DvError } from '../../src/errors.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { tempDir } from '../helpers/cli.js';

test('an index listed, then removed before it is read, is left out: its objects count as absent', async () => {
  const dir = tempDir('dv-vanish-');
  const real = await openBackend(join(dir, 'remote'), { create: true });
  const id = 'ab'.repeat(32);
  const key = `index/ab/${id}.idx`;
  await real.put(key, Buffer.from('listed, then gone'));
  // The fault: the GET finds the key gone, as after a remote gc's delete.
  const racing = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'get')
        return async (k: string, o?: unknown) => {
          if (k === key) throw new DvError('OBJECT_MISSING', `${k} is missing`);
          return (target.get as (k: string, o?: unknown) => Promise<Buffer>).call(target, k, o);
        };
      return Reflect.get(target, prop, receiver);
    },
  }) as Backend;
  for (const lean of [false, true]) {
    const ri = await RemoteIndex.load(racing, join(dir, `cache-${lean}`), 2, { lean });
    assert.equal(ri.packs.has(id), false, `lean ${lean}`);
    assert.equal(ri.has(id), false);
  }
});

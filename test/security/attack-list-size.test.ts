/**
 * Attack: an S3 listing that gives a key a size that is no byte count (`<Size>abc</Size>`). The
 * SDK reads it as NaN, and every bound a reader derives from a listed size (a pack index's budget,
 * an index bundle's) compares false against NaN: a 200 MB body behind it was read whole. Secure
 * outcome: the listing is refused with REMOTE_ERROR naming the key, before any body is asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Backend } from '../../src/backend/s3.js';
import { initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import { remoteBundleKey, remoteIndexKey } from '../../src/transfer/layout.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { hostileS3, listXml, notFound, sendXml, streamZeros } from './attack-helpers-s3.js';

await initHash();

for (const [what, key, size] of [
  ['a pack index', remoteIndexKey('c1'.repeat(32)), 'abc'],
  ['an index bundle', remoteBundleKey('c2'.repeat(32)), 'abc'],
  ['a pack index', remoteIndexKey('c3'.repeat(32)), '-5'],
] as const) {
  test(`a listing giving ${what} the size "${size}" is refused before any body is read`, async () => {
    let served = 0;
    // Two more indexes (gone when read): a load missing two or more reads the bundles.
    const others = [remoteIndexKey('c4'.repeat(32)), remoteIndexKey('c5'.repeat(32))];
    const srv = await hostileS3((r, res) => {
      if (r.query.get('list-type') === '2') {
        const prefix = r.query.get('prefix') ?? '';
        const keys = [key, ...others].filter((k) => k.startsWith(prefix));
        sendXml(
          res,
          listXml(
            'b',
            prefix,
            keys.map((k) => ({ key: k, size: (k === key ? size : 100) as unknown as number })),
          ),
        );
        return;
      }
      if (r.key === key) {
        served++;
        streamZeros(res, 200 * 1024 * 1024);
        return;
      }
      notFound(res, r.key);
    });
    const cache = mkdtempSync(join(tmpdir(), 'dv-list-size-'));
    try {
      const be = new S3Backend({
        bucket: 'b',
        endpoint: srv.endpoint,
        credentials: { accessKeyId: 'k', secretAccessKey: 's' },
        timeoutMs: 5000,
      });
      let loaded: RemoteIndex | undefined;
      const e = await RemoteIndex.load(be, cache, 2).then(
        (ri) => {
          loaded = ri;
        },
        (err: unknown) => err,
      );
      if (key.startsWith('bundles/')) {
        // Bundles are only a copy: their listing failing is a warning, and the indexes are read one by one.
        assert.equal(e, undefined);
        assert.match(loaded?.bundleWarnings.join('\n') ?? '', /not a byte count/);
      } else {
        assert.ok(e instanceof DvError && e.code === 'REMOTE_ERROR', String(e));
        assert.match(e.message, new RegExp(`${key}.*not a byte count`));
      }
      assert.equal(served, 0);
    } finally {
      await srv.close();
      await fsp.rm(cache, { recursive: true, force: true });
    }
  });
}

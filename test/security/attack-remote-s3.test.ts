/**
 * Attack: a hostile S3 remote. First a tiny S3 server the attacker runs (started here on
 * 127.0.0.1): bodies that trickle, responses that never come, a 1.5 GB index (announced in the
 * listing, or only in Content-Length), a Range header ignored to send 1.5 GB instead of a few
 * bytes, a listing that never ends, an XML entity bomb. Then s3rver holding hostile content the
 * attacker uploaded: a `.git` tree entry, a manifest bomb, rogue indexes at wrong offsets.
 *
 * Secure outcome: dv ends within seconds of the configured timeout (3 s here, set in the victim's
 * own .dv/config.local), under 400 MB of memory and a few MB of disk, refusing in one line with a
 * stable code (or succeeding with the right data), and writing nothing outside its workspace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  assertHarmlessEnd,
  assertOutsideUnchanged,
  assertRefused,
  exists,
  fingerprintBox,
  Findings,
  gitIn,
  gitRun,
  makeBox,
  show,
  trustedRemote,
  victimDv,
  victimRepo,
  type Box,
} from './attack-helpers.js';
import {
  gitDirObjects,
  manifestObj,
  obj,
  pointerText,
  publish,
  pwned,
  s3Client,
  snapObj,
  stored,
  treeObj,
  uploadDir,
  writeRemotePack,
} from './attack-helpers-objects.js';
import { hostileS3, listXml, notFound, sendXml, streamZeros, trickle, type HostileS3, type Responder } from './attack-helpers-s3.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { describeTree } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { blake3Hex } from '../../src/core/hash.js';
import { decodePackIndex, encodePackIndex, type PackEntry } from '../../src/store/pack-index.js';

const T = { timeout: 120_000 };
const MB = 1024 * 1024;
const BOUNDS = { timeoutMs: 40_000, maxRssBytes: 300 * MB, maxDiskBytes: 16 * MB };
const VICTIM_AWS = { AWS_ACCESS_KEY_ID: 'AKIAVICTIMKEY0000000', AWS_SECRET_ACCESS_KEY: 'victim-secret-key', AWS_REGION: 'us-east-1' };
const IDX_KEY = `pfx/index/ab/ab${'cd'.repeat(31)}.idx`;

interface Scene {
  box: Box;
  victim: string;
  srv: HostileS3;
}

/** The victim's repository, its remote (trusted, timeout 3 s) the attacker's S3 server. */
async function s3Scene(respond: Responder): Promise<Scene> {
  const srv = await hostileS3(respond);
  const box = await makeBox();
  const victim = await victimRepo(box);
  await trustedRemote(victim, 'origin', 's3://bkt/pfx', { endpoint: srv.endpoint, timeout: '3' });
  await fsp.writeFile(join(victim, 'data.dv'), pointerText('1'.repeat(64), '2'.repeat(64), 'data', 'dir'));
  return { box, victim, srv };
}

/** Answers listings: the index prefix gets `indexKeys`, anything else an empty list. */
function lister(indexKeys: () => { key: string; size: number }[], onGet: Responder): Responder {
  return (r, res, raw) => {
    if (r.method === 'GET' && r.query.get('list-type') === '2') {
      const prefix = r.query.get('prefix') ?? '';
      return sendXml(res, listXml(r.bucket, prefix, prefix.endsWith('index/') ? indexKeys() : []));
    }
    return onGet(r, res, raw);
  };
}

async function run(sc: Scene, what: string, expect: 'refuse' | 'harmless', args = ['pull']): Promise<void> {
  const f = new Findings(what);
  const before = await fingerprintBox(sc.box, sc.victim);
  try {
    const r = await victimDv(sc.box, sc.victim, args, { ...BOUNDS, diskDirs: [sc.victim], env: VICTIM_AWS });
    await f.expect(() =>
      expect === 'refuse' ? assertRefused(r, [], `dv ${args.join(' ')}`) : assertHarmlessEnd(r, `dv ${args.join(' ')}`),
    );
    f.check(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `disk grew to ${Math.round(r.peakDiskBytes / MB)} MB`);
    f.check(r.killed !== undefined || r.ms < 30_000, `took ${Math.round(r.ms / 1000)} s with a 3 s timeout configured`);
  } finally {
    await sc.srv.close();
  }
  await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
  f.done();
}

describe('attack: a hostile S3 server', () => {
  test('an index body that trickles one byte every 300 ms: fails after the configured timeout (3 s), not never', T, async () => {
    const sc = await s3Scene(
      lister(
        () => [{ key: IDX_KEY, size: 100_000 }],
        (_r, res) => trickle(res, 100_000, 300),
      ),
    );
    await run(sc, 'trickle', 'refuse');
  });

  test('a server that accepts the request and never answers: fails after the configured timeout', T, async () => {
    const sc = await s3Scene(
      lister(
        () => [{ key: IDX_KEY, size: 100 }],
        () => undefined,
      ),
    );
    await run(sc, 'no answer', 'refuse');
  });

  test('a 1.5 GB pack index announced by the listing: not downloaded whole into memory', T, async () => {
    const sc = await s3Scene(
      lister(
        () => [{ key: IDX_KEY, size: 1_500_000_000 }],
        (_r, res) => streamZeros(res, 1_500_000_000),
      ),
    );
    await run(sc, 'huge index (listing)', 'refuse');
  });

  test('variant: the listing says 100 bytes, Content-Length says 1.5 GB: not downloaded whole into memory', T, async () => {
    const sc = await s3Scene(
      lister(
        () => [{ key: IDX_KEY, size: 100 }],
        (_r, res) => streamZeros(res, 1_500_000_000),
      ),
    );
    await run(sc, 'huge index (Content-Length)', 'refuse');
  });

  test('variant: a Range request answered with the whole of a 1.5 GB "pack": not read into memory', T, async () => {
    // A real, valid index for a tiny snapshot: dv then asks for a few bytes of its pack.
    const box0 = await makeBox();
    const scratch = join(box0.root, 'layout');
    await fsp.mkdir(scratch);
    const leaf = await obj('hello\n');
    const tree = await treeObj([['f', 'a.txt', leaf.bytes.length, leaf.id, 0]]);
    const snap = await snapObj(tree.id, 'data', 'dir', leaf.bytes.length, 1);
    const { packId } = await writeRemotePack(scratch, [leaf, tree, snap]);
    const idxBytes = await fsp.readFile(join(scratch, 'index', packId.slice(0, 2), `${packId}.idx`));
    const idxKey = `pfx/index/${packId.slice(0, 2)}/${packId}.idx`;
    const sc = await s3Scene(
      lister(
        () => [{ key: idxKey, size: idxBytes.length }],
        (r, res) => {
          if (r.key === idxKey) {
            res.writeHead(200, { 'Content-Length': idxBytes.length });
            res.end(idxBytes);
            return;
          }
          if (r.key.endsWith('.pack')) return streamZeros(res, 1_500_000_000);
          return notFound(res, r.key);
        },
      ),
    );
    await fsp.writeFile(join(sc.victim, 'data.dv'), pointerText(snap.id, tree.id, 'data', 'dir'));
    await run(sc, 'range ignored', 'refuse');
  });

  test('variant: a listing that never ends (every page truncated, 1000 keys each): dv gives up within seconds', T, async () => {
    let page = 0;
    const sc = await s3Scene((r, res) => {
      if (r.query.get('list-type') !== '2') return notFound(res, r.key);
      const prefix = r.query.get('prefix') ?? '';
      if (!prefix.endsWith('index/')) return sendXml(res, listXml(r.bucket, prefix, []));
      page++;
      const keys = Array.from({ length: 1000 }, () => {
        const id = randomBytes(32).toString('hex');
        return { key: `pfx/index/${id.slice(0, 2)}/${id}.idx`, size: 100 };
      });
      sendXml(res, listXml(r.bucket, prefix, keys, `page-${page}-${randomBytes(8).toString('hex')}`));
    });
    await run(sc, 'endless listing', 'refuse');
  });

  test('variant: a listing whose body is 1.5 GB: not read whole into memory', T, async () => {
    const sc = await s3Scene((r, res) => {
      if (r.query.get('list-type') !== '2') return notFound(res, r.key);
      const prefix = r.query.get('prefix') ?? '';
      if (!prefix.endsWith('index/')) return sendXml(res, listXml(r.bucket, prefix, []));
      streamZeros(res, 1_500_000_000, { 'Content-Type': 'application/xml' });
    });
    await run(sc, 'huge listing', 'refuse');
  });

  test('variant: a listing that is an XML entity bomb: dv ends within bounds', T, async () => {
    const lol =
      '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">' +
      Array.from(
        { length: 9 },
        (_, k) => `<!ENTITY ${String.fromCharCode(98 + k)} "${`&${String.fromCharCode(97 + k)};`.repeat(10)}">`,
      ).join('') +
      ']>';
    const sc = await s3Scene((r, res) => {
      const prefix = r.query.get('prefix') ?? '';
      if (r.query.get('list-type') !== '2') return notFound(res, r.key);
      if (!prefix.endsWith('index/')) return sendXml(res, listXml(r.bucket, prefix, []));
      const body = '<ListBucketResult><Name>&j;</Name><Prefix>&j;</Prefix><IsTruncated>false</IsTruncated></ListBucketResult>';
      sendXml(res, `<?xml version="1.0" encoding="UTF-8"?>${lol}${body}`);
    });
    await run(sc, 'XML bomb', 'harmless');
  });
});

describe('attack: hostile content on s3rver', () => {
  let s3: S3TestServer;
  before(async () => {
    s3 = await startS3rver();
  });
  after(async () => {
    await s3?.stop();
  });

  /** Victim with a trusted remote s3://<bucket>/p on s3rver and a pointer to `snap`. */
  async function onS3rver(bucket: string, layout: string, snap: string, tree: string): Promise<{ box: Box; victim: string }> {
    await s3.createBucket(bucket);
    await uploadDir(s3, bucket, 'p', layout);
    const box = await makeBox();
    const victim = await victimRepo(box);
    await trustedRemote(victim, 'origin', `s3://${bucket}/p`, { endpoint: s3.endpoint, timeout: '5' });
    await fsp.writeFile(join(victim, 'data.dv'), pointerText(snap, tree, 'data', 'dir'));
    return { box, victim };
  }

  test('a tree with a nested .git whose config runs a command: dv pull refuses, no git directory is created', T, async () => {
    const box0 = await makeBox();
    const layout = join(box0.root, 'layout');
    await fsp.mkdir(layout);
    const g = await gitDirObjects(`touch '${join(box0.outside, 'pwned-s3')}'`);
    const top = await treeObj([['d', '.git', 0, g.tree.id, 2]]);
    const snap = await snapObj(top.id, 'data', 'dir', 0, 2);
    await writeRemotePack(layout, [...g.objects, top, snap]);
    const { box, victim } = await onS3rver('attack-git', layout, snap.id, top.id);
    const f = new Findings('.git via s3rver');
    const r = await victimDv(box, victim, ['pull'], { ...BOUNDS, env: credsEnv(s3) });
    await f.expect(() => assertRefused(r, [], 'dv pull'));
    f.check(!(await exists(join(victim, 'data', '.git'))), `data/.git was created: ${show(r)}`);
    if (await exists(join(victim, 'data'))) await gitRun(box, join(victim, 'data'), ['status']);
    f.check((await pwned(box0.outside)).length === 0, "git status in data ran the attacker's command");
    f.done();
  });

  test('a manifest bomb (4 TiB from a few KB) declared as 10 bytes: refused within bounds', T, async () => {
    const box0 = await makeBox();
    const layout = join(box0.root, 'layout');
    await fsp.mkdir(layout);
    const chunk = await obj(Buffer.alloc(4 * MB));
    const m0 = await manifestObj(
      0,
      Array.from({ length: 1024 }, () => ({ id: chunk.id, size: 4 * MB })),
    );
    const m1 = await manifestObj(
      1,
      Array.from({ length: 1024 }, () => ({ id: m0.id, size: 4096 * MB })),
    );
    const tree = await treeObj([['m', 'bomb.bin', 10, m1.id, 0]]);
    const snap = await snapObj(tree.id, 'data', 'dir', 10, 1);
    await publish(layout, [await stored(chunk), await stored(m0), await stored(m1), await stored(tree), await stored(snap)]);
    const { box, victim } = await onS3rver('attack-bomb', layout, snap.id, tree.id);
    const f = new Findings('bomb via s3rver');
    const r = await victimDv(box, victim, ['pull'], { ...BOUNDS, diskDirs: [victim], env: credsEnv(s3) });
    await f.expect(() => assertRefused(r, [], 'dv pull'));
    f.check(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `disk grew to ${Math.round(r.peakDiskBytes / MB)} MB`);
    f.done();
  });

  test("rogue indexes listing the team's objects at wrong offsets: a clone still pulls the right data", T, async () => {
    await s3.createBucket('team');
    const box = await makeBox();
    const env = credsEnv(s3);
    const alice = await victimRepo(box, 'alice');
    await makeDataset(join(alice, 'data'), { files: 30, dirs: 2, large: [500_000] });
    for (const args of [
      ['add', '-q', 'data'],
      ['remote', 'add', 'origin', 's3://team/p', '--endpoint', s3.endpoint],
      ['push', '-q'],
    ]) {
      const r = await victimDv(box, alice, args, { timeoutMs: 60_000, env });
      assert.equal(r.code, 0, show(r));
    }
    gitIn(box, alice, ['add', '-A']);
    gitIn(box, alice, ['commit', '-qm', 'data']);
    const entries: PackEntry[] = [];
    const cache = join(alice, '.dv', 'remotes', 'origin');
    for (const name of await fsp.readdir(cache))
      if (name.endsWith('.idx')) entries.push(...decodePackIndex(await fsp.readFile(join(cache, name))));
    assert.ok(entries.length > 10, 'alice pushed objects');
    const rogue = entries.map((e) => ({ ...e, offset: e.offset + 512 }));
    const end = Math.max(...rogue.map((e) => e.offset + e.length)) + 4096;
    const client = s3Client(s3);
    try {
      for (let k = 0, made = 0; made < 8; k++) {
        assert.ok(k < 100_000);
        const idx = encodePackIndex([...rogue, { id: randomBytes(32).toString('hex'), offset: 0, length: 1, rawSize: 1, flags: 0 }]);
        const name = blake3Hex(idx);
        if (!name.startsWith('00')) continue;
        made++;
        await client.send(new PutObjectCommand({ Bucket: 'team', Key: `p/packs/00/${name}.pack`, Body: randomBytes(end) }));
        await client.send(new PutObjectCommand({ Bucket: 'team', Key: `p/index/00/${name}.idx`, Body: idx }));
      }
    } finally {
      client.destroy();
    }
    const bob = join(box.root, 'bob');
    gitIn(box, box.root, ['clone', '-q', alice, bob]);
    const r = await victimDv(box, bob, ['pull'], { timeoutMs: 60_000, env });
    const f = new Findings('rogue indexes on s3rver');
    f.check(r.code === 0, `dv pull failed because of rogue indexes: ${show(r)}`);
    const same =
      JSON.stringify(await describeTree(join(bob, 'data')).catch(() => ({}))) === JSON.stringify(await describeTree(join(alice, 'data')));
    f.check(same, "bob's data differs from alice's");
    f.done();
  });
});

// One remote seen two ways for the tests of test/remote: through dv (its URL and `dv remote add`
// options) and through a raw Backend that reads, damages and counts what is stored, on a directory
// remote, on s3rver or on moto_server (behind a recording proxy that counts the bytes every
// response carried). `remoteKinds()` is the one set-up of those kinds the remote tests share.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/open.js';
import { decodePackIndex, type PackEntry } from '../../src/store/pack-index.js';
import { describeTree, dv, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { credsEnv, findOnPath, startMoto, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { startRecordingProxy, type RecordingProxy } from './recording-proxy.js';

export type RemoteKind = 'dir' | 's3rver' | 'moto';

export interface RemoteFixture {
  kind: RemoteKind;
  url: string;
  /** Options of `dv remote add`. */
  addArgs: string[];
  env: Record<string, string>;
  raw: Backend;
  /** Bytes of pack data the S3 server sent since the last reset (undefined for a directory remote). */
  packBytesSent(): number | undefined;
  resetCounts(): void;
}

let made = 0;

export async function dirFixture(): Promise<RemoteFixture> {
  const dir = join(tempDir(), 'remote');
  await fsp.mkdir(dir);
  return {
    kind: 'dir',
    url: dir,
    addArgs: [],
    env: {},
    raw: await openBackend(dir, { retry: false }),
    packBytesSent: () => undefined,
    resetCounts: () => undefined,
  };
}

export async function s3Fixture(srv: S3TestServer, proxy: RecordingProxy, kind: RemoteKind = 's3rver'): Promise<RemoteFixture> {
  const bucket = `fsck-${++made}`;
  await srv.createBucket(bucket);
  const url = `s3://${bucket}/team`;
  return {
    kind,
    url,
    addArgs: ['--endpoint', proxy.endpoint],
    env: credsEnv(srv),
    raw: await openBackend(url, { retry: false, s3: { endpoint: srv.endpoint, credentials: srv.credentials } }),
    packBytesSent: () => proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/packs/')).reduce((n, r) => n + r.bytesOut, 0),
    resetCounts: () => proxy.reset(),
  };
}

/** A kind of remote for a describe block: its server started in `before`, stopped in `after`, a fresh remote per `fixture()`. */
export interface RemoteKindSetup {
  kind: RemoteKind;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A new remote: a fresh directory, or a fresh bucket on this block's server. */
  fixture(): Promise<RemoteFixture>;
}

/**
 * The remote kinds a test runs on, among `wanted` (default: all): a directory, s3rver (always
 * installed), and moto_server where it is on PATH (left out otherwise). Each S3 kind starts its own
 * server and recording proxy, so test files stay independent.
 */
export function remoteKinds(wanted: readonly RemoteKind[] = ['dir', 's3rver', 'moto']): RemoteKindSetup[] {
  const hasMoto = findOnPath('moto_server') !== undefined;
  return wanted
    .filter((k) => k !== 'moto' || hasMoto)
    .map((kind) => {
      let srv: S3TestServer | undefined;
      let proxy: RecordingProxy | undefined;
      return {
        kind,
        async start() {
          if (kind === 'dir') return;
          srv = kind === 'moto' ? await startMoto() : await startS3rver();
          if (!srv) throw new Error(`${kind} did not start`);
          proxy = await startRecordingProxy(srv.endpoint);
        },
        async stop() {
          await proxy?.stop();
          await srv?.stop();
        },
        fixture: () => (kind === 'dir' ? dirFixture() : s3Fixture(srv!, proxy!, kind)),
      };
    });
}

export async function listed(raw: Backend, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const x of raw.list(prefix)) out.push(x);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** The remote's packs with their index entries. */
export async function packsOf(raw: Backend): Promise<{ id: string; size: number; entries: PackEntry[] }[]> {
  const sizes = new Map((await listed(raw, 'packs/')).map((x) => [x.key.slice(9, 73), x.size]));
  const out = [];
  for (const { key } of await listed(raw, 'index/')) {
    const id = key.slice(9, 73);
    out.push({ id, size: sizes.get(id) ?? -1, entries: decodePackIndex(await raw.get(key), id) });
  }
  return out;
}

export const packKey = (id: string): string => `packs/${id.slice(0, 2)}/${id}.pack`;
export const indexKey = (id: string): string => `index/${id.slice(0, 2)}/${id}.idx`;

/** A repo with text files and a 2 MB random file, pushed to the fixture's remote, its pointer committed. */
export async function team(fx: RemoteFixture, opts: { random?: number } = {}): Promise<string> {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  for (let i = 0; i < 5; i++) await fsp.writeFile(join(a, 'data', `f${i}.txt`), `file ${i}\n`.repeat(100 + i));
  await fsp.writeFile(join(a, 'data', 'big.bin'), prng(7, opts.random ?? 2_000_000));
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', fx.url, ...fx.addArgs], fx.env);
  await dvOk(a, ['push', '-q'], fx.env);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  return a;
}

/** A fresh git clone of `a` with no data pulled. */
export function freshClone(a: string): string {
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  return b;
}

/** A fresh clone's `dv pull`: its exit code, and whether the data is byte-identical to `a`'s. */
export async function clonePull(a: string, env: Record<string, string>): Promise<{ code: number; stderr: string; same: boolean }> {
  const b = freshClone(a);
  const r = await dv(b, ['pull', '-q'], env);
  const same = r.code === 0 && JSON.stringify(await describeTree(join(b, 'data'))) === JSON.stringify(await describeTree(join(a, 'data')));
  return { code: r.code, stderr: r.stderr, same };
}

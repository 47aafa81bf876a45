/**
 * Attack: a hostile S3 server against dv's own HTTP/1.1 reader (src/backend/s3direct.ts), which
 * writes signed ranged GETs on a raw socket, parses the response head itself and reads the body
 * straight into a fetch's slot or a caller's buffer. The server (127.0.0.1, raw bytes on the
 * socket) answers with heads that never end or never stop growing, Content-Lengths that lie or
 * cannot be parsed, bodies longer than announced in the packet of the head, interim answers,
 * HTTP/0.9, wrong Content-Ranges, redirects elsewhere, error bodies without end, trickles.
 *
 * Secure outcome, module level (S3Backend getRange into a buffer, getRangeTo into a slot-like
 * sink): no byte written outside the memory dv was given, the exact bytes of the range or one
 * classified DvError, an end within a few timeouts, the attacker's flood not read (bounded by
 * kernel buffers), every connection closed and no descriptor left. CLI level (`dv pull` through
 * a proxy in front of s3rver that turns the pack GETs hostile): one clear error line with a
 * stable code (or success with the right data), bounded time and memory, nothing outside the
 * repository touched, and a store that a later honest pull and `dv fsck` find right.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { withRetry } from '../../src/backend/retry.js';
import { S3Backend } from '../../src/backend/s3.js';
import { isDvError, type ErrorCode } from '../../src/errors.js';
import { RangeSlots } from '../../src/transfer/fetch-slots.js';
import { streamRange } from '../../src/transfer/fetch-stream.js';
import { describeTree } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import {
  assertHarmlessEnd,
  assertOutsideUnchanged,
  assertRefused,
  exists,
  fingerprintBox,
  Findings,
  gitIn,
  makeBox,
  show,
  trustedRemote,
  victimDv,
  victimRepo,
  type Box,
} from './attack-helpers.js';
import {
  eventually,
  fdCount,
  guarded,
  guardedSink,
  head206,
  rawS3,
  trapServer,
  type RawAnswer,
  type RawRequest,
} from './attack-helpers-s3direct.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const T = { timeout: 120_000 };
const MB = 1024 * 1024;
const TIMEOUT_MS = 400;
const CREDS = { accessKeyId: 'AKIAATTACKDIRECT0000', secretAccessKey: 'attack-secret' };
const KEY = 'packs/ab/obj.pack';
const DATA = randomBytes(300_000);
const OFF = 1000;
const LEN = 100_000;
/** What a flood may leave in kernel buffers on loopback once dv stopped reading. */
const FLOOD_MAX = 48 * MB;

const body = (r: RawRequest): Buffer => (r.range ? DATA.subarray(r.range.first, r.range.last + 1) : DATA);
/** An honest 206 head with `extra` lines, then the honest body. */
const honest =
  (extra: string[] = []): RawAnswer =>
  (r, _s, io) =>
    io.send(Buffer.concat([Buffer.from(head206(r, DATA.length, extra), 'latin1'), body(r)]));
/** A head (status line and header lines, CRLF-joined, without the blank line) and then the honest body. */
const withHead =
  (lines: (r: RawRequest) => string[], sep = '\r\n'): RawAnswer =>
  (r, _s, io) =>
    io.send(Buffer.concat([Buffer.from(`${lines(r).join(sep)}${sep}${sep}`, 'latin1'), body(r)]));
const rangeLines = (r: RawRequest, cl: string): string[] => [
  'HTTP/1.1 206 Partial Content',
  `content-length: ${cl}`,
  `content-range: bytes ${r.range?.first}-${r.range?.last}/${DATA.length}`,
];
const len = (r: RawRequest): number => (r.range ? r.range.last - r.range.first + 1 : DATA.length);

/**
 * refuse: must fail with a classified error; exact: must return the range's bytes; either: one or
 * the other; bounded: anything but a crash, a hang or a write outside (the module cannot know the
 * bytes are wrong: the fetch verifies them, see the CLI attacks).
 */
type Expect = 'refuse' | 'exact' | 'either' | 'bounded';

interface Attack {
  name: string;
  expect: Expect;
  answer: RawAnswer;
  codes?: ErrorCode[];
  /** Length of the range asked for (LEN when absent). */
  length?: number;
  /** The most attacker bytes dv may take. */
  maxSent?: number;
}

const ATTACKS: Attack[] = [
  {
    name: 'a head that never ends (a header byte every 50 ms)',
    expect: 'refuse',
    codes: ['REMOTE_UNREACHABLE'],
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 206 Partial Content\r\n');
      io.trickle(Buffer.from(`x-pad: ${'a'.repeat(100_000)}`), 50);
    },
  },
  {
    name: 'a head of 70 KiB (over the 64 KiB the reader takes)',
    expect: 'either',
    answer: withHead((r) => [...rangeLines(r, String(len(r))), `x-pad: ${'a'.repeat(70_000)}`]),
  },
  {
    name: 'a header line without end, as fast as dv takes it',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 206 Partial Content\r\nx-pad: ');
      io.flood(Buffer.alloc(64 * 1024, 'a'));
    },
  },
  {
    name: 'headers without end (millions of "x-a: b")',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 206 Partial Content\r\n');
      io.flood(Buffer.from('x-a: b\r\n'.repeat(8192)));
    },
  },
  {
    name: '10,000 headers named like Object.prototype members (constructor, __proto__, tostring)',
    expect: 'either',
    answer: withHead((r) => [
      ...rangeLines(r, String(len(r))),
      ...Array.from({ length: 2500 }, () => ['constructor: x', '__proto__: y', 'tostring: z', 'hasownproperty: w']).flat(),
    ]),
  },
  ...['1000000000000000', '999999999999999', '-1', '1e5', '100000, 100000', '12, 13', '+100000', '0x186a0', '100000\0', '1000 00'].map(
    (cl): Attack => ({ name: `Content-Length: ${JSON.stringify(cl)}`, expect: 'either', answer: withHead((r) => rangeLines(r, cl)) }),
  ),
  {
    name: 'two different Content-Lengths',
    expect: 'either',
    answer: withHead((r) => [...rangeLines(r, String(len(r))), `content-length: ${len(r) - 1}`]),
  },
  {
    name: 'a Content-Length smuggled behind a bare LF in another header',
    expect: 'either',
    answer: withHead((r) => [...rangeLines(r, String(len(r))).slice(0, 1), `x-a: b\ncontent-length: ${len(r) - 7}`, rangeLines(r, '')[2]]),
  },
  {
    name: 'a whole head of bare LFs, then the body, and the connection held open',
    expect: 'either',
    answer: withHead((r) => rangeLines(r, String(len(r))), '\n'),
  },
  {
    name: 'a NUL in the status line and in a header name and value',
    expect: 'either',
    answer: withHead((r) => [`HTTP/1.1 206 Part\0ial`, ...rangeLines(r, String(len(r))).slice(1), 'x-\0a: b\0c']),
  },
  {
    name: 'Transfer-Encoding: chunked beside a Content-Length',
    expect: 'either',
    answer: (r, _s, io) => {
      const b = body(r);
      io.send(`${head206(r, DATA.length, ['transfer-encoding: chunked'])}${b.length.toString(16)}\r\n`);
      io.send(Buffer.concat([b, Buffer.from('\r\n0\r\n\r\n')]));
    },
  },
  {
    name: 'a body longer than its Content-Length in the packet of the head',
    expect: 'either',
    length: 1000,
    answer: (r, _s, io) => io.send(Buffer.concat([Buffer.from(head206(r, DATA.length)), body(r), Buffer.alloc(4000, 0xee)])),
  },
  {
    name: 'a body longer than its Content-Length, the rest in later packets',
    expect: 'either',
    answer: (r, _s, io) => {
      io.send(Buffer.concat([Buffer.from(head206(r, DATA.length)), body(r), Buffer.alloc(4000, 0xee)]));
      io.flood(Buffer.alloc(64 * 1024, 0xee));
    },
    maxSent: FLOOD_MAX,
  },
  {
    name: 'HTTP/1.1 100 Continue, then the real head',
    expect: 'either',
    answer: (r, _s, io) => io.send(Buffer.concat([Buffer.from(`HTTP/1.1 100 Continue\r\n\r\n${head206(r, DATA.length)}`), body(r)])),
  },
  {
    name: 'HTTP/0.9: the bytes without a head, then close',
    expect: 'refuse',
    answer: (r, s, io) => {
      io.send(Buffer.alloc(len(r), 0));
      s.end();
    },
  },
  {
    name: 'HTTP/0.9: bytes without a head, never closed',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => io.flood(Buffer.alloc(64 * 1024, 0)),
  },
  {
    name: 'HTTP/2.0 in the status line',
    expect: 'either',
    answer: withHead((r) => ['HTTP/2.0 206 X', ...rangeLines(r, String(len(r))).slice(1)]),
  },
  {
    name: 'a 206 whose Content-Range says the object ends before the range',
    expect: 'refuse',
    codes: ['OBJECT_CORRUPT'],
    answer: withHead((r) => [rangeLines(r, '')[0], `content-length: ${len(r)}`, `content-range: bytes 0-9/${OFF + 10}`]),
  },
  {
    name: 'a 206 whose Content-Range names other bytes (and sends those)',
    expect: 'bounded',
    answer: (r, _s, io) =>
      io.send(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 206 P\r\ncontent-length: ${len(r)}\r\ncontent-range: bytes 0-${len(r) - 1}/${DATA.length}\r\n\r\n`),
          DATA.subarray(0, len(r)),
        ]),
      ),
  },
  {
    name: 'a 200 with the whole object (the Range header ignored)',
    expect: 'either',
    answer: (_r, _s, io) => io.send(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${DATA.length}\r\n\r\n`), DATA])),
  },
  {
    name: 'a 200 announcing 10^15 - 1 bytes, sent as fast as dv takes them',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 200 OK\r\ncontent-length: 999999999999999\r\n\r\n');
      io.flood(Buffer.alloc(64 * 1024));
    },
  },
  {
    name: 'a body that trickles a byte every 50 ms',
    expect: 'refuse',
    codes: ['REMOTE_UNREACHABLE'],
    answer: (r, _s, io) => {
      io.send(head206(r, DATA.length));
      io.trickle(body(r), 50);
    },
  },
  {
    name: 'the whole body, then the connection held open',
    expect: 'exact',
    answer: honest(),
  },
  {
    name: 'the connection closed mid-body',
    expect: 'refuse',
    answer: (r, s, io) => {
      io.send(Buffer.concat([Buffer.from(head206(r, DATA.length)), body(r).subarray(0, 70_000)]));
      setTimeout(() => s.end(), 50);
    },
  },
  {
    name: 'a 206 whose headers the SDK cannot read (Last-Modified: garbage)',
    expect: 'refuse',
    answer: honest(['last-modified: garbage', 'x-amz-mp-parts-count: many']),
  },
  {
    name: 'a 500 whose body never ends (Content-Length 10^15 - 1, as fast as dv takes it)',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 500 Internal Error\r\ncontent-type: application/xml\r\ncontent-length: 999999999999999\r\n\r\n<Error>');
      io.flood(Buffer.alloc(64 * 1024, 0x20));
    },
  },
  {
    name: 'a 500 whose body never ends, chunked (through the SDK handler)',
    expect: 'refuse',
    maxSent: FLOOD_MAX,
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 500 Internal Error\r\ncontent-type: application/xml\r\ntransfer-encoding: chunked\r\n\r\n');
      io.flood(Buffer.from(`10000\r\n${' '.repeat(0x10000)}\r\n`));
    },
  },
  {
    name: 'a 503 whose body trickles a byte every 50 ms',
    expect: 'refuse',
    answer: (_r, _s, io) => {
      io.send('HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: 100000\r\n\r\n');
      io.trickle(Buffer.alloc(100_000, 0x20), 50);
    },
  },
  {
    name: 'a 404 whose body trickles a byte every 50 ms, chunked (through the SDK handler)',
    expect: 'refuse',
    answer: (_r, s, io) => {
      io.send('HTTP/1.1 404 Not Found\r\ncontent-type: application/xml\r\ntransfer-encoding: chunked\r\n\r\n');
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : io.send('1\r\n \r\n')), 50);
      s.on('close', () => clearInterval(t));
    },
  },
];

/** Runs `a` against a fresh server through getRange (into a guarded buffer) or getRangeTo (into a guarded slot). */
async function attackModule(a: Attack, via: 'getRange' | 'getRangeTo', elsewhere?: { hits: () => number }): Promise<void> {
  const length = a.length ?? LEN;
  const want = DATA.subarray(OFF, OFF + length);
  const srv = await rawS3(() => a.answer);
  const be = new S3Backend({ bucket: 'bkt', prefix: 'pfx', endpoint: srv.endpoint, credentials: CREDS, timeoutMs: TIMEOUT_MS });
  const fds = fdCount();
  const g = guarded(length, true);
  const s = guardedSink(length);
  let got: Buffer | undefined;
  let error: unknown;
  const started = performance.now();
  try {
    if (via === 'getRange') got = Buffer.from(await be.getRange(KEY, OFF, length, g.into));
    else {
      await be.getRangeTo(KEY, OFF, length, s.sink);
      got = Buffer.from(s.bytes());
    }
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - started;
  const f = new Findings(`${a.name} (${via})`);
  // dv lets go of its connections: at once, or (a body nobody reads) at the idle timeout.
  await be.close();
  f.check(await eventually(() => srv.open() === 0, TIMEOUT_MS + 1500), `dv left ${srv.open()} connection(s) open`);
  const sent = srv.sent();
  await srv.close();
  f.check(await eventually(() => fdCount() <= fds, 2000), `${fdCount() - fds} file descriptor(s) left open`);
  f.check(ms < 8 * TIMEOUT_MS + 2000, `took ${Math.round(ms)} ms with a ${TIMEOUT_MS} ms timeout`);
  f.check(g.intact() && s.intact() && s.outside() === 0, 'a byte was written outside the memory dv was given');
  if (a.maxSent !== undefined) f.check(sent <= a.maxSent, `dv took ${Math.round(sent / MB)} MB of the flood`);
  f.check(elsewhere === undefined || elsewhere.hits() === 0, 'a request went to the host the redirect named');
  if (error !== undefined) {
    f.check(a.expect !== 'exact', `refused an honest answer: ${String(error)}`);
    const code = isDvError(error) ? error.code : undefined;
    f.check(code !== undefined, `not a classified DvError: ${String(error)}`);
    f.check(a.codes === undefined || (code !== undefined && a.codes.includes(code)), `code ${code}, expected ${a.codes?.join(' or ')}`);
    f.check(!String((error as Error).message).includes('\n'), `the message is not one line: ${JSON.stringify((error as Error).message)}`);
  } else {
    f.check(a.expect !== 'refuse', `accepted (${got?.length} bytes)`);
    if (a.expect !== 'bounded') f.check(got !== undefined && got.equals(want), 'returned bytes that are not those of the range');
    f.check(got?.length === length, `returned ${got?.length} bytes for a range of ${length}`);
  }
  f.done();
}

describe('attack: a hostile server against the direct GET reader (module)', () => {
  for (const a of ATTACKS) {
    test(a.name, T, async () => {
      await attackModule(a, 'getRange');
      await attackModule(a, 'getRangeTo');
    });
  }

  test('a 301, 302, 307 or 308 redirect to another host and port: nothing is asked of that host', T, async () => {
    const other = await trapServer();
    const { port, hits } = other;
    try {
      for (const status of ['301 Moved Permanently', '307 Temporary Redirect', '302 Found', '308 Permanent Redirect']) {
        const answer: RawAnswer = (r, _s, io) =>
          io.send(
            `HTTP/1.1 ${status}\r\nlocation: http://127.0.0.1:${port}/bkt/pfx/${r.key}\r\nx-amz-bucket-region: eu-west-1\r\n` +
              'content-type: application/xml\r\ncontent-length: 0\r\n\r\n',
          );
        const a: Attack = { name: `a ${status} elsewhere`, expect: 'refuse', answer };
        await attackModule(a, 'getRange', { hits });
        await attackModule(a, 'getRangeTo', { hits });
      }
    } finally {
      await other.close();
    }
  });

  test('a sink still busy with a piece when the server stalls: the read ends only after that piece settled', T, async () => {
    // The whole body comes at once; the first piece is taken slowly (a fetch worker busy longer than the idle timeout).
    const srv = await rawS3(() => honest());
    const be = new S3Backend({ bucket: 'bkt', prefix: 'pfx', endpoint: srv.endpoint, credentials: CREDS, timeoutMs: TIMEOUT_MS });
    const events: string[] = [];
    let busy = 0;
    let overlap = 0;
    const sink = guardedSink(LEN);
    const slow: typeof sink.sink = (piece) => {
      if (busy > 0) overlap++;
      busy++;
      const r = sink.sink(piece);
      const first = events.length === 0;
      events.push('take');
      return new Promise<void>((resolve) =>
        setTimeout(
          () => {
            busy--;
            events.push('settled');
            resolve(r);
          },
          first ? 3 * TIMEOUT_MS : 0,
        ),
      );
    };
    slow.room = sink.sink.room;
    try {
      for (const b of [be, withRetry(be, { baseMs: 1, maxMs: 5 })]) {
        events.length = 0;
        busy = 0;
        await b.getRangeTo!(KEY, OFF, LEN, slow).then(
          () => events.push('resolved'),
          () => events.push('rejected'),
        );
        assert.equal(overlap, 0, 'a piece was handed to the sink while it was still taking the one before');
        assert.equal(busy, 0, `the read ended while the sink was still taking a piece: ${events.join(' ')}`);
      }
    } finally {
      await be.close();
      await srv.close();
    }
  });

  test('a stalled stream while every slot is busy: no slot is written while its fetch worker still reads it', T, async () => {
    // Slots of 64 KiB, units of 24 KiB: the second slot holds a unit cut in two, which moves to the next slot.
    const slotSize = 64 * 1024;
    const unit = 24 * 1024;
    const units = Array.from({ length: 5 }, (_, k) => ({ offset: k * unit, length: unit }));
    const srv = await rawS3(() => (r, _s, io) => io.send(Buffer.concat([Buffer.from(head206(r, DATA.length)), body(r)])));
    const be = new S3Backend({ bucket: 'bkt', prefix: 'pfx', endpoint: srv.endpoint, credentials: CREDS, timeoutMs: TIMEOUT_MS });
    const slots = new RangeSlots(2, slotSize);
    const changed: string[] = [];
    try {
      const run = streamRange(
        {
          backend: be,
          key: KEY,
          start: 0,
          end: units.length * unit,
          units,
          slots,
          // A worker that reads its units, waits (busy), and reads them again: they must not have changed.
          process: async (b) => {
            const view = slots.view(b.k);
            const before = b.units.map((u) => Buffer.from(view.subarray(u.at, u.at + unit)));
            await new Promise((r) => setTimeout(r, 3 * TIMEOUT_MS));
            b.units.forEach((u, j) => {
              if (!view.subarray(u.at, u.at + unit).equals(before[j])) changed.push(`unit ${u.index} in slot ${b.k}`);
            });
          },
        },
        { handed: 0 },
      );
      await run.catch(() => undefined);
      assert.deepEqual(changed, [], 'bytes a worker was verifying were overwritten under it');
    } finally {
      await be.close();
      await srv.close();
    }
  });
});

describe('attack: a hostile server in front of s3rver, against dv pull', () => {
  let s3: S3TestServer;
  let box0: Box;
  let alice: string;

  before(async () => {
    s3 = await startS3rver();
    await s3.createBucket('team');
    box0 = await makeBox();
    alice = await victimRepo(box0, 'alice');
    await makeDataset(join(alice, 'data'), { files: 20, dirs: 2, large: [400_000] });
    for (const args of [
      ['add', '-q', 'data'],
      ['remote', 'add', 'origin', 's3://team/p', '--endpoint', s3.endpoint],
      ['push', '-q'],
    ]) {
      const r = await victimDv(box0, alice, args, { timeoutMs: 60_000, env: credsEnv(s3) });
      assert.equal(r.code, 0, show(r));
    }
    gitIn(box0, alice, ['add', '-A']);
    gitIn(box0, alice, ['commit', '-qm', 'data']);
  });
  after(async () => {
    await s3?.stop();
  });

  /**
   * Bob clones alice's repository and pulls through the attacker's proxy (every ranged GET of a
   * pack answered by `answer`, the rest forwarded to s3rver); then pulls again from s3rver itself.
   */
  async function pullThrough(what: string, answer: RawAnswer, expect: 'refuse' | 'harmless', codes: ErrorCode[] = []): Promise<void> {
    const srv = await rawS3((r) => (r.method === 'GET' && r.range && r.key.endsWith('.pack') ? answer : undefined), s3.endpoint);
    const box = await makeBox();
    const bob = join(box.root, 'bob');
    gitIn(box, box.root, ['clone', '-q', alice, bob]);
    await trustedRemote(bob, 'origin', 's3://team/p', { endpoint: srv.endpoint, timeout: '2' });
    const env = credsEnv(s3);
    const f = new Findings(what);
    const before = await fingerprintBox(box, bob);
    try {
      const r = await victimDv(box, bob, ['pull'], {
        timeoutMs: 60_000,
        maxRssBytes: 300 * MB,
        diskDirs: [bob],
        maxDiskBytes: 32 * MB,
        env,
      });
      await f.expect(() => (expect === 'refuse' ? assertRefused(r, codes, 'dv pull') : assertHarmlessEnd(r, 'dv pull')));
      f.check(r.killed !== undefined || r.ms < 30_000, `took ${Math.round(r.ms / 1000)} s with a 2 s timeout configured`);
      f.check(srv.sent() <= FLOOD_MAX, `dv took ${Math.round(srv.sent() / MB)} MB of the attacker's bytes`);
      f.check(
        srv.requests.some((q) => q.range && q.key.endsWith('.pack')),
        'the attack was never reached (no ranged GET of a pack)',
      );
      if (r.code === 0 || (await exists(join(bob, 'data')))) {
        const same = JSON.stringify(await describeTree(join(bob, 'data')).catch(() => ({})));
        f.check(
          r.code !== 0 || same === JSON.stringify(await describeTree(join(alice, 'data'))),
          "a pull that succeeded left data other than alice's",
        );
      }
    } finally {
      await srv.close();
    }
    await f.expect(() => assertOutsideUnchanged(box, bob, before, 'after dv pull'));
    // Nothing the attacker sent is taken for good data: an honest pull gets alice's data, fsck finds the store sound.
    await trustedRemote(bob, 'origin', 's3://team/p', { endpoint: s3.endpoint, timeout: '10' });
    const again = await victimDv(box, bob, ['pull'], { timeoutMs: 60_000, env });
    f.check(again.code === 0, `the honest pull after the attack failed: ${show(again)}`);
    f.check(
      JSON.stringify(await describeTree(join(bob, 'data')).catch(() => ({}))) === JSON.stringify(await describeTree(join(alice, 'data'))),
      "after the honest pull bob's data is not alice's",
    );
    const fsck = await victimDv(box, bob, ['fsck'], { timeoutMs: 60_000, env });
    f.check(fsck.code === 0, `dv fsck after the attack: ${show(fsck)}`);
    const status = await victimDv(box, bob, ['status'], { timeoutMs: 60_000, env });
    f.check(status.code === 0, `dv status after the attack: ${show(status)}`);
    await fsp.rm(box.root, { recursive: true, force: true });
    f.done();
  }

  const flip = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    for (let i = 0; i < out.length; i += 97) out[i] ^= 0xff;
    return out;
  };

  test('every pack range answered with bytes other than those stored (a valid 206): OBJECT_CORRUPT, nothing stored', T, async () => {
    await pullThrough(
      'wrong bytes',
      async (r, _s, io) => {
        const u = await io.upstream();
        io.send(Buffer.concat([Buffer.from(head206(r, 1e9)), flip(u.body)]));
      },
      'refuse',
      ['OBJECT_CORRUPT'],
    );
  });

  test('the right bytes plus 4 KB more in the packet of the head: the extra bytes are never taken for data', T, async () => {
    await pullThrough(
      'overlong',
      async (r, _s, io) => {
        const u = await io.upstream();
        io.send(Buffer.concat([Buffer.from(head206(r, 1e9)), u.body, Buffer.alloc(4096, 0xee)]));
      },
      'harmless',
    );
  });

  test('a 206 naming other bytes in its Content-Range, and sending them: refused, nothing stored', T, async () => {
    await pullThrough(
      'wrong Content-Range',
      async (r, _s, io) => {
        const n = len(r);
        io.send(
          Buffer.concat([
            Buffer.from(`HTTP/1.1 206 P\r\ncontent-length: ${n}\r\ncontent-range: bytes 0-${n - 1}/1000000000\r\n\r\n`),
            Buffer.alloc(n, 7),
          ]),
        );
      },
      'refuse',
    );
  });

  test('a pack head that never ends: refused after the timeout', T, async () => {
    await pullThrough(
      'endless head',
      (_r, _s, io) => {
        io.send('HTTP/1.1 206 Partial Content\r\n');
        io.trickle(Buffer.from(`x-pad: ${'a'.repeat(100_000)}`), 100);
      },
      'refuse',
      ['REMOTE_UNREACHABLE'],
    );
  });

  test('a pack GET answered 500 with a body without end: refused within bounds of memory and time', T, async () => {
    await pullThrough(
      'endless error body',
      (_r, _s, io) => {
        io.send('HTTP/1.1 500 Internal Error\r\ncontent-type: application/xml\r\ncontent-length: 999999999999999\r\n\r\n<Error>');
        io.flood(Buffer.alloc(64 * 1024, 0x20));
      },
      'refuse',
    );
  });

  test('a pack GET answered 503 with a body that trickles: refused within bounds of time', T, async () => {
    await pullThrough(
      'trickling error body',
      (_r, _s, io) => {
        io.send('HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: 100000\r\n\r\n');
        io.trickle(Buffer.alloc(100_000, 0x20), 100);
      },
      'refuse',
    );
  });

  test('a pack GET redirected (307) to another port: refused, and nothing is asked there', T, async () => {
    const other = await trapServer();
    const { port, hits } = other;
    try {
      await pullThrough(
        'redirect',
        (r, _s, io) =>
          io.send(`HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:${port}/team/${r.key}\r\ncontent-length: 0\r\n\r\n`),
        'refuse',
      );
      assert.equal(hits(), 0, 'dv followed the redirect');
    } finally {
      await other.close();
    }
  });

  test('a pack GET whose Content-Length is "12, 13" or doubled: never read as either length', T, async () => {
    await pullThrough(
      'Content-Length list',
      async (_r, _s, io) => {
        const u = await io.upstream();
        const n = u.body.length;
        io.send(Buffer.concat([Buffer.from(`HTTP/1.1 206 P\r\ncontent-length: ${n}, ${n - 1}\r\ncontent-length: ${n}\r\n\r\n`), u.body]));
      },
      'harmless',
    );
  });
});

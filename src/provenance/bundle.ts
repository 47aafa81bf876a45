/**
 * The offline audit bundle (`dv audit export` / `dv audit verify`): a plain tar an auditor can
 * list with `tar tf`, every entry under `dv-audit/`:
 *
 *   manifest.json     what the bundle claims: artifact, snapshot, tree, code commits, key ids
 *   attestation.json  the DSSE envelope of the in-toto Statement (`dv attest`), the signed root
 *   lineage.json      `dv lineage --json` of the artifact (context for a reader; checked against the statement)
 *   dv.lock           the pipeline record the stages are compared with
 *   keys.pub          the signers' public keys (PEM), to compare with the team's published key ids
 *   objects/<id>      the snapshots, trees and file manifests that name every file's hash
 *   receipts/<sha256>.json  signed rebuild receipts of the artifact (`dv repro --verify --rebuild`), named by their sha256
 *
 * Reading is the untrusted part: the tar is streamed, never extracted to disk; every entry name
 * must be one of those (no paths, links or directories), each entry and the whole are capped, a
 * name seen twice is refused, and the number of entries is bounded.
 */
import { createReadStream } from 'node:fs';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';

export const BUNDLE_DIR = 'dv-audit/';
export const BUNDLE_FORMAT = 'dv-audit 1';
export const FIXED = ['manifest.json', 'attestation.json', 'lineage.json', 'dv.lock', 'keys.pub'] as const;
export type FixedName = (typeof FIXED)[number];

export const MAX_ENTRIES = 1_000_000;
/** One object or file: a tree of a directory of 100k entries is a few MiB; a dv.lock or envelope is at most 16 MiB. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
export const MAX_BUNDLE_BYTES = 1024 * 1024 * 1024;

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  artifact: string;
  snapshot: string;
  tree: string;
  createdAt: string;
  dv: string;
  /** The git commits of the code the stages ran beside (from the attestation's materials). */
  codeCommits: string[];
  /** Key ids (sha256 of the public key) of keys.pub. */
  keys: string[];
  objects: number;
}

export interface BundleEntries {
  fixed: Map<FixedName, Buffer>;
  objects: Map<string, Buffer>;
  /** Rebuild receipts by file name (`<sha256>.json`). */
  receipts: Map<string, Buffer>;
  /** Entries refused while reading (one line each); the bundle does not verify when any. */
  problems: string[];
}

const FIXED_SET = new Set<string>(FIXED);

/** What an entry name is, or why it is refused. */
const RECEIPT = /^receipts\/[0-9a-f]{64}\.json$/;

function classify(name: string): { fixed: FixedName } | { object: string } | { receipt: string } | { problem: string } {
  if (!name.startsWith(BUNDLE_DIR)) return { problem: `entry ${JSON.stringify(name.slice(0, 200))} is outside ${BUNDLE_DIR}` };
  const rest = name.slice(BUNDLE_DIR.length);
  if (FIXED_SET.has(rest)) return { fixed: rest as FixedName };
  if (rest.startsWith('objects/') && isId(rest.slice('objects/'.length))) return { object: rest.slice('objects/'.length) };
  if (RECEIPT.test(rest)) return { receipt: rest.slice('receipts/'.length) };
  return {
    problem: `unexpected entry ${JSON.stringify(name.slice(0, 200))} (a bundle holds only ${FIXED.join(', ')}, objects/<id> and receipts/<sha256>.json)`,
  };
}

/**
 * Reads a bundle into memory, bounded: structural violations (too many entries, too many bytes,
 * not a tar) throw ATTESTATION_INVALID; a refused entry is a problem line and is skipped.
 */
export async function readBundle(file: string): Promise<BundleEntries> {
  const tar = (await import('tar-stream')).default;
  const out: BundleEntries = { fixed: new Map(), objects: new Map(), receipts: new Map(), problems: [] };
  const seen = new Set<string>();
  let entries = 0;
  let total = 0;
  const bad = (why: string): DvError => new DvError('ATTESTATION_INVALID', `${file}: ${why}`, { file });
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      entries++;
      total += header.size ?? 0;
      if (entries > MAX_ENTRIES) return extract.destroy(bad(`more than ${MAX_ENTRIES} entries`));
      if (total > MAX_BUNDLE_BYTES) return extract.destroy(bad(`more than ${MAX_BUNDLE_BYTES} bytes of entries`));
      // A tar cut inside an entry fails on the entry's stream: without a listener that error would end the process.
      stream.on('error', (e: Error) => extract.destroy(bad(`not a readable tar (${e.message})`)));
      const c = classify(header.name);
      let problem = 'problem' in c ? c.problem : undefined;
      if (!problem && header.type !== 'file') problem = `entry ${header.name} is a ${header.type}, not a file`;
      if (!problem && seen.has(header.name)) problem = `entry ${header.name} appears twice`;
      if (!problem && (header.size ?? 0) > MAX_ENTRY_BYTES) problem = `entry ${header.name} is larger than ${MAX_ENTRY_BYTES} bytes`;
      seen.add(header.name);
      if (problem) {
        if (out.problems.length < 100) out.problems.push(problem);
        stream.on('end', next);
        stream.resume();
        return;
      }
      const parts: Buffer[] = [];
      let got = 0;
      stream.on('data', (d: unknown) => {
        const chunk = d as Buffer;
        got += chunk.length;
        if (got <= MAX_ENTRY_BYTES) parts.push(chunk);
      });
      stream.on('end', () => {
        const bytes = Buffer.concat(parts);
        if ('fixed' in c) out.fixed.set(c.fixed, bytes);
        else if ('object' in c) out.objects.set(c.object, bytes);
        else if ('receipt' in c) out.receipts.set(c.receipt, bytes);
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const input = createReadStream(file);
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  try {
    await done;
  } catch (e) {
    if (e instanceof DvError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DvError('USAGE', `${file}: no such file`, { file });
    throw bad(`not a readable tar (${(e as Error).message})`);
  } finally {
    input.destroy();
  }
  return out;
}

/** Writes a bundle: the fixed entries, then the objects in id order (a tar any tool reads). */
export async function writeBundle(
  file: string,
  fixed: Map<FixedName, Buffer>,
  objects: Map<string, Buffer>,
  receipts: Map<string, Buffer> = new Map(),
): Promise<void> {
  const tar = (await import('tar-stream')).default;
  const { createWriteStream } = await import('node:fs');
  const { pipeline } = await import('node:stream/promises');
  const p = tar.pack();
  const done = pipeline(p, createWriteStream(file, { mode: 0o644 }));
  const put = async (name: string, data: Buffer): Promise<void> => {
    if (!p.entry({ name: BUNDLE_DIR + name, size: data.length, mode: 0o444, mtime: new Date(0) }, data))
      await new Promise((r) => p.once('drain', r));
  };
  for (const n of FIXED) {
    const b = fixed.get(n);
    if (b) await put(n, b);
  }
  for (const id of [...objects.keys()].sort()) await put(`objects/${id}`, objects.get(id)!);
  for (const n of [...receipts.keys()].sort()) await put(`receipts/${n}`, receipts.get(n)!);
  p.finalize();
  await done;
}

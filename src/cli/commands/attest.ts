/**
 * `dv attest <artifact> [-o FILE]`, `dv attest verify FILE [artifact] [--trusted-keys FILE]` and
 * `dv key gen <path>`: commander wiring and rendering for signed provenance (ops/attest.ts,
 * ops/attest-verify.ts, provenance/). `dv verify` keeps its meaning (re-running stages); an
 * attestation is verified by `dv attest verify`. Neither takes the writer lock: they read the store, dv.lock and the work tree.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DvError } from '../../errors.js';
import { RepoSession } from '../../repo/repo.js';
import { printable } from '../render.js';

interface Globals {
  quiet?: boolean;
  json?: boolean;
  wait?: number;
  C?: string;
}

const EXIT = `
Exit codes:
  0 success; 2 bad usage; 10 not a dv repository; 17 a key file is malformed (BAD_CONFIG);
  22 an object is missing; 43 the attestation does not verify (ATTESTATION_INVALID).`;

function out(text: string): void {
  const t = printable(text);
  process.stdout.write(t.endsWith('\n') ? t : t + '\n');
}

export function register(program: Command): void {
  const globals = (c: Command): Globals => ({ ...program.opts<Globals>(), ...c.opts<Globals>() });
  const withSession = async <T>(c: Command, fn: (s: RepoSession, cwd: string) => Promise<T>): Promise<T> => {
    const g = globals(c);
    const cwd = resolve(g.C ?? process.cwd());
    const s = await RepoSession.open({ cwd, write: false, waitMs: (g.wait ?? 10) * 1000, command: 'attest' });
    try {
      return await fn(s, cwd);
    } finally {
      await s.close();
    }
  };

  const attestCmd = program
    .command('attest')
    .description('write signed provenance of an artifact (in-toto Statement v1, SLSA provenance, DSSE envelope)')
    .argument('[artifact]', 'a stage output or tracked path, or a snapshot id')
    .option('-o, --output <file>', 'write the attestation to FILE (default: print it)')
    .option('--json', 'print a summary as JSON (with -o)')
    .option('-q, --quiet', 'print only errors')
    .addHelpText(
      'after',
      `
Signs with the Ed25519 key named by \`dv config --local attest.key PATH\` (or --global; the
committed .dv/config cannot choose it). Make a key with \`dv key gen PATH\`.

Examples:
  dv attest model.pkl -o model.pkl.intoto.json
  dv attest verify model.pkl.intoto.json model.pkl --trusted-keys team-keys.pub
${EXIT}`,
    )
    .action(async (artifact: string | undefined, o: { output?: string }, c: Command) => {
      if (artifact === undefined) throw new DvError('USAGE', 'give the artifact to attest: `dv attest <artifact> [-o FILE]`');
      const { attest } = await import('../../ops/attest.js');
      const g = globals(c);
      const r = await withSession(c, (s, cwd) =>
        attest(s, { target: artifact, cwd, ...(o.output !== undefined ? { output: resolve(cwd, o.output) } : {}) }),
      );
      if (o.output === undefined) return out(JSON.stringify(r.envelope, null, 2));
      if (g.json) return out(JSON.stringify({ ...r, envelope: undefined }, null, 2));
      if (!g.quiet)
        out(
          `attested ${r.artifact} (snapshot ${r.snapshot.slice(0, 12)}): ${r.subjects} subjects, ${r.materials} materials, ${r.stages} stages, signed by ${r.keyid}\nwrote ${o.output}`,
        );
    });

  attestCmd
    .command('verify')
    .description('check an attestation: trusted signature, the artifact on disk, and every material (store, git, dv.lock)')
    .argument('<file>', 'the attestation (DSSE envelope) `dv attest` wrote')
    .argument('[artifact]', 'the artifact expected to be its subject (default: the one it names)')
    .option('--trusted-keys <file>', 'public keys to accept (PEM or ssh-ed25519 lines; default: config attest.trustedKeys)')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv attest verify model.pkl.intoto.json model.pkl --trusted-keys team-keys.pub\n${EXIT}`)
    .action(async (file: string, artifact: string | undefined, o: { trustedKeys?: string }, c: Command) => {
      const { verifyAttestation } = await import('../../ops/attest-verify.js');
      const g = globals(c);
      const r = await withSession(c, (s, cwd) =>
        verifyAttestation(s, {
          file: resolve(cwd, file),
          cwd,
          ...(artifact !== undefined ? { artifact } : {}),
          ...(o.trustedKeys !== undefined ? { trustedKeys: resolve(cwd, o.trustedKeys) } : {}),
        }),
      );
      if (g.json) out(JSON.stringify(r, null, 2));
      else if (r.ok && !g.quiet)
        out(
          `verified ${r.artifact}: signed by ${r.signedBy.join(', ')}; ${r.checked.subjects} subjects match the files on disk, ${r.checked.materials} materials and ${r.checked.stages} stages match the store, git and dv.lock`,
        );
      if (!r.ok) {
        if (!g.json) for (const f of r.failures) process.stderr.write(`dv: attestation: ${printable(f)}\n`);
        throw new DvError(
          'ATTESTATION_INVALID',
          `${file} does not verify${r.artifact ? ` for ${r.artifact}` : ''}: ${r.failures.length} problem${r.failures.length === 1 ? '' : 's'} (above); rebuild with \`dv repro\` and attest again, or find what changed`,
          { failures: r.failures },
        );
      }
    });

  const key = program.command('key').description('signing keys for attestations and run records');
  key
    .command('gen')
    .description('make an Ed25519 key pair: PATH (private, mode 0600) and PATH.pub')
    .argument('<path>')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText(
      'after',
      `\nExample:\n  dv key gen ~/.config/dv/signing.key && dv config --global attest.key ~/.config/dv/signing.key\n${EXIT}`,
    )
    .action(async (path: string, _o: unknown, c: Command) => {
      const { keyGen } = await import('../../provenance/keygen.js');
      const g = globals(c);
      const r = await keyGen(resolve(g.C ?? process.cwd(), path));
      if (g.json) out(JSON.stringify(r, null, 2));
      else if (!g.quiet)
        out(
          `wrote ${r.privateKey} (private, keep it secret) and ${r.publicKey}\nkey id ${r.keyid}\nuse it: dv config --local attest.key ${path}`,
        );
    });
}

/**
 * `dv attest <artifact> [-o FILE]`, `dv attest verify FILE [artifact] [--trusted-keys FILE]` and
 * `dv key gen <path>`: signed provenance (ops/attest.ts, ops/attest-verify.ts, provenance/).
 * `dv verify` keeps its meaning (re-running stages); an attestation is verified by
 * `dv attest verify`. Neither takes the writer lock: they read the store, dv.lock and the work tree.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DvError } from '../../errors.js';
import type { AttestResult } from '../../ops/attest.js';
import type { VerifyAttestationResult } from '../../ops/attest-verify.js';
import { receiptLine } from '../../provenance/receipt.js';
import type { CliContext } from '../io.js';
import { common } from '../options.js';
import { printable } from '../render.js';

const EXIT = `
Exit codes:
  0 success; 2 bad usage; 10 not a dv repository; 17 a key file is malformed (BAD_CONFIG);
  22 an object is missing; 42 a rebuild receipt records outputs that were not reproduced (NOT_REPRODUCIBLE);
  43 the attestation or receipt does not verify (ATTESTATION_INVALID).`;

const ATTEST_HELP = `
Signs with the Ed25519 key named by \`dv config --local attest.key PATH\` (or --global; the
committed .dv/config cannot choose it). Make a key with \`dv key gen PATH\`.

Examples:
  dv attest model.pkl -o model.pkl.intoto.json
  dv attest verify model.pkl.intoto.json model.pkl --trusted-keys team-keys.pub
${EXIT}`;

function attested(r: AttestResult): string {
  const what = `${r.subjects} subjects, ${r.materials} materials, ${r.stages} stages`;
  return `attested ${r.artifact} (snapshot ${r.snapshot.slice(0, 12)}): ${what}, signed by ${r.keyid}\nwrote ${r.file}`;
}

function verified(r: VerifyAttestationResult): string | undefined {
  if (!r.ok) return undefined;
  const c = r.checked;
  if (r.kind === 'receipt') return printable(`verified rebuild receipt for ${r.artifact}: ${receiptLine(r.receipts[0])}`);
  return printable(
    `verified ${r.artifact}: signed by ${r.signedBy.join(', ')}; ${c.subjects} subjects match the files on disk, ` +
      `${c.materials} materials and ${c.stages} stages match the store, git and dv.lock` +
      r.receipts.map((x) => `\n  ${receiptLine(x)}`).join(''),
  );
}

function registerVerify(attestCmd: Command, ctx: CliContext): void {
  common(attestCmd.command('verify'))
    .description('check an attestation (trusted signature, the artifact on disk, every material) or a rebuild receipt')
    .argument('<file>', 'the attestation `dv attest` wrote, or a receipt `dv repro --verify --rebuild` kept')
    .argument('[artifact]', 'the artifact expected to be its subject (default: the one it names)')
    .option('--trusted-keys <file>', 'public keys to accept (PEM or ssh-ed25519 lines; default: config attest.trustedKeys)')
    .addHelpText('after', `\nExample:\n  dv attest verify model.pkl.intoto.json model.pkl --trusted-keys team-keys.pub\n${EXIT}`)
    .action(async (file: string, artifact: string | undefined, o: { trustedKeys?: string }) => {
      const cwd = ctx.cwd();
      const r = await ctx.run('attestVerify', {
        file: resolve(cwd, file),
        cwd,
        ...(artifact !== undefined ? { artifact } : {}),
        ...(o.trustedKeys !== undefined ? { trustedKeys: resolve(cwd, o.trustedKeys) } : {}),
      });
      if (r.ok) return ctx.show(r, verified);
      if (!ctx.globals.json) for (const f of r.failures) ctx.err(`dv: ${r.kind}: ${printable(f)}`);
      const n = r.failures.length;
      if (r.notReproduced) {
        const x = r.receipts[0];
        throw new DvError(
          'NOT_REPRODUCIBLE',
          `${file}: ${r.artifact} was rebuilt by ${x.signer} at ${x.at} and NOT reproduced (above): the stage is not deterministic, or its environment differs`,
          { failures: r.failures },
        );
      }
      throw new DvError(
        'ATTESTATION_INVALID',
        `${file} does not verify${r.artifact ? ` for ${r.artifact}` : ''}: ${n} problem${n === 1 ? '' : 's'} ` +
          '(above); rebuild with `dv repro` and attest again, or find what changed',
        { failures: r.failures },
      );
    });
}

export function register(program: Command, ctx: CliContext): void {
  const attestCmd = common(program.command('attest'))
    .description('write signed provenance of an artifact (in-toto Statement v1, SLSA provenance, DSSE envelope)')
    .argument('[artifact]', 'a stage output or tracked path, or a snapshot id')
    .option('-o, --output <file>', 'write the attestation to FILE (default: print it)')
    .addHelpText('after', ATTEST_HELP)
    .action(async (artifact: string | undefined, o: { output?: string }) => {
      if (artifact === undefined) throw new DvError('USAGE', 'give the artifact to attest: `dv attest <artifact> [-o FILE]`');
      const cwd = ctx.cwd();
      const output = o.output !== undefined ? resolve(cwd, o.output) : undefined;
      const r = await ctx.run('attest', { target: artifact, cwd, ...(output !== undefined ? { output } : {}) });
      if (output === undefined) return ctx.json(r.envelope);
      ctx.show({ ...r, envelope: undefined }, () => attested(r));
    });
  registerVerify(attestCmd, ctx);

  const key = program.command('key').description('signing keys for attestations and run records');
  common(key.command('gen'))
    .description('make an Ed25519 key pair: PATH (private, mode 0600) and PATH.pub')
    .argument('<path>')
    .addHelpText(
      'after',
      `\nExample:\n  dv key gen ~/.config/dv/signing.key && dv config --global attest.key ~/.config/dv/signing.key\n${EXIT}`,
    )
    .action(async (path: string) => {
      const r = await ctx.run('keyGen', { file: resolve(ctx.cwd(), path) });
      ctx.show(
        r,
        () =>
          `wrote ${r.privateKey} (private, keep it secret) and ${r.publicKey}\nkey id ${r.keyid}\nuse it: dv config --local attest.key ${path}`,
      );
    });
}

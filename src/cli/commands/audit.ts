/**
 * `dv audit export <artifact> -o bundle.tar [--attestation FILE]` and `dv audit verify bundle.tar
 * [--trusted-keys FILE] [--data DIR]`: an artifact's provenance as one file an auditor checks
 * offline (ops/audit-export.ts, ops/audit-verify.ts). `verify` opens no repository: it runs in an
 * empty directory with no git and no network.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DvError } from '../../errors.js';
import type { AuditExportResult } from '../../ops/audit-export.js';
import type { AuditVerifyResult } from '../../ops/audit-verify.js';
import type { CliContext } from '../io.js';
import { common } from '../options.js';
import { printable } from '../render.js';
import { receiptLine } from '../../provenance/receipt.js';

const EXIT = `
Exit codes:
  0 success; 2 bad usage; 10 not a dv repository (export); 17 a key file is malformed (BAD_CONFIG);
  22 an object is missing (export: run dv fetch); 43 the bundle does not verify (ATTESTATION_INVALID).`;

function exported(r: AuditExportResult): string {
  const mib = (r.bytes / 1024 / 1024).toFixed(2);
  return (
    `wrote ${r.file} (${mib} MiB): ${r.artifact} snapshot ${r.snapshot.slice(0, 12)}, ${r.objects} objects, ` +
    `attestation ${r.attestation === 'made' ? 'signed now' : 'as given'} by ${r.keys.join(', ')}` +
    (r.receipts ? `, ${r.receipts} rebuild receipt${r.receipts === 1 ? '' : 's'}` : '') +
    '\n' +
    `code commit${r.codeCommits.length === 1 ? '' : 's'}: ${r.codeCommits.join(', ') || '(none)'}`
  );
}

/** The artifact's files --data does not hold: said, not failed (the directory may hold only the inputs). */
function notFound(files: string[]): string {
  if (files.length === 0) return '';
  const shown = files.slice(0, 3).join(', ') + (files.length > 3 ? ` and ${files.length - 3} more` : '');
  return `; artifact ${shown} not in --data: not checked`;
}

function verified(r: AuditVerifyResult): string {
  const c = r.checked;
  const lines = [
    `verified ${r.bundle}: ${r.artifact} (snapshot ${r.snapshot?.slice(0, 12)}) signed by ${r.signedBy.join(', ')}`,
    `  ${c.objects} objects hash to their names; ${c.snapshots} snapshots and ${c.trees} trees chain to the attested materials; ` +
      `${c.stages} stage${c.stages === 1 ? '' : 's'} agree${c.stages === 1 ? 's' : ''} with dv.lock`,
    `  ${c.dataFiles ? `${c.dataFiles} input files match their attested ids` : 'input data bytes not checked (give --data DIR)'}` +
      (c.artifactFiles ? `; ${c.artifactFiles} artifact files match their sha256` : '') +
      notFound(r.artifactNotFound ?? []),
    `  code commit${r.codeCommits.length === 1 ? '' : 's'} ${r.codeCommits.join(', ') || '(none)'}: check in the team's git repository`,
  ];
  for (const x of r.receipts) lines.push(`  ${receiptLine(x)}`);
  if (r.keysFrom === 'bundle')
    lines.push(
      `  note: trusted the bundle's own keys.pub; compare ${r.signedBy.join(', ')} with the team's published key ids, or give --trusted-keys`,
    );
  return printable(lines.join('\n'));
}

export function register(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description("an artifact's provenance as one offline bundle: export it, verify it anywhere");
  common(audit.command('export'))
    .description('write a bundle (tar): the signed attestation, lineage, dv.lock, public keys, and the objects naming every file hash')
    .argument('<artifact>', 'a stage output or tracked path (or a file inside one), or a snapshot id')
    .requiredOption('-o, --output <file>', 'the bundle to write (a tar)')
    .option('--attestation <file>', 'an attestation `dv attest` wrote (default: sign one now with attest.key)')
    .addHelpText('after', `\nExample:\n  dv audit export model.pkl -o model-audit.tar\n${EXIT}`)
    .action(async (artifact: string, o: { output: string; attestation?: string }) => {
      const cwd = ctx.cwd();
      const r = await ctx.run('auditExport', {
        target: artifact,
        output: resolve(cwd, o.output),
        cwd,
        ...(o.attestation !== undefined ? { attestation: resolve(cwd, o.attestation) } : {}),
      });
      ctx.show(r, exported);
    });
  common(audit.command('verify'))
    .description('check a bundle with no repository, git or network: signature, every hash, the chain to the materials, the data')
    .argument('<bundle>', 'the tar `dv audit export` wrote')
    .option('--trusted-keys <file>', "public keys to accept (PEM or ssh-ed25519 lines; default: the bundle's own, reported as such)")
    .option('--data <dir>', "a copy of the data laid out as in the repository: check each input file's bytes too")
    .addHelpText('after', `\nExample:\n  dv audit verify model-audit.tar --trusted-keys team-keys.pub --data ./data-copy\n${EXIT}`)
    .action(async (bundle: string, o: { trustedKeys?: string; data?: string }) => {
      const cwd = ctx.cwd();
      const r = await ctx.run('auditVerify', {
        file: resolve(cwd, bundle),
        ...(o.trustedKeys !== undefined ? { trustedKeys: resolve(cwd, o.trustedKeys) } : {}),
        ...(o.data !== undefined ? { data: resolve(cwd, o.data) } : {}),
      });
      if (r.ok) return ctx.show(r, verified);
      if (!ctx.globals.json) for (const f of r.failures) ctx.err(`dv: audit: ${printable(f)}`);
      const n = r.failures.length;
      throw new DvError('ATTESTATION_INVALID', `${bundle} does not verify: ${n} problem${n === 1 ? '' : 's'} (above)`, {
        failures: r.failures,
      });
    });
}

/** `dv remote add|list|remove|default|trust`: the remotes of the configuration. */
import type { Command } from 'commander';
import { COUNT } from '../../core/number.js';
import { DvError } from '../../errors.js';
import type { RemoteConfig } from '../../ops/remote.js';
import type { CliContext } from '../io.js';
import { EXIT_HELP, example, numberOption } from '../options.js';

interface AddFlags {
  endpoint?: string;
  region?: string;
  profile?: string;
  pathStyle?: boolean;
  checksum?: string;
  sse?: string;
  sseKmsKeyId?: string;
  sseBucketKey?: boolean;
  objectLockDays?: number;
  objectLockMode?: string;
  jobs?: number;
  default?: boolean;
  local?: boolean;
}

const OBJECT_LOCK_DAYS = { min: 1, max: 36_500, whole: true };

const list = (rs: RemoteConfig[]): string =>
  rs.length === 0
    ? 'no remotes: add one with `dv remote add NAME URL`'
    : rs.map((r) => `${r.isDefault ? '*' : ' '} ${r.name}\t${r.url}${r.endpoint ? ` (endpoint ${r.endpoint})` : ''}`).join('\n');

function registerAdd(remote: Command, ctx: CliContext): void {
  const add = remote
    .command('add')
    .description('add a remote: a directory path, file:// URL, or s3://bucket[/prefix]')
    .argument('<name>')
    .argument('<url>')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, Ceph, R2, ...)')
    .option('--region <region>', 'S3 region')
    .option('--profile <profile>', 'AWS profile for credentials')
    .option('--path-style', 'force path-style S3 addressing (default with --endpoint)')
    .option('--checksum <mode>', 'S3 checksums: when_required (default, safest with S3-compatible stores) or when_supported')
    .option('--sse <mode>', 'S3 server-side encryption on every upload: AES256 or aws:kms')
    .option('--sse-kms-key-id <key>', 'with --sse aws:kms: the KMS key id, alias or ARN (default: the account key)')
    .option('--sse-bucket-key', 'with --sse aws:kms: use an S3 Bucket Key')
    .addOption(
      numberOption('--object-lock-days <n>', 'S3 Object Lock: retain every pack, index and run record pushed n days', OBJECT_LOCK_DAYS),
    )
    .option('--object-lock-mode <mode>', 'with --object-lock-days: governance (default) or compliance (nobody can shorten it)')
    .addOption(numberOption('-j, --jobs <n>', 'parallel transfers for this remote', COUNT))
    .option('-d, --default', 'make it the default remote')
    .option('--local', 'store it in .dv/config.local (not committed)');
  example(add, 'dv remote add origin s3://my-bucket/project --default').action(async (name: string, url: string, o: AddFlags) => {
    if (o.checksum && o.checksum !== 'when_required' && o.checksum !== 'when_supported')
      throw new DvError('USAGE', '--checksum must be when_required or when_supported');
    const { endpoint, region, profile, checksum, sse, sseKmsKeyId } = o;
    const pathStyle = o.pathStyle ? 'true' : undefined;
    const sseBucketKey = o.sseBucketKey ? 'true' : undefined;
    const objectLockDays = o.objectLockDays === undefined ? undefined : String(o.objectLockDays);
    const objectLockMode = o.objectLockMode;
    const jobs = o.jobs === undefined ? undefined : String(o.jobs);
    const s3 = { endpoint, region, profile, pathStyle, checksum, sse, sseKmsKeyId, sseBucketKey, objectLockDays, objectLockMode, jobs };
    const opts = { cwd: ctx.cwd(), name, url, ...s3, default: o.default, local: o.local };
    const added = await ctx.run('remoteAdd', opts);
    const where = added.directory && added.directory !== added.url ? ` (${added.directory})` : '';
    ctx.show(added, () => `added remote ${name} -> ${added.url}${where}${added.isDefault ? ' (default)' : ''}`);
  });
}

export function register(program: Command, ctx: CliContext): void {
  const remote = program
    .command('remote')
    .description('manage remotes: add, list, remove, default, trust')
    .addHelpText(
      'after',
      '\nExamples:\n  dv remote add origin /mnt/shared/dv-store --default\n' +
        '  dv remote add s3 s3://my-bucket/datasets --region eu-west-1\n' +
        `  dv remote add minio s3://data/dv --endpoint http://127.0.0.1:9000\n${EXIT_HELP}`,
    );
  registerAdd(remote, ctx);
  example(remote.command('list').description('list remotes'), 'dv remote list --json').action(async () => {
    ctx.show(await ctx.run('remoteList', { cwd: ctx.cwd() }), list);
  });
  example(
    remote.command('remove').description('remove a remote (its data stays where it is)').argument('<name>'),
    'dv remote remove old-store',
  ).action(async (name: string) => {
    const r = await ctx.run('remoteRemove', { cwd: ctx.cwd(), name });
    ctx.show(r ?? { name }, () => `removed remote ${name} (its data stays where it is)`);
  });
  example(remote.command('default').description('show or set the default remote').argument('[name]'), 'dv remote default origin').action(
    async (name?: string) => {
      const r = await ctx.run('remoteDefault', { cwd: ctx.cwd(), name: name || undefined });
      if (name) return;
      if (ctx.globals.json) ctx.json(r);
      else if (r.default) ctx.out(r.default);
      else throw new DvError('NO_REMOTE', 'no default remote: set one with `dv remote default NAME`');
    },
  );
  const trust = remote
    .command('trust')
    .description('confirm where a remote of the committed .dv/config now goes, after its URL or endpoint changed (REMOTE_UNTRUSTED)')
    .argument('[name]');
  example(trust, 'git log -p .dv/config   # check who changed it, and why\n  dv remote trust origin').action(async (name?: string) => {
    const r = await ctx.run('remoteTrust', { cwd: ctx.cwd(), name });
    ctx.show(r, () => `trusted remote ${r.name} -> ${r.identity}`);
  });
}

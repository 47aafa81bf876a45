// s3rver on 127.0.0.1 for the S3 rows: started by the benchmark, stopped at its end, and never
// outliving it (the child exits when its stdin, a pipe from us, closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3rver {
  endpoint: string;
  pid: number | undefined;
  /** s3rver keeps each bucket as a directory here: its size is what arrived. */
  bucketDir(bucket: string): string;
  createBucket(bucket: string): Promise<void>;
  /** Forgets a bucket by removing its directory (s3rver reads the file system on every request). */
  dropBucket(bucket: string): void;
  stop(): Promise<void>;
}

/** Credentials s3rver accepts (the access key must be S3RVER; the secret is not checked). */
export const S3_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

const EXIT_WITH_PARENT =
  "process.stdin.on('end', () => process.exit(0)); process.stdin.on('error', () => process.exit(0)); process.stdin.resume();";

export async function startS3rver(dir: string): Promise<S3rver> {
  mkdirSync(dir, { recursive: true });
  const bin = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const args = ['-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent', '--no-vhost-buckets'];
  const script = `${EXIT_WITH_PARENT} process.argv = [process.execPath, ${JSON.stringify(bin)}, ...${JSON.stringify(args)}]; require(${JSON.stringify(bin)});`;
  // --openssl-legacy-provider: s3rver makes listing continuation tokens with DES (jamhall/s3rver#818).
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${out}`)), 15_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on [^\s:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (${code}) before listening: ${out}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    pid: child.pid,
    bucketDir: (bucket) => join(dir, bucket),
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    dropBucket(bucket) {
      rmSync(join(dir, bucket), { recursive: true, force: true });
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

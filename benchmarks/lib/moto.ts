// moto_server on 127.0.0.1 for the transfer suite, where it is installed: started by the
// benchmark, stopped at its end, and never outliving it (a node wrapper kills it when its stdin,
// a pipe from us, closes). Buckets are made with the AWS SDK; moto accepts any credentials.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface Moto {
  endpoint: string;
  pid: number | undefined;
  createBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

export const MOTO_ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };

/** moto_server's path, or undefined when it is not on PATH. */
export function motoBin(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startMoto(): Promise<Moto | undefined> {
  const bin = motoBin();
  if (!bin) return undefined;
  const port = await freePort();
  const script = `
    const c = require('node:child_process').spawn(${JSON.stringify(bin)}, ['-H', '127.0.0.1', '-p', '${port}'], { stdio: 'ignore' });
    const stop = () => { c.kill('SIGTERM'); setTimeout(() => c.kill('SIGKILL'), 2000).unref(); };
    process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume();
    process.on('SIGTERM', stop);
    c.on('exit', (code) => process.exit(code ?? 0));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    if (
      await fetch(`${endpoint}/moto-api/`).then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('moto_server did not start within 30 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    pid: child.pid,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin?.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

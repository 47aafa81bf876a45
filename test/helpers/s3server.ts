// Starts real S3 servers on loopback for tests: s3rver (always installed) and
// moto_server (where it is on PATH). Each test file starts and stops its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3TestServer {
  endpoint: string;
  port: number;
  /** Credentials the server accepts. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Prepended to child scripts: a server must not outlive the test process that started it. */
const EXIT_WITH_PARENT =
  "process.stdin.on('end', () => process.exit(0)); process.stdin.on('error', () => process.exit(0)); process.stdin.resume();";

function makeServer(child: ChildProcess, port: number, accessKeyId: string, cleanup: () => Promise<void>): S3TestServer {
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId, secretAccessKey: 'secret' };
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    endpoint,
    port,
    credentials,
    async createBucket(name) {
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    async stop() {
      if (child.pid !== undefined && child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    },
  };
}

/** Starts s3rver as a child process on 127.0.0.1 with a fresh data directory. */
export async function startS3rver(): Promise<S3TestServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dv-s3rver-'));
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const args = ['-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent', '--no-vhost-buckets'];
  const script = `${EXIT_WITH_PARENT}
    process.argv = [process.execPath, ${JSON.stringify(bin)}, ...${JSON.stringify(args)}];
    require(${JSON.stringify(bin)});`;
  // --openssl-legacy-provider: s3rver makes continuation tokens with DES (jamhall/s3rver#818).
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${err}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on [^\s:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${err}`));
    });
  }).catch(async (e) => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return makeServer(child, port, 'S3RVER', () => rm(dir, { recursive: true, force: true }));
}

/** Where `name` is found on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, fsc.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts moto_server on 127.0.0.1, or returns undefined when it is not on PATH. */
export async function startMoto(env: Record<string, string> = {}): Promise<S3TestServer | undefined> {
  const bin = findOnPath('moto_server');
  if (!bin) return undefined;
  const port = await freePort();
  const script = `
    const c = require('node:child_process').spawn(${JSON.stringify(bin)}, ['-H', '127.0.0.1', '-p', '${port}'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const stop = () => { c.kill('SIGTERM'); setTimeout(() => c.kill('SIGKILL'), 2000).unref(); };
    process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume();
    process.on('SIGTERM', stop);
    c.on('exit', (code) => process.exit(code ?? 0));`;
  // Launched through node so that moto dies with this process even if stop() is never called.
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${err}`);
    const ok = await fetch(`http://127.0.0.1:${port}/moto-api/`).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start within 20 s: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return makeServer(child, port, 'testing', async () => undefined);
}

/** Environment for a dv process to reach `srv` with its credentials, ignoring the user's AWS files. */
export function credsEnv(srv: S3TestServer): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: srv.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: srv.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  };
}

/**
 * dv's local servers (`dv serve`, `dv ui`) as real processes for tests, and raw HTTP requests to
 * them (a path exactly as given, any Host and method: fetch would normalise `..` and fix Host).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { DV_BIN } from './cli.js';

export interface LocalServer {
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

/** Starts `dv <command> --port 0 args` in `cwd`; resolves with the URL once stdout has a line `announce` matches (group 1). */
export function startServer(
  command: string,
  announce: RegExp,
  cwd: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<LocalServer> {
  const child = spawn(process.execPath, [DV_BIN, command, '--port', '0', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dv ${command} printed no URL in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = announce.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`dv ${command} exited ${code}: ${err}`)));
  });
}

/** A raw request with the path exactly as given and any headers (Host included). */
export function rawRequest(
  url: string,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

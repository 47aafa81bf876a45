/**
 * `dv key gen <path>`: a new Ed25519 key pair, the private key as PKCS#8 PEM (mode 0600) and its
 * public key beside it as `<path>.pub` (SPKI PEM). Never overwrites: an existing file at either
 * path is USAGE, since losing a signing key loses every signature it could have made. A missing
 * parent directory is made (mode 0700).
 */
import { generateKeyPairSync } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { DvError, fsError } from '../errors.js';
import { keyIdOf } from './keys.js';

export interface KeyGenResult {
  privateKey: string;
  publicKey: string;
  keyid: string;
}

async function writeNew(file: string, text: string, mode: number): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    // 'wx': created here or not at all, never through a link planted at the path.
    fh = await fsp.open(file, 'wx', mode);
    await fh.writeFile(text);
    await fh.sync();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DvError('USAGE', `${file} exists: dv key gen never overwrites a key; choose another path`, { file });
    throw fsError(e, file);
  } finally {
    await fh?.close();
  }
}

export async function keyGen(file: string): Promise<KeyGenResult> {
  const pub = `${file}.pub`;
  const there = async (p: string): Promise<boolean> =>
    fsp.lstat(p).then(
      () => true,
      () => false,
    );
  for (const p of [file, pub])
    if (await there(p)) throw new DvError('USAGE', `${p} exists: dv key gen never overwrites a key; choose another path`, { file: p });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // A key's usual home (~/.config/dv/) may not exist yet: made for the owner alone, as ssh-keygen does ~/.ssh.
  await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 }).catch((e) => {
    throw fsError(e, dirname(file));
  });
  await writeNew(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  await writeNew(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  return { privateKey: file, publicKey: pub, keyid: keyIdOf(publicKey) };
}

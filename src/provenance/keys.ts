/**
 * Ed25519 keys for signing and verifying, with node:crypto alone. A private key is a PKCS#8 PEM
 * file (`openssl genpkey -algorithm ed25519`, `dv key gen`) or an unencrypted OpenSSH one
 * (`ssh-keygen -t ed25519 -N ''`). A public key is a SPKI PEM block or an OpenSSH line
 * (`ssh-ed25519 AAAA... comment`). A key's id is `sha256:` + hex SHA-256 of its SPKI DER, the
 * same for both spellings of one key (`openssl pkey -pubin -outform DER | sha256sum` shows it).
 *
 * Invariants: key files are read capped (MAX_KEY_FILE_BYTES) and must be regular files; a key
 * of another algorithm, an encrypted OpenSSH key or a malformed one is BAD_CONFIG naming the
 * file and what to do; parsing the OpenSSH binary format reads only inside the buffer.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { DvError, fsError } from '../errors.js';
import type { Signer } from './dsse.js';

const MAX_KEY_FILE_BYTES = 1024 * 1024;
const MAX_TRUSTED_KEYS = 1000;

export function keyIdOf(publicKey: KeyObject): string {
  return (
    'sha256:' +
    createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex')
  );
}

/** A file's text, capped; `what` names it in messages (`attest.key ~/.ssh/id_ed25519`). */
export async function readKeyFile(file: string, what: string): Promise<string> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const st = await fh.stat();
    if (!st.isFile()) throw new DvError('BAD_CONFIG', `${what}: ${file} is not a regular file: name a key file`, { file });
    if (st.size > MAX_KEY_FILE_BYTES) throw new DvError('BAD_CONFIG', `${what}: ${file} is too large to be a key file`, { file });
    const buf = Buffer.alloc(Math.min(st.size, MAX_KEY_FILE_BYTES));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch (e) {
    if (e instanceof DvError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DvError('BAD_CONFIG', `${what}: ${file} does not exist: fix the path`, { file });
    throw fsError(e, file);
  } finally {
    await fh?.close();
  }
}

const b64url = (b: Buffer): string => b.toString('base64url');
const okpPublic = (x: Buffer): KeyObject => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(x) }, format: 'jwk' });

/** Reads SSH wire strings (uint32 length + bytes) from a buffer, never past its end. */
class SshReader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.b.length) throw new Error('truncated');
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (n > this.b.length - this.at) throw new Error('truncated');
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  text(): string {
    return this.bytes().toString('latin1');
  }
}

/** The private key of an unencrypted `openssh-key-v1` file (PROTOCOL.key in OpenSSH's sources). */
function opensshPrivate(text: string, file: string): KeyObject {
  const body = text.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const b = Buffer.from(body, 'base64');
  const magic = Buffer.from('openssh-key-v1\0', 'latin1');
  const bad = (why: string): DvError => new DvError('BAD_CONFIG', `${file}: ${why}`, { file });
  if (!b.subarray(0, magic.length).equals(magic)) throw bad('not an OpenSSH private key');
  try {
    const r = new SshReader(b.subarray(magic.length));
    const cipher = r.text();
    r.text(); // kdf name
    r.bytes(); // kdf options
    if (cipher !== 'none')
      throw bad(`the OpenSSH key is encrypted (${cipher}): dv cannot ask for its passphrase; use a key without one, or \`dv key gen\``);
    if (r.u32() !== 1) throw bad('an OpenSSH file of several keys: give a file with one');
    r.bytes(); // public key blob
    const p = new SshReader(r.bytes());
    const check1 = p.u32();
    const check2 = p.u32();
    if (check1 !== check2) throw bad('the OpenSSH key does not decode (check bytes differ)');
    const type = p.text();
    if (type !== 'ssh-ed25519') throw bad(`an OpenSSH ${type} key: dv signs with Ed25519 keys only (ssh-keygen -t ed25519)`);
    const pub = p.bytes();
    const priv = p.bytes();
    if (pub.length !== 32 || priv.length !== 64) throw bad('the Ed25519 key has the wrong length');
    return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(priv.subarray(0, 32)), x: b64url(pub) }, format: 'jwk' });
  } catch (e) {
    if (e instanceof DvError) throw e;
    throw bad('the OpenSSH private key is truncated or malformed');
  }
}

/** The signer of a private key file (PKCS#8 PEM or OpenSSH); `what` says where the path came from. */
export async function loadSigner(file: string, what = 'attest.key'): Promise<Signer & { publicKey: KeyObject }> {
  const text = await readKeyFile(file, what);
  let privateKey: KeyObject;
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) privateKey = opensshPrivate(text, file);
  else {
    try {
      privateKey = createPrivateKey({ key: text, format: 'pem' });
    } catch {
      throw new DvError(
        'BAD_CONFIG',
        `${what}: ${file} is not a PEM or OpenSSH private key: make one with \`dv key gen FILE\` or \`openssl genpkey -algorithm ed25519 -out FILE\``,
        { file },
      );
    }
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new DvError('BAD_CONFIG', `${what}: ${file} is a ${privateKey.asymmetricKeyType} key: dv signs with Ed25519 keys only`, { file });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: keyIdOf(publicKey) };
}

/**
 * The public keys of a trusted-keys file, by key id: PEM `PUBLIC KEY` blocks and `ssh-ed25519`
 * lines, in any mix; blank lines and `#` comments are skipped. Anything else is BAD_CONFIG
 * naming the line, so a typo never silently trusts fewer keys than the user meant.
 */
export function parsePublicKeys(text: string, file: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const bad = (line: number, why: string): DvError => new DvError('BAD_CONFIG', `${file}:${line}: ${why}`, { file, line });
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    let key: KeyObject;
    if (line === '-----BEGIN PUBLIC KEY-----') {
      const end = lines.findIndex((l, j) => j > i && l.trim() === '-----END PUBLIC KEY-----');
      if (end < 0) throw bad(i + 1, 'a PEM block without its END line');
      try {
        key = createPublicKey({ key: lines.slice(i, end + 1).join('\n'), format: 'pem' });
      } catch {
        throw bad(i + 1, 'a PEM public key that does not decode');
      }
      i = end;
    } else if (/^ssh-ed25519\s/.test(line)) {
      try {
        const r = new SshReader(Buffer.from(line.split(/\s+/)[1], 'base64'));
        if (r.text() !== 'ssh-ed25519') throw new Error('type');
        const x = r.bytes();
        if (x.length !== 32) throw new Error('length');
        key = okpPublic(x);
      } catch {
        throw bad(i + 1, 'an ssh-ed25519 line that does not decode');
      }
    } else {
      throw bad(i + 1, 'not a public key: give PEM `PUBLIC KEY` blocks or `ssh-ed25519 AAAA...` lines (# starts a comment)');
    }
    if (key.asymmetricKeyType !== 'ed25519') throw bad(i + 1, `a ${key.asymmetricKeyType} key: dv verifies Ed25519 signatures only`);
    if (keys.size >= MAX_TRUSTED_KEYS) throw bad(i + 1, `more than ${MAX_TRUSTED_KEYS} keys`);
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

export async function loadPublicKeys(file: string, what: string): Promise<Map<string, KeyObject>> {
  return parsePublicKeys(await readKeyFile(file, what), file);
}

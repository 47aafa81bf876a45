/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol v1): what
 * dv signs is never the JSON text itself but PAE(payloadType, payload), so a signature over one
 * payload type cannot be replayed as another. Hand-written because it is ten lines: the
 * maintained packages (sigstore's @sigstore/sign, @sigstore/verify) build Fulcio/Rekor bundles
 * around keyless identities and pull a TUF client with them; dv signs offline with a local
 * Ed25519 key and verifies against a list of keys, which node:crypto does alone.
 *
 * Invariants: an envelope read from a file is untrusted: parsed strictly (types, base64, at most
 * MAX_SIGNATURES signatures, MAX_ENVELOPE_BYTES in all) before any signature is checked; the
 * payload is used only after a trusted key's signature over its PAE verified.
 */
import { type KeyObject, sign, verify } from 'node:crypto';
import { DvError } from '../errors.js';

export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;
const MAX_SIGNATURES = 16;

export interface Signature {
  keyid: string;
  /** Base64 of the Ed25519 signature over PAE(payloadType, payload). */
  sig: string;
}

export interface Envelope {
  /** Base64 of the payload bytes. */
  payload: string;
  payloadType: string;
  signatures: Signature[];
}

/** The DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** A signer: a private key and the id verifiers know its public key by. */
export interface Signer {
  keyid: string;
  privateKey: KeyObject;
}

/** A signed envelope of `payload` (Ed25519: the algorithm is the key's own, hence null). */
export function signEnvelope(payloadType: string, payload: Buffer, signer: Signer): Envelope {
  const sig = sign(null, pae(payloadType, payload), signer.privateKey).toString('base64');
  return { payload: payload.toString('base64'), payloadType, signatures: [{ keyid: signer.keyid, sig }] };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Base64 or base64url, as the DSSE spec lets a writer choose; null when it is neither. */
function decodeBase64(s: string): Buffer | null {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  const padded = std + '='.repeat((4 - (std.length % 4)) % 4);
  return BASE64.test(padded) ? Buffer.from(padded, 'base64') : null;
}

/** Parses an envelope from untrusted text: ATTESTATION_INVALID naming what is wrong. */
export function parseEnvelope(text: string, what: string): Envelope & { payloadBytes: Buffer } {
  const bad = (why: string): DvError => new DvError('ATTESTATION_INVALID', `${what} is not a DSSE envelope: ${why}`, { file: what });
  if (text.length > MAX_ENVELOPE_BYTES) throw bad(`larger than ${MAX_ENVELOPE_BYTES} bytes`);
  let o: any;
  try {
    o = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('not a JSON object');
  if (typeof o.payloadType !== 'string' || o.payloadType === '') throw bad('payloadType');
  if (typeof o.payload !== 'string') throw bad('payload');
  const payloadBytes = decodeBase64(o.payload);
  if (!payloadBytes) throw bad('payload is not base64');
  if (!Array.isArray(o.signatures)) throw bad('signatures is not a list');
  if (o.signatures.length > MAX_SIGNATURES) throw bad(`more than ${MAX_SIGNATURES} signatures`);
  const signatures: Signature[] = [];
  for (const x of o.signatures) {
    if (!x || typeof x !== 'object' || typeof x.sig !== 'string' || (x.keyid !== undefined && typeof x.keyid !== 'string'))
      throw bad('a signature is not {keyid, sig}');
    signatures.push({ keyid: x.keyid ?? '', sig: x.sig });
  }
  return { payload: o.payload, payloadType: o.payloadType, signatures, payloadBytes };
}

export interface EnvelopeCheck {
  /** Key ids of the trusted keys whose signature verified. */
  trustedBy: string[];
  /** One line per signature that did not count, when none did. */
  problems: string[];
}

/**
 * Which trusted keys signed the envelope. The keyid is only a hint (DSSE): a signature is
 * checked against the key of that id, and when no trusted key has it, against every trusted
 * key, so a renamed keyid still verifies and a foreign key is named as such.
 */
export function checkEnvelope(env: Envelope & { payloadBytes: Buffer }, trusted: Map<string, KeyObject>): EnvelopeCheck {
  const message = pae(env.payloadType, env.payloadBytes);
  const trustedBy: string[] = [];
  const problems: string[] = [];
  if (env.signatures.length === 0) problems.push('the envelope has no signature');
  for (const s of env.signatures) {
    const sig = decodeBase64(s.sig);
    const shown = s.keyid || '(no keyid)';
    if (!sig || sig.length !== 64) {
      problems.push(`signature by ${shown} is not a base64 Ed25519 signature`);
      continue;
    }
    const named = trusted.get(s.keyid);
    const ok = (k: KeyObject): boolean => {
      try {
        return verify(null, message, k, sig);
      } catch {
        return false;
      }
    };
    if (named) {
      if (ok(named)) trustedBy.push(s.keyid);
      else problems.push(`signature by ${shown} does not verify (the payload or the signature was changed)`);
      continue;
    }
    const other = [...trusted].find(([, k]) => ok(k));
    if (other) trustedBy.push(other[0]);
    else problems.push(`signed by key ${shown}, which is not a trusted key`);
  }
  return { trustedBy: [...new Set(trustedBy)], problems };
}

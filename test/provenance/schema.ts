/**
 * Independent checks of what `dv attest` writes, written from the specifications and not from
 * dv's code: the DSSE envelope (github.com/secure-systems-lab/dsse: envelope.md, protocol.md),
 * the in-toto Statement v1 and ResourceDescriptor (github.com/in-toto/attestation spec/v1), and
 * the SLSA Provenance v1 predicate (slsa.dev/spec/v1.0/provenance). Each returns the list of
 * violations, empty when the document conforms.
 */
import { createPublicKey, verify } from 'node:crypto';

const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isB64 = (s: unknown): boolean => typeof s === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;
/** RFC 3986: a scheme, a colon, then anything printable. */
const isUri = (s: unknown): boolean => typeof s === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(s);
const isTimestamp = (s: unknown): boolean =>
  typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s);
/** Lowercase hex lengths of the algorithms the in-toto digest spec names and dv uses. */
const HEX = { sha256: 64, gitCommit: 40 } as Record<string, number>;

/** DSSE envelope: {payload: base64, payloadType: string, signatures: [{keyid?: string, sig: base64}] (at least one)}. */
export function envelopeViolations(e: unknown): string[] {
  const v: string[] = [];
  if (!isObj(e)) return ['envelope is not an object'];
  if (!isB64(e.payload)) v.push('payload is not standard base64');
  if (typeof e.payloadType !== 'string' || e.payloadType === '') v.push('payloadType is not a non-empty string');
  if (!Array.isArray(e.signatures) || e.signatures.length === 0) v.push('signatures is not a non-empty list');
  else
    for (const s of e.signatures) {
      if (!isObj(s)) v.push('a signature is not an object');
      else {
        if (!isB64(s.sig)) v.push('sig is not base64');
        if (s.keyid !== undefined && typeof s.keyid !== 'string') v.push('keyid is not a string');
      }
    }
  return v;
}

/** DSSE v1 PAE, from protocol.md: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `, 'utf8'), body]);
}

/** Whether some signature of the envelope verifies with the PEM public key. */
export function signatureVerifies(e: any, publicKeyPem: string): boolean {
  const key = createPublicKey(publicKeyPem);
  const body = Buffer.from(e.payload, 'base64');
  return e.signatures.some((s: any) => verify(null, pae(e.payloadType, body), key, Buffer.from(s.sig, 'base64')));
}

function descriptorViolations(d: unknown, at: string, needDigest: boolean): string[] {
  const v: string[] = [];
  if (!isObj(d)) return [`${at} is not an object`];
  const known = ['name', 'uri', 'digest', 'content', 'downloadLocation', 'mediaType', 'annotations'];
  for (const k of Object.keys(d)) if (!known.includes(k)) v.push(`${at} has unknown field ${k}`);
  if (d.uri === undefined && d.digest === undefined && d.content === undefined) v.push(`${at} has none of uri, digest, content`);
  if (needDigest && !isObj(d.digest)) v.push(`${at} has no digest`);
  if (d.name !== undefined && typeof d.name !== 'string') v.push(`${at}.name is not a string`);
  if (d.uri !== undefined && !isUri(d.uri)) v.push(`${at}.uri is not a URI`);
  if (d.annotations !== undefined && !isObj(d.annotations)) v.push(`${at}.annotations is not an object`);
  if (d.digest !== undefined) {
    if (!isObj(d.digest) || Object.keys(d.digest).length === 0) v.push(`${at}.digest is not a non-empty map`);
    else
      for (const [alg, hex] of Object.entries(d.digest)) {
        if (typeof hex !== 'string' || !/^[0-9a-f]+$/.test(hex)) v.push(`${at}.digest.${alg} is not lowercase hex`);
        else if (HEX[alg] !== undefined && hex.length !== HEX[alg])
          v.push(`${at}.digest.${alg} has ${hex.length} hex digits, not ${HEX[alg]}`);
      }
  }
  return v;
}

/** in-toto Statement v1 with a SLSA Provenance v1 predicate. */
export function statementViolations(s: unknown): string[] {
  const v: string[] = [];
  if (!isObj(s)) return ['statement is not an object'];
  for (const k of Object.keys(s)) if (!['_type', 'subject', 'predicateType', 'predicate'].includes(k)) v.push(`unknown field ${k}`);
  if (s._type !== 'https://in-toto.io/Statement/v1') v.push('_type is not https://in-toto.io/Statement/v1');
  if (!Array.isArray(s.subject) || s.subject.length === 0) v.push('subject is not a non-empty list');
  else for (const [i, d] of (s.subject as unknown[]).entries()) v.push(...descriptorViolations(d, `subject[${i}]`, true));
  if (!isUri(s.predicateType)) v.push('predicateType is not a URI');
  if (s.predicateType !== 'https://slsa.dev/provenance/v1') v.push('predicateType is not SLSA provenance v1');
  const p = s.predicate;
  if (!isObj(p)) return [...v, 'predicate is not an object'];
  const b = p.buildDefinition;
  if (!isObj(b)) v.push('buildDefinition missing');
  else {
    if (!isUri(b.buildType)) v.push('buildDefinition.buildType is not a URI');
    if (!isObj(b.externalParameters)) v.push('buildDefinition.externalParameters is not an object');
    if (b.internalParameters !== undefined && !isObj(b.internalParameters)) v.push('internalParameters is not an object');
    if (b.resolvedDependencies !== undefined) {
      if (!Array.isArray(b.resolvedDependencies)) v.push('resolvedDependencies is not a list');
      else
        for (const [i, d] of (b.resolvedDependencies as unknown[]).entries())
          v.push(...descriptorViolations(d, `resolvedDependencies[${i}]`, false));
    }
  }
  const r = p.runDetails;
  if (!isObj(r)) v.push('runDetails missing');
  else {
    if (!isObj(r.builder) || !isUri(r.builder.id)) v.push('runDetails.builder.id is not a URI');
    else if (
      r.builder.version !== undefined &&
      (!isObj(r.builder.version) || !Object.values(r.builder.version).every((x) => typeof x === 'string'))
    )
      v.push('runDetails.builder.version is not a map of strings');
    if (r.metadata !== undefined) {
      if (!isObj(r.metadata)) v.push('runDetails.metadata is not an object');
      else {
        if (r.metadata.invocationId !== undefined && typeof r.metadata.invocationId !== 'string') v.push('invocationId is not a string');
        for (const t of ['startedOn', 'finishedOn'])
          if (r.metadata[t] !== undefined && !isTimestamp(r.metadata[t])) v.push(`metadata.${t} is not an RFC 3339 timestamp`);
      }
    }
  }
  return v;
}

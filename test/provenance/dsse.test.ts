/**
 * The provenance modules on their own: the DSSE PAE against the specification's example, sign
 * and check round trips, and the parsers of untrusted envelopes, statements and key files fed
 * arbitrary input (fast-check): they return or throw a DvError, never anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { DvError } from '../../src/errors.js';
import { checkEnvelope, pae, parseEnvelope, signEnvelope } from '../../src/provenance/dsse.js';
import { keyIdOf, parsePublicKeys } from '../../src/provenance/keys.js';
import { checkRunSignature, signRun } from '../../src/provenance/run-signature.js';
import { parseStatement } from '../../src/provenance/statement.js';
import { compareStage } from '../../src/provenance/compare.js';

const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyid: keyIdOf(publicKey) };
};

test('PAE is the DSSE v1 encoding (the example of protocol.md), lengths in bytes', () => {
  assert.equal(
    pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
  );
  assert.equal(pae('t/é', Buffer.from('€')).toString(), 'DSSEv1 4 t/é 3 €');
});

test('sign -> check: the signer verifies; another key, an edited payload or type, a truncated signature do not', () => {
  const a = pair();
  const b = pair();
  const trusted = new Map([[a.keyid, a.publicKey]]);
  const env = signEnvelope('application/x', Buffer.from('payload'), a);
  const parsed = () => parseEnvelope(JSON.stringify(env), 'e');
  assert.deepEqual(checkEnvelope(parsed(), trusted).trustedBy, [a.keyid]);
  // A keyid that names no trusted key still verifies by the key that signed (keyid is a hint).
  assert.deepEqual(checkEnvelope({ ...parsed(), signatures: [{ keyid: 'renamed', sig: env.signatures[0].sig }] }, trusted).trustedBy, [
    a.keyid,
  ]);
  assert.match(checkEnvelope(parsed(), new Map([[b.keyid, b.publicKey]])).problems[0], /which is not a trusted key/);
  assert.match(checkEnvelope({ ...parsed(), payloadBytes: Buffer.from('payloaD') }, trusted).problems[0], /does not verify/);
  assert.match(checkEnvelope({ ...parsed(), payloadType: 'application/y' }, trusted).problems[0], /does not verify/);
  assert.match(
    checkEnvelope({ ...parsed(), signatures: [{ keyid: a.keyid, sig: env.signatures[0].sig.slice(8) }] }, trusted).problems[0],
    /not a base64 Ed25519/,
  );
});

test('run signatures bind the exact record bytes', () => {
  const a = pair();
  const trusted = { file: 'k', keys: new Map([[a.keyid, a.publicKey]]) };
  const rec = Buffer.from('dvrun 1\n{"key":"x"}\n');
  const sig = signRun(rec, a);
  assert.deepEqual(checkRunSignature(rec, sig, trusted), { ok: true, keyid: a.keyid });
  assert.deepEqual(checkRunSignature(Buffer.from('dvrun 1\n{"key":"y"}\n'), sig, trusted), {
    ok: false,
    why: 'has a signature over another record',
  });
  assert.deepEqual(checkRunSignature(rec, undefined, trusted), { ok: false, why: 'is unsigned' });
  assert.deepEqual(checkRunSignature(rec, Buffer.from('{'), trusted), { ok: false, why: 'has a malformed signature' });
});

test('compareStage names each differing field, and nothing when equal', () => {
  const id = (c: string): string => c.repeat(64);
  const base = {
    name: 's',
    cmd: 'run',
    key: id('a'),
    params: { 'p.yaml': { lr: 1 } },
    env: { dv: '1', os: 'linux', arch: 'x64', tools: { node: '20' }, git: null, lockfiles: {}, vars: {} },
    deps: [{ path: 'd', id: id('b'), snapshot: id('c') }],
    outs: [{ path: 'o', id: id('d') }],
    ranAt: 't',
  };
  const lock = { ...base, run: id('e'), outs: [{ path: 'o', id: id('d'), snapshot: id('f') }] };
  assert.deepEqual(compareStage(base, lock), []);
  assert.deepEqual(compareStage(base, { ...lock, env: { ...lock.env, tools: { node: '22' } } }), [
    'stage s: env.tools.node is "22" in dv.lock, attested "20"',
  ]);
  assert.deepEqual(compareStage(base, undefined), [`stage s: not in dv.lock (attested run ${id('a').slice(0, 12)})`]);
  assert.deepEqual(compareStage(base, { ...lock, key: id('9') }), [
    `stage s: run key is ${id('9').slice(0, 12)} in dv.lock, attested ${id('a').slice(0, 12)}`,
  ]);
});

const onlyDvErrors = (fn: () => unknown): void => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DvError)) throw e;
  }
};

test('parsers of untrusted input: any text or JSON gives a value or a DvError, never another exception', () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  const envelopeLike = fc.record(
    {
      payload: fc.oneof(fc.base64String(), fc.string(), json),
      payloadType: fc.oneof(fc.string(), json),
      signatures: fc.oneof(
        fc.array(fc.record({ keyid: fc.oneof(fc.string(), json), sig: fc.oneof(fc.base64String(), json) }, { requiredKeys: [] })),
        json,
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        json.map((v) => JSON.stringify(v)),
        envelopeLike.map((v) => JSON.stringify(v)),
      ),
      (text) => {
        onlyDvErrors(() => {
          const env = parseEnvelope(text, 'fuzz');
          checkEnvelope(env, new Map([[pair().keyid, pair().publicKey]]));
        });
        onlyDvErrors(() => parseStatement(Buffer.from(text), 'fuzz'));
        onlyDvErrors(() => parsePublicKeys(text, 'fuzz'));
      },
    ),
    { numRuns: 300, seed: 0x5eed },
  );
  // Statement-shaped values with wrong types inside.
  const stmt = fc.record({
    _type: fc.constant('https://in-toto.io/Statement/v1'),
    predicateType: fc.constant('https://slsa.dev/provenance/v1'),
    subject: fc.oneof(
      fc.array(fc.record({ name: fc.oneof(fc.string(), json), digest: fc.oneof(fc.dictionary(fc.string(), fc.string()), json) })),
      json,
    ),
    predicate: fc.record({
      buildDefinition: fc.record({
        buildType: fc.constant('urn:dv:build-type:pipeline-stage:v1'),
        externalParameters: fc.oneof(fc.record({ artifact: fc.string() }), json),
        internalParameters: fc.oneof(
          fc.record({ snapshot: fc.constant('a'.repeat(64)), tree: fc.constant('b'.repeat(64)), stages: fc.array(json) }),
          json,
        ),
        resolvedDependencies: fc.oneof(fc.array(json), json),
      }),
    }),
  });
  fc.assert(
    fc.property(stmt, (v) => onlyDvErrors(() => parseStatement(Buffer.from(JSON.stringify(v)), 'fuzz'))),
    { numRuns: 300, seed: 0x5eed },
  );
});

/**
 * BLAKE3-256 for every id dv makes. A native binding (@napi-rs/blake-hash) is used when it
 * loads; hash-wasm is the fallback that always works. Both give identical digests (tested
 * against the official BLAKE3 vectors). Call `initHash()` once before hashing.
 */
import { createRequire } from 'node:module';

interface Impl {
  name: 'native' | 'wasm';
  oneShot(data: Uint8Array): Buffer;
}

let impl: Impl | undefined;
let wasmImpl: Impl | undefined;

type Binding = { blake3(input: Uint8Array): Buffer };

/**
 * The binding for this platform, loaded by its own package name where that is known (glibc Linux,
 * macOS): @napi-rs/blake-hash's loader first asks process.report which C library runs here, ~8 ms
 * in every thread that hashes. Anywhere else, or when that package does not load, its loader decides.
 */
function requireBinding(): Binding {
  const require = createRequire(import.meta.url);
  const { platform, arch } = process;
  const direct = platform === 'linux' ? `linux-${arch}-gnu` : platform === 'darwin' ? `darwin-${arch}` : undefined;
  if (direct) {
    try {
      return require(`@napi-rs/blake-hash-${direct}`) as Binding;
    } catch {
      // musl, or a platform package not installed: the loader finds the right one.
    }
  }
  return require('@napi-rs/blake-hash') as Binding;
}

function loadNative(): Impl | undefined {
  if (process.env.DV_HASH === 'wasm') return undefined;
  try {
    const mod = requireBinding();
    // The binding rejects SharedArrayBuffer-backed views and wants Buffers: wrap without copying.
    const asBuf = (d: Uint8Array): Buffer => (Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    const probe = mod.blake3(Buffer.alloc(0)).toString('hex');
    if (probe !== 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262') return undefined;
    return {
      name: 'native',
      oneShot: (d) => mod.blake3(asBuf(d)),
    };
  } catch {
    return undefined;
  }
}

async function loadWasm(): Promise<Impl> {
  if (wasmImpl) return wasmImpl;
  const { createBLAKE3 } = await import('hash-wasm');
  const shared = await createBLAKE3();
  wasmImpl = {
    name: 'wasm',
    oneShot: (d) => {
      shared.init();
      shared.update(d);
      return Buffer.from(shared.digest('binary'));
    },
  };
  return wasmImpl;
}

/** Loads the fastest BLAKE3 available. Idempotent. */
export async function initHash(prefer?: 'native' | 'wasm'): Promise<'native' | 'wasm'> {
  if (prefer === 'wasm') impl = await loadWasm();
  else if (prefer === 'native' || !impl) impl = loadNative() ?? (await loadWasm());
  return impl.name;
}

function current(): Impl {
  if (!impl) throw new Error('initHash() was not called');
  return impl;
}

/** BLAKE3-256 of `data` as 32 bytes. */
export function blake3(data: Uint8Array): Buffer {
  return current().oneShot(data);
}

/** BLAKE3-256 of `data` as 64 lowercase hex characters. */
export function blake3Hex(data: Uint8Array): string {
  return current().oneShot(data).toString('hex');
}

export function hashImplName(): 'native' | 'wasm' | 'none' {
  return impl?.name ?? 'none';
}

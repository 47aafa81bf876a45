// Seeded, deterministic randomness for the datasets: the same seed gives the same bytes on
// every machine. xorshift128 drives decisions (sizes, words, places); bulk random bytes come
// from an AES-128-CTR keystream, which is also seeded and runs at GB/s with AES-NI.
import { createCipheriv, createHash, type Cipher } from 'node:crypto';

/** Marsaglia's xorshift128: small, fast and good enough for choosing sizes and words. */
export class Xorshift {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(`xorshift:${seed}`).digest();
    this.a = h.readUInt32LE(0) || 1;
    this.b = h.readUInt32LE(4) || 2;
    this.c = h.readUInt32LE(8) || 3;
    this.d = h.readUInt32LE(12) || 4;
  }

  /** A uint32. */
  nextU32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** An endless seeded stream of random bytes. */
export class ByteStream {
  private readonly cipher: Cipher;
  private zeros = Buffer.alloc(0);

  constructor(seed: string) {
    const h = createHash('sha256').update(`bytes:${seed}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', h.subarray(0, 16), h.subarray(16, 32));
  }

  /** The next `n` bytes of the stream (a fresh buffer). */
  take(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(Math.max(n, 1 << 20));
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

/**
 * Memory for the large tables of a walk (ids, claims, locations of a million objects) that goes
 * back to the operating system when the table is dropped. glibc's malloc serves allocations below
 * its mmap threshold (which rises to as much as 32 MiB as a process frees large buffers) from its
 * heap, and freed holes there stay resident: measured, a pull's checkout ran with the ~140 MB of
 * tables its fetch had dropped still resident. A buffer of at least MAPPED_BYTES is always mapped
 * on its own, so dropping it unmaps it; pages never touched are never resident, so reserving the
 * rest costs nothing but address space.
 *
 * Invariant: a table asks for this only from MAPPED_MIN bytes up, so small tables (a tree loader's
 * few claims) stay small in the process's accounting too.
 */

/** Above glibc's largest mmap threshold (32 MiB on 64-bit) with room for its chunk header. */
export const MAPPED_BYTES = 32 * 1024 * 1024 + 64 * 1024;
/** Smaller tables are plain allocations. */
export const MAPPED_MIN = 1024 * 1024;

/** Zeroed memory of at least `bytes`, in a buffer of its own mapping when `bytes` is MAPPED_MIN or more. */
export function mappedArrayBuffer(bytes: number): ArrayBuffer {
  return new ArrayBuffer(bytes >= MAPPED_MIN ? Math.max(bytes, MAPPED_BYTES) : bytes);
}

/** A zeroed Uint32Array of `n` elements (its memory mapped apart from `n` = MAPPED_MIN / 4 on). */
export function mappedUint32(n: number): Uint32Array {
  return new Uint32Array(mappedArrayBuffer(n * 4), 0, n);
}

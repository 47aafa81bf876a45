/**
 * Heap headroom while a fetch downloads. bin/dv runs V8 with --heap-growing-percent=50 (a heap
 * that grows to 1.5× what survived a full GC, which keeps commands over a million files small),
 * but a download's garbage is external memory: every 64 KiB the socket reads is a fresh
 * ArrayBuffer, and with a 25 MB heap V8 then ran a mark-compact every ~16 MB received (60–70 per
 * GiB, 1.4 s of a 4 × 256 MiB pull's 3.8 s of main-thread CPU; measured with --trace-gc and
 * --cpu-prof against s3rver). With some 64 MB of headroom it runs two to five.
 *
 * Invariants: while at least one holder is in (`enter` … `leave`), the growth is what gives the heap
 * as it was at the first `enter` about HEADROOM bytes more, never less than 50 % nor more than
 * 300 % (so a large live heap, as at a million files, keeps the 50 %: it has the headroom already);
 * after the last `leave` it is 50 % again. Process-wide, as the flag is.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

const BASE = 50;
const HEADROOM = 64 * 1024 * 1024;
let holders = 0;

/** Raises the heap growth for a download (see the header). */
export function enterDownload(): void {
  if (holders++ > 0) return;
  const used = Math.max(1, getHeapStatistics().used_heap_size);
  const pct = Math.min(300, Math.max(BASE, Math.ceil((100 * HEADROOM) / used)));
  if (pct > BASE) setFlagsFromString(`--heap-growing-percent=${pct}`);
}

/** Ends one `enterDownload`; the last one puts the growth back. */
export function leaveDownload(): void {
  if (holders === 0 || --holders > 0) return;
  setFlagsFromString(`--heap-growing-percent=${BASE}`);
}

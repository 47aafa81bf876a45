/**
 * Finds where objects lie by reading a few pack index files instead of asking LevelDB object by
 * object, for callers that walk a tree in the order its objects were added (a checkout). LevelDB
 * maps its table files into the process and a point lookup of a scattered id touches a whole
 * block of them: a million lookups map every table (~120 MB at 1 M objects). A pack's objects
 * were added together, so the next ids a checkout needs are mostly in the pack the last ones were.
 *
 * Invariants:
 * - At most `keep` pack indexes are held (each decoded into a map of its rows); an id in none of
 *   them is asked of LevelDB, and the pack LevelDB names is read (verified against its name) to
 *   replace the least recently useful one.
 * - A pack the index marks as tainted (an object of it was dropped as corrupt: its pack index
 *   still lists that copy) is never read here: its objects are only ever located through LevelDB.
 *   `distrust` marks one more for this process (a copy served from here turned out corrupt).
 * - A location given out is only where a copy lies; every read is still verified by its id.
 */
import type { Index } from './index-db.js';
import { decodePackIndex, locationIn, type ObjectLocation, type PackEntry } from './pack-index.js';

/** Pack indexes held at once: ~7,000 rows each for 32 MB packs of small files (~1 MB decoded). */
export const LOCATOR_PACKS = 6;
/** Single lookups a batch makes to find packs not held before it asks for the rest in one go. */
const PROBES = 4;

interface HeldPack {
  pack: string;
  rows: Map<string, PackEntry>;
}

export class PackLocator {
  /** Held pack indexes, most recently useful first. */
  private held: HeldPack[] = [];
  /** What answered: rows of held packs, LevelDB, pack indexes read. */
  readonly counts = { fromPacks: 0, fromIndex: 0, packsRead: 0 };

  constructor(
    private readonly index: Index,
    private readonly readIndex: (pack: string) => Promise<Buffer>,
    private readonly tainted: Set<string>,
    private readonly keep = LOCATOR_PACKS,
  ) {}

  /** The pack indexes held now and their rows (bounded by `keep`). */
  holding(): { packs: number; rows: number } {
    return { packs: this.held.length, rows: this.held.reduce((n, h) => n + h.rows.size, 0) };
  }

  /** Whether pack `p`'s index is held now. */
  holds(p: string): boolean {
    return this.held.some((h) => h.pack === p);
  }

  /** Never locates through `pack` again in this process (and lets go of it). */
  distrust(pack: string): void {
    this.tainted.add(pack);
    this.held = this.held.filter((h) => h.pack !== pack);
  }

  async getLocations(ids: string[]): Promise<(ObjectLocation | undefined)[]> {
    const out = new Array<ObjectLocation | undefined>(ids.length);
    let misses: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const loc = this.fromHeld(ids[i]);
      if (loc) out[i] = loc;
      else misses.push(i);
    }
    // A batch crossing into a pack not held: one id is asked, its pack read, the rest tried again
    // (a batch of ids all looked up would touch as many of LevelDB's blocks as ids).
    let asked = 0;
    for (; asked < PROBES && misses.length > 0; asked++) {
      const i = misses[0];
      const [l] = await this.index.getLocations([ids[i]]);
      out[i] = l;
      misses = misses.slice(1);
      if (!l || this.tainted.has(l.pack) || this.holds(l.pack) || !(await this.read(l.pack))) continue;
      misses = misses.filter((m) => {
        const loc = this.fromHeld(ids[m]);
        if (loc) out[m] = loc;
        return !loc;
      });
    }
    this.counts.fromIndex += asked + misses.length;
    this.counts.fromPacks += ids.length - asked - misses.length;
    if (misses.length === 0) return out;
    const found = await this.index.getLocations(misses.map((i) => ids[i]));
    misses.forEach((i, k) => {
      out[i] = found[k];
    });
    return out;
  }

  private fromHeld(id: string): ObjectLocation | undefined {
    for (let k = 0; k < this.held.length; k++) {
      const h = this.held[k];
      const e = h.rows.get(id);
      if (!e) continue;
      if (k > 0) {
        this.held.splice(k, 1);
        this.held.unshift(h);
      }
      return locationIn(h.pack, e);
    }
    return undefined;
  }

  /** Holds pack `p`'s index (verified against its name); one that cannot be read is not used again. */
  private async read(p: string): Promise<boolean> {
    let entries: PackEntry[];
    try {
      entries = decodePackIndex(await this.readIndex(p), p);
    } catch {
      this.tainted.add(p);
      return false;
    }
    this.counts.packsRead++;
    this.held.unshift({ pack: p, rows: new Map(entries.map((e) => [e.id, e])) });
    if (this.held.length > this.keep) this.held.length = this.keep;
    return true;
  }
}

/**
 * What a push sends, planned while reachability is walked (history/reach.ts walkReachable): the
 * ids the remote lacks, each once, in walk order (chunks grouped by directory, a file's chunks in
 * order), data and structured objects in two lists (packed apart); ids the remote has are only
 * counted. So the plan grows with what is to be sent, never with what the remote already holds: a
 * push with nothing to send keeps no id of the dataset. What it keeps is off the JS heap: the ids
 * once, in order, in two IdLists (36 bytes an id), and a hash table of u32 references into them to
 * see each id once (at most half full: 8-16 bytes an id), where Sets of hex strings cost several
 * hundred bytes an id.
 */
import { DvError } from '../errors.js';
import { IdList, toBytes } from './id-table.js';

/** The tag of a planned id whose place in the local store is not known (yet). */
export const NO_PACK = 0xffffffff;

/**
 * The set of ids in two IdLists: open addressing with linear probing over u32 slots, each 0 (free)
 * or 1 + (position << 1 | list). Every probe compares all 32 bytes, so it answers exactly.
 */
class ListedSet {
  private slots = new Uint32Array(1024);
  private count = 0;

  constructor(private readonly lists: [IdList, IdList]) {}

  /** The slot naming the id in `src` at `at`, or the free slot where it would go. */
  find(src: Buffer, at: number): number {
    const mask = this.slots.length - 1;
    let h = src.readUInt32BE(at) & mask;
    for (let ref = this.slots[h]; ref !== 0; ref = this.slots[h]) {
      if (this.lists[(ref - 1) & 1].equals((ref - 1) >>> 1, src, at)) return h;
      h = (h + 1) & mask;
    }
    return h;
  }

  has(src: Buffer, at: number): boolean {
    return this.slots[this.find(src, at)] !== 0;
  }

  /** The reference (1 + (position << 1 | list)) naming the id in `src` at `at`, or 0 when it is not in the set. */
  ref(src: Buffer, at: number): number {
    return this.slots[this.find(src, at)];
  }

  /** Records that position `k` of list `list` holds the id in `src` (not in the set yet). */
  insert(src: Buffer, at: number, list: 0 | 1, k: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    if (k >= 2 ** 31 - 1) throw new RangeError('a push plan holds at most 2^31 ids');
    this.slots[this.find(src, at)] = 1 + k * 2 + list;
    this.count++;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (const ref of old) {
      if (ref === 0) continue;
      let h = this.lists[(ref - 1) & 1].head((ref - 1) >>> 1) & mask;
      while (this.slots[h] !== 0) h = (h + 1) & mask;
      this.slots[h] = ref;
    }
  }
}

export class PushPlan {
  /** Data objects (chunks, whole small files) to send, in the order first seen; each tagged NO_PACK. */
  readonly data = new IdList();
  /** The structured objects to send (snapshots, trees, manifests), in the order first seen. */
  readonly meta = new IdList();
  private readonly planned = new ListedSet([this.data, this.meta]);
  /**
   * Ids found on the remote. A structured object counts once; a chunk once per batch naming it
   * (a chunk two directories share may count twice: telling would need every id kept).
   */
  alreadyThere = 0;

  constructor(private readonly remoteHas: (id: string) => boolean) {}

  /** A plan of `ids` (repeats sent once): those `remoteHas` names are counted, not planned. */
  static of(ids: Iterable<string>, meta: (id: string) => boolean, remoteHas: (id: string) => boolean): PushPlan {
    const plan = new PushPlan(remoteHas);
    plan.add(ids, meta);
    return plan;
  }

  /** Takes one batch of reachable ids; `meta` says which are structured objects. */
  add(ids: Iterable<string>, meta: boolean | ((id: string) => boolean)): void {
    for (const id of ids) {
      const b = toBytes(id);
      if (!b) throw new DvError('BAD_OBJECT', `cannot push ${JSON.stringify(id.slice(0, 80))}: not an object id; run \`dv fsck\``, { id });
      if (this.planned.has(b, 0)) continue;
      if (this.remoteHas(id)) {
        this.alreadyThere++;
        continue;
      }
      const list = meta === true || (meta !== false && meta(id)) ? 1 : 0;
      const to = list === 1 ? this.meta : this.data;
      this.planned.insert(b, 0, list, to.length);
      to.pushBytes(b, 0, NO_PACK);
    }
  }

  /** How many ids are planned. */
  get size(): number {
    return this.data.length + this.meta.length;
  }

  /**
   * Tags the planned id held in `src` at `at` with `tag` when it has none yet (NO_PACK); false when
   * that id is not planned or already tagged. For scans over raw pack index rows (no hex strings).
   */
  tagBytes(src: Buffer, at: number, tag: number): boolean {
    const ref = this.planned.ref(src, at);
    if (ref === 0) return false;
    const list = (ref - 1) & 1 ? this.meta : this.data;
    const k = (ref - 1) >>> 1;
    if (list.tag(k) !== NO_PACK) return false;
    list.setTag(k, tag);
    return true;
  }

  /** Whether `id` is planned (to be sent). */
  has(id: string): boolean {
    const b = toBytes(id);
    return b !== undefined && this.planned.has(b, 0);
  }

  /** The planned ids: data first, then structured objects. */
  *ids(): Generator<string> {
    for (const list of [this.data, this.meta]) for (let k = 0; k < list.length; k++) yield list.id(k);
  }
}

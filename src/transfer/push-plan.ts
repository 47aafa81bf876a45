/**
 * What a push sends, planned while reachability is walked (history/reach.ts walkReachable): the
 * ids the remote lacks, each once, in walk order (chunks grouped by directory, a file's chunks in
 * order), data and structured objects in two lists (packed apart); ids the remote has are only
 * counted. So the plan grows with what is to be sent, never with what the remote already holds: a
 * push with nothing to send keeps no id of the dataset. What it keeps is off the JS heap (IdTable
 * to see each id once, IdList for the order): about 100 bytes an id to send, where Sets of hex
 * strings cost several hundred.
 */
import { DvError } from '../errors.js';
import { IdList, IdTable, toBytes } from './id-table.js';

/** The tag of a planned id whose place in the local store is not known (yet). */
export const NO_PACK = 0xffffffff;

export class PushPlan {
  private readonly planned = new IdTable();
  /** Data objects (chunks, whole small files) to send, in the order first seen; each tagged NO_PACK. */
  readonly data = new IdList();
  /** The structured objects to send (snapshots, trees, manifests), in the order first seen. */
  readonly meta = new IdList();
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
      if (this.planned.hasBytes(b, 0)) continue;
      if (this.remoteHas(id)) {
        this.alreadyThere++;
        continue;
      }
      this.planned.addBytes(b, 0);
      (meta === true || (meta !== false && meta(id)) ? this.meta : this.data).pushBytes(b, 0, NO_PACK);
    }
  }

  /** How many ids are planned. */
  get size(): number {
    return this.data.length + this.meta.length;
  }

  /** Whether `id` is planned (to be sent). */
  has(id: string): boolean {
    return this.planned.has(id);
  }

  /** The planned ids: data first, then structured objects. */
  *ids(): Generator<string> {
    for (const list of [this.data, this.meta]) for (let k = 0; k < list.length; k++) yield list.id(k);
  }
}

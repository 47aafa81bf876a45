/**
 * The wants of a fetch's walk held off the JS heap: a level's objects (a flat directory of a million
 * files is one level of a million chunks) in an IdList with their kind as its tag, and the objects
 * seen so far in an IdTable (id-table.ts): about 36 and 64 bytes an id, where an array of
 * { id, kind } objects and a Set of hex strings cost some 250 bytes of heap an id.
 * Invariant: answers exactly what the arrays and the Set did; an id that is no 64-digit hex (never
 * one decoded from an object: roots as given) is kept as a string beside them, so it still fails
 * where it did.
 */
import { IdList, IdTable, toBytes } from './id-table.js';

export type Kind = 'snapshot' | 'tree' | 'manifest' | 'chunk';
export interface Want {
  id: string;
  kind: Kind;
}

const KINDS: readonly Kind[] = ['snapshot', 'tree', 'manifest', 'chunk'];

/** A list of wants in the order pushed (ids that are no hex id after the others). */
export class WantList {
  private readonly ids = new IdList();
  private readonly odd: Want[] = [];

  get length(): number {
    return this.ids.length + this.odd.length;
  }

  push(w: Want): void {
    const b = toBytes(w.id);
    if (b) this.ids.pushBytes(b, 0, KINDS.indexOf(w.kind));
    else this.odd.push(w);
  }

  at(k: number): Want {
    if (k >= this.ids.length) return this.odd[k - this.ids.length];
    return { id: this.ids.id(k), kind: KINDS[this.ids.tag(k)] };
  }
}

/** The ids seen by a walk. */
export class SeenIds {
  private readonly table = new IdTable();
  private readonly odd = new Set<string>();

  /** Adds `id`: false when it was seen before. */
  add(id: string): boolean {
    const b = toBytes(id);
    if (b) return this.table.addBytes(b, 0);
    if (this.odd.has(id)) return false;
    this.odd.add(id);
    return true;
  }
}

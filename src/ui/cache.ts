/**
 * A small least-recently-used map for `dv ui`: answers about a commit never change (a commit id
 * names fixed content), so the server keeps a bounded number of them instead of asking git again
 * when the page pages back and forth. Bounded: at most `max` entries, the oldest used goes first.
 * A failed computation is not kept.
 */
export class Lru<V> {
  private readonly m = new Map<string, Promise<V>>();

  constructor(private readonly max: number) {}

  get(key: string, compute: () => Promise<V>): Promise<V> {
    let p = this.m.get(key);
    if (p) {
      this.m.delete(key);
      this.m.set(key, p);
      return p;
    }
    p = compute();
    p.catch(() => {
      if (this.m.get(key) === p) this.m.delete(key);
    });
    this.m.set(key, p);
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
    return p;
  }
}

/**
 * What a push sends, planned while reachability is walked (history/reach.ts walkReachable): the
 * ids the remote lacks, each once, in walk order (chunks grouped by directory, a file's chunks in
 * order), structured objects marked; ids the remote has are only counted. So the plan grows with
 * what is to be sent, never with what the remote already holds: a push with nothing to send keeps
 * no id of the dataset.
 */
export class PushPlan {
  private readonly missing = new Set<string>();
  /** The structured objects among `ids` (packed apart from chunks). */
  readonly meta = new Set<string>();
  /**
   * Ids found on the remote. A structured object counts once; a chunk once per batch naming it
   * (a chunk two directories share may count twice: telling would need every id kept).
   */
  alreadyThere = 0;

  constructor(private readonly remoteHas: (id: string) => boolean) {}

  /** Takes one batch of reachable ids; `meta` says which are structured objects. */
  add(ids: Iterable<string>, meta: boolean | ((id: string) => boolean)): void {
    for (const id of ids) {
      if (this.missing.has(id)) continue;
      if (this.remoteHas(id)) {
        this.alreadyThere++;
        continue;
      }
      this.missing.add(id);
      if (meta === true || (meta !== false && meta(id))) this.meta.add(id);
    }
  }

  /** The ids to send, in the order they were first seen. */
  get ids(): Iterable<string> {
    return this.missing;
  }
}
